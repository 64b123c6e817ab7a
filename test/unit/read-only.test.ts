import { describe, expect, it } from 'vitest';
import { MASK } from '../../src/config/mask.js';
import { PG_READ_ONLY, readOnlyBanner, readOnlyEnv, readOnlyRefusal } from '../../src/config/read-only.js';

const PG = 'postgres://app:w1@db:5432/app';
const PG_RO = 'postgres://reader:r1@replica:5432/app';

describe('readOnlyEnv', () => {
  const rows: {
    why: string;
    env: Record<string, string>;
    allow?: string[];
    swapped: [string, string][];
    refused: string[];
    expect?: Record<string, string | undefined>;
  }[] = [
    {
      why: 'a URL with a READONLY sibling is replaced by it, and PostgreSQL gets the guard',
      env: { DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO },
      swapped: [['DATABASE_URL', 'DATABASE_READONLY_URL']],
      refused: [],
      expect: { DATABASE_URL: PG_RO, DATABASE_READONLY_URL: PG_RO, PGOPTIONS: PG_READ_ONLY },
    },
    {
      why: 'an existing PGOPTIONS is kept and extended',
      env: { DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO, PGOPTIONS: '-c search_path=app' },
      swapped: [['DATABASE_URL', 'DATABASE_READONLY_URL']],
      refused: [],
      expect: { PGOPTIONS: `-c search_path=app ${PG_READ_ONLY}` },
    },
    {
      why: 'a resource without a sibling is refused',
      env: { DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO, REDIS_URL: 'redis://cache:6379' },
      swapped: [['DATABASE_URL', 'DATABASE_READONLY_URL']],
      refused: ['REDIS_URL'],
    },
    {
      why: '--allow-write NAME (stem or variable) leaves it writable',
      env: { DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO, REDIS_URL: 'redis://cache:6379', AMQP_URL: 'amqp://mq' },
      allow: ['redis', 'AMQP_URL'],
      swapped: [['DATABASE_URL', 'DATABASE_READONLY_URL']],
      refused: [],
      expect: { REDIS_URL: 'redis://cache:6379', AMQP_URL: 'amqp://mq' },
    },
    {
      why: 'an alias of the same database takes the sibling of another alias',
      env: { DATABASE_URL: PG, POSTGRES_URL: 'postgresql://app:w1@db/app', DATABASE_READONLY_URL: 'postgres://reader:r1@db/app' },
      swapped: [
        ['DATABASE_URL', 'DATABASE_READONLY_URL'],
        ['POSTGRES_URL', 'DATABASE_READONLY_URL'],
      ],
      refused: [],
      // Each alias keeps its own spelling of the scheme.
      expect: { POSTGRES_URL: 'postgresql://reader:r1@db/app' },
    },
    {
      why: 'any variable naming the resource is a writer, whatever its name: an ORM URI, a bare name; another host has no sibling',
      env: {
        DATABASE_URL: 'postgres://rw:rwpass@localhost/app',
        DATABASE_READONLY_URL: 'postgres://ro:ropass@localhost/app',
        SQLALCHEMY_DATABASE_URI: 'postgresql://rw:rwpass@localhost:5432/app',
        WRITER: 'postgres://rw:rwpass@localhost/app',
        DATABASE_URL_DIRECT: 'postgres://rw:rwpass@db-primary/app',
      },
      swapped: [
        ['DATABASE_URL', 'DATABASE_READONLY_URL'],
        ['SQLALCHEMY_DATABASE_URI', 'DATABASE_READONLY_URL'],
        ['WRITER', 'DATABASE_READONLY_URL'],
      ],
      refused: ['DATABASE_URL_DIRECT'],
      expect: { SQLALCHEMY_DATABASE_URI: 'postgresql://ro:ropass@localhost/app', WRITER: 'postgres://ro:ropass@localhost/app' },
    },
    {
      why: 'a PostgreSQL resource allowed to write drops the guard (PGOPTIONS reaches every libpq connection)',
      env: { DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO, AUDIT_URL: 'postgres://a:b@audit/log' },
      allow: ['AUDIT'],
      swapped: [['DATABASE_URL', 'DATABASE_READONLY_URL']],
      refused: [],
      expect: { PGOPTIONS: undefined, AUDIT_URL: 'postgres://a:b@audit/log' },
    },
    {
      why: 'plain http URLs without credentials are addresses, not resources',
      env: { PUBLIC_URL: 'https://example.com', API_URL: 'http://api:8080/v1' },
      swapped: [],
      refused: [],
    },
    {
      why: 'an http URL with a password carries the power to write: refused',
      env: { SEARCH_URL: 'https://elastic:pw@search:9200' },
      swapped: [],
      refused: ['SEARCH_URL'],
    },
    {
      why: 'non-URL and non-_URL variables are ignored',
      env: { PORT: '5000', REDIS_HOST: 'cache', SENTRY_DSN: 'https://k@sentry.io/1' },
      swapped: [],
      refused: [],
    },
    {
      why: 'a bare name with an address scheme is no resource (every Kubernetes pod has KUBERNETES_PORT=tcp://...)',
      env: {
        KUBERNETES_PORT: 'tcp://10.96.0.1:443',
        ALL_PROXY: 'socks5://proxy:1080',
        DOCKER_HOST: 'tcp://docker:2375',
        http_proxy: 'http://u:secret@proxy:3128',
      },
      swapped: [],
      refused: [],
    },
    {
      why: 'a source the catalog cannot read as a URL with a host is refused: a libpq DSN, a Go DSN, a unix-socket URL with a password',
      env: {
        PG_DSN: 'host=db user=rw password=rwpass dbname=app',
        MYSQL_DSN: 'rw:rwpass@tcp(db:3306)/app',
        SOCKET_URL: 'postgresql://rw:rwpass@/app?host=/cloudsql/p:r:i',
      },
      swapped: [],
      refused: ['PG_DSN', 'MYSQL_DSN', 'SOCKET_URL'],
    },
    {
      why: "such a source takes its own sibling, and a DSN's sibling may be a _READONLY_DSN",
      env: {
        PG_DSN: 'host=db user=rw password=w',
        PG_READONLY_DSN: 'host=db user=ro password=r',
        REPLICA_DSN: 'postgres://rw:w@replica/app',
        REPLICA_READONLY_DSN: 'postgres://ro:r@replica/app',
      },
      swapped: [
        ['PG_DSN', 'PG_READONLY_DSN'],
        ['REPLICA_DSN', 'REPLICA_READONLY_DSN'],
      ],
      refused: [],
      expect: { PG_DSN: 'host=db user=ro password=r', REPLICA_DSN: 'postgres://ro:r@replica/app' },
    },
    {
      why: "SQLAlchemy's postgresql+psycopg2 is the same database, and keeps its driver in the swapped value",
      env: {
        DATABASE_URL: 'postgres://rw:w@db/app',
        DATABASE_READONLY_URL: 'postgres://ro:r@db/app',
        SQLALCHEMY_DATABASE_URI: 'postgresql+psycopg2://rw:w@db:5432/app',
      },
      swapped: [
        ['DATABASE_URL', 'DATABASE_READONLY_URL'],
        ['SQLALCHEMY_DATABASE_URI', 'DATABASE_READONLY_URL'],
      ],
      refused: [],
      expect: { SQLALCHEMY_DATABASE_URI: 'postgresql+psycopg2://ro:r@db/app' },
    },
    {
      why: '--allow-write matches a lower-case name too',
      env: { cache_url: 'redis://cache:6379' },
      allow: ['cache'],
      swapped: [],
      refused: [],
    },
    {
      why: 'a redis URL is swapped like any other',
      env: { REDIS_URL: 'redis://cache:6379/0', REDIS_READONLY_URL: 'redis://replica:6379/0' },
      swapped: [['REDIS_URL', 'REDIS_READONLY_URL']],
      refused: [],
      expect: { REDIS_URL: 'redis://replica:6379/0', PGOPTIONS: undefined },
    },
  ];
  it.each(rows)('$why', (row) => {
    const result = readOnlyEnv(row.env, row.allow ?? []);
    expect(result.swapped.map((s) => [s.from, s.to])).toEqual(row.swapped);
    expect(result.refused).toEqual(row.refused);
    for (const [key, value] of Object.entries(row.expect ?? {})) expect(result.env[key], key).toBe(value);
  });

  it('refuses with one line naming every resource and both ways out', () => {
    const error = readOnlyRefusal(readOnlyEnv({ REDIS_URL: 'redis://c', AMQP_URL: 'amqp://u:secretpw@mq' }, []));
    expect(error?.exitCode).toBe(1);
    expect(error?.describe()).toBe(
      '--read-only: no read-only URL for REDIS_URL, AMQP_URL; set REDIS_READONLY_URL, AMQP_READONLY_URL (a read-only user), or allow writes with --allow-write REDIS --allow-write AMQP',
    );
    expect(readOnlyRefusal(readOnlyEnv({}, []))).toBeUndefined();
  });

  it('writes a masked banner saying what was swapped', () => {
    const banner = readOnlyBanner(readOnlyEnv({ DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO, REDIS_URL: 'redis://c' }, ['REDIS']));
    expect(banner).toEqual([
      `read-only: DATABASE_URL -> DATABASE_READONLY_URL (postgres://reader:${MASK}@replica:5432/app)`,
      `read-only: PGOPTIONS += ${PG_READ_ONLY} (a guard for libpq clients, not a security boundary)`,
      'read-only: REDIS_URL left WRITABLE (--allow-write)',
    ]);
    expect(banner.join('\n')).not.toMatch(/r1|w1/);
  });

  it('says when the PostgreSQL guard is left out because a PostgreSQL writer is allowed', () => {
    const banner = readOnlyBanner(readOnlyEnv({ DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO, AUDIT_URL: 'postgres://a:b@audit/log' }, ['AUDIT']));
    expect(banner).toEqual([
      `read-only: DATABASE_URL -> DATABASE_READONLY_URL (postgres://reader:${MASK}@replica:5432/app)`,
      'read-only: PGOPTIONS left as it is: it would also hold back the PostgreSQL writer --allow-write leaves open',
      'read-only: AUDIT_URL left WRITABLE (--allow-write)',
    ]);
  });

  it('an allowed writer tf cannot read as a URL drops the PostgreSQL guard only when it may be PostgreSQL', () => {
    const base = { DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO };
    expect(readOnlyEnv({ ...base, BAD_URL: 'http://u:p@h:99999' }, ['BAD']).pgGuard).toBe('set');
    expect(readOnlyEnv({ ...base, BAD_URL: 'postgresql://u:p@h:99999/x' }, ['BAD']).pgGuard).toBe('left-out');
    expect(readOnlyEnv({ ...base, LEGACY_DSN: 'host=db user=rw password=x' }, ['LEGACY']).pgGuard).toBe('left-out');
  });

  it('masks a sibling encrypted in its file whole: its host is part of the secret', () => {
    const result = readOnlyEnv({ DATABASE_URL: PG, DATABASE_READONLY_URL: PG_RO }, []);
    expect(readOnlyBanner(result, new Set(['DATABASE_READONLY_URL']))[0]).toBe(`read-only: DATABASE_URL -> DATABASE_READONLY_URL (${MASK})`);
  });
});
