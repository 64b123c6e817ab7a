import { parse } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { parseEnvFile } from '../../src/config/env.js';
import { decryptValue, encryptStable, encryptValue, generateKey, keyId, makeKey, parseSecret } from '../../src/config/secrets.js';

const binding = { envName: 'prod', name: 'API_TOKEN' };
const SECRET = 'hunter2 ${NOT_EXPANDED} # not a comment "quoted" \\ é';

describe('tf encrypted values', { timeout: 10_000 }, () => {
  it('round-trips, with a fresh IV every time', () => {
    const key = generateKey();
    const a = encryptValue(SECRET, key, binding);
    const b = encryptValue(SECRET, key, binding);
    expect(a).not.toBe(b);
    expect(decryptValue(a, key, binding)).toEqual({ kind: 'ok', plaintext: SECRET });
    expect(decryptValue(b, key, binding)).toEqual({ kind: 'ok', plaintext: SECRET });
    expect(decryptValue(encryptValue('', key, binding), key, binding)).toEqual({ kind: 'ok', plaintext: '' });
  });

  it('is one dotenv-safe token: versioned prefix, key id, base64url payload', () => {
    const key = generateKey();
    const token = encryptValue(SECRET, key, binding);
    expect(token).toMatch(new RegExp(`^tf:v1:${key.id}:[A-Za-z0-9_-]+$`));
    expect(token).not.toContain(SECRET);
    const text = `API_TOKEN=${token}\nNEXT=1\n`;
    expect(parseEnvFile({ file: '.env', text }).entries[0]?.raw).toBe(token);
    expect(parse(text).API_TOKEN).toBe(token);
  });

  it('names the key a value needs when another key is used', () => {
    const key = generateKey();
    const other = generateKey();
    expect(decryptValue(encryptValue(SECRET, key, binding), other, binding)).toEqual({ kind: 'other-key', keyId: key.id });
  });

  it('fails authentication for another environment, another variable, a tampered tag or a relabelled key id', () => {
    const key = generateKey();
    const token = encryptValue(SECRET, key, binding);
    expect(decryptValue(token, key, { envName: 'staging', name: 'API_TOKEN' }).kind).toBe('unauthentic');
    expect(decryptValue(token, key, { envName: 'prod', name: 'OTHER' }).kind).toBe('unauthentic');
    const parsed = parseSecret(token);
    if (parsed.kind !== 'ok') throw new Error('unparsed');
    const tag = Buffer.from(parsed.tag);
    tag[0] = (tag[0] ?? 0) ^ 1;
    const tampered = `tf:v1:${key.id}:${Buffer.concat([parsed.iv, tag, parsed.ciphertext]).toString('base64url')}`;
    expect(decryptValue(tampered, key, binding).kind).toBe('unauthentic');
    // The same ciphertext presented as another key's (a key with the same bytes under a forged id) fails too.
    const forged = { id: 'deadbeef', bytes: key.bytes };
    expect(decryptValue(token.replace(key.id, 'deadbeef'), forged, binding).kind).toBe('unauthentic');
  });

  it('calls a damaged value malformed', () => {
    const key = generateKey();
    expect(decryptValue('tf:v1:zz:abc', key, binding).kind).toBe('malformed');
    expect(decryptValue(`tf:v1:${key.id}:AAAA`, key, binding).kind).toBe('malformed');
    expect(decryptValue(`tf:v1:${key.id}:has space`, key, binding).kind).toBe('malformed');
  });

  it('keeps an unchanged value byte-identical when encrypting again, and changes a changed one', () => {
    const key = generateKey();
    const token = encryptValue(SECRET, key, binding);
    expect(encryptStable(SECRET, key, binding, token)).toBe(token);
    const changed = encryptStable('new', key, binding, token);
    expect(changed).not.toBe(token);
    expect(decryptValue(changed, key, binding)).toEqual({ kind: 'ok', plaintext: 'new' });
    // Under a new key, even the same plaintext is encrypted again.
    const next = generateKey();
    expect(encryptStable(SECRET, next, binding, token)).not.toBe(token);
  });

  it('derives a short, stable key id from the key', () => {
    const bytes = Buffer.alloc(32, 7);
    expect(keyId(bytes)).toMatch(/^[0-9a-f]{8}$/);
    expect(makeKey(bytes).id).toBe(keyId(Buffer.alloc(32, 7)));
    expect(keyId(Buffer.alloc(32, 8))).not.toBe(keyId(bytes));
  });
});
