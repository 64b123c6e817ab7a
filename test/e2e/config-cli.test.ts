import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatKey } from '../../src/config/keys.js';
import { generateKey } from '../../src/config/secrets.js';
import { expectAllDead, fixture, pidsIn, runTf, tempApps, type TfProcess } from '../helpers/tf.js';

/**
 * Issue 14 through the built CLI, as a user would drive it: tf env, tf secrets, tf services,
 * --wait, the boot report and run --read-only.
 */

const app = tempApps();
const node = process.execPath;

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A TCP server that accepts and closes, on `port` (0: any free port); resolves with its port. */
async function listen(port = 0): Promise<number> {
  const server = createServer((socket) => socket.end());
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on: bound once to learn a free one, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function done(tf: TfProcess): Promise<{ code: number | null; out: string; err: string }> {
  const { code } = await tf.exited;
  return { code, out: tf.output(), err: tf.stderr() };
}

/** Stops a running `tf start` and asserts that it and everything it spawned are gone. */
async function stop(tf: TfProcess): Promise<void> {
  tf.signal('SIGTERM');
  await tf.exited;
  await expectAllDead([tf.pid, ...pidsIn(tf.output())]);
}

/** A child that reports (as JSON) which of the named variables it has, and their values. */
const showEnv = (...names: string[]): string[] => [
  node,
  '-e',
  `console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(names)}.map((n) => [n, process.env[n] ?? null]))))`,
];

interface EnvRow {
  key: string;
  value: string | null;
  source: { kind: string; file?: string; line?: number; reason?: string };
  overrides: { kind: string; file?: string; line?: number }[];
}

describe('tf env', { timeout: 30_000 }, () => {
  const dotenv = '# the app\nDATABASE_URL=postgres://app:url-pass-1@127.0.0.1:5432/app\nAPI_PASSWORD=plain-pass-2\nPLAIN=hello\nSHADOWED=from-file\n';

  it('shows each value with its source (file:line, shell, tf), masking URL passwords and secret-named values', async () => {
    const tf = runTf(['env'], { cwd: app({ '.env': dotenv }), env: { FROM_SHELL: 'shell-value', SHADOWED: 'from-shell' } });
    const { code, out, err } = await done(tf);
    expect(code, err).toBe(0);
    const row = (key: string): string[] => (out.split('\n').find((l) => l.startsWith(`${key} `)) ?? '').trim().split(/\s{2,}/);
    expect(row('DATABASE_URL')).toEqual(['DATABASE_URL', 'postgres://app:*****@127.0.0.1:5432/app', '.env:2']);
    expect(row('API_PASSWORD')).toEqual(['API_PASSWORD', '*****', '.env:3']);
    expect(row('PLAIN')).toEqual(['PLAIN', 'hello', '.env:4']);
    expect(row('FROM_SHELL')).toEqual(['FROM_SHELL', 'shell-value', 'shell']);
    expect(row('TF_SUPERVISOR_RUN')[2]).toMatch(/^tf /);
    expect(out + err).not.toContain('url-pass-1');
    expect(out + err).not.toContain('plain-pass-2');
  });

  it('--reveal shows the values; --json gives sources and what each overrode', async () => {
    const dir = app({ '.env': dotenv });
    const revealed = await done(runTf(['env', '--reveal'], { cwd: dir }));
    expect(revealed.code, revealed.err).toBe(0);
    expect(revealed.out).toContain('postgres://app:url-pass-1@127.0.0.1:5432/app');
    expect(revealed.out).toMatch(/^API_PASSWORD\s+plain-pass-2\s+\.env:3$/m);

    const json = await done(runTf(['env', '--json'], { cwd: dir, env: { SHADOWED: 'from-shell' } }));
    expect(json.code, json.err).toBe(0);
    const doc = JSON.parse(json.out) as { revealed: boolean; envFiles: string[]; variables: EnvRow[] };
    const byKey = new Map(doc.variables.map((v) => [v.key, v]));
    expect(doc.revealed).toBe(false);
    expect(doc.envFiles).toEqual(['.env']);
    expect(byKey.get('API_PASSWORD')).toEqual({ key: 'API_PASSWORD', value: '*****', source: { kind: 'file', file: '.env', line: 3 }, overrides: [] });
    expect(byKey.get('DATABASE_URL')?.value).toBe('postgres://app:*****@127.0.0.1:5432/app');
    expect(byKey.get('SHADOWED')).toEqual({
      key: 'SHADOWED',
      value: 'from-shell',
      source: { kind: 'shell' },
      overrides: [{ kind: 'file', file: '.env', line: 5 }],
    });
    expect(byKey.get('TF_SUPERVISOR_RUN')?.source.kind).toBe('tf');
    expect(json.out).not.toContain('url-pass-1');
    expect(json.out).not.toContain('plain-pass-2');
  });

  it('env set keeps every other byte (comments, CRLF), and tf run sees the new values; unset and get', async () => {
    const before = '# top\r\nA=1\r\n\r\n# mid\r\nB=2 # trailing\r\n';
    const dir = app({ '.env': before });
    const set = await done(runTf(['env', 'set', 'B=3', 'C=new value'], { cwd: dir }));
    expect(set.code, set.err).toBe(0);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe("# top\r\nA=1\r\n\r\n# mid\r\nB=3 # trailing\r\nC='new value'\r\n");

    const run = await done(runTf(['run', ...showEnv('A', 'B', 'C')], { cwd: dir }));
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ A: '1', B: '3', C: 'new value' });

    expect((await done(runTf(['env', 'unset', 'A'], { cwd: dir }))).code).toBe(0);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe("# top\r\n\r\n# mid\r\nB=3 # trailing\r\nC='new value'\r\n");
    const get = await done(runTf(['env', 'get', 'C'], { cwd: dir }));
    expect([get.code, get.out]).toEqual([0, 'new value\n']);
    const missing = await done(runTf(['env', 'get', 'A'], { cwd: dir }));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^tf: A is not set .*\n$/);
  });

  it('env set --secret after tf secrets init stores a tf:v1: value that tf run decrypts and env masks', async () => {
    const dir = app({ '.env': '# keep me\nPLAIN=1\n' });
    const init = await done(runTf(['secrets', 'init'], { cwd: dir }));
    expect(init.code, init.err).toBe(0);
    const set = await done(runTf(['env', 'set', '--secret', 'API_TOKEN=tok-planted-3'], { cwd: dir }));
    expect(set.code, set.err).toBe(0);
    expect(set.out + set.err).not.toContain('tok-planted-3');
    const text = readFileSync(path.join(dir, '.env'), 'utf8');
    expect(text).toMatch(/^# keep me\nPLAIN=1\nAPI_TOKEN=tf:v1:[0-9a-f]+:\S+\n$/);
    expect(text).not.toContain('tok-planted-3');
    // The same value again keeps its ciphertext, as tf secrets set does: a diff shows only what changed.
    expect((await done(runTf(['env', 'set', '--secret', 'API_TOKEN=tok-planted-3'], { cwd: dir }))).code).toBe(0);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe(text);

    const run = await done(runTf(['run', ...showEnv('API_TOKEN')], { cwd: dir }));
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ API_TOKEN: 'tok-planted-3' });
    const env = await done(runTf(['env'], { cwd: dir }));
    expect(env.out).toMatch(/^API_TOKEN\s+\*\*\*\*\*\s+\.env:3$/m);
    expect(env.out).not.toContain('tok-planted-3');

    // A plain set over the encrypted value would store the next secret in clear: refused, the file untouched.
    const plain = await done(runTf(['env', 'set', 'API_TOKEN=tok-planted-4'], { cwd: dir }));
    expect(plain.code).toBe(1);
    expect(plain.err).toBe(
      'tf: .env:3: API_TOKEN is encrypted here; tf env set without --secret would store its new value in plain text; add --secret to keep it encrypted, or "tf env unset API_TOKEN" first to store it in plain text\n',
    );
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe(text);
  });

  it('env, export and run put a config warning on stderr as tf: warning: file:line, like tf errors', async () => {
    const dir = app({ Procfile: 'web: node web.js\n', '.env': 'GOOD=1\nnot a line\n' });
    const expected = 'tf: warning: .env:2: not a KEY=value line, so it was ignored; fix it or comment it out with "#"\n';
    for (const argv of [['env'], ['export', 'compose', 'out'], ['run', 'true']]) {
      const result = await done(runTf(argv, { cwd: dir }));
      expect(result.code, `${argv.join(' ')}: ${result.err}`).toBe(0);
      expect(result.err, argv.join(' ')).toBe(expected);
    }
  });
});

