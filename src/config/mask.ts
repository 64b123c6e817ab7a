/**
 * The one masker: every value tf prints about config goes through here (check, env, services,
 * warnings, errors). Placeholder until the full rules land: whole values of secret keys are
 * masked, and a URL's password.
 */
export const MASK = '*****';

export interface MaskContext {
  /** The value was encrypted in its file (or comes from a key tf keeps secret). */
  readonly secret?: boolean;
}

/** A printable form of `value`, the value of variable `key`. */
export function maskValue(key: string, value: string, context: MaskContext = {}): string {
  if (context.secret === true || /(pass|secret|token|key)/i.test(key)) return value === '' ? '' : MASK;
  return maskUrl(value);
}

/** A URL with its password masked; anything that is not a URL comes back as it is. */
export function maskUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, `$1${MASK}@`);
}
