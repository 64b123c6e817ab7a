import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultPolicy, type TypePolicy } from '../../src/domain.js';
import { envFileValue, execWord, renderSystemd, systemdProblems } from '../../src/export/systemd.js';
import type { ExportFile, ExportInput, ExportOptions, ExportType, ExportValue } from '../../src/export/types.js';
import { ANALYZE, execArgv, parseEnvFile, verify } from '../helpers/systemd.js';

const ENV_GENERATOR = '/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator';
const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/export/systemd');
const temporary: string[] = [];
afterAll(() => {
  for (const d of temporary) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-export-systemd-'));
  temporary.push(dir);
  return dir;
};

const policy = (type: string, change: Partial<TypePolicy> = {}): TypePolicy => ({ ...defaultPolicy(type), ...change });
const type = (name: string, command: string, ports: number[], change: Partial<TypePolicy> = {}): ExportType => ({
  name,
  command,
  count: ports.length,
  ports,
  firstPort: ports[0] ?? 5000,
  policy: policy(name, change),
});
const env = (entries: [string, string, boolean?][]): Map<string, ExportValue> =>
  new Map(entries.map(([k, value, secret]) => [k, { value, secret: secret ?? false }]));
const base = { root: '/srv/shop', release: undefined, releaseId: undefined, timeoutSeconds: 5, extensions: [], omitted: [] } as const;
const SYSTEM: ExportOptions = { user: false, image: undefined, noSecrets: false };
const USER: ExportOptions = { ...SYSTEM, user: true };

interface Case {
  readonly input: ExportInput;
  readonly options: ExportOptions;
}

/** The issue's golden cases: each directory under test/fixtures/export/systemd is one of these. */
const CASES: Record<string, Case> = {
  'web-worker': {
    input: {
      ...base,
      app: 'shop',
      types: [
        type('web', 'node server.js', [5000], { restart: 'on-failure' }),
        type('worker', 'node worker.js', [5100], { restart: 'always', stopSignal: 'SIGQUIT' }),
      ],
      env: env([
        ['NODE_ENV', 'production'],
        ['SECRET_KEY_BASE', 'f00dfeed', true],
      ]),
    },
    options: SYSTEM,
  },
  release: {
    input: {
      ...base,
      app: 'shop',
      release: { command: 'bin/rails db:migrate' },
      releaseId: 'v12',
      timeoutSeconds: 30,
      types: [type('web', 'bundle exec puma -C config/puma.rb', [5000])],
      env: env([
        ['RAILS_ENV', 'production'],
        ['DATABASE_URL', 'postgres://shop:hunter2@db/shop', true],
      ]),
    },
    options: USER,
  },
  pipes: {
    input: {
      ...base,
      app: 'shop',
      types: [
        type('web', 'bundle exec puma -p $PORT 2>&1 | tee -a "log/puma-${PS}.log"', [5000]),
        type('report', "printf '%s done: 100%%\\n' \"$(date +%F)\" | grep -v '^#' >> /tmp/$USER.log", [5100]),
      ],
      env: env([['GREETING', 'it\'s "50%" $HOME\\n']]),
    },
    options: USER,
  },
  // Values extending the target's own (PATH=./bin:$PATH in .env): applied by the unit's shell, before the command.
  extends: {
    input: {
      ...base,
      app: 'shop',
      release: { command: 'node migrate.js' },
      types: [type('web', 'node server.js', [5000]), type('logs', 'tail -F log/app.log | grep ERROR', [5100])],
      env: env([['NODE_ENV', 'production']]),
      extensions: [
        { key: 'PATH', parts: [{ text: './bin:' }, { variable: 'PATH' }] },
        { key: 'NODE_PATH', parts: [{ text: "~/it's $lib:" }, { variable: 'NODE_PATH' }, { text: ':100%' }] },
      ],
    },
    options: USER,
  },
  formation: {
    input: {
      ...base,
      app: 'shop',
      timeoutSeconds: 2.5,
      types: [type('web', 'node web.js', [5000, 5001]), type('worker', 'node worker.js', [5100], { stopSignal: 'SIGINT' }), type('clock', 'node clock.js', [])],
      env: env([]),
    },
    options: SYSTEM,
  },
};

const byPath = (files: readonly ExportFile[]): Record<string, ExportFile> => Object.fromEntries(files.map((f) => [f.path, f]));

describe('systemd export golden files', () => {
  for (const [name, { input, options }] of Object.entries(CASES)) {
    it(`${name}: matches test/fixtures/export/systemd/${name}`, { timeout: 10_000 }, () => {
      const files = renderSystemd(input, options);
      const dir = path.join(GOLDEN, name);
      if (process.env.UPDATE_GOLDEN === '1') {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        for (const f of files) writeFileSync(path.join(dir, f.path), f.content);
      }
      expect(files.map((f) => f.path).sort()).toEqual(readdirSync(dir).sort());
      for (const f of files) expect(f.content, f.path).toBe(readFileSync(path.join(dir, f.path), 'utf8'));
      // Same input, same bytes.
      expect(renderSystemd(input, options)).toEqual(files);
    });
  }

  it('puts config in an env file of mode 0600 and only PORT and PS inline', { timeout: 10_000 }, () => {
    const files = byPath(renderSystemd(CASES['web-worker']!.input, SYSTEM));
    expect(files['shop.env']?.mode).toBe(0o600);
    expect(files['shop.env']?.content).toContain('SECRET_KEY_BASE="f00dfeed"');
    const unit = files['shop-web-1.service']?.content ?? '';
    expect(unit.match(/^Environment=.*$/gm)).toEqual(['Environment=PORT=5000', 'Environment=PS=web.1']);
    expect(unit).toContain('EnvironmentFile=%E/systemd/system/shop.env');
    expect(unit).toContain('KillMode=control-group\nKillSignal=SIGTERM\nTimeoutStopSec=5\nRestart=on-failure');
    expect(files['shop-worker-1.service']?.content).toContain('KillSignal=SIGQUIT');
    expect(files['shop.target']?.content).toContain('Wants=shop-web-1.service shop-worker-1.service\n');
    expect(files['shop.target']?.content).toContain('WantedBy=multi-user.target');
  });

  it('runs the release phase as a oneshot the others require and start after', { timeout: 10_000 }, () => {
    const files = byPath(renderSystemd(CASES.release!.input, USER));
    expect(files['shop-release.service']?.content).toMatch(/Type=oneshot\nRemainAfterExit=yes/);
    expect(files['shop-web-1.service']?.content).toMatch(/Requires=shop-release.service\nAfter=shop-release.service/);
    expect(files['shop.target']?.content).toContain('WantedBy=default.target');
    expect(files['shop-web-1.service']?.content).toContain('EnvironmentFile=%E/systemd/user/shop.env');
  });

  it('with --no-secrets, writes secret keys with empty values', { timeout: 10_000 }, () => {
    const files = byPath(renderSystemd(CASES.release!.input, { ...USER, noSecrets: true }));
    expect(files['shop.env']?.content).toContain('DATABASE_URL=""\n');
    expect(files['shop.env']?.content).not.toContain('hunter2');
    expect(files['shop.env']?.content).toContain('RAILS_ENV="production"');
  });
});

function writeAll(dir: string, files: readonly ExportFile[]): void {
  for (const f of files) writeFileSync(path.join(dir, f.path), f.content, { mode: f.mode });
}

describe.skipIf(!existsSync(ANALYZE))(`systemd-analyze verify${existsSync(ANALYZE) ? '' : ` (skipped: ${ANALYZE} is not installed)`}`, () => {
  for (const [name, { input, options }] of Object.entries(CASES)) {
    it(`${name}: prints nothing`, { timeout: 60_000 }, () => {
      const dir = tempDir();
      const root = path.join(dir, 'app');
      mkdirSync(root);
      writeAll(dir, renderSystemd({ ...input, root }, options));
      expect(verify(dir, options.user)).toEqual({ status: 0, stdout: '', stderr: '' });
    });
  }

  it('complains about a unit it cannot read, so silence above means something', { timeout: 60_000 }, () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'bad.service'), "[Service]\nExecStart=/bin/sh -c 'echo %y'\nKillMode=sometimes\n");
    expect(verify(dir, false).stderr).toMatch(/bad.service:3: Failed to parse kill mode/);
  });
});

