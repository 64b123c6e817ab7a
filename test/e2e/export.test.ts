import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { exportCommand, exportFormats, type ExportRequest } from '../../src/commands/export.js';
import type { ConfigOptions } from '../../src/config/load.js';
import { ANALYZE, execArgv, parseEnvFile, unitSettings, verify } from '../helpers/systemd.js';
import { cleanEnv, TF_BIN, tempApps } from '../helpers/tf.js';
import { configOptions } from '../helpers/config.js';
import { errorOf } from '../helpers/errors.js';

const app = tempApps();

const CONFIG: ConfigOptions = configOptions();
const request = (change: Partial<ExportRequest> = {}): ExportRequest => ({
  format: 'systemd',
  dir: 'out',
  config: CONFIG,
  timeoutSeconds: 5,
  app: undefined,
  user: true,
  image: undefined,
  noSecrets: false,
  force: false,
  ...change,
});

function run(cwd: string, req: ExportRequest, shellEnv: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const sink = (write: (s: string) => void): Writable => new Writable({ write: (chunk: Buffer, _e, done) => (write(chunk.toString()), done()) });
  const code = exportCommand(req, { cwd, env: shellEnv, stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
  return { code, stdout, stderr };
}

const refusal = errorOf;

/** A value with everything systemd or a shell treats specially; single quotes in .env keep it literal. */
const TRICKY = `100% "$HOME" \\ back, it is #1; \`tick\``;

describe('tf export systemd', () => {
  it('writes units whose process gets the Procfile command and the env files exactly, checked by systemd-analyze', { timeout: 60_000 }, () => {
    const root = app({
      Procfile: `web: printf '%s|%s|%s|%s' "$TRICKY" "$PORT" "$PS" "\${FROM_SHELL-unset}"\nrelease: echo migrating\n`,
      '.env': `TRICKY='${TRICKY}'\nAPI_TOKEN=t0k3n\n`,
    });
    // The shell's values never reach an export: not a variable the files lack, not one they set.
    const { code, stdout } = run(root, request(), { FROM_SHELL: 'leak', TRICKY: 'from the shell', HOME: '/home/dev' });
    expect(code).toBe(0);
    const out = path.join(root, 'out');
    const name = path
      .basename(root)
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
    expect(readdirSync(out).sort()).toEqual(['.tf-export', `${name}-release.service`, `${name}-web-1.service`, `${name}.env`, `${name}.target`].sort());
    expect(stdout).toContain(`wrote out/${name}.target\n`);
    expect(stdout).toMatch(/systemd: 4 files in out \(4 written, 0 unchanged, 0 removed\)\n$/);
    expect(statSync(path.join(out, `${name}.env`)).mode & 0o777).toBe(0o600);

    if (existsSync(ANALYZE)) {
      expect(verify(out, true)).toEqual({ status: 0, stdout: '', stderr: '' });
      // Copied with its manifest into a unit directory (cp -r out/.), nothing there troubles systemd: it skips hidden files.
      expect(verify(out, true, true)).toEqual({ status: 0, stdout: '', stderr: '' });
    } else console.log(`skipped systemd-analyze verify: ${ANALYZE} is not installed`);

    // Start the unit's command the way systemd would, from what the files say.
    const unit = unitSettings(readFileSync(path.join(out, `${name}-web-1.service`), 'utf8'));
    const fileEnv = Object.fromEntries(parseEnvFile(readFileSync(path.join(out, `${name}.env`), 'utf8')));
    const inline = Object.fromEntries((unit.get('Environment') ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const [file, ...args] = execArgv(unit.get('ExecStart')?.[0] ?? '');
    const child = spawnSync(file ?? '', args, {
      cwd: unit.get('WorkingDirectory')?.[0],
      env: { PATH: process.env.PATH, ...fileEnv, ...inline },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(child.status).toBe(0);
    expect(child.stdout).toBe(`${TRICKY}|5000|web.1|unset`);
    expect(unit.get('WorkingDirectory')).toEqual([root]);
    expect(fileEnv).toEqual({ TRICKY, API_TOKEN: 't0k3n' });
  });

  it('--run-as USER: system units run their processes as that account, checked by systemd-analyze', { timeout: 60_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\nrelease: echo migrating\n' });
    expect(run(root, request({ user: false, runAs: 'daemon' })).code).toBe(0);
    const out = path.join(root, 'out');
    const services = readdirSync(out).filter((f) => f.endsWith('.service'));
    expect(services).toHaveLength(2);
    for (const service of services) expect(unitSettings(readFileSync(path.join(out, service), 'utf8')).get('User'), service).toEqual(['daemon']);
    if (existsSync(ANALYZE)) expect(verify(out, false)).toEqual({ status: 0, stdout: '', stderr: '' });
    else console.log(`skipped systemd-analyze verify: ${ANALYZE} is not installed`);
    // Not with user units, not a name systemd takes, not for a container format.
    expect(refusal(() => run(root, request({ user: true, runAs: 'nobody' })))).toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/--run-as is for system units/),
    });
    expect(refusal(() => run(root, request({ user: false, runAs: '9 lives' })))).toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/"9 lives" is not an account systemd's User= takes cleanly/),
    });
    expect(refusal(() => run(root, request({ format: 'compose', image: 'shop:1', user: false, runAs: 'nobody' }))).message).toMatch(
      /--run-as is for tf export systemd, not compose/,
    );
    // A flag the format would not use is refused, never ignored.
    for (const [change, message] of [
      [{ format: 'compose', user: true }, '--user is for tf export systemd, not compose'],
      [{ format: 'kubernetes', image: 'shop:1', user: true }, '--user is for tf export systemd, not kubernetes'],
      [{ format: 'systemd', image: 'shop:1' }, '--image is for tf export kubernetes and compose, not systemd'],
      [{ format: 'compose', user: false, app: 'shop', appSource: '--app' }, '--app does not apply to tf export compose'],
    ] as const) {
      const error = refusal(() => run(root, request(change)));
      expect(error.message).toBe(message);
      expect(error.exitCode).toBe(2);
    }
    // A CI's TF_IMAGE, set for its kubernetes export, does not break its systemd one.
    expect(() => run(root, request({ image: 'shop:1', imageSource: 'TF_IMAGE' }))).not.toThrow();
  });

  it('exports again without change, and refuses a unit edited by hand unless --force', { timeout: 30_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\nworker: node worker.js\n' });
    run(root, request({ app: 'shop' }));
    expect(run(root, request({ app: 'shop' })).stdout).toBe('systemd: 4 files in out (0 written, 4 unchanged, 0 removed)\n');
    writeFileSync(path.join(root, 'out', 'shop-web-1.service'), '# mine\n');
    const error = refusal(() => run(root, request({ app: 'shop' })));
    expect(error.describe()).toBe(
      'out/shop-web-1.service: was edited since tf exported it; an export never replaces it; move it away, or pass --force to overwrite what tf exported',
    );
    expect(run(root, request({ app: 'shop', force: true })).stdout).toContain('wrote out/shop-web-1.service\n');
    // Scaling a type to zero removes its units.
    const scaled = run(root, request({ app: 'shop', config: { ...CONFIG, formation: 'web=1,worker=0' } }));
    expect(scaled.stdout).toContain('removed out/shop-worker-1.service (no longer exported)\n');
    expect(existsSync(path.join(root, 'out', 'shop-worker-1.service'))).toBe(false);
  });

  it.skipIf(spawnSync('git', ['--version']).status !== 0)(
    'warns when a file of secret values lands where git would take it, and not once it is ignored or left out',
    { timeout: 30_000 },
    () => {
      const root = app({ Procfile: 'web: node web.js\n', '.env': 'LOG_LEVEL=info\nDB_PASSWORD=hunter2\n' });
      expect(spawnSync('git', ['init', '-q'], { cwd: root }).status).toBe(0);
      const warning = 'tf: warning: out/shop.env holds secret values and git does not ignore it: add it to .gitignore, or export with --no-secrets\n';
      expect(run(root, request({ app: 'shop' })).stderr).toBe(warning);
      expect(run(root, request({ format: 'compose', dir: 'c', user: false })).stderr).toBe(warning.replace('out/shop.env', 'c/secrets.env'));
      expect(run(root, request({ app: 'shop', noSecrets: true })).stderr).toBe('');
      writeFileSync(path.join(root, '.gitignore'), 'out/\n');
      expect(run(root, request({ app: 'shop' })).stderr).toBe('');
      // Without secrets there is nothing to warn about, though the systemd env file is 0600 anyway.
      const plain = app({ Procfile: 'web: node web.js\n', '.env': 'LOG_LEVEL=info\n' });
      expect(spawnSync('git', ['init', '-q'], { cwd: plain }).status).toBe(0);
      expect(run(plain, request({ app: 'shop' })).stderr).toBe('');
    },
  );

  it('refuses what the format cannot take, an unknown format and a missing directory, in one line each', { timeout: 30_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\n' });
    const badApp = refusal(() => run(root, request({ app: 'my app' })));
    expect(badApp.describe()).toMatch(/^cannot export to systemd: app name "my app" cannot be part of a systemd unit name .*; pass another with --app NAME$/);
    expect(badApp.exitCode).toBe(2);
    expect(existsSync(path.join(root, 'out'))).toBe(false);
    const unknown = refusal(() => run(root, request({ format: 'upstart' })));
    expect([unknown.kind, unknown.describe()]).toEqual(['usage', `unknown export format "upstart"; use one of: ${exportFormats().join(', ')}`]);
    expect(refusal(() => run(root, request({ dir: undefined }))).describe()).toBe('tf export systemd needs a directory to write to; tf export systemd DIR');
  });
});

describe('exportWarnings (for tf check)', () => {
  it('says what an export would refuse, per format', { timeout: 10_000 }, async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { exportWarnings } = await import('../../src/commands/export.js');
    const root = app({ Procfile: 'web: node web.js\n', '.env': 'GOOD=1\n' });
    const config = loadConfig({ options: CONFIG }, { cwd: root, shellEnv: {} });
    expect(exportWarnings(config)).toEqual([]);
    const bad = {
      ...config,
      env: { ...config.env, 'NODE-ENV': 'x' },
      envOrigins: new Map([...config.envOrigins, ['NODE-ENV', { kind: 'file', file: '.env', line: 2 } as const]]),
    };
    expect(exportWarnings(bad)).toEqual([
      { message: expect.stringMatching(/^tf export systemd would refuse: variable "NODE-ENV" is not a name systemd passes/) },
    ]);
  });
});

