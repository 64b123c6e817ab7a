import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import type { EnvOrigin } from '../../src/domain.js';
import { TfError } from '../../src/errors.js';
import { currentRelease, currentState } from '../../src/release/current.js';
import { compareFingerprints, configVariables, fingerprint, fingerprintKey, fingerprintKeyFile, readFingerprintKey } from '../../src/release/fingerprint.js';
import {
  codeState,
  compareStates,
  describeChanges,
  ignoreReleasesDir,
  procfileDigestOf,
  readRecords,
  releasesDir,
  writeRecord,
  type ReleaseState,
} from '../../src/release/records.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
const tmp = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-release-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const fromFile: EnvOrigin = { kind: 'file', file: '.env', line: 1 };
const KEY = Buffer.alloc(32, 7);

/** The parts of a Config a release reads: every variable here comes from `.env`. */
function appConfig(vars: Record<string, string>, procfile = 'web: node server.js') {
  return {
    env: { PATH: '/bin', HOME: '/home/x', ...vars },
    envOrigins: new Map<string, EnvOrigin>(Object.keys(vars).map((k) => [k, fromFile])),
    shadowed: [] as string[],
    procfile: {
      path: 'Procfile',
      types: procfile.split('\n').map((l, i) => ({ name: l.split(':')[0] ?? '', command: l.slice(l.indexOf(':') + 1).trim(), line: i + 1, position: i })),
    },
  };
}

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: cwd,
    },
  });

function gitApp(): string {
  const root = tmp();
  git(root, 'init', '-q');
  writeFileSync(path.join(root, 'Procfile'), 'web: node server.js\n');
  git(root, 'add', 'Procfile');
  git(root, 'commit', '-q', '-m', 'first');
  return root;
}

const state = (vars: Record<string, string>, root = '/nonexistent'): ReleaseState => ({
  code: codeState(root, KEY),
  procfile: procfileDigestOf(appConfig(vars).procfile),
  config: fingerprint(configVariables(appConfig(vars)), KEY),
});

describe('the config fingerprint', () => {
  it('tells which variables were added, removed or changed, by name only', { timeout: 10_000 }, () => {
    const before = fingerprint(
      new Map([
        ['A', '1'],
        ['B', '2'],
        ['C', '3'],
      ]),
      KEY,
    );
    const after = fingerprint(
      new Map([
        ['A', '1'],
        ['B', 'two'],
        ['D', '4'],
      ]),
      KEY,
    );
    expect(compareFingerprints(before, after)).toEqual({ added: ['D'], removed: ['C'], changed: ['B'] });
    expect(compareFingerprints(before, before)).toEqual({ added: [], removed: [], changed: [] });
  });

  it('holds no value, and differs per name and per key', { timeout: 10_000 }, () => {
    const digests = fingerprint(
      new Map([
        ['DATABASE_URL', 'postgres://u:hunter2@db/x'],
        ['OTHER_URL', 'postgres://u:hunter2@db/x'],
      ]),
      KEY,
    );
    expect(JSON.stringify(digests)).not.toContain('hunter2');
    expect(digests.DATABASE_URL).not.toBe(digests.OTHER_URL);
    expect(fingerprint(new Map([['DATABASE_URL', 'postgres://u:hunter2@db/x']]), Buffer.alloc(32, 8)).DATABASE_URL).not.toBe(digests.DATABASE_URL);
  });

  it("is taken over the env files' variables (with the shell's value where it wins), not the rest of the shell", { timeout: 10_000 }, () => {
    const config = { ...appConfig({ A: '1' }), env: { PATH: '/bin', A: '1', B: 'shell' }, shadowed: ['B'] };
    expect([...configVariables(config)]).toEqual([
      ['A', '1'],
      ['B', 'shell'],
    ]);
  });

  it('keeps its key beside the records, mode 0600, made once', { timeout: 10_000 }, () => {
    const root = tmp();
    expect(readFingerprintKey(root)).toBeUndefined();
    const key = fingerprintKey(root);
    expect(key.length).toBe(32);
    expect(fingerprintKey(root).equals(key)).toBe(true);
    expect(statSync(fingerprintKeyFile(root)).mode & 0o777).toBe(0o600);
  });

  it('refuses a damaged key file, naming it', { timeout: 10_000 }, () => {
    const root = tmp();
    mkdirSync(path.dirname(fingerprintKeyFile(root)), { recursive: true });
    writeFileSync(fingerprintKeyFile(root), 'nope\n');
    expect(() => readFingerprintKey(root)).toThrow(TfError);
    expect(() => readFingerprintKey(root)).toThrow(/not a tf fingerprint key/);
  });
});

