import type { Env } from '../domain.js';
import { maskValue, type MaskContext } from './mask.js';
import { decode, parseUrl, type UrlParts } from './url.js';

/**
 * The catalog of backing services: every variable whose value is a URL with a host, read as an
 * attached resource (scheme, hosts, ports, database), with the variables that name one resource
 * grouped. Pure: the environment in, the catalog out. Values come out masked only; the raw URL
 * stays on each `ServiceVar` for probes, which never print it.
 *
 * A variable whose value was encrypted is a resource of its own (`secret`): grouped with a plain
 * alias, the alias's description would print where the secret points.
 *
 * A value that starts like a URL but whose host part does not parse (`http://h:99999`) is no
 * resource; `unreadable` lists it with the reason, so that it is not silently left out.
 */

/** Where a resource listens, with the scheme's default port filled in. */
export interface ServiceAddress {
  readonly host: string;
  /** Undefined only when the scheme has no default and the URL names none. */
  readonly port: number | undefined;
}

/** One variable pointing at a resource. */
export interface ServiceVar {
  readonly name: string;
  /** The value as tf may print it. */
  readonly masked: string;
  /** The value itself, for probes; never printed. */
  readonly url: string;
}

export interface Resource {
  /** Scheme family: `postgresql` and `postgres` are both `postgres`. */
  readonly scheme: string;
  readonly addresses: readonly ServiceAddress[];
  /** The database (postgres, mysql, mongodb), db number (redis), vhost (amqp) or path; undefined when none. */
  readonly database: string | undefined;
  /** Every variable that names this resource, the first-listed first (in env order); one when `secret`. */
  readonly vars: readonly ServiceVar[];
  /**
   * Its variable was encrypted: the scheme, hosts, ports and database above are for probes
   * only, never printed, since where a secret URL points is as secret as its password.
   */
  readonly secret: boolean;
}

/** What a URL says about its resource, before any variable is attached. */
export type ResourceFacts = Omit<Resource, 'vars' | 'secret'>;

/** Scheme families: aliases a client library accepts for the same protocol. */
const FAMILY: Record<string, string> = {
  postgresql: 'postgres',
  pgsql: 'postgres',
  mysql2: 'mysql',
  mariadb: 'mysql',
  memcache: 'memcached',
};

/** Default ports per scheme (family or TLS variant), as each protocol's clients assume. */
export const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  postgres: 5432,
  mysql: 3306,
  redis: 6379,
  rediss: 6379,
  amqp: 5672,
  amqps: 5671,
  http: 80,
  https: 443,
  ws: 80,
  wss: 443,
  mongodb: 27017,
  memcached: 11211,
  nats: 4222,
  kafka: 9092,
  mqtt: 1883,
  mqtts: 8883,
  smtp: 25,
  smtps: 465,
  ldap: 389,
  ldaps: 636,
  ftp: 21,
  sftp: 22,
  ssh: 22,
  mssql: 1433,
  sqlserver: 1433,
  cassandra: 9042,
  clickhouse: 9000,
  elasticsearch: 9200,
  couchdb: 5984,
  zookeeper: 2181,
  beanstalk: 11300,
};

/** Schemes whose path names a database; for the rest the whole path is kept. */
const DATABASE_PATH = new Set(['postgres', 'mysql', 'mongodb', 'mongodb+srv', 'redis', 'rediss', 'amqp', 'amqps', 'mssql', 'sqlserver', 'clickhouse']);

/**
 * The protocol family of a scheme: `postgresql` and `postgres` are one, and so is SQLAlchemy's
 * `postgresql+psycopg2` (a driver named after `+`); `mongodb+srv` stays itself (an SRV lookup).
 */
export const schemeFamily = (scheme: string): string => {
  const driverless = /^(?:postgres|postgresql|pgsql|mysql|mysql2|mariadb)\+/.test(scheme) ? (scheme.split('+')[0] as string) : scheme;
  return FAMILY[driverless] ?? driverless;
};

/** Variables whose names say they hold a URL; any other name counts only when its value parses as one with a host. */
const URL_NAME = /(?:_URL|_URI|_DSN)$/;

function databaseOf(scheme: string, path: string): string | undefined {
  if (!DATABASE_PATH.has(scheme)) return path === '' || path === '/' ? undefined : decode(path);
  const first = path.split('/')[1];
  // Redis without a db number uses db 0: `redis://h` and `redis://h/0` are one resource.
  if (scheme === 'redis' || scheme === 'rediss') return first === undefined || first === '' ? '0' : decode(first);
  // AMQP's default vhost is `/`.
  if (scheme === 'amqp' || scheme === 'amqps') return first === undefined || first === '' ? '/' : decode(first);
  return first === undefined || first === '' ? undefined : decode(first);
}

/** What a URL value says about its resource, or undefined when it names no host. */
export function describeUrl(value: string): ResourceFacts | undefined {
  const parsed = parseUrl(value.trim());
  if (parsed.kind !== 'url') return undefined;
  return fromParts(parsed.parts);
}