describe('tf services', { timeout: 30_000 }, () => {
  it('--probe: a server the test runs is up, a closed port is down (exit 1); --json', async () => {
    const up = await listen();
    const down = await closedPort();
    const dir = app({ '.env': `CACHE_URL=redis://:cache-pass-4@127.0.0.1:${up}/0\nDATABASE_URL=postgres://app:db-pass-5@127.0.0.1:${down}/app\n` });
    const probe = await done(runTf(['services', '--probe'], { cwd: dir }));
    expect(probe.code).toBe(1);
    expect(probe.out).toMatch(new RegExp(`^redis 127\\.0\\.0\\.1:${up} 0 +up \\d+ms$`, 'm'));
    expect(probe.out).toMatch(new RegExp(`^postgres 127\\.0\\.0\\.1:${down} app +DOWN: ECONNREFUSED 127\\.0\\.0\\.1:${down}$`, 'm'));
    expect(probe.out).toContain(`CACHE_URL=redis://:*****@127.0.0.1:${up}/0  (.env:1)`);
    expect(probe.out).toContain('1 of 2 down');
    expect(probe.out + probe.err).not.toMatch(/cache-pass-4|db-pass-5/);

    const json = await done(runTf(['services', '--probe', '--json'], { cwd: dir }));
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.out) as { resources: { scheme: string; vars: { name: string; value: string }[]; probe: { kind: string } }[] };
    expect(doc.resources.map((r) => [r.scheme, r.vars.map((v) => v.name), r.probe.kind]).sort()).toEqual([
      ['postgres', ['DATABASE_URL'], 'down'],
      ['redis', ['CACHE_URL'], 'up'],
    ]);
    expect(json.out).not.toMatch(/cache-pass-4|db-pass-5/);

    const all = await done(runTf(['services', '--probe'], { cwd: app({ '.env': `CACHE_URL=redis://127.0.0.1:${up}/0\n` }) }));
    expect(all.code, all.out + all.err).toBe(0);
  });

  it('services add / remove write the env file', async () => {
    const dir = app({ '.env': '# db\nPLAIN=1\n' });
    expect((await done(runTf(['services', 'add', 'QUEUE_URL', 'amqp://u:q-pass@127.0.0.1:5672/'], { cwd: dir }))).code).toBe(0);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe('# db\nPLAIN=1\nQUEUE_URL=amqp://u:q-pass@127.0.0.1:5672/\n');
    const list = await done(runTf(['services'], { cwd: dir }));
    expect(list.out).toContain('QUEUE_URL=amqp://u:*****@127.0.0.1:5672/');
    expect(list.out).not.toContain('q-pass');
    expect((await done(runTf(['services', 'remove', 'QUEUE_URL'], { cwd: dir }))).code).toBe(0);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe('# db\nPLAIN=1\n');
  });

  it('services add takes the URL on stdin, keeping a password out of shell history, and says when one was on the command line', async () => {
    const dir = app({ '.env': '' });
    const piped = runTf(['services', 'add', 'queue'], { cwd: dir, stdin: 'pipe' });
    piped.child.stdin?.end('amqp://u:q-pass@127.0.0.1:5672/\n');
    expect(await done(piped)).toEqual({ code: 0, out: 'QUEUE_URL=amqp://u:*****@127.0.0.1:5672/ -> .env (amqp 127.0.0.1:5672 /)\n', err: '' });
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).toBe('QUEUE_URL=amqp://u:q-pass@127.0.0.1:5672/\n');
    const onArgv = await done(runTf(['services', 'add', 'CACHE_URL', 'redis://:c-pass@127.0.0.1/0'], { cwd: dir }));
    expect(onArgv.code).toBe(0);
    expect(onArgv.out).toContain('note: a credential in the URL was on the command line (shell history, ps)');
    expect(onArgv.out + onArgv.err).not.toContain('c-pass');
  });
});