/**
 * The environment.d generator's output: one `KEY=value` a line, a value with specials in double
 * quotes with `"`, `\`, `` ` ``, `$` escaped and control characters as C escapes.
 */
function printedEnv(text: string): Map<string, string> {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '`': '`', $: '$' };
  const out = new Map<string, string>();
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const eq = line.indexOf('=');
    const raw = line.slice(eq + 1);
    if (!raw.startsWith('"')) {
      out.set(line.slice(0, eq), raw);
      continue;
    }
    let value = '';
    for (let i = 1; i < raw.length - 1; i++) {
      const c = raw[i] as string;
      if (c !== '\\') value += c;
      else {
        const next = raw[++i] as string;
        if (next === 'x') {
          value += String.fromCharCode(parseInt(raw.slice(i + 1, i + 3), 16));
          i += 2;
        } else if (simple[next] !== undefined) value += simple[next];
        else throw new Error(`unexpected escape \\${next} in ${line}`);
      }
    }
    out.set(line.slice(0, eq), value);
  }
  return out;
}

/** Values and commands with everything systemd or a shell treats specially. */
const TABLE = [
  'plain',
  '',
  'two  spaces',
  ' leading and trailing ',
  '100%',
  '%n %i %%',
  '$HOME ${HOME} $$ $',
  "it's",
  '"double" quotes',
  'back\\slash \\n not a newline \\',
  'a\nnew line',
  'tab\there',
  'carriage\rreturn',
  '`backticks` and $(command)',
  '# not a comment ; nor this',
  'ünïcødé ✓',
  'ends with backslash\\',
  'mix: \'%\' "$" \\ \n end',
];

