import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { env, envGet, type EnvInvocation, type EnvHooks } from '../../src/commands/env.js';
import type { CommandContext } from '../../src/commands/context.js';
import { DEFAULT_ENV, formatKey, writeKeyFile } from '../../src/config/keys.js';
import { loadConfig } from '../../src/config/load.js';
import { MASK } from '../../src/config/mask.js';
import { encryptValue, generateKey } from '../../src/config/secrets.js';
import { buildPlan } from '../../src/plan/plan.js';
import { TfError } from '../../src/errors.js';
import { configOptions } from '../helpers/config.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function app(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-env-cmd-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Fake extends CommandContext {
  readonly stdout: Sink;
  readonly stderr: Sink;
}
const contextIn = (cwd: string, shell: Record<string, string> = {}): Fake => ({ cwd, env: shell, stdout: new Sink(), stderr: new Sink() });

const options = configOptions;

const invocation = (rest: string[], extra: Partial<EnvInvocation> = {}): EnvInvocation => ({
  options: options(),
  rest,
  json: false,
  reveal: false,
  local: false,
  secret: false,
  ...extra,
});

async function failure(run: () => Promise<number> | number): Promise<TfError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof TfError) return error;
    throw error;
  }
  throw new Error('expected a TfError');
}

const FILES = {
  Procfile: 'web: node web.js\nworker: node worker.js\n',
  '.env': 'A=1\nDATABASE_URL=postgres://app:hunter2@db.local:5432/app\nAPI_TOKEN=tok-123\nB=from-file\nC=c1\nC=c2\n',
  '.env.ci': 'A=2\n',
};

interface JsonRow {
  key: string;
  value: string | null;
  source: { kind: string; file?: string; line?: number; reason?: string };
  overrides: { kind: string; file?: string; line?: number }[];
}

