import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { secrets, secretsInput, type RotateStep, type SecretsHooks, type SecretsInput } from '../../src/commands/secrets.js';
import { decryptEnvFiles, loadSecretKeys } from '../../src/config/decrypt-env.js';
import { parseEnvFile, resolveEnv } from '../../src/config/env.js';
import { readKeyFile } from '../../src/config/keys.js';
import { TfError } from '../../src/errors.js';
import { tempApps } from '../helpers/tf.js';

const DOTENVX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules/.bin/dotenvx');
const app = tempApps();

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tf secrets` as main would: a TfError becomes `tf: message` on stderr and its exit code. */
async function tfSecrets(
  cwd: string,
  input: SecretsInput,
  options: { stdin?: string; env?: Record<string, string>; hooks?: SecretsHooks } = {},
): Promise<Result> {
  const stdout = new Sink();
  const stderr = new Sink();
  const stdin = Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]);
  try {
    const code = await secrets(input, { cwd, env: options.env ?? {}, stdout, stderr, stdin }, options.hooks);
    return { code, stdout: stdout.text, stderr: stderr.text };
  } catch (error) {
    if (!(error instanceof TfError)) throw error;
    return { code: error.exitCode, stdout: stdout.text, stderr: `${stderr.text}tf: ${error.describe()}\n` };
  }
}

/** The environment a process of `envName` would get from the files in `root` (shell empty). */
function resolved(root: string, files: string[], env: Record<string, string> = {}): Record<string, string> {
  const parsed = files.filter((f) => existsSync(path.join(root, f))).map((f) => parseEnvFile({ file: f, text: readFileSync(path.join(root, f), 'utf8') }));
  return { ...resolveEnv({}, decryptEnvFiles(parsed, loadSecretKeys(root, env)).files, false).env };
}

const read = (root: string, file: string): string => readFileSync(path.join(root, file), 'utf8');

describe('tf secrets', { timeout: 30_000 }, () => {
  it('init, set from stdin, get, ls: encrypted in place, every other byte kept', async () => {
    const root = app({ '.env': '# shared\nexport PORT=5000 # web\n\nDB_PASS=old-plain\n', '.gitignore': 'node_modules/\n' });
    const init = await tfSecrets(root, { action: 'init' });
    expect(init).toMatchObject({ code: 0, stderr: '' });
    const [key] = readKeyFile(path.join(root, '.tf/keys/default.key')) ?? [];
    expect(init.stdout).toContain(`created key ${key?.id} for environment "default" in .tf/keys/default.key`);
    expect(statSync(path.join(root, '.tf/keys/default.key')).mode & 0o777).toBe(0o600);
    expect(read(root, '.gitignore')).toBe('node_modules/\n/.tf/keys/\n');
    expect((await tfSecrets(root, { action: 'init' })).stdout).toContain(`already has key ${key?.id}`);

    const set = await tfSecrets(root, { action: 'set', name: 'DB_PASS' }, { stdin: 's3cret value\n' });
    expect(set).toEqual({ code: 0, stdout: `set DB_PASS in .env, encrypted with key ${key?.id}\n`, stderr: '' });
    const text = read(root, '.env');
    expect(text).toMatch(new RegExp(`^# shared\\nexport PORT=5000 # web\\n\\nDB_PASS=tf:v1:${key?.id}:[A-Za-z0-9_-]+\\n$`));
    expect(text).not.toContain('s3cret');

    // Setting the same value again leaves the file byte-identical.
    expect((await tfSecrets(root, { action: 'set', name: 'DB_PASS' }, { stdin: 's3cret value' })).stdout).toBe(
      'DB_PASS in .env already holds that value; unchanged\n',
    );
    expect(read(root, '.env')).toBe(text);

    expect(await tfSecrets(root, { action: 'get', name: 'DB_PASS' })).toEqual({ code: 0, stdout: 's3cret value\n', stderr: '' });
    expect(resolved(root, ['.env'])).toEqual({ PORT: '5000', DB_PASS: 's3cret value' });

    const ls = await tfSecrets(root, { action: 'ls' });
    expect(ls.stdout).toBe(`NAME     FILE    ENV      KEY          HERE\nDB_PASS  .env:4  default  tf ${key?.id}  can decrypt\n`);
    expect(ls.stdout).not.toContain('s3cret');
  });

  it('writes --env and --local layers with their own key, and refuses what it should', async () => {
    const root = app({ '.env': 'A=1\n', '.env.prod': 'B=2\n' });
    const noKey = await tfSecrets(root, { action: 'set', name: 'TOKEN', envName: 'prod' }, { stdin: 'x' });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toBe(
      'tf: environment "prod" has no key on this machine; run tf secrets init --env prod to make one, or set TF_KEY_PROD / save the team\'s key in .tf/keys/prod.key\n',
    );
    expect((await tfSecrets(root, { action: 'init', envName: 'prod' })).code).toBe(0);
    expect((await tfSecrets(root, { action: 'set', name: 'TOKEN', envName: 'prod', local: true }, { stdin: 'mine' })).code).toBe(0);
    expect((await tfSecrets(root, { action: 'set', name: 'TOKEN', envName: 'prod' }, { stdin: 'team' })).code).toBe(0);
    expect(read(root, '.env.prod')).toMatch(/^B=2\nTOKEN=tf:v1:/);
    expect(read(root, '.env.prod.local')).toMatch(/^TOKEN=tf:v1:/);
    // A developer's own layer is created for them alone, as tf env set --local creates it.
    expect(statSync(path.join(root, '.env.prod.local')).mode & 0o777).toBe(0o600);
    expect((await tfSecrets(root, { action: 'get', name: 'TOKEN', envName: 'prod' })).stdout).toBe('mine\n');
    expect(resolved(root, ['.env', '.env.prod', '.env.prod.local'])).toEqual({ A: '1', B: '2', TOKEN: 'mine' });

    expect(await tfSecrets(root, { action: 'set', name: 'TOKEN', envName: 'prod' }, { stdin: '' })).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no value for TOKEN: stdin was empty'),
    });
    expect(await tfSecrets(root, { action: 'set', name: '1BAD', envName: 'prod' }, { stdin: 'x' })).toMatchObject({
      code: 2,
      stderr: 'tf: "1BAD" is not a variable name; use letters, digits and "_", not starting with a digit\n',
    });
    const argv = await tfSecrets(root, { action: 'set', name: 'TOKEN=typed-secret', envName: 'prod' }, { stdin: 'x' });
    expect(argv).toMatchObject({
      code: 2,
      stderr: "tf: tf secrets set takes the variable's name only; the value comes from stdin or a prompt, never from the command line\n",
    });
    expect(await tfSecrets(root, { action: 'get', name: 'A' })).toMatchObject({
      code: 1,
      stderr: 'tf: .env:1: A is not encrypted; tf secrets get prints only encrypted values; encrypt it with tf secrets set A, or read the file\n',
    });
    expect(await tfSecrets(root, { action: 'get', name: 'NOPE' })).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('NOPE is not set in .env, .env.local'),
    });
    expect((await tfSecrets(root, { action: 'ls', envName: '../x' })).code).toBe(2);
  });

  it('with a missing key, get and decryption name the file, line, variable, environment and the fix, never the value', async () => {
    const root = app({ '.env.prod': 'X=1\n' });
    await tfSecrets(root, { action: 'init', envName: 'prod' });
    await tfSecrets(root, { action: 'set', name: 'API_TOKEN', envName: 'prod' }, { stdin: 'planted-secret-42' });
    const keyFile = path.join(root, '.tf/keys/prod.key');
    const [key] = readKeyFile(keyFile) ?? [];
    renameSync(keyFile, `${keyFile}.away`);
    const get = await tfSecrets(root, { action: 'get', name: 'API_TOKEN', envName: 'prod' });
    expect(get.code).toBe(1);
    expect(get.stderr).toBe(
      `tf: .env.prod:2: API_TOKEN needs key ${key?.id} of environment "prod", and this machine has no key for "prod"; set TF_KEY_PROD, or save the key in .tf/keys/prod.key (from whoever has it: tf secrets init makes a new key, which cannot open existing values)\n`,
    );
    expect(() => resolved(root, ['.env.prod'])).toThrow(/API_TOKEN needs key/);
    // A new key would strand the value: init refuses.
    const init = await tfSecrets(root, { action: 'init', envName: 'prod' });
    expect(init.code).toBe(1);
    expect(init.stderr).toContain(`.env.prod:2: API_TOKEN is already encrypted with key ${key?.id}, which a new key could not open`);
    // CI: the key in TF_KEY_PROD.
    const ciKey =
      readFileSync(`${keyFile}.away`, 'utf8')
        .split('\n')
        .find((l) => !l.startsWith('#')) ?? '';
    expect(resolved(root, ['.env.prod'], { TF_KEY_PROD: ciKey })).toEqual({ X: '1', API_TOKEN: 'planted-secret-42' });
    expect((await tfSecrets(root, { action: 'ls' })).stdout).toContain('no key here');
    for (const out of [get.stderr, init.stderr, (await tfSecrets(root, { action: 'ls' })).stdout]) expect(out).not.toContain('planted-secret-42');
  });

  it('rotate re-encrypts every value under a new key and drops the old one', async () => {
    const root = app({ '.env': 'A=1\n' });
    await tfSecrets(root, { action: 'init' });
    await tfSecrets(root, { action: 'set', name: 'S1' }, { stdin: 'one' });
    await tfSecrets(root, { action: 'set', name: 'S2', local: true }, { stdin: 'two' });
    const [old] = readKeyFile(path.join(root, '.tf/keys/default.key')) ?? [];
    const rotated = await tfSecrets(root, { action: 'rotate' });
    expect(rotated.code).toBe(0);
    const keys = readKeyFile(path.join(root, '.tf/keys/default.key')) ?? [];
    expect(keys).toHaveLength(1);
    expect(keys[0]?.id).not.toBe(old?.id);
    expect(rotated.stdout).toContain(`environment "default" now uses key ${keys[0]?.id}`);
    expect(rotated.stdout).toContain('whoever read the secrets still knows them');
    expect(read(root, '.env')).toMatch(new RegExp(`^A=1\\nS1=tf:v1:${keys[0]?.id}:`));
    expect(read(root, '.env.local')).toMatch(new RegExp(`^S2=tf:v1:${keys[0]?.id}:`));
    expect(resolved(root, ['.env', '.env.local'])).toEqual({ A: '1', S1: 'one', S2: 'two' });
  });

  it('a rotation cut short after the key is written is finished by the next run, with the same new key', async () => {
    const root = app({ '.env.prod': 'S1=x\n' });
    await tfSecrets(root, { action: 'init', envName: 'prod' });
    await tfSecrets(root, { action: 'set', name: 'S1', envName: 'prod' }, { stdin: 'one' });
    const before = read(root, '.env.prod');
    const crash = (at: RotateStep['kind']): SecretsHooks => ({
      onRotateStep: (step) => {
        if (step.kind === at) throw new Error('crash');
      },
    });
    await expect(tfSecrets(root, { action: 'rotate', envName: 'prod' }, { hooks: crash('key-written') })).rejects.toThrow('crash');
    const pending = readKeyFile(path.join(root, '.tf/keys/prod.key')) ?? [];
    expect(pending).toHaveLength(2);
    expect(read(root, '.env.prod')).toBe(before);
    // Cut short, everything still decrypts.
    expect(resolved(root, ['.env.prod'])).toEqual({ S1: 'one' });

    const again = await tfSecrets(root, { action: 'rotate', envName: 'prod' });
    expect(again.stdout).toContain(`finishing the rotation to key ${pending[0]?.id}`);
    expect((readKeyFile(path.join(root, '.tf/keys/prod.key')) ?? []).map((k) => k.id)).toEqual([pending[0]?.id]);
    expect(read(root, '.env.prod')).toMatch(new RegExp(`^S1=tf:v1:${pending[0]?.id}:`));
    expect(resolved(root, ['.env.prod'])).toEqual({ S1: 'one' });
  });

  it('a rotation cut short after some files keeps what it re-encrypted and does the rest', async () => {
    const root = app({ '.env.prod': '# a\n', '.env.prod.local': '# b\n' });
    await tfSecrets(root, { action: 'init', envName: 'prod' });
    await tfSecrets(root, { action: 'set', name: 'S1', envName: 'prod' }, { stdin: 'one' });
    await tfSecrets(root, { action: 'set', name: 'S2', envName: 'prod', local: true }, { stdin: 'two' });
    const localBefore = read(root, '.env.prod.local');
    const hooks: SecretsHooks = {
      onRotateStep: (step) => {
        if (step.kind === 'file-written') throw new Error('crash');
      },
    };
    await expect(tfSecrets(root, { action: 'rotate', envName: 'prod' }, { hooks })).rejects.toThrow('crash');
    const [next] = readKeyFile(path.join(root, '.tf/keys/prod.key')) ?? [];
    const firstDone = read(root, '.env.prod');
    expect(firstDone).toMatch(new RegExp(`S1=tf:v1:${next?.id}:`));
    expect(read(root, '.env.prod.local')).toBe(localBefore);
    expect(resolved(root, ['.env.prod', '.env.prod.local'])).toEqual({ S1: 'one', S2: 'two' });

    const steps: RotateStep[] = [];
    await tfSecrets(root, { action: 'rotate', envName: 'prod' }, { hooks: { onRotateStep: (s) => steps.push(s) } });
    expect(steps).toEqual([
      { kind: 'file-written', file: '.env.prod.local', values: 1 },
      { kind: 'old-keys-dropped', keyId: next?.id },
    ]);
    expect(read(root, '.env.prod')).toBe(firstDone);
    expect(read(root, '.env.prod.local')).toMatch(new RegExp(`^# b\\nS2=tf:v1:${next?.id}:`));
    expect(resolved(root, ['.env.prod', '.env.prod.local'])).toEqual({ S1: 'one', S2: 'two' });
  });
});