describe('start --wait and the boot report', { timeout: 30_000 }, () => {
  it('waits for a server that only starts after tf said "waiting for", then spawns', async () => {
    const port = await closedPort();
    const dir = app({ '.env': `DB_URL=postgres://app:wait-pass-6@127.0.0.1:${port}/app\n`, Procfile: `web: ${fixture('print-env.mjs', 'PS')}\n` });
    const tf = runTf(['start', '--wait', 'DB_URL', '--wait-timeout', '20'], { cwd: dir });
    const [waiting] = await tf.waitFor(/^tf: waiting for .*$/m, 10_000, 'stderr');
    expect(waiting).toBe(`tf: waiting for DB_URL (postgres://app:*****@127.0.0.1:${port}/app): ECONNREFUSED 127.0.0.1:${port}`);
    expect(tf.output()).not.toContain('started');
    await listen(port);
    await tf.waitFor(/ENV \{"PS":"web\.1"\}/);
    expect(tf.output() + tf.stderr()).not.toContain('wait-pass-6');
    await stop(tf);
  });

  it('TF_WAIT times out: exit 1, masked URL, the last error, nothing spawned', async () => {
    const port = await closedPort();
    const dir = app({ '.env': `DB_URL=postgres://app:wait-pass-7@127.0.0.1:${port}/app\n`, Procfile: 'web: touch spawned\n' });
    const tf = runTf(['start', '--wait-timeout', '1'], { cwd: dir, env: { TF_WAIT: 'DB_URL' } });
    const { code, out, err } = await done(tf);
    expect(code).toBe(1);
    expect(err).toContain(
      `tf: DB_URL (postgres://app:*****@127.0.0.1:${port}/app) did not accept connections within 1s (last error: ECONNREFUSED 127.0.0.1:${port})`,
    );
    expect(out + err).not.toContain('wait-pass-7');
    expect(existsSync(path.join(dir, 'spawned'))).toBe(false);
  });

  it('tf run --wait runs the command once the service is up', async () => {
    const port = await listen();
    const dir = app({ '.env': `DB_URL=postgres://app:p@127.0.0.1:${port}/app\n` });
    const run = await done(runTf(['run', '--wait', 'DB_URL', ...showEnv('DB_URL')], { cwd: dir }));
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ DB_URL: `postgres://app:p@127.0.0.1:${port}/app` });
  });

  it('prints a masked system line per service at boot; a down one warns and start goes on', async () => {
    const up = await listen();
    const down = await closedPort();
    const dir = app({
      '.env': `CACHE_URL=redis://:boot-pass-8@127.0.0.1:${up}/0\nDATABASE_URL=postgres://app:boot-pass-9@127.0.0.1:${down}/app\n`,
      Procfile: `web: ${fixture('print-env.mjs', 'PS')}\n`,
    });
    const tf = runTf(['start'], { cwd: dir });
    await tf.waitFor(new RegExp(`system \\| service CACHE_URL \\(redis://:\\*\\*\\*\\*\\*@127\\.0\\.0\\.1:${up}/0\\) up \\d+ms`));
    await tf.waitFor(
      new RegExp(
        `system \\| service DATABASE_URL \\(postgres://app:\\*\\*\\*\\*\\*@127\\.0\\.0\\.1:${down}/app\\) is down: ECONNREFUSED 127\\.0\\.0\\.1:${down}; starting anyway`,
      ),
    );
    await tf.waitFor(/ENV \{"PS":"web\.1"\}/);
    expect(tf.output() + tf.stderr()).not.toMatch(/boot-pass-8|boot-pass-9/);
    await stop(tf);
  });
});