describe('escaping round trip (a reimplementation of systemd parsing; no offline tool prints the result)', () => {
  it.each(TABLE)('the command %j reaches /bin/sh -c exactly', { timeout: 10_000 }, (text) => {
    expect(execArgv(`/bin/sh -c ${execWord(text)}`)).toEqual(['/bin/sh', '-c', text]);
  });

  it('every env value comes back from the env file exactly', { timeout: 10_000 }, () => {
    const input: ExportInput = { ...base, app: 'shop', types: [type('web', 'true', [5000])], env: env(TABLE.map((v, i) => [`VALUE_${i}`, v, i % 2 === 0])) };
    const file = renderSystemd(input, SYSTEM).find((f) => f.path === 'shop.env');
    const parsed = parseEnvFile(file?.content ?? '');
    expect(parsed).toEqual(new Map(TABLE.map((v, i) => [`VALUE_${i}`, v])));
    expect(envFileValue('a$b')).toBe('"a\\$b"');
  });

  // systemd's own env-file parser, reached through the environment.d generator, which reads the
  // same syntax and prints what it parsed. It also expands `$VAR` (an EnvironmentFile does not),
  // and skips empty values (an EnvironmentFile sets them empty), so values with a `$` and the empty
  // one are left to the reimplementation above.
  it.skipIf(!existsSync(ENV_GENERATOR))('systemd itself reads every env value back exactly (values without $, not empty)', { timeout: 60_000 }, () => {
    const dir = tempDir();
    const values = TABLE.filter((v) => v !== '' && !v.includes('$'));
    const input: ExportInput = { ...base, app: 'shop', types: [], env: env(values.map((v, i) => [`VALUE_${i}`, v])) };
    mkdirSync(path.join(dir, 'environment.d'));
    writeFileSync(path.join(dir, 'environment.d', 'shop.conf'), renderSystemd(input, SYSTEM).find((f) => f.path === 'shop.env')?.content ?? '');
    const result = spawnSync(ENV_GENERATOR, [], { env: { XDG_CONFIG_HOME: dir, HOME: dir }, encoding: 'utf8', timeout: 30_000 });
    expect(result.stderr).toBe('');
    const printed = [...printedEnv(result.stdout)].filter(([k]) => k.startsWith('VALUE_'));
    expect(new Map(printed)).toEqual(new Map(values.map((v, i) => [`VALUE_${i}`, v])));
  });

  it.skipIf(!existsSync(ANALYZE))('systemd-analyze verify accepts every escaped command', { timeout: 60_000 }, () => {
    const dir = tempDir();
    // A root with a space and a `%` in its name: WorkingDirectory= takes it unquoted, `%` doubled.
    const root = path.join(dir, 'my app 100%');
    mkdirSync(root);
    const input: ExportInput = {
      ...base,
      root,
      app: 'escapes',
      types: TABLE.map((command, i) => type(`t${i}`, command, [5000 + i])),
      env: env(TABLE.map((v, i) => [`VALUE_${i}`, v])),
    };
    const files = renderSystemd(input, SYSTEM);
    writeAll(dir, files);
    expect(verify(dir, false)).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(files[1]?.content).toContain(`WorkingDirectory=${dir}/my app 100%%\n`);
  });
});

describe('systemdProblems', () => {
  const input = CASES['web-worker']!.input;
  it('has none for an ordinary app', { timeout: 10_000 }, () => {
    expect(systemdProblems(input)).toEqual([]);
  });

  it('names an app name, a variable name and a root systemd cannot take, with the fix', { timeout: 10_000 }, () => {
    const problems = systemdProblems({
      ...input,
      app: 'my app',
      root: '/srv/a\nb',
      env: env([
        ['NODE-ENV', 'x'],
        ['1X', 'y'],
      ]),
    });
    expect(problems).toEqual([
      expect.stringMatching(/^app name "my app" cannot be part of a systemd unit name .*; pass another with --app NAME$/),
      expect.stringMatching(/newline.*WorkingDirectory/),
      expect.stringMatching(/^variable "NODE-ENV" .*rename it in its env file$/),
      expect.stringMatching(/^variable "1X" /),
    ]);
  });

  it('refuses names that would make a unit name too long', { timeout: 10_000 }, () => {
    expect(systemdProblems({ ...input, app: 'a'.repeat(245) })).toEqual([expect.stringMatching(/longer than systemd's 255/)]);
    expect(systemdProblems({ ...input, app: 'a'.repeat(250) })).toEqual([
      expect.stringMatching(/app name "a{20}\.\.\." is too long for a systemd unit name \(at most 248 characters\)/),
    ]);
  });
});