describe('dotenvx files', { timeout: 60_000 }, () => {
  const dotenvx = (cwd: string, ...args: string[]): void => {
    execFileSync(DOTENVX, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd }, stdio: 'ignore' });
  };

  it('decrypts values written by the real dotenvx CLI, with keys from .env.keys or the environment', async () => {
    const root = app({ '.env': '# mine\nPLAIN=1\n', '.env.production': 'HOST=db\n' });
    dotenvx(root, 'set', 'HELLO', 'wörld "q" $x', '-f', '.env');
    dotenvx(root, 'set', 'DB_PASS', 'prod-secret', '-f', '.env.production');
    expect(read(root, '.env.production')).toMatch(/DB_PASS="encrypted:/);
    expect(resolved(root, ['.env', '.env.production'])).toMatchObject({ PLAIN: '1', HELLO: 'wörld "q" $x', HOST: 'db', DB_PASS: 'prod-secret' });
    expect((await tfSecrets(root, { action: 'get', name: 'DB_PASS', envName: 'production' })).stdout).toBe('prod-secret\n');
    const ls = await tfSecrets(root, { action: 'ls' });
    expect(ls.stdout).toMatch(/HELLO +\.env:\d+ +default +dotenvx DOTENV_PRIVATE_KEY +can decrypt/);
    expect(ls.stdout).toMatch(/DB_PASS +\.env\.production:\d+ +production +dotenvx DOTENV_PRIVATE_KEY_PRODUCTION +can decrypt/);

    // Keys from the environment instead of .env.keys.
    const keys = read(root, '.env.keys');
    const privateKey = /DOTENV_PRIVATE_KEY_PRODUCTION=(\w+)/.exec(keys)?.[1] ?? '';
    renameSync(path.join(root, '.env.keys'), path.join(root, 'keys.away'));
    expect(resolved(root, ['.env.production'], { DOTENV_PRIVATE_KEY_PRODUCTION: privateKey })).toMatchObject({ DB_PASS: 'prod-secret' });
    expect(() => resolved(root, ['.env.production'])).toThrow(/^DB_PASS is encrypted by dotenvx and this machine has no DOTENV_PRIVATE_KEY_PRODUCTION/);
    const wrong = /DOTENV_PRIVATE_KEY=(\w+)/.exec(keys)?.[1] ?? '';
    let message = '';
    try {
      resolved(root, ['.env.production'], { DOTENV_PRIVATE_KEY_PRODUCTION: wrong });
    } catch (error) {
      message = (error as TfError).describe();
    }
    expect(message).toMatch(/^\.env\.production:\d+: DB_PASS does not decrypt with DOTENV_PRIVATE_KEY_PRODUCTION/);
    expect(message).not.toContain('prod-secret');
  });

  it('decrypts a file encrypted whole by dotenvx encrypt', () => {
    const root = app({ '.env': 'A=alpha\nB="two words"\nC=\'single $x\'\n' });
    dotenvx(root, 'encrypt', '-f', '.env');
    const text = read(root, '.env');
    expect(text).not.toContain('alpha');
    expect(resolved(root, ['.env'])).toMatchObject({ A: 'alpha', B: 'two words', C: 'single $x' });
  });

  it('lets tf secrets and dotenvx values live in one file', async () => {
    const root = app({ '.env': 'A=1\n' });
    dotenvx(root, 'set', 'DX', 'from-dotenvx', '-f', '.env');
    await tfSecrets(root, { action: 'init' });
    await tfSecrets(root, { action: 'set', name: 'TF' }, { stdin: 'from-tf' });
    expect(resolved(root, ['.env'])).toMatchObject({ A: '1', DX: 'from-dotenvx', TF: 'from-tf' });
    const rotated = await tfSecrets(root, { action: 'rotate' });
    expect(rotated.stdout).toContain('1 dotenvx value was left as it is');
    expect(resolved(root, ['.env'])).toMatchObject({ DX: 'from-dotenvx', TF: 'from-tf' });
  });
});

