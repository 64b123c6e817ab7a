import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  envNameOfFile,
  findEnvKeys,
  formatKey,
  ignoreKeyDir,
  keyFileOf,
  keyFileProblems,
  keyVariable,
  withoutKeys,
  writeKeyFile,
} from '../../src/config/keys.js';
import { generateKey } from '../../src/config/secrets.js';
import { TfError } from '../../src/errors.js';

const dirs: string[] = [];
const tmp = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-keys-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const hasGit = (() => {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('secret keys', { timeout: 10_000 }, () => {
  it('names the variable and the file after the environment', () => {
    expect(keyVariable('default')).toBe('TF_KEY_DEFAULT');
    expect(keyVariable('prod-eu.1')).toBe('TF_KEY_PROD_EU_1');
    expect(keyFileOf('/app', 'prod')).toBe('/app/.tf/keys/prod.key');
    expect(envNameOfFile('/app/.env')).toBe('default');
    expect(envNameOfFile('.env.local')).toBe('default');
    expect(envNameOfFile('.env.prod')).toBe('prod');
    expect(envNameOfFile('.env.prod.local')).toBe('prod');
    expect(envNameOfFile('secrets.env')).toBe('default');
  });

  it('writes a key file with mode 0600 and reads it back, the file key first, TF_KEY_<ENV> after', () => {
    const root = tmp();
    const key = generateKey();
    const file = writeKeyFile(root, 'prod', [key]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const other = generateKey();
    const found = findEnvKeys(root, { TF_KEY_PROD: formatKey(other) }, 'prod');
    expect(found.current?.key.id).toBe(key.id);
    expect(found.all.map((k) => [k.key.id, k.source.kind])).toEqual([
      [key.id, 'file'],
      [other.id, 'variable'],
    ]);
    expect(found.rotating).toBe(false);
    expect(findEnvKeys(root, { TF_KEY_STAGING: formatKey(other) }, 'staging').current?.source).toEqual({ kind: 'variable', variable: 'TF_KEY_STAGING' });
    expect(findEnvKeys(root, {}, 'staging').current).toBeUndefined();
  });

  it('refuses a bad key without echoing it', () => {
    const root = tmp();
    const bad = 'not-a-key-but-maybe-a-password';
    let error: unknown;
    try {
      findEnvKeys(root, { TF_KEY_PROD: bad }, 'prod');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TfError);
    expect((error as TfError).describe()).toMatch(/^TF_KEY_PROD is not a tf key/);
    expect((error as TfError).describe()).not.toContain(bad);

    writeKeyFile(root, 'prod', [generateKey()]);
    writeFileSync(keyFileOf(root, 'prod'), `# c\n${bad}\n`);
    try {
      findEnvKeys(root, {}, 'prod');
      error = undefined;
    } catch (e) {
      error = e;
    }
    expect((error as TfError).describe()).toMatch(/prod\.key:2: is not a tf key/);
    expect((error as TfError).describe()).not.toContain(bad);
  });

  it('removes every TF_KEY_* from a child environment, and nothing else', () => {
    const env = { PATH: '/bin', TF_KEY_PROD: 'k', TF_KEY_DEFAULT: 'k', TF_KEYS: 'x', TF_LOG: 'debug' };
    expect(withoutKeys(env)).toEqual({ PATH: '/bin', TF_KEYS: 'x', TF_LOG: 'debug' });
  });

  it('adds the key directory to .gitignore once, keeping the rest', () => {
    const root = tmp();
    writeFileSync(path.join(root, '.gitignore'), 'node_modules');
    expect(ignoreKeyDir(root)).toBe(true);
    expect(ignoreKeyDir(root)).toBe(false);
    expect(readFileSync(path.join(root, '.gitignore'), 'utf8')).toBe('node_modules\n/.tf/keys/\n');
    const other = tmp();
    writeFileSync(path.join(other, '.gitignore'), '.tf/\n');
    expect(ignoreKeyDir(other)).toBe(false);
  });

  it('reports a key file readable by others', () => {
    const root = tmp();
    const file = writeKeyFile(root, 'prod', [generateKey()]);
    expect(keyFileProblems(root)).toEqual([]);
    chmodSync(file, 0o644);
    writeFileSync(path.join(root, '.env.keys'), 'DOTENV_PRIVATE_KEY=00\n', { mode: 0o600 });
    expect(keyFileProblems(root, root)).toEqual([
      { file: path.join('.tf', 'keys', 'prod.key'), message: 'is readable by other users (mode 0644)', hint: 'run chmod 600 .tf/keys/prod.key' },
    ]);
    writeKeyFile(root, 'prod', [generateKey()]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it.skipIf(!hasGit)('reports a key file tracked by git', () => {
    const root = tmp();
    const git = (...args: string[]): void => {
      execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd: root, stdio: 'ignore' });
    };
    git('init', '-q');
    writeKeyFile(root, 'prod', [generateKey()]);
    expect(keyFileProblems(root)).toEqual([]);
    git('add', '-f', '.tf/keys/prod.key');
    const problems = keyFileProblems(root, root);
    expect(problems.map((p) => [p.file, p.message])).toEqual([
      [path.join('.tf', 'keys', 'prod.key'), 'is tracked by git, so everyone with the repository has the key'],
    ]);
    expect(problems[0]?.hint).toMatch(/git rm --cached \.tf\/keys\/prod\.key/);
  });
});