describe('tf run --read-only', { timeout: 30_000 }, () => {
  const dotenv = 'DATABASE_URL=postgres://app:rw-pass@127.0.0.1:5432/app\nDATABASE_READONLY_URL=postgres://ro:ro-pass@127.0.0.1:5432/app\n';

  it('swaps NAME_URL for NAME_READONLY_URL and sets PGOPTIONS, with a masked banner', async () => {
    const run = await done(runTf(['run', '--read-only', ...showEnv('DATABASE_URL', 'PGOPTIONS')], { cwd: app({ '.env': dotenv }) }));
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ DATABASE_URL: 'postgres://ro:ro-pass@127.0.0.1:5432/app', PGOPTIONS: '-c default_transaction_read_only=on' });
    expect(run.err).toContain('tf: read-only: DATABASE_URL -> DATABASE_READONLY_URL (postgres://ro:*****@127.0.0.1:5432/app)');
    expect(run.err).not.toMatch(/rw-pass|ro-pass/);
  });

  it('hides an encrypted read-only sibling whole in the banner', async () => {
    const dir = app({ '.env': 'DATABASE_URL=postgres://app:rw-pass@127.0.0.1:5432/app\n' });
    expect((await done(runTf(['secrets', 'init'], { cwd: dir }))).code).toBe(0);
    const set = await done(runTf(['env', 'set', '--secret', 'DATABASE_READONLY_URL=postgres://ro@ro-host-planted.invalid/app'], { cwd: dir }));
    expect(set.code, set.err).toBe(0);
    const run = await done(runTf(['run', '--read-only', ...showEnv('DATABASE_URL')], { cwd: dir }));
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual({ DATABASE_URL: 'postgres://ro@ro-host-planted.invalid/app' });
    expect(run.err).toContain('tf: read-only: DATABASE_URL -> DATABASE_READONLY_URL (*****)');
    expect(run.err).not.toContain('ro-host-planted');
  });

  it('refuses a resource without a read-only sibling, listing it, unless --allow-write', async () => {
    const dir = app({ '.env': `${dotenv}REDIS_URL=redis://:redis-pass@127.0.0.1:6379/0\n`, Procfile: 'web: true\n' });
    const refused = runTf(['run', '--read-only', 'touch', 'ran'], { cwd: dir });
    const { code, out, err } = await done(refused);
    expect(code).toBe(1);
    expect(err).toMatch(/^tf: --read-only: no read-only URL for REDIS_URL; .*--allow-write REDIS\n$/);
    expect(out + err).not.toContain('redis-pass');
    expect(existsSync(path.join(dir, 'ran'))).toBe(false);

    const allowed = await done(runTf(['run', '--read-only', '--allow-write', 'REDIS', ...showEnv('DATABASE_URL', 'REDIS_URL')], { cwd: dir }));
    expect(allowed.code, allowed.err).toBe(0);
    expect(JSON.parse(allowed.out)).toEqual({ DATABASE_URL: 'postgres://ro:ro-pass@127.0.0.1:5432/app', REDIS_URL: 'redis://:redis-pass@127.0.0.1:6379/0' });
    expect(allowed.err).toContain('REDIS_URL left WRITABLE');
    expect(allowed.err).not.toContain('redis-pass');

    // A name that guards nothing here is a usage error, not a silent no-op: nothing runs.
    const typo = await done(runTf(['run', '--read-only', '--allow-write', 'REDSI', 'touch', 'ran'], { cwd: dir }));
    expect(typo.code).toBe(2);
    expect(typo.err).toBe(
      'tf: --allow-write REDSI names no resource --read-only guards (resources: DATABASE, REDIS); name one of them, by its variable or its stem\n',
    );
    expect(existsSync(path.join(dir, 'ran'))).toBe(false);
  });
});

