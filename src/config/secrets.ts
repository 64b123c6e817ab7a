import { nodeCrypto } from '../host/crypto.js';

/**
 * tf's encrypted value: `tf:v1:KEYID:PAYLOAD`, PAYLOAD = base64url(iv | tag | ciphertext).
 * One token of letters, digits, `_`, `-` and `:`, so it needs no quotes in any dotenv dialect,
 * and holds no `$`, `#` or space that a parser would expand or cut.
 *
 * AES-256-GCM with a random 12-byte IV per value. The additional authenticated data is the
 * prefix, the key id, the environment and the variable name, so a value copied to another
 * variable or environment (or relabelled with another key id) fails authentication.
 */
export const SECRET_PREFIX = 'tf:v1:';
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ID_PATTERN = /^[0-9a-f]{8}$/;
const VALUE = /^tf:v1:([0-9a-f]{8}):([A-Za-z0-9_-]+)$/;

/** A 256-bit key and the short id derived from it (ids are never secret, keys always are). */
export interface SecretKey {
  readonly id: string;
  readonly bytes: Buffer;
}

/** The short id of a key: the first 8 hex digits of a domain-separated SHA-256 of it. */
export function keyId(bytes: Buffer): string {
  return nodeCrypto().createHash('sha256').update('tf secret key id\0').update(bytes).digest('hex').slice(0, 8);
}

export function makeKey(bytes: Buffer): SecretKey {
  return { id: keyId(bytes), bytes };
}

export function generateKey(): SecretKey {
  return makeKey(nodeCrypto().randomBytes(KEY_BYTES));
}

/** What a value is bound to: the environment it belongs to and the variable it is the value of. */
export interface SecretBinding {
  readonly envName: string;
  readonly name: string;
}

const aad = (id: string, binding: SecretBinding): Buffer => Buffer.from(`${SECRET_PREFIX}${id}\0${binding.envName}\0${binding.name}`, 'utf8');

export function isTfSecret(value: string): boolean {
  return value.startsWith(SECRET_PREFIX);
}

/** A tf value taken apart, or a reason it cannot be. */
export type ParsedSecret =
  | { readonly kind: 'ok'; readonly keyId: string; readonly iv: Buffer; readonly tag: Buffer; readonly ciphertext: Buffer }
  | { readonly kind: 'malformed' };

export function parseSecret(value: string): ParsedSecret {
  const match = VALUE.exec(value);
  if (match === null) return { kind: 'malformed' };
  const payload = Buffer.from(match[2] ?? '', 'base64url');
  if (payload.length < IV_BYTES + TAG_BYTES) return { kind: 'malformed' };
  return {
    kind: 'ok',
    keyId: match[1] ?? '',
    iv: payload.subarray(0, IV_BYTES),
    tag: payload.subarray(IV_BYTES, IV_BYTES + TAG_BYTES),
    ciphertext: payload.subarray(IV_BYTES + TAG_BYTES),
  };
}

export function encryptValue(plaintext: string, key: SecretKey, binding: SecretBinding): string {
  const iv = nodeCrypto().randomBytes(IV_BYTES);
  const cipher = nodeCrypto().createCipheriv('aes-256-gcm', key.bytes, iv);
  cipher.setAAD(aad(key.id, binding));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const payload = Buffer.concat([iv, cipher.getAuthTag(), ciphertext]);
  return `${SECRET_PREFIX}${key.id}:${payload.toString('base64url')}`;
}

/**
 * Decrypting with one key: the plaintext, or what went wrong. `unauthentic` covers a tampered
 * value and one bound to another variable or environment: GCM cannot tell them apart, so
 * `diagnose` retries other bindings to say which.
 */
export type Decrypted =
  | { readonly kind: 'ok'; readonly plaintext: string }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'other-key'; readonly keyId: string }
  | { readonly kind: 'unauthentic'; readonly keyId: string };

export function decryptValue(value: string, key: SecretKey, binding: SecretBinding): Decrypted {
  const parsed = parseSecret(value);
  if (parsed.kind === 'malformed') return parsed;
  if (parsed.keyId !== key.id) return { kind: 'other-key', keyId: parsed.keyId };
  try {
    const decipher = nodeCrypto().createDecipheriv('aes-256-gcm', key.bytes, parsed.iv);
    decipher.setAAD(aad(key.id, binding));
    decipher.setAuthTag(parsed.tag);
    const plaintext = Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]);
    return { kind: 'ok', plaintext: plaintext.toString('utf8') };
  } catch {
    return { kind: 'unauthentic', keyId: parsed.keyId };
  }
}

/**
 * The value to write for `plaintext`: the existing value when it still decrypts to the same
 * plaintext under `key`, so re-encrypting an unchanged value leaves the file byte-identical.
 */
export function encryptStable(plaintext: string, key: SecretKey, binding: SecretBinding, existing: string | undefined): string {
  if (existing !== undefined) {
    const current = decryptValue(existing, key, binding);
    if (current.kind === 'ok' && current.plaintext === plaintext) return existing;
  }
  return encryptValue(plaintext, key, binding);
}

/** Which other binding (under the same key) a value authenticates with, to name the mistake. */
export function findBinding(value: string, key: SecretKey, candidates: readonly SecretBinding[]): SecretBinding | undefined {
  return candidates.find((candidate) => decryptValue(value, key, candidate).kind === 'ok');
}

export const isKeyId = (text: string): boolean => ID_PATTERN.test(text);