describe('tf env [TYPE]', () => {
  it("shows every variable the first instance gets, exactly the plan's, with sources and what each overrode", async () => {
    const dir = app(FILES);
    const shell = { B: 'from-shell', HOME: '/home/dev' };
    const context = contextIn(dir, shell);
    const options_ = options({ envName: 'ci' });
    expect(await env(invocation(['worker'], { options: options_, json: true, reveal: true }), context)).toBe(0);
    const document = JSON.parse(context.stdout.text) as { instance: string; envFiles: string[]; variables: JsonRow[] };
    expect(document.instance).toBe('worker.1');
    expect(document.envFiles).toEqual(['.env', '.env.ci']);
    const rows = new Map(document.variables.map((row) => [row.key, row]));

    // The values are the plan's own for worker.1 (with colour, as tf start on a terminal).
    const config = loadConfig({ options: options_, only: ['worker'] }, { cwd: dir, shellEnv: shell });
    const planned = buildPlan(config, { childColor: true }).instances.find((i) => i.name === 'worker.1');
    const shown = Object.fromEntries(document.variables.filter((r) => r.value !== null).map((r) => [r.key, r.value]));
    expect(shown).toEqual(planned?.env);

    expect(rows.get('A')).toMatchObject({
      value: '2',
      source: { kind: 'file', file: '.env.ci', line: 1 },
      overrides: [{ kind: 'file', file: '.env', line: 1 }],
    });
    expect(rows.get('B')).toMatchObject({ value: 'from-shell', source: { kind: 'shell' }, overrides: [{ kind: 'file', file: '.env', line: 4 }] });
    expect(rows.get('C')).toMatchObject({ source: { kind: 'file', file: '.env', line: 6 }, overrides: [{ kind: 'file', file: '.env', line: 5 }] });
    expect(rows.get('PORT')).toMatchObject({ value: '5100', source: { kind: 'tf', reason: "worker.1's port" } });
    expect(rows.get('PS')).toMatchObject({ value: 'worker.1', source: { kind: 'tf' } });
    expect(rows.get('PYTHONUNBUFFERED')?.source).toEqual({ kind: 'tf', reason: 'default' });
    expect(rows.get('FORCE_COLOR')?.source).toEqual({ kind: 'tf', reason: 'when tf start writes to a colour terminal' });
    expect(rows.get('TF_SUPERVISOR_RUN')).toMatchObject({ value: null, source: { kind: 'tf' } });
    expect(rows.get('HOME')).toMatchObject({ source: { kind: 'shell' }, overrides: [] });
    // The app's config first, what comes from the shell alone last.
    expect(document.variables.at(-1)?.key).toBe('HOME');
  });

  it('says which tf value replaced a PORT from the files', async () => {
    const dir = app({ ...FILES, '.env': 'PORT=3000\n' });
    const context = contextIn(dir);
    await env(invocation(['web'], { json: true }), context);
    const rows = (JSON.parse(context.stdout.text) as { variables: JsonRow[] }).variables;
    expect(rows.find((r) => r.key === 'PORT')).toMatchObject({ value: '3000', source: { kind: 'tf' }, overrides: [{ kind: 'file', file: '.env', line: 1 }] });
  });

  it('masks secret values unless --reveal, in the table and in JSON', async () => {
    const dir = app(FILES);
    const table = contextIn(dir, { SHELL_SECRET_KEY: 'shell-secret' });
    await env(invocation([]), table);
    expect(table.stdout.text).toMatch(/^KEY +VALUE +SOURCE$/m);
    expect(table.stdout.text).toMatch(/^A +1 +\.env:1$/m);
    expect(table.stdout.text).toMatch(/^C +c2 +\.env:6 \(overrides \.env:5\)$/m);
    expect(table.stdout.text).toContain(`postgres://app:${MASK}@db.local:5432/app`);
    for (const secret of ['hunter2', 'tok-123', 'shell-secret']) expect(table.stdout.text).not.toContain(secret);

    const json = contextIn(dir, { SHELL_SECRET_KEY: 'shell-secret' });
    await env(invocation([], { json: true }), json);
    for (const secret of ['hunter2', 'tok-123', 'shell-secret']) expect(json.stdout.text).not.toContain(secret);

    const revealed = contextIn(dir);
    await env(invocation([], { reveal: true }), revealed);
    expect(revealed.stdout.text).toContain('hunter2');
    expect(revealed.stdout.text).toContain('tok-123');
  });

  it('masks a value encrypted in its file, whatever its name, in the table and --json; --reveal shows it', async () => {
    const key = generateKey();
    const dir = app({ '.env': `GREETING=${encryptValue('visible-value', key, { envName: DEFAULT_ENV, name: 'GREETING' })}\n` });
    writeKeyFile(dir, DEFAULT_ENV, [key]);
    for (const json of [false, true]) {
      const context = contextIn(dir);
      await env(invocation([], { json }), context);
      expect(context.stdout.text).toContain('GREETING');
      expect(context.stdout.text).toContain(MASK);
      expect(context.stdout.text).not.toContain('visible-value');
    }
    const revealed = contextIn(dir);
    await env(invocation([], { reveal: true }), revealed);
    expect(revealed.stdout.text).toContain('visible-value');
    const get = contextIn(dir);
    const error = await failure(async () => envGet({ options: options(), key: 'GREETING' }, get));
    expect(error.describe()).toBe(
      "GREETING is secret (encrypted, or built on an encrypted value), so tf env get does not print it; tf secrets get NAME prints an encrypted value's plaintext, tf env --reveal every value",
    );
    expect(get.stdout.text).toBe('');
  });

  it('masks what is built on an encrypted value (an alias, a host in a URL) and an encrypted key the shell overrides', async () => {
    const key = generateKey();
    const encrypted = (name: string, value: string): string => `${name}=${encryptValue(value, key, { envName: DEFAULT_ENV, name })}`;
    const dir = app({
      '.env': [
        encrypted('DATABASE_URL', 'postgres://app:pw-planted@db-planted.internal:5432/prod'),
        encrypted('UPSTREAM', 'upstream-planted.corp'),
        'DB_URL=$DATABASE_URL',
        'API_URL=http://${UPSTREAM}:8080/x',
        'LATER=$DB_URL',
        'PLAIN=visible',
        '',
      ].join('\n'),
    });
    for (const json of [false, true]) {
      const context = contextIn(dir, { TF_KEY_DEFAULT: formatKey(key), UPSTREAM: 'from-the-shell' });
      expect(await env(invocation([], { json }), context)).toBe(0);
      expect(context.stdout.text).not.toMatch(/planted/);
      expect(context.stdout.text).toContain('visible');
      // The shell wins over the file: API_URL is built on the shell's UPSTREAM, no secret; UPSTREAM itself stays
      // masked, as a shell's value for an encrypted key may be its plaintext (tf run inside tf run).
      expect(context.stdout.text).toContain('from-the-shell:8080');
      expect(context.stdout.text).not.toMatch(/UPSTREAM\s+from-the-shell|"key":"UPSTREAM","value":"from-the-shell"/);
    }
    // Nested: the shell holds the plaintext itself.
    const nested = contextIn(dir, { TF_KEY_DEFAULT: formatKey(key), DATABASE_URL: 'postgres://app:pw-planted@db-planted.internal:5432/prod' });
    expect(await env(invocation([]), nested)).toBe(0);
    expect(nested.stdout.text).not.toMatch(/planted/);
    const nestedGet = await failure(() =>
      envGet({ options: options(), key: 'DATABASE_URL' }, contextIn(dir, { TF_KEY_DEFAULT: formatKey(key), DATABASE_URL: 'x' })),
    );
    expect(nestedGet.describe()).toContain('DATABASE_URL is secret');
    for (const name of ['DB_URL', 'LATER']) {
      const error = await failure(() => envGet({ options: options(), key: name }, contextIn(dir, { TF_KEY_DEFAULT: formatKey(key) })));
      expect(error.describe()).toContain(`${name} is secret`);
    }
    const plain = contextIn(dir, { TF_KEY_DEFAULT: formatKey(key) });
    expect(envGet({ options: options(), key: 'PLAIN' }, plain)).toBe(0);
    expect(plain.stdout.text).toBe('visible\n');
  });

  it('names an unknown type with the ones there are', async () => {
    const error = await failure(() => env(invocation(['wbe']), contextIn(app(FILES))));
    expect(error.describe()).toContain('unknown process type "wbe"');
    expect(error.describe()).toContain('web, worker');
  });
});