describe('set without a file', { timeout: 10_000 }, () => {
  it('creates the env file', async () => {
    const root = app({});
    await tfSecrets(root, { action: 'init', envName: 'ci' });
    expect((await tfSecrets(root, { action: 'set', name: 'T', envName: 'ci' }, { stdin: 'v' })).code).toBe(0);
    expect(read(root, '.env.ci')).toMatch(/^T=tf:v1:/);
  });

  it('reads the value from a terminal without echo, with backspace, and restores the terminal', async () => {
    const root = app({});
    await tfSecrets(root, { action: 'init' });
    const stdin = Object.assign(new PassThrough(), { isTTY: true, modes: [] as boolean[] });
    const setRawMode = (raw: boolean): void => {
      stdin.modes.push(raw);
    };
    const stdout = new Sink();
    const stderr = new Sink();
    const done = secrets({ action: 'set', name: 'PW' }, { cwd: root, env: {}, stdout, stderr, stdin: Object.assign(stdin, { setRawMode }) });
    stdin.write('ab\u007fc\r');
    expect(await done).toBe(0);
    expect(stdin.modes).toEqual([true, false]);
    expect(stderr.text).toBe('value for PW (not shown): \n');
    expect((await tfSecrets(root, { action: 'get', name: 'PW' })).stdout).toBe('ac\n');
  });
});

describe('secretsInput', { timeout: 10_000 }, () => {
  it('takes the action and the name, never a value', () => {
    expect(secretsInput(['set', 'A'], { envName: 'prod', local: true })).toEqual({ action: 'set', name: 'A', envName: 'prod', local: true, root: undefined });
    expect(secretsInput(['ls'], {})).toEqual({ action: 'ls', name: undefined, envName: undefined, local: false, root: undefined });
    expect(() => secretsInput(['set', 'A', 'value'], {})).toThrow('tf secrets set takes one variable name');
    expect(() => secretsInput(['set', 'A=value'], {})).not.toThrow();
    expect(() => secretsInput(['rm', 'A'], {})).toThrow('unknown action "secrets rm"');
    expect(() => secretsInput([], {})).toThrow('tf secrets needs an action');
    expect(() => secretsInput(['get', 'A'], { local: true })).toThrow('--local is an option of tf secrets set only');
  });
});