function fromParts(parts: UrlParts): ResourceFacts | undefined {
  if (parts.hosts.every((h) => h.host === '')) return undefined;
  const scheme = schemeFamily(parts.scheme);
  // mongodb+srv names a DNS SRV record, not a port: no default applies.
  const fallback = DEFAULT_PORTS[scheme];
  const addresses = parts.hosts.filter((h) => h.host !== '').map((h) => ({ host: decode(h.host).toLowerCase(), port: h.port ?? fallback }));
  return { scheme, addresses, database: databaseOf(scheme, parts.path) };
}

/** Why `value` names no resource, in words that quote none of it; undefined when it names one. */
export function unreadableReason(value: string): string | undefined {
  const parsed = parseUrl(value.trim());
  if (parsed.kind === 'not-url') return 'not scheme://host';
  if (parsed.kind === 'malformed') return parsed.reason;
  return fromParts(parsed.parts) === undefined ? 'no host' : undefined;
}

/** The identity of a resource: aliases share it whatever their credentials or options. */
const identity = (r: ResourceFacts): string => JSON.stringify([r.scheme, r.addresses.map((a) => `${a.host}:${a.port ?? ''}`).sort(), r.database ?? '']);

export interface CatalogOptions {
  /** Whether a variable's value is secret (encrypted, or built on an encrypted value): masked whole, and a resource of its own. */
  readonly secret?: (name: string) => boolean;
}

/** Is this variable a candidate? `*_URL`, `*_URI`, `*_DSN`, or any value that looks like `scheme://host`. */
const candidate = (name: string, value: string): boolean => URL_NAME.test(name) || /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]/.test(value.trim());

/** The catalog of `env`, resources in the order their first variable appears. */
export function catalog(env: Env, options: CatalogOptions = {}): Resource[] {
  const byIdentity = new Map<string, { resource: ResourceFacts; vars: ServiceVar[]; secret: boolean }>();
  for (const [name, value] of Object.entries(env)) {
    if (!candidate(name, value)) continue;
    const resource = describeUrl(value);
    if (resource === undefined) continue;
    const secret = options.secret?.(name) === true;
    const context: MaskContext = { secret };
    // Identities are JSON arrays: a secret's own key never meets one, so it is never grouped.
    const key = secret ? `secret ${name}` : identity(resource);
    const entry = byIdentity.get(key) ?? { resource, vars: [], secret };
    entry.vars.push({ name, masked: maskValue(name, value, context), url: value.trim() });
    byIdentity.set(key, entry);
  }
  return [...byIdentity.values()].map(({ resource, vars, secret }) => ({ ...resource, vars, secret }));
}

/** A variable holding something like a URL that tf cannot read as one. */
export interface UnreadableVar {
  readonly name: string;
  /** The value as tf may print it (a URL that does not parse is hidden after its `scheme://`). */
  readonly masked: string;
  /** Why, quoting nothing of the value: `port over 65535`, `port not a number`... */
  readonly reason: string;
}

/** Why a secret value is no URL would tell of its content (a `/` in its password): only that it is not one is said. */
export const SECRET_REASON = 'the value is secret, so tf says no more';

/**
 * The candidates of `env` that start like a URL (`scheme://`) but whose host part does not parse,
 * in env order: the values `tf env` shows as `scheme://*****`, most likely a mistake. A value that
 * parses but names no host (`sqlite:///app.db`) or is no URL (`BASE_URL=/`, `SENTRY_DSN=`) names
 * no backing service: listing those would bury the mistakes under every path and switch.
 */
export function unreadable(env: Env, options: CatalogOptions = {}): UnreadableVar[] {
  return Object.entries(env).flatMap(([name, value]) => {
    if (!candidate(name, value)) return [];
    const parsed = parseUrl(value.trim());
    if (parsed.kind !== 'malformed') return [];
    const secret = options.secret?.(name) === true;
    return [{ name, masked: maskValue(name, value, { secret }), reason: secret ? SECRET_REASON : parsed.reason }];
  });
}

/** `host:port` as printed: IPv6 literals in brackets, as in a URL. */
export const formatAddress = (a: ServiceAddress): string => `${a.host.includes(':') ? `[${a.host}]` : a.host}${a.port === undefined ? '' : `:${a.port}`}`;

/** The variable a `services add/remove NAME` writes: `DATABASE_URL` as is, a short name `db` -> `DB_URL`. */
export function serviceVarName(name: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) return undefined;
  const upper = name.toUpperCase().replace(/-/g, '_');
  return URL_NAME.test(upper) ? upper : `${upper}_URL`;
}

/** Finds the resource a variable (or a short name, as for `serviceVarName`) belongs to. */
export function resourceOf(resources: readonly Resource[], name: string): { resource: Resource; variable: ServiceVar } | undefined {
  const wanted = [name, serviceVarName(name)];
  for (const resource of resources) {
    const variable = resource.vars.find((v) => wanted.includes(v.name));
    if (variable !== undefined) return { resource, variable };
  }
  return undefined;
}
