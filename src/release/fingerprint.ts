import { nodeCrypto } from '../host/crypto.js';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../domain.js';
import { TfError } from '../errors.js';

/**
 * A release's config, told apart variable by variable without storing a value: each variable
 * as an HMAC-SHA256 of its name and value under a random key of the app's. A plain hash of a
 * short value (a port, a flag, a weak password) could be found by trying values; without the
 * key, a record alone gives nothing to try them against.
 */
export type Fingerprint = Readonly<Record<string, string>>;

export const RELEASES_DIR = path.join('.tf', 'releases');
/** Starts with a dot, which no environment name can, so it never clashes with an environment's directory. */
const KEY_FILE = '.fingerprint-key';
const KEY_BYTES = 32;

export const fingerprintKeyFile = (root: string): string => path.join(root, RELEASES_DIR, KEY_FILE);

/** The app's fingerprint key, or undefined when no release was ever recorded here. */
export function readFingerprintKey(root: string): Buffer | undefined {
  const file = fingerprintKeyFile(root);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TfError('envfile', 'cannot be read', {
      file,
      hint: 'make it readable by you (chmod 600), or remove it: later releases then all show every variable as changed',
    });
  }
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== KEY_BYTES) {
    throw new TfError('envfile', 'is not a tf fingerprint key (43 base64url characters)', {
      file,
      hint: 'remove it: the next release then shows every variable as changed',
    });
  }
  return key;
}

/**
 * The app's key, made on first use: written whole beside the records, then hard-linked into
 * place, which fails if a key is there; so two first releases at once agree on one key and
 * neither reads a half-written one.
 */
export function fingerprintKey(root: string): Buffer {
  const existing = readFingerprintKey(root);
  if (existing !== undefined) return existing;
  const file = fingerprintKeyFile(root);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${nodeCrypto().randomBytes(6).toString('hex')}`;
  try {
    writeFileSync(tmp, `${nodeCrypto().randomBytes(KEY_BYTES).toString('base64url')}\n`, { mode: 0o600 });
    linkSync(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new TfError('envfile', `cannot be created (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
        file,
        hint: 'check that the app root is writable',
      });
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  return readFingerprintKey(root) ?? fingerprintKey(root);
}

/**
 * The variables that are the app's config: those an env file sets (even where the shell's
 * value wins, then with the shell's value, which is what the processes get). The rest of the
 * shell (PATH, TERM, HOME) is the machine's, not the release's.
 */
export function configVariables(config: Pick<Config, 'env' | 'envOrigins' | 'shadowed'>): Map<string, string> {
  const names = new Set(config.shadowed);
  for (const [name, origin] of config.envOrigins) if (origin.kind === 'file') names.add(name);
  const variables = new Map<string, string>();
  for (const name of [...names].sort()) {
    const value = config.env[name];
    if (value !== undefined) variables.set(name, value);
  }
  return variables;
}

/** One digest per variable; the name is inside the MAC, so two variables with one value do not look alike. */
export function fingerprint(variables: ReadonlyMap<string, string>, key: Buffer): Fingerprint {
  const digests: Record<string, string> = {};
  for (const name of [...variables.keys()].sort()) {
    digests[name] = nodeCrypto()
      .createHmac('sha256', key)
      .update(name)
      .update('\0')
      .update(variables.get(name) ?? '')
      .digest('base64url');
  }
  return digests;
}

/** The Procfile's bytes, digested: whether the process types or their commands changed. */
export const procfileDigest = (bytes: Buffer | string): string => `sha256:${nodeCrypto().createHash('sha256').update(bytes).digest('hex')}`;

/** Which variables differ between two fingerprints, by name. */
export interface ConfigChanges {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

export function compareFingerprints(before: Fingerprint, after: Fingerprint): ConfigChanges {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const name of Object.keys(after).sort()) {
    if (!Object.hasOwn(before, name)) added.push(name);
    else if (before[name] !== after[name]) changed.push(name);
  }
  for (const name of Object.keys(before).sort()) if (!Object.hasOwn(after, name)) removed.push(name);
  return { added, removed, changed };
}
