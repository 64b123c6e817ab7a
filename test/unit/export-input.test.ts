import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { exportInput, sanitizeAppName } from '../../src/export/input.js';
import { configOptions } from '../helpers/config.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
function app(name: string, files: Record<string, string>): string {
  const root = path.join(mkdtempSync(path.join(tmpdir(), 'tf-export-input-')), name);
  made.push(path.dirname(root));
  mkdirSync(root);
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(root, file), text);
  return root;
}

const options = configOptions;

const PROCFILE = 'web: node web.js\nrelease: bin/migrate\nworker: node worker.js\nclock: node clock.js\n';

describe('exportInput', () => {
  it('takes types in Procfile order without the release entry, counts from the formation and ports by the plan', { timeout: 10_000 }, () => {
    const root = app('shop', { Procfile: PROCFILE });
    const config = loadConfig({ options: options({ formation: 'web=2,worker=1,clock=0,release=0' }) }, { cwd: root, shellEnv: {} });
    const input = exportInput(config, { app: undefined, timeoutSeconds: 7 });
    expect(input.types.map((t) => [t.name, t.command, t.count, t.ports])).toEqual([
      ['web', 'node web.js', 2, [5000, 5001]],
      // The release entry takes no port slot, as in `tf start`.
      ['worker', 'node worker.js', 1, [5100]],
      ['clock', 'node clock.js', 0, []],
    ]);
    // A type scaled to zero still has the PORT foreman's formula gives its first instance.
    expect(input.types.map((t) => t.firstPort)).toEqual([5000, 5100, 5200]);
    // And it is checked as the plan checks its instances' ports.
    const high = loadConfig({ options: options({ formation: 'web=1', port: 65500 }) }, { cwd: root, shellEnv: {} });
    expect(() => exportInput(high, { app: undefined, timeoutSeconds: 7 })).toThrow('port 65600 for worker is above 65535');
    expect(input.release).toEqual({ command: 'bin/migrate' });
    expect(input.timeoutSeconds).toBe(7);
    expect(input.root).toBe(root);
    expect(input.types[0]?.policy).toMatchObject({ restart: 'no', stopSignal: 'SIGTERM' });
  });

  it('gives the processes TF_RELEASE when the export is of a release, as tf start does', { timeout: 10_000 }, () => {
    const root = app('shop', { Procfile: PROCFILE, '.env': 'TF_RELEASE=from-file\nA=1\n' });
    const config = loadConfig({ options: options({}) }, { cwd: root, shellEnv: {} });
    expect(exportInput(config, { app: undefined, timeoutSeconds: 5, releaseId: 'v7' }).env.get('TF_RELEASE')).toEqual({ value: 'v7', secret: false });
    expect(exportInput(config, { app: undefined, timeoutSeconds: 5 }).env.get('TF_RELEASE')).toEqual({ value: 'from-file', secret: false });
  });

  it("sorts values the files alone leave incomplete: an extension of the target's own, or left out with its place", { timeout: 10_000 }, () => {
    const env = [
      'PATH=./bin:$PATH',
      'HOMEDIR=${HOME}/data',
      'BIN=$HOME/bin:$BIN', // extends itself, but is built on HOME too
      'API_TOKEN=abc$API_TOKEN', // a secret never goes into a command line
      'X=1',
    ].join('\n');
    const root = app('shop', { Procfile: 'web: node web.js\n', '.env': `${env}\n` });
    // The developer's shell changes nothing: an export never takes it.
    const shells: Record<string, string>[] = [{}, { HOME: '/home/dev', PATH: '/usr/bin', BIN: '/b', API_TOKEN: 't' }];
    for (const shellEnv of shells) {
      const input = exportInput(loadConfig({ options: options({}) }, { cwd: root, shellEnv }), { app: undefined, timeoutSeconds: 5 });
      expect([...input.env.keys()]).toEqual(['X']);
      expect(input.extensions).toEqual([{ key: 'PATH', parts: [{ text: './bin:' }, { variable: 'PATH' }] }]);
      expect(input.omitted).toEqual([
        { key: 'HOMEDIR', file: '.env', line: 2, variables: ['HOME'], undecidedDefaults: [], setLate: [] },
        { key: 'BIN', file: '.env', line: 3, variables: ['HOME', 'BIN'], undecidedDefaults: [], setLate: [] },
        { key: 'API_TOKEN', file: '.env', line: 4, variables: ['API_TOKEN'], undecidedDefaults: [], setLate: [] },
      ]);
    }
  });

  it('says which left-out values hang on a default only the target decides, and which variables a later line sets', { timeout: 10_000 }, () => {
    const env = ['A=$B/x', 'B=1', 'D=$UNSET_THING', 'E=${D:-dflt}', 'PATH=${D:-/usr/bin}:$PATH'].join('\n');
    const root = app('shop', { Procfile: 'web: node web.js\n', '.env': `${env}\n` });
    const input = exportInput(loadConfig({ options: options({}) }, { cwd: root, shellEnv: {} }), { app: undefined, timeoutSeconds: 5 });
    expect([...input.env.keys()]).toEqual(['B']);
    // PATH extends itself, but on top of a default the target decides: no prelude can write that.
    expect(input.extensions).toEqual([]);
    expect(input.omitted).toEqual([
      {
        key: 'A',
        file: '.env',
        line: 1,
        variables: ['B'],
        undecidedDefaults: [],
        setLate: [{ variable: 'B', neededAt: { file: '.env', line: 1 }, setAt: { file: '.env', line: 2 } }],
      },
      { key: 'D', file: '.env', line: 3, variables: ['UNSET_THING'], undecidedDefaults: [], setLate: [] },
      { key: 'E', file: '.env', line: 4, variables: ['UNSET_THING'], undecidedDefaults: ['D'], setLate: [] },
      { key: 'PATH', file: '.env', line: 5, variables: ['UNSET_THING', 'PATH'], undecidedDefaults: ['D'], setLate: [] },
    ]);
  });

  it('carries the policies of tf.yaml and the flags', { timeout: 10_000 }, () => {
    const root = app('shop', { Procfile: 'web: node web.js\nworker: node worker.js\n' });
    const config = loadConfig(
      { options: options({ restart: { raw: 'worker=always', source: '--restart' }, stopSignal: { raw: 'worker=QUIT', source: '--stop-signal' } }) },
      { cwd: root, shellEnv: {} },
    );
    expect(exportInput(config, { app: undefined, timeoutSeconds: 5 }).types[1]?.policy).toMatchObject({ restart: 'always', stopSignal: 'SIGQUIT' });
  });

  it('takes values from the env files only, never the shell, and marks secrets', { timeout: 10_000 }, () => {
    const root = app('shop', { Procfile: 'web: node web.js\n', '.env': 'PLAIN=1\nAPI_TOKEN=abc\nSHADOWED=file\nENCRYPTED=x\n' });
    const config = loadConfig({ options: options() }, { cwd: root, shellEnv: { HOME: '/home/dev', SHADOWED: 'shell' } });
    // As if ENCRYPTED had been encrypted in its file: the config says so, the name does not.
    const input = exportInput({ ...config, secretKeys: new Set(['ENCRYPTED']) }, { app: undefined, timeoutSeconds: 5 });
    expect([...input.env]).toEqual([
      ['PLAIN', { value: '1', secret: false }],
      ['API_TOKEN', { value: 'abc', secret: true }],
      ['ENCRYPTED', { value: 'x', secret: true }],
    ]);
  });

  it('treats a value with credentials as a secret (a URL password goes to the Secret, not the ConfigMap)', { timeout: 10_000 }, () => {
    const root = app('shop', { Procfile: 'web: node web.js\n', '.env': 'DATABASE_URL=postgres://app:pw123@db:5432/app\nCACHE_URL=redis://cache:6379\n' });
    const input = exportInput(loadConfig({ options: options() }, { cwd: root, shellEnv: {} }), { app: undefined, timeoutSeconds: 5 });
    expect(input.env.get('DATABASE_URL')?.secret).toBe(true);
    expect(input.env.get('CACHE_URL')?.secret).toBe(false);
  });

  it('names the app after --app, else the root directory made safe for unit and object names', { timeout: 10_000 }, () => {
    const root = app('My Shop_2.0', { Procfile: 'web: node web.js\n' });
    const config = loadConfig({ options: options() }, { cwd: root, shellEnv: {} });
    expect(exportInput(config, { app: undefined, timeoutSeconds: 5 }).app).toBe('my-shop-2-0');
    expect(exportInput(config, { app: 'shop', timeoutSeconds: 5 }).app).toBe('shop');
  });

  it('sanitizes names to a DNS label, never empty', { timeout: 10_000 }, () => {
    expect(sanitizeAppName('--Über App--')).toBe('ber-app');
    expect(sanitizeAppName('...')).toBe('app');
    expect(sanitizeAppName('a'.repeat(70))).toHaveLength(63);
  });
});