describe('release records', () => {
  it('get sequential ids per environment, written once with mode 0600', { timeout: 10_000 }, () => {
    const root = tmp();
    const now = new Date('2026-01-02T03:04:05Z');
    const ids = [1, 2, 3].map(() => writeRecord(root, 'default', state({ A: '1' }), { releasePhase: false, now }).id);
    expect(ids).toEqual(['v1', 'v2', 'v3']);
    expect(writeRecord(root, 'staging', state({ A: '1' }), { releasePhase: true, now }).id).toBe('v1');
    expect(readRecords(root, 'default').map((r) => r.id)).toEqual(['v1', 'v2', 'v3']);
    expect(readdirSync(releasesDir(root, 'default')).sort()).toEqual(['v1.json', 'v2.json', 'v3.json']);
    expect(statSync(path.join(releasesDir(root, 'default'), 'v1.json')).mode & 0o777).toBe(0o600);
    expect(readRecords(root, 'default')[0]).toMatchObject({
      id: 'v1',
      number: 1,
      env: 'default',
      createdAt: '2026-01-02T03:04:05.000Z',
      git: null,
      releasePhase: false,
    });
  });

  it('never hold a value of the config', { timeout: 10_000 }, () => {
    const root = tmp();
    writeRecord(root, 'default', state({ SECRET_TOKEN: 'planted-s3cr3t-value', PORT_X: '5432' }), { releasePhase: false, now: new Date() });
    const text = readFileSync(path.join(releasesDir(root, 'default'), 'v1.json'), 'utf8');
    expect(text).toContain('SECRET_TOKEN');
    expect(text).not.toContain('planted-s3cr3t-value');
    expect(text).not.toContain('5432');
  });

  it('refuse a damaged record, naming its file', { timeout: 10_000 }, () => {
    const root = tmp();
    writeRecord(root, 'default', state({}), { releasePhase: false, now: new Date() });
    writeFileSync(path.join(releasesDir(root, 'default'), 'v2.json'), '{"id":"v2"}');
    let thrown: unknown;
    try {
      readRecords(root, 'default');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TfError);
    expect(thrown).toMatchObject({ message: 'is not a tf release record', file: path.join(releasesDir(root, 'default'), 'v2.json') });
  });

  it('give concurrent releases distinct ids, and one fingerprint key', { timeout: 60_000 }, async () => {
    const root = tmp();
    // A real race needs processes: each loads the record store and writes when told to, all at once.
    const bundle = path.join(tmp(), 'records.cjs');
    const keys = path.join(path.dirname(bundle), 'fingerprint.cjs');
    await build({
      entryPoints: [path.join(here, '../../src/release/records.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: bundle,
      logLevel: 'silent',
    });
    await build({
      entryPoints: [path.join(here, '../../src/release/fingerprint.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: keys,
      logLevel: 'silent',
    });
    const script = `
      const { writeRecord } = require(${JSON.stringify(bundle)});
      const { fingerprintKey } = require(${JSON.stringify(keys)});
      process.stdout.write('ready\\n');
      process.stdin.once('data', () => {
        const r = writeRecord(${JSON.stringify(root)}, 'default', { code: { kind: 'none' }, procfile: 'p', config: {} }, { releasePhase: false, now: new Date() });
        process.stdout.write(r.id + ' ' + fingerprintKey(${JSON.stringify(root)}).toString('hex') + '\\n');
        process.exit(0);
      });`;
    const children = Array.from({ length: 8 }, () => spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const outputs = children.map((child) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      const ready = new Promise<void>((resolve) => child.stdout.on('data', (d: string) => ((out += d), out.includes('ready') && resolve())));
      const done = new Promise<string>((resolve) => child.on('close', () => resolve(out)));
      return { ready, done };
    });
    await Promise.all(outputs.map((o) => o.ready));
    for (const child of children) child.stdin.write('go\n');
    const lines = (await Promise.all(outputs.map((o) => o.done))).map((o) => o.replace('ready\n', '').trim().split(' '));
    expect(new Set(lines.map(([id]) => id)).size).toBe(8);
    expect(new Set(lines.map(([, key]) => key))).toEqual(new Set([fingerprintKey(root).toString('hex')]));
    expect(readRecords(root, 'default').map((r) => r.id)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8']);
    expect(readdirSync(releasesDir(root, 'default')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    for (const child of children) expect(child.exitCode).toBe(0);
  });

  it("are kept out of git by a .gitignore of their own, never by editing the app's (which would dirty the tree)", { timeout: 10_000 }, () => {
    const root = tmp();
    writeFileSync(path.join(root, '.gitignore'), 'node_modules');
    expect(ignoreReleasesDir(root)).toBe(true);
    expect(ignoreReleasesDir(root)).toBe(false);
    expect(readFileSync(path.join(root, '.tf', 'releases', '.gitignore'), 'utf8')).toBe('*\n');
    expect(readFileSync(path.join(root, '.gitignore'), 'utf8')).toBe('node_modules');
  });
});

describe('the code state', () => {
  it('is none outside a git work tree', { timeout: 10_000 }, () => {
    expect(codeState(tmp(), KEY)).toEqual({ kind: 'none' });
  });

  it('is the commit, and tells a dirty tree and which changes it holds', { timeout: 20_000 }, () => {
    const root = gitApp();
    const head = git(root, 'rev-parse', 'HEAD').trim();
    expect(codeState(root, KEY)).toEqual({ kind: 'git', commit: head, dirty: false });
    writeFileSync(path.join(root, 'Procfile'), 'web: node server.js --x\n');
    const dirty = codeState(root, KEY);
    expect(dirty).toMatchObject({ kind: 'git', commit: head, dirty: true });
    expect(codeState(root, KEY)).toEqual(dirty);
    writeFileSync(path.join(root, 'Procfile'), 'web: node server.js --y\n');
    expect(codeState(root, KEY)).not.toEqual(dirty);
  });

  it("leaves out what tf export wrote, new or changed, but not a file of the user's beside it", { timeout: 20_000 }, () => {
    const root = gitApp();
    const head = git(root, 'rev-parse', 'HEAD').trim();
    const out = path.join(root, 'deploy', 'out');
    mkdirSync(out, { recursive: true });
    const manifest = (digest: string): string => JSON.stringify({ format: 'systemd', files: { 'shop.env': digest, 'shop-web-1.service': digest } });
    writeFileSync(path.join(out, '.tf-export.json'), manifest('a'));
    writeFileSync(path.join(out, 'shop.env'), 'A="1"\n');
    writeFileSync(path.join(out, 'shop-web-1.service'), '[Service]\n');
    expect(codeState(root, KEY)).toEqual({ kind: 'git', commit: head, dirty: false });
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'exported');
    const exportedHead = git(root, 'rev-parse', 'HEAD').trim();
    // Exported again with other content: the manifest changes with it.
    writeFileSync(path.join(out, 'shop.env'), 'A="2"\n');
    writeFileSync(path.join(out, '.tf-export.json'), manifest('b'));
    expect(codeState(root, KEY)).toEqual({ kind: 'git', commit: exportedHead, dirty: false });
    // Exported again without a unit (its type scaled away): the committed file is gone, and not counted.
    rmSync(path.join(out, 'shop-web-1.service'));
    writeFileSync(path.join(out, '.tf-export.json'), JSON.stringify({ format: 'systemd', files: { 'shop.env': 'c' } }));
    expect(codeState(root, KEY)).toEqual({ kind: 'git', commit: exportedHead, dirty: false });
    writeFileSync(path.join(out, 'notes.txt'), 'mine\n');
    expect(codeState(root, KEY)).toMatchObject({ kind: 'git', commit: exportedHead, dirty: true });
  });

  it('leaves out an export made by an earlier tf (.tf-export.json) and its move to .tf-export', { timeout: 20_000 }, () => {
    const root = gitApp();
    const out = path.join(root, 'k8s');
    mkdirSync(out, { recursive: true });
    const manifest = JSON.stringify({ format: 'kubernetes', files: { '00-config.yaml': 'a' } });
    writeFileSync(path.join(out, '.tf-export.json'), manifest);
    writeFileSync(path.join(out, '00-config.yaml'), 'kind: ConfigMap\n');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'exported by an earlier tf');
    const head = git(root, 'rev-parse', 'HEAD').trim();
    // Exported again by this tf: the manifest has its new name, the old one is gone.
    rmSync(path.join(out, '.tf-export.json'));
    writeFileSync(path.join(out, '.tf-export'), manifest);
    writeFileSync(path.join(out, '00-config.yaml'), 'kind: ConfigMap\ndata: {}\n');
    expect(codeState(root, KEY)).toEqual({ kind: 'git', commit: head, dirty: false });
  });

  it('knows an export directory whose name git quotes (a space, non-ASCII)', { timeout: 20_000 }, () => {
    const root = gitApp();
    const head = git(root, 'rev-parse', 'HEAD').trim();
    for (const name of ['deploy out', 'dé"ploy']) {
      const out = path.join(root, name);
      mkdirSync(out, { recursive: true });
      writeFileSync(path.join(out, '.tf-export.json'), JSON.stringify({ format: 'compose', files: { 'compose.yaml': 'a' } }));
      writeFileSync(path.join(out, 'compose.yaml'), 'services: {}\n');
    }
    expect(codeState(root, KEY)).toEqual({ kind: 'git', commit: head, dirty: false });
  });
});

describe('changes between releases', () => {
  it('name the variables, the Procfile and the commits', { timeout: 10_000 }, () => {
    const before = state({ DATABASE_URL: 'a', OLD: '1' });
    const after: ReleaseState = {
      ...state({ DATABASE_URL: 'b', NEW_FLAG: '1' }),
      procfile: 'other',
      code: { kind: 'git', commit: 'def5678aaaa', dirty: false },
    };
    const changes = compareStates(before, after);
    expect(describeChanges(changes)).toBe('config: DATABASE_URL changed, NEW_FLAG added, OLD removed; Procfile changed; code: no git -> def5678');
    expect(describeChanges(compareStates(before, before))).toBe('nothing changed');
  });
});

describe('currentRelease', () => {
  it('is undefined without records, the id when code and config are the latest release, and what changed otherwise', { timeout: 20_000 }, () => {
    const root = gitApp();
    const config = appConfig({ DATABASE_URL: 'postgres://x', FLAG: '1' });
    expect(currentRelease(config, 'default', root)).toBeUndefined();
    writeRecord(root, 'default', currentState(config, root, fingerprintKey(root)), { releasePhase: false, now: new Date() });
    writeRecord(root, 'default', currentState(config, root, fingerprintKey(root)), { releasePhase: false, now: new Date() });
    expect(currentRelease(config, 'default', root)).toEqual({ kind: 'release', id: 'v2' });
    expect(currentRelease(config, 'staging', root)).toBeUndefined();
    const changed = currentRelease(appConfig({ DATABASE_URL: 'postgres://y', FLAG: '1', NEW_FLAG: '1' }), 'default', root);
    expect(changed).toMatchObject({
      kind: 'changed',
      changedSince: { id: 'v2', changes: { config: { added: ['NEW_FLAG'], changed: ['DATABASE_URL'], removed: [] }, procfile: false, code: undefined } },
    });
    writeFileSync(path.join(root, 'new-file.js'), '');
    expect(currentRelease(config, 'default', root)).toMatchObject({ kind: 'changed', changedSince: { changes: { code: { to: { dirty: true } } } } });
  });

  it('matches nothing when the key is gone, and still names what changed', { timeout: 10_000 }, () => {
    const root = tmp();
    const config = appConfig({ A: '1' });
    writeRecord(root, 'default', currentState(config, root, fingerprintKey(root)), { releasePhase: false, now: new Date() });
    rmSync(fingerprintKeyFile(root));
    expect(currentRelease(config, 'default', root)).toMatchObject({ kind: 'changed', changedSince: { changes: { config: { changed: ['A'] } } } });
  });
});
