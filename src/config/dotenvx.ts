import path from 'node:path';
import type { Env } from '../domain.js';
import { parseEnvFile } from './env.js';
import { readEnvText } from './env-edit.js';
import { loadEcies } from './ecies.cjs';

/**
 * dotenvx interop: a value `encrypted:BASE64` is an ECIES (secp256k1) ciphertext that the
 * private key of its file opens. dotenvx names that key after the file: `.env` ->
 * `DOTENV_PRIVATE_KEY`, `.env.production` -> `DOTENV_PRIVATE_KEY_PRODUCTION`, and keeps it in
 * the environment or in `.env.keys` beside the files. tf decrypts with eciesjs, the library
 * dotenvx itself uses, so a dotenvx team's files and keys work unchanged.
 */
export const DOTENVX_PREFIX = 'encrypted:';

export const isDotenvxValue = (value: string): boolean => value.startsWith(DOTENVX_PREFIX);

/** The variable dotenvx keeps the private key of env file `file` in. */
export function privateKeyName(file: string): string {
  const suffix = path.basename(file).replace(/^\.env\.?/, '');
  return suffix === '' ? 'DOTENV_PRIVATE_KEY' : `DOTENV_PRIVATE_KEY_${suffix.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** dotenvx private keys by variable name, from the environment (first) and `.env.keys` in the root. */
export interface DotenvxKeys {
  readonly keys: ReadonlyMap<string, readonly string[]>;
  /** Where `.env.keys` would be, as shown to the user. */
  readonly keysFile: string;
}

const split = (value: string): string[] =>
  value
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');

export function loadDotenvxKeys(root: string, shellEnv: Env, cwd?: string): DotenvxKeys {
  const file = path.join(root, '.env.keys');
  const shown = cwd === undefined ? file : path.relative(cwd, file) || file;
  const keys = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    if (name.startsWith('DOTENV_PRIVATE_KEY')) keys.set(name, [...(keys.get(name) ?? []), ...split(value)]);
  };
  for (const [name, value] of Object.entries(shellEnv)) if (value !== undefined) add(name, value);
  const text = readEnvText(file, shown);
  if (text !== undefined) for (const entry of parseEnvFile({ file: shown, text }).entries) add(entry.key, entry.raw);
  return { keys, keysFile: shown };
}

export type DotenvxDecrypted =
  | { readonly kind: 'ok'; readonly plaintext: string }
  | { readonly kind: 'no-key'; readonly keyName: string }
  | { readonly kind: 'wrong-key'; readonly keyName: string };

function tryKey(privateKey: string, ciphertext: Buffer): string | undefined {
  try {
    return Buffer.from(loadEcies().decrypt(privateKey, ciphertext)).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * Decrypts a dotenvx value of env file `file`: with its file's key first, then (as dotenvx
 * does with its key ring) with every other private key found, so renamed files still work.
 */
export function decryptDotenvx(value: string, file: string, found: DotenvxKeys): DotenvxDecrypted {
  const keyName = privateKeyName(file);
  const ciphertext = Buffer.from(value.slice(DOTENVX_PREFIX.length), 'base64');
  const own = found.keys.get(keyName) ?? [];
  const others = [...found.keys].filter(([name]) => name !== keyName).flatMap(([, keys]) => keys);
  for (const key of [...own, ...others]) {
    const plaintext = tryKey(key, ciphertext);
    if (plaintext !== undefined) return { kind: 'ok', plaintext };
  }
  return found.keys.size === 0 || own.length === 0 ? { kind: 'no-key', keyName } : { kind: 'wrong-key', keyName };
}