describe('a planted secret never appears in what tf prints', { timeout: 60_000 }, () => {
  const ENCRYPTED = 'enc-planted-aa11';
  const PASSWORD = 'pw-planted-bb22';
  const URL_PASSWORD = 'url-planted-cc33';
  // An encrypted URL: where it points is as secret as the rest. `.invalid` never resolves (RFC 6761).
  const HIDDEN_HOST = 'host-planted-dd44.invalid';
  const HIDDEN_PATH = 'path-planted-ee55';
  const HIDDEN_PORT = 47_913;
  const planted = [ENCRYPTED, PASSWORD, URL_PASSWORD, HIDDEN_HOST, HIDDEN_PATH, `:${HIDDEN_PORT}`];
  const clean = (label: string, text: string): void => {
    for (const secret of planted) expect(text, `${label} printed a secret`).not.toContain(secret);
  };

  /** An app whose child reports whether it got each secret, without printing any of them. */
  async function plantedApp(): Promise<{ dir: string; port: number }> {
    const port = await closedPort();
    // The comparison lives in a script file, so the secrets are not in the Procfile command tf shows.
    const checker = `console.log('GOT ' + [process.env.API_TOKEN === '${ENCRYPTED}', process.env.DB_PASSWORD === '${PASSWORD}', (process.env.DATABASE_URL || '').includes('${URL_PASSWORD}')].join(',') + ' pid=' + process.pid);\nsetInterval(() => {}, 1 << 30);\n`;
    const dir = app({
      '.env': `DB_PASSWORD=${PASSWORD}\nDATABASE_URL=postgres://app:${URL_PASSWORD}@127.0.0.1:${port}/app\n`,
      'checker.mjs': checker,
      Procfile: `web: ${JSON.stringify(node)} checker.mjs\n`,
    });
    const init = await done(runTf(['secrets', 'init'], { cwd: dir }));
    expect(init.code, init.err).toBe(0);
    const hiddenUrl = `http://${HIDDEN_HOST}:${HIDDEN_PORT}/${HIDDEN_PATH}`;
    const set = await done(runTf(['env', 'set', '--secret', `API_TOKEN=${ENCRYPTED}`, `INTERNAL_URL=${hiddenUrl}`], { cwd: dir }));
    expect(set.code, set.err).toBe(0);
    clean('env set --secret', set.out + set.err);
    expect(readFileSync(path.join(dir, '.env'), 'utf8')).not.toMatch(new RegExp(`${ENCRYPTED}|${HIDDEN_HOST}`));
    // A value built on a secret is one too.
    appendFileSync(path.join(dir, '.env'), 'ALIAS_URL=${INTERNAL_URL}\n');
    return { dir, port };
  }

  it('start (pretty and --json), ps, logs', async () => {
    const { dir } = await plantedApp();
    for (const mode of [[], ['--json']]) {
      const tf = runTf(['start', ...mode], { cwd: dir });
      await tf.waitFor(/GOT true,true,true/);
      await tf.waitFor(/service DATABASE_URL .* is down/);
      await tf.waitFor(/service INTERNAL_URL \(\*{5}\) is down: ENOTFOUND \*{5}; starting anyway/);
      const ps = await done(runTf(['ps', ...mode], { cwd: dir }));
      expect(ps.code, ps.err).toBe(0);
      expect(ps.out).toContain('web.1');
      clean(`ps ${mode}`, ps.out + ps.err);
      const logs = await done(runTf(['logs', ...mode], { cwd: dir }));
      expect(logs.out).toContain('GOT true,true,true');
      clean(`logs ${mode}`, logs.out + logs.err);
      tf.signal('SIGTERM');
      await tf.exited;
      clean(`start ${mode}`, tf.output() + tf.stderr());
      await expectAllDead([tf.pid, ...pidsIn(tf.output())]);
    }
  });

  it('check, env, services, --wait time-out, read-only refusal', async () => {
    const { dir } = await plantedApp();
    const commands = [
      ['check'],
      ['check', '--json'],
      ['env'],
      ['env', '--json'],
      ['env', 'web'],
      ['services'],
      ['services', '--json'],
      ['services', '--probe'],
      ['services', '--probe', '--json'],
      ['secrets', 'ls'],
      ['start', '--wait', 'DATABASE_URL', '--wait-timeout', '0.5'],
      ['run', '--read-only', 'true'],
      ['run', '--wait', 'DATABASE_URL', '--wait-timeout', '0.5', 'true'],
      ['start', '--wait', 'INTERNAL_URL', '--wait-timeout', '0.5'],
      ['run', '--wait', 'INTERNAL_URL', '--wait-timeout', '0.5', 'true'],
      ['env', 'get', 'ALIAS_URL'],
      ['export', 'kubernetes', 'k8s', '--image', 'app:1', '--no-secrets'],
    ];
    const outputs = new Map<string, string>();
    for (const args of commands) {
      const result = await done(runTf(args, { cwd: dir }));
      expect(result.code, `${args.join(' ')}: ${result.err}`).not.toBeNull();
      clean(args.join(' '), result.out + result.err);
      outputs.set(args.join(' '), result.out + result.err);
    }
    // The encrypted URL is listed, probed and waited for all the same, only never shown.
    expect(outputs.get('services')).toContain('encrypted URL\n  INTERNAL_URL=*****  (.env:4)');
    expect(outputs.get('services --probe')).toContain('encrypted URL  DOWN: ENOTFOUND *****\n  INTERNAL_URL=*****');
    expect(outputs.get('start --wait INTERNAL_URL --wait-timeout 0.5')).toContain(
      'tf: INTERNAL_URL (*****) did not accept connections within 0.5s (last error: ENOTFOUND *****)',
    );
    expect(outputs.get('services')).toContain('encrypted URL\n  ALIAS_URL=*****');
    expect(outputs.get('env get ALIAS_URL')).toContain('ALIAS_URL is secret');
    const manifests = readdirSync(path.join(dir, 'k8s')).map((f) => readFileSync(path.join(dir, 'k8s', f), 'utf8'));
    expect(manifests.join('\n')).toContain('ALIAS_URL');
    clean('export kubernetes --no-secrets', manifests.join('\n'));
  });

  it('errors: a wrong key and a missing key name the variable, never the value; TF_KEY_* never reaches a child', async () => {
    const { dir } = await plantedApp();
    const keyFile = path.join(dir, '.tf', 'keys', 'default.key');
    const goodKey = readFileSync(keyFile, 'utf8')
      .split('\n')
      .find((l) => l !== '' && !l.startsWith('#')) as string;
    renameSync(keyFile, path.join(dir, 'moved.key'));

    const wrong = formatKey(generateKey());
    for (const args of [['start'], ['start', '--json'], ['run', 'touch', 'spawned'], ['check'], ['env']]) {
      for (const env of [{}, { TF_KEY_DEFAULT: wrong }]) {
        const result = await done(runTf(args, { cwd: dir, env }));
        expect(result.code, `${args.join(' ')}`).toBe(1);
        expect(result.err, args.join(' ')).toMatch(/\.env:3: API_TOKEN /);
        clean(args.join(' '), result.out + result.err);
      }
    }
    expect(existsSync(path.join(dir, 'spawned'))).toBe(false);

    const run = await done(
      runTf(
        [
          'run',
          node,
          '-e',
          "console.log(JSON.stringify([process.env.API_TOKEN === 'enc-planted-aa11', Object.keys(process.env).filter((k) => k.startsWith('TF_KEY_'))]))",
        ],
        { cwd: dir, env: { TF_KEY_DEFAULT: goodKey, TF_KEY_PROD: wrong } },
      ),
    );
    expect(run.code, run.err).toBe(0);
    expect(JSON.parse(run.out)).toEqual([true, []]);
  });
});

