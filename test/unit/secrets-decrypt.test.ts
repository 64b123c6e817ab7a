import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decryptAt, decryptEnvFiles, loadSecretKeys } from '../../src/config/decrypt-env.js';
import { parseEnvFile, resolveEnv } from '../../src/config/env.js';
import { formatKey, writeKeyFile } from '../../src/config/keys.js';
import { encryptValue, generateKey, type SecretKey } from '../../src/config/secrets.js';
import { TfError } from '../../src/errors.js';

const PLAIN = 'p@ss w0rd-that-must-not-leak';
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** An app root with a key per environment on disk. */
function app(envs: Record<string, SecretKey>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'tf-decrypt-'));
  dirs.push(root);
  for (const [envName, key] of Object.entries(envs)) writeKeyFile(root, envName, [key]);
  return root;
}

/** The one-line error decrypting `value` as `name` of `file` gives, checked to hold no secret. */
function failure(root: string, value: string, file: string, name: string, shellEnv: Record<string, string> = {}, siblings: string[] = []): string {
  try {
    decryptAt(value, { file, line: 3, name, siblings }, loadSecretKeys(root, shellEnv));
  } catch (error) {
    if (!(error instanceof TfError)) throw error;
    const text = error.describe();
    expect(text).not.toContain(PLAIN);
    expect(text).not.toContain(value);
    expect(text).not.toMatch(/\n/);
    expect(error.exitCode).toBe(1);
    return text;
  }
  throw new Error('decrypted');
}