describe('tf export with several problems', () => {
  it('names them all in its one line', { timeout: 10_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\n' });
    const message = refusal(() => run(root, request({ app: 'my app', user: false, runAs: '9 lives' }))).describe();
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(
      /^cannot export to systemd: app name "my app" .*; pass another with --app NAME; also: "9 lives" is not an account .*--run-as USER$/,
    );
    // An app name too long for any unit is the value's fault (exit 2); one too long with the Procfile's types, the pair's (exit 1).
    expect(refusal(() => run(root, request({ app: 'a'.repeat(250) })))).toMatchObject({
      exitCode: 2,
      message: expect.stringMatching(/is too long for a systemd unit name/),
    });
    const long = refusal(() => run(root, request({ app: 'a'.repeat(245) })));
    expect([long.exitCode, long.describe()]).toEqual([
      1,
      "cannot export to systemd: unit names would be longer than systemd's 255 characters; pass a shorter --app NAME",
    ]);
  });
});

/** The built CLI, as a user runs it; the timeout fails a test that would hang instead of waiting forever. */
function tf(
  cwd: string,
  args: readonly string[],
  env: Record<string, string> = {},
): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [TF_BIN, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 20_000 });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

/** kubectl where it is installed: `label --local` reads a directory as `kubectl apply -f DIR` does, without a cluster. */
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 10_000 }).status === 0;
if (!kubectl) console.log('export: skipping the kubectl test: no kubectl on PATH (docs/deploy.md says it reads hidden .json files)');