/** A real redis-server on a free port, when one is installed. */
const redisServer = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
if (redisServer === '') console.log('config-cli: skipping the redis-server e2e: no redis-server on PATH (apt-get install redis-server)');

describe.skipIf(redisServer === '')('a real redis-server', { timeout: 30_000 }, () => {
  let redis: ChildProcess | undefined;
  afterEach(async () => {
    if (redis?.pid !== undefined) {
      redis.kill('SIGKILL');
      await expectAllDead([redis.pid]);
    }
    redis = undefined;
  });

  it('services --probe sees it up; start --wait waits until it listens', async () => {
    const port = await closedPort();
    const dir = app({ '.env': `REDIS_URL=redis://:redis-planted@127.0.0.1:${port}/0\n`, Procfile: `web: ${fixture('print-env.mjs', 'PS')}\n` });
    const tf = runTf(['start', '--wait', 'REDIS_URL', '--wait-timeout', '20'], { cwd: dir });
    await tf.waitFor(/^tf: waiting for REDIS_URL/m, 10_000, 'stderr');
    const server = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    redis = server;
    await tf.waitFor(/ENV \{"PS":"web\.1"\}/);
    await tf.waitFor(new RegExp(`service REDIS_URL \\(redis://:\\*\\*\\*\\*\\*@127\\.0\\.0\\.1:${port}/0\\) up`));
    await stop(tf);

    const probe = await done(runTf(['services', '--probe'], { cwd: dir }));
    expect(probe.code, probe.out + probe.err).toBe(0);
    expect(probe.out).toMatch(new RegExp(`^redis 127\\.0\\.0\\.1:${port} 0 +up \\d+ms$`, 'm'));
    expect(probe.out + probe.err + tf.output() + tf.stderr()).not.toContain('redis-planted');
  });
});

