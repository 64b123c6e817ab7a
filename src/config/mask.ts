import { decode, parseUrl, type UrlParts } from './url.js';

/**
 * The one masker: every value tf prints about config goes through here (check, env, services,
 * warnings, errors). It errs on the side of hiding: a URL it cannot read is hidden whole.
 *
 * - the value of a variable that was encrypted, or whose name looks secret, is hidden whole;
 * - a URL keeps its scheme, user, hosts, ports and path; its password, the values of query
 *   (and fragment) parameters that look secret, a user name or path segment that looks like a
 *   token are replaced by MASK;
 * - a URL whose authority does not parse is hidden after its `scheme://`;
 * - `user:password@rest` without a scheme has its password masked, and URLs inside a longer
 *   value (a command line) are masked where they stand;
 * - in `key=value` lists (libpq's `host=db password=x`, `Server=db;Password=x`, a command's
 *   `PGPASSWORD=x psql`), the values of secret-looking keys are masked;
 * - any other value that looks like a token or a key (see `looksSecret`) is hidden whole.
 */
export const MASK = '*****';

export interface MaskContext {
  /** The value was encrypted in its file (or comes from a key tf keeps secret). */
  readonly secret?: boolean;
}

/**
 * Words that make a name secret when they are a whole segment of it. Names are split on `_`,
 * `-`, `.` and lower-to-upper case changes, so `MONKEY_COUNT` and `KEYBOARD` are not secret
 * while `API_KEY`, `apiKey` and `SECRET_KEY_BASE` are.
 */
const SECRET_WORDS = new Set([
  'PASSWORD',
  'PASSWORDS',
  'PASSWD',
  'PASS',
  'PWD',
  'PASSPHRASE',
  'SECRET',
  'SECRETS',
  'TOKEN',
  'TOKENS',
  'KEY',
  'KEYS',
  'APIKEY',
  'PRIVATE',
  'CREDENTIAL',
  'CREDENTIALS',
  'CREDS',
  'AUTH',
  'SIG',
  'SIGNATURE',
  'SALT',
]);
/** Words that make a segment secret when it ends with them (`DBPASSWORD`, `ACCESSTOKEN`); not `KEY` (`MONKEY`). */
const SECRET_SUFFIXES = ['PASSWORD', 'PASSWD', 'PASSPHRASE', 'SECRET', 'TOKEN', 'APIKEY'];
/** A last segment saying the value is a locator: its URL is masked part by part, not hidden whole. */
const LOCATOR_WORDS = new Set(['URL', 'URI', 'DSN', 'ENDPOINT']);

/** PWD is the shell's working directory, not a password. */
const NOT_SECRET = new Set(['PWD', 'OLDPWD']);

const segments = (name: string): string[] =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .split(/[^A-Za-z0-9]+/)
    .filter((s) => s !== '')
    .map((s) => s.toUpperCase());

/** True when a variable (or query parameter) name says its value is a secret. */
export function isSecretName(name: string): boolean {
  if (NOT_SECRET.has(name)) return false;
  return segments(name).some((s) => SECRET_WORDS.has(s) || SECRET_SUFFIXES.some((w) => s.length > w.length && s.endsWith(w)));
}

const isLocatorName = (name: string): boolean => LOCATOR_WORDS.has(segments(name).at(-1) ?? '');

/** Bits per character of `text`: random tokens score high, words and paths low. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Prefixes of well-known credentials (GitHub, Stripe, Slack, AWS, Google, GitLab, npm, JWT). */
const KNOWN_PREFIX = /^(?:gh[pousr]_|github_pat_|sk_(?:live|test)_|rk_(?:live|test)_|xox[abpr]-|AKIA|ASIA|AIza|glpat-|npm_|eyJ)/;
const TOKEN_CHARS = /^[A-Za-z0-9+/=_\-.~]+$/;

/**
 * True when a value that parses as nothing else looks like a credential: a PEM block, a known
 * token prefix, or a long run of token characters with the mix and spread of random text.
 * Words, paths, host names, version strings and numbers do not.
 */
