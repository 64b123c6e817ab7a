/**
 * A byte-preserving split of `scheme://[userinfo@]host[:port][,host[:port]...][/path][?query][#fragment]`.
 * Not the WHATWG URL parser on purpose: that one normalises (so a masked URL would not be the
 * user's text with only the secret replaced), and it rejects what backing services accept, such
 * as MongoDB's host lists or a raw `@` in a password.
 *
 * Rules, for what real env files hold:
 * - the authority ends at the first `/` or `?` (so an `@` in a path or a query is never a
 *   userinfo); inside it, the userinfo ends at the LAST `@`, so a raw `@` or `#` in a password
 *   stays in the password;
 * - a password with a raw `/` or `?` cannot be told from a path: the authority then fails to
 *   parse, and the caller treats the whole value as unparsable (the masker hides all of it).
 */
export interface UrlHost {
  /** As written, brackets of an IPv6 literal removed (`[::1]` -> `::1`). */
  readonly host: string;
  /** As written; undefined when the URL names none. */
  readonly port: number | undefined;
}

export interface UrlParts {
  /** Lower-cased. */
  readonly scheme: string;
  /** `scheme://`, as written. */
  readonly prefix: string;
  /** Text before the last `@` of the authority; undefined without one. */
  readonly userinfo: string | undefined;
  /** The host list as written (`h1:1,h2:2`, `[::1]:5432`). */
  readonly hostText: string;
  readonly hosts: readonly UrlHost[];
  /** From the first `/` after the authority up to `?` or `#`; '' when absent. */
  readonly path: string;
  /** Without the `?`; undefined when absent. */
  readonly query: string | undefined;
  /** Without the `#`; undefined when absent. */
  readonly fragment: string | undefined;
}

export type UrlParse =
  /** Not `scheme://...` at all. */
  | { readonly kind: 'not-url' }
  /**
   * Starts like a URL, but its authority does not parse: treat the whole value as opaque.
   * `reason` says why in words that quote none of it (`port over 65535`).
   */
  | { readonly kind: 'malformed'; readonly prefix: string; readonly reason: string }
  | { readonly kind: 'url'; readonly parts: UrlParts };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** One host: an IPv6 literal or a registered name / IPv4 (RFC 3986 reg-name characters), then an optional port. */
const HOST = /^(?:\[([0-9A-Fa-f:.]+(?:%[\w.~-]+)?)\]|([A-Za-z0-9._~%!$&'()*+;=-]*))(?::(\d*))?$/;

/** Why a host does not parse, in words that quote nothing of it: it may be a mistyped password. */
function hostTrouble(text: string): string {
  const colon = text.lastIndexOf(':');
  const port = colon === -1 || text.lastIndexOf(']') > colon ? undefined : text.slice(colon + 1);
  return port !== undefined && !/^\d*$/.test(port) ? 'port not a number' : 'a character no host name has';
}

/** One host of the list, or why it is none. */
function parseHost(text: string): UrlHost | string {
  const match = HOST.exec(text);
  if (match === null) return hostTrouble(text);
  const host = match[1] ?? match[2] ?? '';
  const port = match[3] === undefined || match[3] === '' ? undefined : Number(match[3]);
  if (port !== undefined && port > 65535) return 'port over 65535';
  return { host, port };
}

export function parseUrl(value: string): UrlParse {
  const scheme = SCHEME.exec(value);
  if (scheme === null) return { kind: 'not-url' };
  const prefix = scheme[0];
  const rest = value.slice(prefix.length);
  const end = rest.search(/[/?]/);
  const authorityEnd = end === -1 ? rest.length : end;
  // A `#` ends the authority only when no `@` follows it: otherwise it is part of a password.
  let authority = rest.slice(0, authorityEnd);
  let tail = rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  const hash = authority.indexOf('#', at + 1);
  if (hash !== -1) {
    tail = authority.slice(hash) + tail;
    authority = authority.slice(0, hash);
  }
  const userinfo = at === -1 ? undefined : authority.slice(0, at);
  const hostText = at === -1 ? authority : authority.slice(at + 1);
  const hosts: UrlHost[] = [];
  for (const piece of hostText.split(',')) {
    const host = parseHost(piece);
    if (typeof host === 'string') {
      // `user:pa/ss@db`: the authority ended at the `/`, inside the password.
      const cut = at === -1 && tail.includes('@') ? '; a raw / or ? in a password must be percent-encoded' : '';
      return { kind: 'malformed', prefix, reason: `${host}${cut}` };
    }
    hosts.push(host);
  }

  let path = tail;
  let query: string | undefined;
  let fragment: string | undefined;
  const fragmentAt = path.indexOf('#');
  if (fragmentAt !== -1) {
    fragment = path.slice(fragmentAt + 1);
    path = path.slice(0, fragmentAt);
  }
  const queryAt = path.indexOf('?');
  if (queryAt !== -1) {
    query = path.slice(queryAt + 1);
    path = path.slice(0, queryAt);
  }
  return { kind: 'url', parts: { scheme: scheme[1]?.toLowerCase() ?? '', prefix, userinfo, hostText, hosts, path, query, fragment } };
}

/** Percent-decoding that never throws: a bad escape stays as written. */
export function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