describe('fixes found through the CLI', { timeout: 30_000 }, () => {
  it('tf check masks a URL password written in a Procfile command', async () => {
    const dir = app({ Procfile: 'web: worker --db postgres://app:cmd-pass-10@127.0.0.1:5432/app API_SECRET=cmd-secret-11\n' });
    const check = await done(runTf(['check'], { cwd: dir }));
    expect(check.code, check.err).toBe(0);
    expect(check.out).toContain('web.1  PORT=5000  worker --db postgres://app:*****@127.0.0.1:5432/app API_SECRET=*****');
    expect(check.out + check.err).not.toMatch(/cmd-pass-10|cmd-secret-11/);
  });

  it('--wait-timeout for --wait takes plain decimal seconds only; a --wait naming nothing is refused; nothing runs', async () => {
    const dir = app({ '.env': 'DB_URL=postgres://app:p@127.0.0.1:1/app\n' });
    for (const [args, message] of [
      [['--wait', 'DB_URL', '--wait-timeout', '1e0'], 'tf: bad value "1e0" for --wait-timeout'],
      [['--wait', 'DB_URL', '--wait-timeout', '0x2'], 'tf: bad value "0x2" for --wait-timeout'],
      [['--wait', 'DB_URL', '--wait-timeout', ' '], 'tf: bad value " " for --wait-timeout'],
      [['--wait', 'DB_URL', '--wait-timeout', '99999999999'], 'tf: bad value "99999999999" for --wait-timeout'],
      [['--wait', ','], 'tf: --wait names no variable (",")'],
    ] as const) {
      const run = await done(runTf(['run', ...args, 'touch', 'ran'], { cwd: dir }));
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.err.split('\n')[0], args.join(' ')).toContain(message);
    }
    const blank = await done(runTf(['run', 'touch', 'ran'], { cwd: dir, env: { TF_WAIT: '' } }));
    expect(blank.code, blank.err).toBe(0);
    expect(existsSync(path.join(dir, 'ran'))).toBe(true);
  });

  it('services, its --json and the boot report list a *_URL tf cannot read, masked, with why; --wait names why', async () => {
    const dir = app({ '.env': 'PLAIN=1\nWEIRD_URL=http://user:pa ss@host:99999/x\n', Procfile: `web: ${fixture('print-env.mjs', 'PS')}\n` });
    const list = await done(runTf(['services'], { cwd: dir }));
    expect(list).toEqual({ code: 0, out: 'not a URL tf can read: port over 65535\n  WEIRD_URL=http://*****  (.env:2)\n', err: '' });
    const probed = await done(runTf(['services', '--probe'], { cwd: dir }));
    expect(probed.code, probed.err).toBe(0);
    expect(probed.out).toContain('not a URL tf can read: port over 65535  not probed\n');
    const json = await done(runTf(['services', '--json'], { cwd: dir }));
    expect(JSON.parse(json.out)).toEqual({ resources: [], unreadable: [{ name: 'WEIRD_URL', value: 'http://*****', reason: 'port over 65535' }] });
    const wait = await done(runTf(['run', '--wait', 'WEIRD_URL', 'touch', 'ran'], { cwd: dir }));
    expect(wait.code).toBe(1);
    expect(wait.err.split('\n')[0]).toContain('tf: --wait WEIRD_URL: the value of WEIRD_URL is not a URL tf can read: port over 65535');
    const tf = runTf(['start'], { cwd: dir });
    await tf.waitFor(/system \| service WEIRD_URL \(http:\/\/\*{5}\) is not a URL tf can read: port over 65535; not probed/);
    await tf.waitFor(/ENV \{"PS":"web\.1"\}/);
    await stop(tf);
    for (const text of [list.out, probed.out, json.out, wait.err, tf.output(), tf.stderr()]) expect(text).not.toMatch(/pa ss|99999/);
  });
});