describe('decrypting env values', { timeout: 10_000 }, () => {
  const prod = generateKey();
  const def = generateKey();

  it('decrypts with the key of the file environment, from the key file or TF_KEY_<ENV>', () => {
    const root = app({ prod });
    const value = encryptValue(PLAIN, prod, { envName: 'prod', name: 'DB_PASS' });
    expect(decryptAt(value, { file: '.env.prod', line: 1, name: 'DB_PASS' }, loadSecretKeys(root, {}))).toBe(PLAIN);
    const bare = app({});
    expect(decryptAt(value, { file: '.env.prod.local', line: 1, name: 'DB_PASS' }, loadSecretKeys(bare, { TF_KEY_PROD: formatKey(prod) }))).toBe(PLAIN);
  });

  it('without a key: file, line, variable, environment and how to supply the key', () => {
    const value = encryptValue(PLAIN, prod, { envName: 'prod', name: 'DB_PASS' });
    expect(failure(app({}), value, '.env.prod', 'DB_PASS')).toBe(
      `.env.prod:3: DB_PASS needs key ${prod.id} of environment "prod", and this machine has no key for "prod"; set TF_KEY_PROD, or save the key in .tf/keys/prod.key (from whoever has it: tf secrets init makes a new key, which cannot open existing values)`,
    );
  });

  it('with a swapped key: which key is needed and which one is here', () => {
    const wrong = generateKey();
    const value = encryptValue(PLAIN, prod, { envName: 'prod', name: 'DB_PASS' });
    expect(failure(app({ prod: wrong }), value, '.env.prod', 'DB_PASS')).toMatch(
      new RegExp(`^\\.env\\.prod:3: DB_PASS needs key ${prod.id} of environment "prod", but this machine has ${wrong.id} \\(.*prod\\.key\\); set TF_KEY_PROD`),
    );
    expect(failure(app({}), value, '.env.prod', 'DB_PASS', { TF_KEY_PROD: formatKey(wrong) })).toMatch(
      new RegExp(`but this machine has ${wrong.id} \\(TF_KEY_PROD\\)`),
    );
  });

  it('with a value copied from another environment', () => {
    const value = encryptValue(PLAIN, prod, { envName: 'prod', name: 'DB_PASS' });
    expect(failure(app({ prod, default: def }), value, '.env', 'DB_PASS')).toBe(
      `.env:3: DB_PASS is encrypted with key ${prod.id}, which is environment "prod"'s key, not "default"'s: a value cannot be copied between environments; set it again with tf secrets set DB_PASS`,
    );
    // Two environments sharing one key still cannot swap values: the environment is authenticated.
    const shared = app({ prod, staging: prod });
    expect(failure(shared, value, '.env.staging', 'DB_PASS')).toBe(
      '.env.staging:3: DB_PASS holds a value encrypted for environment "prod", not "staging": a value cannot be copied between environments; set it again with tf secrets set DB_PASS --env staging',
    );
  });

  it('with a value moved to another variable', () => {
    const value = encryptValue(PLAIN, prod, { envName: 'prod', name: 'DB_PASS' });
    expect(failure(app({ prod }), value, '.env.prod.local', 'API_TOKEN', {}, ['DB_PASS', 'API_TOKEN'])).toBe(
      '.env.prod.local:3: API_TOKEN holds the value encrypted for DB_PASS: a value cannot be moved to another variable; set it again with tf secrets set API_TOKEN --env prod --local',
    );
    expect(failure(app({ prod }), value, '.env.prod', 'API_TOKEN')).toMatch(/API_TOKEN \(environment "prod"\) does not decrypt with key/);
  });

  it('with a tampered tag or a damaged value', () => {
    const value = encryptValue(PLAIN, prod, { envName: 'prod', name: 'DB_PASS' });
    const payload = Buffer.from(value.split(':')[3] ?? '', 'base64url');
    payload[12] = (payload[12] ?? 0) ^ 0x80;
    const tampered = `tf:v1:${prod.id}:${payload.toString('base64url')}`;
    expect(failure(app({ prod }), tampered, '.env.prod', 'DB_PASS')).toBe(
      `.env.prod:3: DB_PASS (environment "prod") does not decrypt with key ${prod.id}: the value was altered, damaged, or renamed from another variable; set it again with tf secrets set DB_PASS --env prod`,
    );
    expect(failure(app({ prod }), 'tf:v1:nope', '.env.prod', 'DB_PASS')).toBe(
      '.env.prod:3: DB_PASS (environment "prod") starts like a tf encrypted value but is damaged; set it again with tf secrets set DB_PASS --env prod',
    );
  });

  it('decrypts files before layering: literal plaintext, references to a secret expand, secret names reported', () => {
    const root = app({ prod, default: def });
    const text = [`PASS=${encryptValue('a$b c', def, { envName: 'default', name: 'PASS' })}`, 'URL=postgres://u:${PASS}@db/app', 'PLAIN=1', ''].join('\n');
    const prodText = `TOKEN="${encryptValue(PLAIN, prod, { envName: 'prod', name: 'TOKEN' })}"\n`;
    const files = [parseEnvFile({ file: '.env', text }), parseEnvFile({ file: '.env.prod', text: prodText })];
    const { files: plain } = decryptEnvFiles(files, loadSecretKeys(root, {}));
    const { env, origins, secretKeys } = resolveEnv({}, plain, false);
    expect([...secretKeys].sort()).toEqual(['PASS', 'TOKEN', 'URL']);
    expect(env).toEqual({ PASS: 'a$b c', URL: 'postgres://u:a$b c@db/app', PLAIN: '1', TOKEN: PLAIN });
    expect(origins.get('TOKEN')).toEqual({ kind: 'file', file: '.env.prod', line: 1 });
  });

  it('fails on the first value it cannot decrypt, before anything is returned', () => {
    const root = app({ default: def });
    const text = `OK=${encryptValue('x', def, { envName: 'default', name: 'OK' })}\nBAD=${encryptValue(PLAIN, prod, { envName: 'prod', name: 'BAD' })}\n`;
    expect(() => decryptEnvFiles([parseEnvFile({ file: '.env', text })], loadSecretKeys(root, {}))).toThrow(/^BAD needs key/);
  });

  it('uses only the last assignment of a key in a file, and an earlier one a line builds on before it is replaced', () => {
    const root = app({ default: def });
    const text = `A=tf:v1:00000000:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nA=${encryptValue('v', def, { envName: 'default', name: 'A' })}\n`;
    const { files } = decryptEnvFiles([parseEnvFile({ file: '.env', text })], loadSecretKeys(root, {}));
    expect(resolveEnv({}, files, false).env.A).toBe('v');

    const extending = [
      `S=${encryptValue('inner', def, { envName: 'default', name: 'S' })}`,
      'S=pre-$S',
      `T=${encryptValue('first', def, { envName: 'default', name: 'T' })}`,
      'COPY=$T',
      `T=${encryptValue('second', def, { envName: 'default', name: 'T' })}`,
      '',
    ].join('\n');
    const decrypted = decryptEnvFiles([parseEnvFile({ file: '.env', text: extending })], loadSecretKeys(root, {}));
    const resolved = resolveEnv({}, decrypted.files, false);
    expect(resolved.env).toEqual({ S: 'pre-inner', T: 'second', COPY: 'first' });
    expect([...resolved.secretKeys].sort()).toEqual(['COPY', 'S', 'T']);
  });

  it('never reads the dotenvx keys when no dotenvx value is there', () => {
    const root = app({ default: def });
    writeFileSync(path.join(root, '.env.keys'), '\0');
    const text = `A=${encryptValue('v', def, { envName: 'default', name: 'A' })}\n`;
    expect(() => decryptEnvFiles([parseEnvFile({ file: '.env', text })], loadSecretKeys(root, {}))).not.toThrow();
  });
});