export function looksSecret(value: string): boolean {
  if (value.includes('-----BEGIN')) return true;
  if (value.length >= 16 && KNOWN_PREFIX.test(value) && TOKEN_CHARS.test(value)) return true;
  if (value.length < 20 || !TOKEN_CHARS.test(value)) return false;
  if (/^[0-9a-f]{32,}$/i.test(value)) return true;
  // Host names (`ec2-1-2-3-4.compute-1.amazonaws.com`) mix letters and digits too.
  if (/^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/.test(value)) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(value)).length;
  const bits = entropy(value);
  return (classes === 3 && bits >= 3.5) || (value.length >= 32 && classes >= 2 && bits >= 4);
}

/** `a=1&password=x` with the values of secret-looking names masked; everything else as written. */
function maskParams(text: string): string {
  return text
    .split(/([&;])/)
    .map((piece) => {
      const eq = piece.indexOf('=');
      if (eq === -1) return piece;
      const name = decode(piece.slice(0, eq));
      const value = piece.slice(eq + 1);
      if (value === '') return piece;
      return isSecretName(name) || looksSecret(decode(value)) ? `${piece.slice(0, eq + 1)}${MASK}` : piece;
    })
    .join('');
}

function maskUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
  // A token passed as the user name (`https://ghp_...@github.com`) is a password in all but name.
  const shownUser = looksSecret(decode(user)) ? MASK : user;
  if (colon === -1) return shownUser;
  const password = userinfo.slice(colon + 1);
  return `${shownUser}:${password === '' ? '' : MASK}`;
}

function maskParts(parts: UrlParts): string {
  const path = parts.path
    .split('/')
    .map((segment) => (looksSecret(decode(segment)) ? MASK : segment))
    .join('/');
  return [
    parts.prefix,
    parts.userinfo === undefined ? '' : `${maskUserinfo(parts.userinfo)}@`,
    parts.hostText,
    path,
    parts.query === undefined ? '' : `?${maskParams(parts.query)}`,
    parts.fragment === undefined ? '' : `#${maskParams(parts.fragment)}`,
  ].join('');
}

/**
 * A URL with its credentials masked (see the module comment); a value that is not a URL comes
 * back as it is, and one that starts like a URL but does not parse is hidden after its scheme.
 */
export function maskUrl(value: string): string {
  const parsed = parseUrl(value);
  switch (parsed.kind) {
    case 'not-url':
      return value;
    case 'malformed':
      return `${parsed.prefix}${MASK}`;
    case 'url':
      return maskParts(parsed.parts);
  }
}

/** A printable form of `value`, the value of variable `key`. */
export function maskValue(key: string, value: string, context: MaskContext = {}): string {
  if (value === '') return '';
  if (context.secret === true) return MASK;
  const parsed = parseUrl(value);
  if (isSecretName(key)) {
    // `AUTH_URL`, `TOKEN_ENDPOINT`: the name says what it points at, not that the URL is a secret.
    return isLocatorName(key) && parsed.kind === 'url' ? maskParts(parsed.parts) : MASK;
  }
  if (parsed.kind !== 'not-url') return maskUrl(value);
  // Credentials without a scheme, as some drivers take them (`user:pw@tcp(db:3306)/app`).
  const bare = BARE_CREDENTIALS.exec(value);
  if (bare !== null) return `${bare[1]}:${bare[2] === '' ? '' : MASK}@${bare[3]}`;
  // URLs inside a longer value, `key=value` lists.
  const masked = maskText(value);
  if (masked !== value) return masked;
  return looksSecret(value) ? MASK : value;
}

const BARE_CREDENTIALS = /^([^\s:@/]+):([^\s]*)@([^\s@]+)$/;

/** Every URL inside free text (a command line, a message) masked; other words as written. */
export function maskText(text: string): string {
  return (
    text
      // A scheme starts where no scheme character precedes it: without that, a long word is rescanned from every
      // letter in it (quadratic in its length).
      .replace(/(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'`<>]*/g, (url) => maskUrl(url))
      .replace(PAIR, (pair, before: string, key: string, value: string) => (value !== '' && isSecretName(key) ? `${before}${key}=${MASK}` : pair))
  );
}

/** `key=value` after a start, a space or a list separator; the value quoted or up to the next separator. */
const PAIR = /(^|[\s;&,])([A-Za-z_][\w.-]*)=('[^']*'|"[^"]*"|[^\s;&,]*)/g;