describe('tf export kubernetes, read by kubectl', () => {
  it.skipIf(!kubectl)('leaves nothing in the directory that kubectl apply -f DIR cannot read, its manifest included', { timeout: 60_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\nrelease: node migrate.js\n', '.env': 'LOG_LEVEL=info\nDB_PASSWORD=hunter2\n' });
    const exported = tf(root, ['export', 'kubernetes', 'k8s', '--image', 'shop:1', '--app', 'shop']);
    expect(exported, exported.stderr).toMatchObject({ status: 0 });
    // What docs/deploy.md says, and why the manifest has no .json name: kubectl reads hidden .json, .yaml and .yml files too.
    writeFileSync(path.join(root, 'k8s', '.hidden.json'), '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"hidden-json"}}\n');
    writeFileSync(path.join(root, 'k8s', '.hidden.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hidden-yaml\n');
    writeFileSync(path.join(root, 'k8s', '.hidden.yml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hidden-yml\n');
    const read = spawnSync('kubectl', ['label', '--local', '-f', 'k8s', '-o', 'name', 'checked=yes'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, KUBECONFIG: path.join(root, 'no-kubeconfig') },
    });
    expect(read.stderr).toBe('');
    expect(read.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'configmap/hidden-json',
      'configmap/hidden-yaml',
      'configmap/hidden-yml',
      'configmap/shop-config',
      'deployment.apps/shop-web',
      expect.stringMatching(/^job\.batch\/shop-release-/),
      'secret/shop-secrets',
      'service/shop-web',
    ]);
    expect(readdirSync(path.join(root, 'k8s'))).toContain('.tf-export');
  });
});

