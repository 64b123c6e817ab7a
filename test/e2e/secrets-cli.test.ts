import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatKey, writeKeyFile } from '../../src/config/keys.js';
import { encryptValue, generateKey } from '../../src/config/secrets.js';
import { runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();
const node = process.execPath;
const SECRET = 'planted-secret-value-7f3a';

/**
 * Through the real CLI: decryption before anything spawns, TF_KEY_* kept from children, and
 * `tf check` on key files. These need config loading wired to the secrets modules (see the
 * report of the secrets branch); until then they are skipped.
 */
const wired = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/config/load.ts'), 'utf8').includes('decryptEnvFiles');

/** A child that says whether it got the secret and which TF_KEY_* it got, without printing the secret. */
const probe = [
  node,
  '-e',
  `console.log(JSON.stringify([process.env.API_TOKEN === ${JSON.stringify(SECRET)}, Object.keys(process.env).filter((k) => k.startsWith('TF_KEY_'))]))`,
];

describe.skipIf(!wired)('encrypted env values through tf', { timeout: 30_000 }, () => {
  const key = generateKey();
  const dotenv = `PLAIN=1\nAPI_TOKEN=${encryptValue(SECRET, key, { envName: 'default', name: 'API_TOKEN' })}\n`;

  it('tf run gives the child the plaintext and no TF_KEY_*', async () => {
    const tf = runTf(['run', ...probe], { cwd: app({ '.env': dotenv }), env: { TF_KEY_DEFAULT: formatKey(key), TF_KEY_OTHER: formatKey(generateKey()) } });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(JSON.parse(tf.output())).toEqual([true, []]);
    expect(tf.stderr()).not.toContain(SECRET);
  });

  it('tf start with a missing key: one line naming file, line, variable, environment and the fix; nothing starts', async () => {
    const dir = app({ '.env': dotenv, Procfile: 'web: touch spawned\n' });
    const tf = runTf(['start'], { cwd: dir });
    expect((await tf.exited).code).toBe(1);
    expect(tf.stderr()).toBe(
      `tf: .env:2: API_TOKEN needs key ${key.id} of environment "default", and this machine has no key for "default"; set TF_KEY_DEFAULT, or save the key in .tf/keys/default.key (from whoever has it: tf secrets init makes a new key, which cannot open existing values)\n`,
    );
    expect(existsSync(path.join(dir, 'spawned'))).toBe(false);
  });

  it('tf check fails on a key file others can read, and decrypts with a good one without printing the value', async () => {
    const dir = app({ '.env': dotenv, Procfile: 'web: true\n' });
    const file = writeKeyFile(dir, 'default', [key]);
    const ok = runTf(['check'], { cwd: dir });
    expect((await ok.exited).code, ok.stderr()).toBe(0);
    expect(ok.output() + ok.stderr()).not.toContain(SECRET);
    chmodSync(file, 0o644);
    const bad = runTf(['check'], { cwd: dir });
    expect((await bad.exited).code).toBe(1);
    expect(bad.stderr()).toBe('tf: .tf/keys/default.key: is readable by other users (mode 0644); run chmod 600 .tf/keys/default.key\n');
  });
});
