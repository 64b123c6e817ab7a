import type { Env } from '../domain.js';
import { TfError } from '../errors.js';
import { maskValue } from './mask.js';
import { catalog, DEFAULT_PORTS, describeUrl, type Resource } from './services.js';

/**
 * `tf run --read-only`: the environment of a one-off command with every writable resource
 * swapped for its read-only sibling. Pure: the environment in, the swapped one and what was done out.
 *
 * - A resource is any variable the catalog reads as a URL with a host (`*_URL`, `*_URI`, `*_DSN`,
 *   or any name holding `scheme://host`: `SQLALCHEMY_DATABASE_URI`, `WRITER`), other than the
 *   read-only siblings themselves. Plain http(s)/ws(s) URLs without credentials are addresses,
 *   not powers (the power to write through them lives in some other variable, a token): they
 *   are left alone. Every other one is a resource that must be swapped or explicitly allowed.
 * - `NAME_URL` (or `NAME_URI`, `NAME_DSN`, `NAME`) is replaced by the value of `NAME_READONLY_URL`.
 *   Aliases of one resource (the catalog groups them: `DATABASE_URL` and `POSTGRES_URL` on one
 *   database) share the sibling of any of them, written with the alias's own scheme
 *   (`postgresql://` stays `postgresql://`: some clients accept only their spelling).
 * - PostgreSQL: `PGOPTIONS` gets `-c default_transaction_read_only=on`, appended to what is
 *   there, so libpq clients open read-only transactions by default. A guard against mistakes,
 *   not a security boundary: any session can `SET default_transaction_read_only = off`. Only a
 *   read-only role is a boundary. Skipped when a PostgreSQL resource was allowed to write, since
 *   PGOPTIONS applies to every libpq connection of the command.
 */

export interface Swap {
  readonly name: string;
  readonly from: string;
  readonly to: string;
}

export interface ReadOnlyEnv {
  readonly env: Env;
  readonly swapped: readonly Swap[];
  /** Resource variables with no read-only sibling and not allowed to write: tf refuses to run. */
  readonly refused: readonly string[];
  /** Resource variables left writable by `--allow-write`. */
  readonly allowed: readonly string[];
  /** `--allow-write` names that match no writer here (a typo, or a resource of another environment). */
  readonly unmatched: readonly string[];
  /** The stems of every writer, for a message about an unmatched name. */
  readonly writerStems: readonly string[];
  /**
   * The PostgreSQL guard in PGOPTIONS: set; left out because a PostgreSQL writer is allowed (PGOPTIONS
   * reaches every libpq client of the process, that one too); or not needed.
   */
  readonly pgGuard: 'set' | 'left-out' | 'none';
}

export const PG_READ_ONLY = '-c default_transaction_read_only=on';

const SUFFIX = /_(?:URL|URI|DSN)$/i;
/** A read-only sibling is never a writer: `DATABASE_READONLY_URL`, `REPLICA_READONLY_DSN`. */
const READONLY = /_READONLY(?:_(?:URL|URI|DSN))?$/i;
/** Schemes of data a bare name (`WRITER=postgres://...`) can hold; tcp://, socks5:// and the like are addresses. */
const DATA_SCHEMES = new Set(Object.keys(DEFAULT_PORTS).filter((s) => !/^(?:https?|wss?)$/.test(s)));

/** The stem `--allow-write` and the siblings use, upper-cased: `DATABASE_URL` -> `DATABASE`, `writer` -> `WRITER`. */
const stemOf = (name: string): string => name.replace(SUFFIX, '').toUpperCase();

/** The read-only siblings a stem may have, in the order they are tried. */
const siblingsOf = (stem: string): string[] => ['URL', 'URI', 'DSN'].map((suffix) => `${stem}_READONLY_${suffix}`);

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** `value` written with the scheme of `like` when both name the same protocol family. */
function inSchemeOf(value: string, like: string): string {
  const own = SCHEME.exec(like)?.[0];
  if (own === undefined || !SCHEME.test(value) || describeUrl(value)?.scheme !== describeUrl(like)?.scheme) return value;
  return value.replace(SCHEME, own);
}

function isPower(resource: Resource, name: string, value: string): boolean {
  // A bare name is a resource only for a data scheme: KUBERNETES_PORT=tcp://..., ALL_PROXY=socks5://... are addresses.
  if (!SUFFIX.test(name) && !DATA_SCHEMES.has(resource.scheme)) return false;
  if (!/^(?:https?|wss?)$/.test(resource.scheme)) return true;
  // An http URL with a password or a masked token in it carries the power itself.
  return maskValue(name, value) !== value;
}

/**
 * A `*_URL`, `*_URI` or `*_DSN` the catalog cannot read as a URL with a host: a libpq
 * `host=db user=rw password=...` DSN, Go's `rw:pw@tcp(db:3306)/app`, a unix-socket URL. A DSN is
 * a data source by name; a URL or URI counts when it carries a credential.
 */