describe('tf export: values built on variables only a shell has', () => {
  /** A program in ./bin that needs node from the PATH it was given: found only if both ./bin and the target's PATH are there. */
  const files = {
    Procfile: 'web: hello\n',
    'bin/hello': "#!/bin/sh\nexec node -e 'console.log(JSON.stringify([process.env.PATH, process.env.HOMEDIR ?? null, process.env.X]))'\n",
    '.env': 'PATH=./bin:$PATH\nHOMEDIR=${HOME}/data\nX=1\n',
  };
  const warning =
    'tf: warning: .env:2: HOMEDIR is built on $HOME, which no env file sets: the export leaves HOMEDIR out rather than write it with $HOME empty; set its full value in an env file of the target (e.g. .env.prod, with --env prod) or on the target\n';
  const targetPath = '/usr/local/bin:/usr/bin:/bin';
  const node = path.dirname(process.execPath);
  /** What a process started as the export says prints: ./bin on top of the target's PATH, HOMEDIR left to the target. */
  const expected = `${JSON.stringify([`./bin:${node}:${targetPath}`, null, '1'])}\n`;

  it("systemd: applies PATH=./bin:$PATH on top of the manager's PATH as the unit starts, and leaves out HOMEDIR with a warning", { timeout: 60_000 }, () => {
    const root = app(files);
    chmodSync(path.join(root, 'bin/hello'), 0o755);
    const result = tf(root, ['export', 'systemd', 'out', '--user', '--app', 'shop']);
    expect(result, result.stderr).toMatchObject({ status: 0, stderr: warning });
    const out = path.join(root, 'out');
    expect(Object.fromEntries(parseEnvFile(readFileSync(path.join(out, 'shop.env'), 'utf8')))).toEqual({ X: '1' });
    const unit = unitSettings(readFileSync(path.join(out, 'shop-web-1.service'), 'utf8'));
    expect(unit.get('ExecStart')).toEqual([`/bin/sh -c 'PATH=./bin:"$$PATH"; export PATH; exec hello'`]);
    if (existsSync(ANALYZE)) expect(verify(out, true)).toEqual({ status: 0, stdout: '', stderr: '' });
    const [file, ...args] = execArgv(unit.get('ExecStart')?.[0] ?? '');
    const child = spawnSync(file ?? '', args, {
      cwd: unit.get('WorkingDirectory')?.[0],
      env: { PATH: `${node}:${targetPath}`, X: '1' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe(expected);
  });

  it("compose and kubernetes: apply it on top of the image's PATH as the container starts", { timeout: 60_000 }, () => {
    const root = app(files);
    chmodSync(path.join(root, 'bin/hello'), 0o755);
    for (const [format, dir] of [
      ['compose', 'c'],
      ['kubernetes', 'k'],
    ] as const) {
      const result = tf(root, ['export', format, dir, '--image', 'shop:1', ...(format === 'compose' ? [] : ['--app', 'shop'])]);
      expect(result, result.stderr).toMatchObject({ status: 0, stderr: warning });
    }
    const compose = parseYaml(readFileSync(path.join(root, 'c', 'compose.yaml'), 'utf8'));
    expect(readFileSync(path.join(root, 'c', 'config.env'), 'utf8')).toBe("X='1'\n");
    const deployment = parseYaml(readFileSync(path.join(root, 'k', '20-deployment-web.yaml'), 'utf8'));
    expect(parseYaml(readFileSync(path.join(root, 'k', '00-config.yaml'), 'utf8')).data).toEqual({ X: '1' });
    const argv = ['/bin/sh', '-c', 'PATH=./bin:"$$PATH"; export PATH; exec hello'];
    expect(compose.services.web.entrypoint).toEqual(argv);
    expect(deployment.spec.template.spec.containers[0].command).toEqual(argv);
    // Both read $$ as one $; the image's PATH is what the container starts with.
    const [file, ...args] = argv.map((word) => word.replaceAll('$$', '$'));
    const child = spawnSync(file ?? '', args, { cwd: root, env: { PATH: `${node}:${targetPath}`, X: '1' }, encoding: 'utf8', timeout: 10_000 });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe(expected);
  });

  it("exports full values from the environment's own env file as they are, without a warning", { timeout: 60_000 }, () => {
    const root = app({ ...files, '.env.prod': `PATH=/opt/shop/bin:${targetPath}\nHOMEDIR=/srv/shop\n` });
    const result = tf(root, ['export', 'systemd', 'out', '--user', '--app', 'shop', '--env', 'prod']);
    expect(result, result.stderr).toMatchObject({ status: 0, stderr: '' });
    expect(Object.fromEntries(parseEnvFile(readFileSync(path.join(root, 'out', 'shop.env'), 'utf8')))).toEqual({
      PATH: `/opt/shop/bin:${targetPath}`,
      HOMEDIR: '/srv/shop',
      X: '1',
    });
    expect(unitSettings(readFileSync(path.join(root, 'out', 'shop-web-1.service'), 'utf8')).get('ExecStart')).toEqual([`/bin/sh -c 'exec hello'`]);
  });

  it('tf check says what an export would leave out', { timeout: 30_000 }, () => {
    const root = app(files);
    const result = tf(root, ['check']);
    expect(result.stdout).toContain(
      'warning: .env:2: tf export would leave out HOMEDIR: it is built on $HOME, which no env file sets; set its full value in an env file of the target (e.g. .env.prod, with --env prod) or on the target\n',
    );
    expect(result.stdout).not.toMatch(/leave out PATH/);
  });
});

describe('tf export: values the files leave incomplete in other ways', () => {
  it('says a variable is set too late, naming the line to move up, and a default only the target decides', { timeout: 30_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\n', '.env': 'A=$B/x\nB=1\nD=$UNSET_THING\nE=${D:-dflt}\n' });
    const exported = tf(root, ['export', 'systemd', 'out', '--user', '--app', 'shop']);
    expect(exported, exported.stderr).toMatchObject({ status: 0 });
    const fix = 'set its full value in an env file of the target (e.g. .env.prod, with --env prod) or on the target';
    expect(exported.stderr).toBe(
      [
        // tf start gives A=/x too: B is set, but below the line that needs it.
        'tf: warning: .env:1: A is built on $B, which no env file sets before this line: the export leaves A out rather than write it with $B empty; .env:2 sets $B only after this line uses it, and a value sees only the lines above it: move .env:2 above this line',
        `tf: warning: .env:3: D is built on $UNSET_THING, which no env file sets: the export leaves D out rather than write it with $UNSET_THING empty; ${fix}`,
        // Where the target leaves UNSET_THING empty E is dflt, elsewhere UNSET_THING's value: no file says which.
        `tf: warning: .env:4: E is built on \${D:-...}, whose default applies only where $UNSET_THING is empty, and no env file sets it: the export leaves E out rather than guess whether the default applies; ${fix}`,
        '',
      ].join('\n'),
    );
    expect(Object.fromEntries(parseEnvFile(readFileSync(path.join(root, 'out', 'shop.env'), 'utf8')))).toEqual({ B: '1' });
    const check = tf(root, ['check']);
    expect(check.stdout).toContain(
      'warning: .env:1: tf export would leave out A: it is built on $B, which no env file sets before this line; .env:2 sets $B only after this line uses it, and a value sees only the lines above it: move .env:2 above this line\n',
    );
    expect(check.stdout).toContain(
      `warning: .env:4: tf export would leave out E: it is built on \${D:-...}, whose default applies only where $UNSET_THING is empty, and no env file sets it; ${fix}\n`,
    );
  });

  it('across files, where moving a line cannot help, says where to set either variable', { timeout: 30_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\n', '.env': 'A=$B/x\n', '.env.prod': 'B=1\n' });
    const exported = tf(root, ['export', 'systemd', 'out', '--user', '--app', 'shop', '--env', 'prod']);
    expect(exported, exported.stderr).toMatchObject({ status: 0 });
    expect(exported.stderr).toBe(
      'tf: warning: .env:1: A is built on $B, which no env file sets before this line: the export leaves A out rather than write it with $B empty; .env.prod:1 sets $B only after this line uses it (.env.prod is read after .env): set $B in .env above this line, or set A in .env.prod below .env.prod:1\n',
    );
  });
});

describe('tf export: bad command-line values are usage errors', () => {
  it('exits 2 for an --app or --run-as the format cannot take, 1 for the same from TF_APP', { timeout: 60_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\n' });
    const evil = tf(root, ['export', 'systemd', 'out', '--user', '--app', '../evil name']);
    expect(evil, evil.stderr).toMatchObject({ status: 2, stdout: '' });
    expect(evil.stderr).toMatch(
      /^tf: cannot export to systemd: app name "\.\.\/evil name" cannot be part of a systemd unit name .*; pass another with --app NAME\n$/,
    );
    // Kubernetes makes a name lowercase with "-" for the rest; one still no DNS label is refused.
    const k8s = tf(root, ['export', 'kubernetes', 'k8s', '--image', 'shop:1', '--app', '42']);
    expect(k8s, k8s.stderr).toMatchObject({ status: 2, stdout: '' });
    expect(k8s.stderr).toMatch(/^tf: cannot export to kubernetes: app name "42" cannot name a Kubernetes object .*; pass another with --app NAME\n$/);
    const runAs = tf(root, ['export', 'systemd', 'out', '--run-as', '9 lives']);
    expect(runAs, runAs.stderr).toMatchObject({ status: 2, stdout: '' });
    expect(runAs.stderr).toMatch(
      /^tf: cannot export to systemd: "9 lives" is not an account systemd's User= takes cleanly .*; pass another with --run-as USER\n$/,
    );
    // A bad variable is no bad command line (the README's exit-code table): exit 1, naming the variable.
    const fromEnv = tf(root, ['export', 'systemd', 'out', '--user'], { TF_APP: '../evil name' });
    expect(fromEnv, fromEnv.stderr).toMatchObject({ status: 1, stdout: '' });
    expect(fromEnv.stderr).toMatch(
      /^tf: cannot export to systemd: app name "\.\.\/evil name" cannot be part of a systemd unit name .*; set another in TF_APP\n$/,
    );
    expect(existsSync(path.join(root, 'out'))).toBe(false);
    expect(existsSync(path.join(root, 'k8s'))).toBe(false);
  });
});

describe('tf export: a directory it cannot use', () => {
  // Each is one line naming the directory, the reason and the fix, exit 1; never an internal error, never a hang.
  const cases: [string, (root: string) => string, RegExp][] = [
    [
      'below a file',
      () => './afile/sub',
      /^tf: \.\/afile\/sub: cannot create the export directory: afile is not a directory; pass a directory to export to\n$/,
    ],
    [
      'below a device',
      () => '/dev/null/x',
      /^tf: \/dev\/null\/x: cannot create the export directory: \/dev\/null is not a directory; pass a directory to export to\n$/,
    ],
    ['in /sys', () => '/sys/nope', /^tf: \/sys\/nope: cannot create the export directory: permission denied; pass a directory you can write to\n$/],
    // Node's recursive mkdirSync loops forever here: /proc says ENOENT for a directory it will never have (root; others may get EACCES).
    [
      'in /proc',
      () => '/proc/nope',
      /^tf: \/proc\/nope: cannot create the export directory: (\/proc does not take new directories|permission denied); pass a directory you can write to\n$/,
    ],
    [
      'that exists but takes no files',
      () => '/sys',
      /^tf: \/sys: cannot write the export: \/sys\/[^:]+: permission denied; pass a directory you can write to\n$/,
    ],
    // /proc answers ENOENT for a file it will never have, in a directory that exists.
    [
      'that exists but takes no new files',
      () => '/proc',
      /^tf: \/proc: cannot write the export: \/proc\/[^:]+: (the directory takes no new files|permission denied); pass a directory you can write to\n$/,
    ],
    [
      'in /proc/self',
      () => '/proc/self',
      /^tf: \/proc\/self: cannot write the export: \/proc\/self\/[^:]+: (the directory takes no new files|permission denied); pass a directory you can write to\n$/,
    ],
  ];
  for (const [name, dirOf, expected] of cases) {
    it.skipIf(!existsSync('/sys/kernel') || !existsSync('/proc/self'))(`refuses one ${name} in one line, exit 1`, { timeout: 30_000 }, () => {
      const root = app({ Procfile: 'web: node web.js\n', afile: '' });
      const result = tf(root, ['export', 'systemd', dirOf(root), '--user']);
      expect(result.signal, 'tf export hung').toBeNull();
      expect(result, result.stderr).toMatchObject({ status: 1, stdout: '' });
      expect(result.stderr).toMatch(expected);
    });
  }

  it('creates missing directories one by one, and names one that is a file', { timeout: 30_000 }, () => {
    const root = app({ Procfile: 'web: node web.js\n', 'deploy/units': 'not a directory\n' });
    const made = tf(root, ['export', 'systemd', 'a/b/c', '--user', '--app', 'shop']);
    expect(made, made.stderr).toMatchObject({ status: 0, stderr: '' });
    expect(readdirSync(path.join(root, 'a/b/c'))).toContain('shop.target');
    const file = tf(root, ['export', 'systemd', 'deploy/units', '--user', '--app', 'shop']);
    expect(file, file.stderr).toMatchObject({ status: 1, stderr: 'tf: deploy/units: is not a directory; pass a directory to export to\n' });
  });
});