describe('tf env get KEY', () => {
  it('prints the raw value, unmasked, for scripts', async () => {
    const dir = app(FILES);
    const context = contextIn(dir);
    expect(await env(invocation(['get', 'DATABASE_URL']), context)).toBe(0);
    expect(context.stdout.text).toBe('postgres://app:hunter2@db.local:5432/app\n');
    const ci = contextIn(dir);
    envGet({ options: options({ envName: 'ci' }), key: 'A' }, ci);
    expect(ci.stdout.text).toBe('2\n');
  });

  it('exits 1 with a clear line when the key is unset', async () => {
    const error = await failure(() => env(invocation(['get', 'NOPE']), contextIn(app(FILES))));
    expect(error.exitCode).toBe(1);
    expect(error.describe()).toBe('NOPE is not set (read: .env, and the shell); set it with "tf env set NOPE=VALUE"');
  });

  it('refuses a key that is not a variable name, with the fix', async () => {
    const error = await failure(() => env(invocation(['get', 'MY-KEY']), contextIn(app(FILES))));
    expect(error.exitCode).toBe(2);
    expect(error.hint).toContain('letters, digits and "_"');
  });
});

describe('tf env set / unset', () => {
  it.each([
    // [flags, file written]
    [{}, '.env'],
    [{ local: true }, '.env.local'],
    [{ envName: 'ci' }, '.env.ci'],
    [{ envName: 'ci', local: true }, '.env.ci.local'],
  ] as const)('%j writes %s, and a load reads the value back', async (flags, file) => {
    const dir = app(FILES);
    const context = contextIn(dir);
    const value = 'a value with spaces, # and "quotes" and $DOLLARS';
    const local = 'local' in flags;
    const envName = 'envName' in flags ? flags.envName : undefined;
    expect(await env(invocation(['set', `NEW_KEY=${value}`], { local, options: options({ envName }) }), context)).toBe(0);
    expect(context.stdout.text).toMatch(new RegExp(`^added NEW_KEY to ${file.replaceAll('.', '\\.')}:\\d+$`, 'm'));
    expect(context.stdout.text + context.stderr.text).not.toContain(value);
    if (local) expect(statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
    // Every layer it writes is one a load reads: .env.local too, without --env.
    const config = loadConfig({ options: options({ envName }), procfileOptional: true }, { cwd: dir, shellEnv: {} });
    expect(config.env.NEW_KEY).toBe(value);
  });

  it('keeps the rest of the file byte for byte, edits the winning line and says so', async () => {
    const dir = app({ '.env': '# db\r\nexport C=c1\r\nC=c2 # second\r\nZ=1' });
    const context = contextIn(dir);
    await env(invocation(['set', 'C=new', 'D=4']), context);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe('# db\r\nexport C=c1\r\nC=new # second\r\nZ=1\r\nD=4\r\n');
    expect(context.stdout.text).toBe('set C in .env:3\nadded D to .env:5\n');
    expect(context.stderr.text).toBe('note: C is assigned 2 times in .env (lines 2, 3): edited line 3, the one that wins\n');
  });

  it('warns when the value written will not win: the shell, or a later layer', async () => {
    const dir = app({ '.env.ci': 'A=1\n', '.env.ci.local': '# mine\nA=2\n' });
    const context = contextIn(dir, { B: 'shell' });
    await env(invocation(['set', 'A=x', 'B=y'], { options: options({ envName: 'ci' }) }), context);
    expect(context.stderr.text).toContain('note: .env.ci.local:2 sets A too, and wins over .env.ci\n');
    expect(context.stderr.text).toContain("note: the shell's B wins over env files; unset it in the shell, or pass --env-override\n");
  });

  it('unset removes every assignment of the key; a missing key is reported, not an error', async () => {
    const dir = app({ '.env': 'A=1\nB=2\nA=3\n' });
    const context = contextIn(dir);
    expect(await env(invocation(['unset', 'A', 'Q']), context)).toBe(0);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe('B=2\n');
    expect(context.stdout.text).toBe('removed A from .env (lines 1, 3)\nQ is not in .env: nothing removed\n');
  });

  it('refuses bad input with the fix, never echoing a value', async () => {
    const dir = app({ '.env': 'A=1\n' });
    const bad = [
      invocation(['set', 'hunter2']),
      invocation(['set', '1X=hunter2']),
      invocation(['set', 'X=hunter2'], { secret: true }),
      invocation(['set', 'X=hunter2'], { options: options({ envFiles: ['other.env'] }) }),
      invocation(['set', 'X=hunter2'], { options: options({ envName: 'local' }) }),
      invocation(['set', 'X=hunter2'], { reveal: true }),
      invocation(['get', 'A'], { local: true }),
    ];
    for (const inv of bad) {
      const error = await failure(() => env(inv, contextIn(dir)));
      expect(error.describe(), JSON.stringify(inv)).not.toContain('hunter2');
      expect(error.hint, JSON.stringify(inv)).toBeDefined();
    }
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe('A=1\n');
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('--secret writes what the secrets hook returns, bound to the key and environment', async () => {
    const dir = app({ '.env.ci': '' });
    const calls: unknown[] = [];
    const hooks: EnvHooks = {
      encrypt: (request) => {
        calls.push(request);
        return `tf:v1:k1:${Buffer.from(request.value).toString('base64')}`;
      },
    };
    const context = contextIn(dir);
    await env(invocation(['set', 'TOKEN=s3cret'], { secret: true, options: options({ envName: 'ci' }) }), context, hooks);
    expect(calls).toEqual([{ key: 'TOKEN', value: 's3cret', environment: 'ci', file: '.env.ci' }]);
    expect(readFileSync(path.join(dir, '.env.ci'), 'utf8')).toBe(`TOKEN=tf:v1:k1:${Buffer.from('s3cret').toString('base64')}\n`);
    expect(context.stdout.text + context.stderr.text).not.toContain('s3cret');
  });
});