const isOpaqueSource = (name: string, value: string): boolean =>
  SUFFIX.test(name) && !READONLY.test(name) && value !== '' && (/_DSN$/i.test(name) || maskValue(name, value) !== value);

/** A value with no scheme, or PostgreSQL's (`postgres://`, `postgresql+psycopg2://`). */
const mayBePostgres = (value: string): boolean => {
  const scheme = SCHEME.exec(value.trim())?.[0];
  return scheme === undefined || /^postgres(?:ql)?(?:\+[^:]*)?:\/\/$/i.test(scheme);
};

export function readOnlyEnv(env: Env, allowWrite: readonly string[]): ReadOnlyEnv {
  const allow = new Set(allowWrite.map((n) => stemOf(n.toUpperCase())));
  const result: Record<string, string> = { ...env };
  const swapped: Swap[] = [];
  const refused: string[] = [];
  const allowed: string[] = [];
  let pgSwapped = false;
  let pgAllowed = false;

  const present = (name: string): boolean => env[name] !== undefined && env[name] !== '';
  /** One writer: left writable, swapped for the sibling `to` (its value as `value` writes it), or refused. */
  const stems = new Set<string>();
  const settle = (name: string, to: string | undefined, postgres: boolean, value: (sibling: string) => string): void => {
    stems.add(stemOf(name));
    if (allow.has(stemOf(name))) {
      allowed.push(name);
      if (postgres) pgAllowed = true;
    } else if (to !== undefined) {
      result[name] = value(env[to] as string);
      swapped.push({ name, from: name, to });
      if (postgres) pgSwapped = true;
    } else refused.push(name);
  };
  const resources = catalog(env);
  const seen = new Set(resources.flatMap((r) => r.vars.map((v) => v.name)));
  // What the catalog cannot read as a URL is still a data source: its own sibling, or a refusal. Without a
  // scheme (a libpq `host=... password=...` string) tf cannot tell whether it is PostgreSQL's, so the guard
  // treats it as one; a scheme of another protocol (`http://u:p@h:99999`) says it is not.
  for (const [name, value] of Object.entries(env)) {
    if (!seen.has(name) && isOpaqueSource(name, value)) settle(name, siblingsOf(stemOf(name)).find(present), mayBePostgres(value), (sibling) => sibling);
  }

  for (const resource of resources) {
    const writers = resource.vars.filter((v) => !READONLY.test(v.name) && isPower(resource, v.name, v.url));
    if (writers.length === 0) continue;
    const sibling = resource.vars.flatMap((v) => siblingsOf(stemOf(v.name))).find(present);
    for (const writer of writers) {
      const to = siblingsOf(stemOf(writer.name)).find(present) ?? sibling;
      settle(writer.name, to, resource.scheme === 'postgres', (value) => inSchemeOf(value, writer.url));
    }
  }

  const pgGuard = !pgSwapped ? 'none' : pgAllowed ? 'left-out' : 'set';
  if (pgGuard === 'set') {
    const existing = env.PGOPTIONS ?? '';
    if (!existing.includes('default_transaction_read_only')) result.PGOPTIONS = existing.trim() === '' ? PG_READ_ONLY : `${existing} ${PG_READ_ONLY}`;
  }
  const unmatched = [...allow].filter((stem) => !stems.has(stem));
  return { env: Object.freeze(result), swapped, refused, allowed, unmatched, writerStems: [...stems], pgGuard };
}

/** The refusal, when there is one: a TfError naming every resource and both ways out. */
export function readOnlyRefusal(result: ReadOnlyEnv): TfError | undefined {
  if (result.refused.length === 0) return undefined;
  const siblings = result.refused.map((n) => `${stemOf(n)}_READONLY_URL`);
  const stems = result.refused.map(stemOf);
  return new TfError('option', `--read-only: no read-only URL for ${result.refused.join(', ')}`, {
    hint: `set ${siblings.join(', ')} (a read-only user), or allow writes with ${stems.map((s) => `--allow-write ${s}`).join(' ')}`,
  });
}

/** The stderr banner of a read-only run, values masked; one encrypted in its file (`secret`) is masked whole. */
export function readOnlyBanner(result: ReadOnlyEnv, secret: ReadonlySet<string> = new Set()): string[] {
  const lines = result.swapped.map((s) => `read-only: ${s.from} -> ${s.to} (${maskValue(s.name, result.env[s.name] ?? '', { secret: secret.has(s.to) })})`);
  if (result.pgGuard === 'set') lines.push(`read-only: PGOPTIONS += ${PG_READ_ONLY} (a guard for libpq clients, not a security boundary)`);
  if (result.pgGuard === 'left-out') lines.push('read-only: PGOPTIONS left as it is: it would also hold back the PostgreSQL writer --allow-write leaves open');
  for (const name of result.allowed) lines.push(`read-only: ${name} left WRITABLE (--allow-write)`);
  if (lines.length === 0) lines.push('read-only: no resource to swap');
  return lines;
}
