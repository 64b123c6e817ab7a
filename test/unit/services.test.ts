import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { services, servicesAdd, servicesRemove, waitTargets } from '../../src/commands/services.js';
import { MASK } from '../../src/config/mask.js';
import type { TfError } from '../../src/errors.js';
import { formatKey } from '../../src/config/keys.js';
import { encryptValue, generateKey } from '../../src/config/secrets.js';
import { removeApp, tmpApp } from '../helpers/tf.js';
import { catalog, describeUrl, formatAddress, resourceOf, serviceVarName, unreadable, unreadableReason } from '../../src/config/services.js';

describe('describeUrl', () => {
  const rows: [string, string, unknown][] = [
    // [why, value, resource]
    [
      'postgres default port and database',
      'postgres://u:p@db.example.com/app',
      { scheme: 'postgres', addresses: [{ host: 'db.example.com', port: 5432 }], database: 'app' },
    ],
    [
      'postgresql is the postgres family',
      'postgresql://db:6543/app?sslmode=require',
      { scheme: 'postgres', addresses: [{ host: 'db', port: 6543 }], database: 'app' },
    ],
    ['mysql', 'mysql://u:p@h/shop', { scheme: 'mysql', addresses: [{ host: 'h', port: 3306 }], database: 'shop' }],
    ['redis without a db number is db 0', 'redis://:p@cache', { scheme: 'redis', addresses: [{ host: 'cache', port: 6379 }], database: '0' }],
    ['amqp default vhost', 'amqp://mq', { scheme: 'amqp', addresses: [{ host: 'mq', port: 5672 }], database: '/' }],
    ['http keeps the path', 'http://api/v1/health', { scheme: 'http', addresses: [{ host: 'api', port: 80 }], database: '/v1/health' }],
    ['https default port, no path', 'https://example.com', { scheme: 'https', addresses: [{ host: 'example.com', port: 443 }], database: undefined }],
    [
      'mongodb host list',
      'mongodb://a,b:27018/app',
      {
        scheme: 'mongodb',
        addresses: [
          { host: 'a', port: 27017 },
          { host: 'b', port: 27018 },
        ],
        database: 'app',
      },
    ],
    [
      'mongodb+srv has no default port',
      'mongodb+srv://u:p@cluster.example.net/app',
      { scheme: 'mongodb+srv', addresses: [{ host: 'cluster.example.net', port: undefined }], database: 'app' },
    ],
    ['memcached', 'memcached://mc', { scheme: 'memcached', addresses: [{ host: 'mc', port: 11211 }], database: undefined }],
    ['IPv6 literal', 'postgres://[::1]/db', { scheme: 'postgres', addresses: [{ host: '::1', port: 5432 }], database: 'db' }],
    ['a URL with no host is no resource', 'file:///tmp/x', undefined],
    ['not a URL', 'localhost:5432', undefined],
  ];
  it.each(rows)('%s', (_why, value, resource) => {
    expect(describeUrl(value)).toEqual(resource);
  });
});

describe('catalog', () => {
  it('groups aliases of one resource whatever their credentials or scheme spelling', () => {
    const resources = catalog({
      DATABASE_URL: 'postgres://app:s3cret@db:5432/app',
      PORT: '5000',
      REDIS_URL: 'redis://cache:6379',
      POSTGRES_URL: 'postgresql://app:s3cret@db/app',
      DATABASE_READONLY_URL: 'postgres://reader:r3ad@db/app',
      CACHE_URL: 'redis://cache/0',
      SENTRY_DSN: 'https://key@o1.ingest.sentry.io/42',
      UPSTREAM: 'amqp://mq.internal',
      OTHER_DB_URL: 'postgres://app:s3cret@db/analytics',
      NOT_A_URL: 'hello',
    });
    expect(resources.map((r) => [r.scheme, r.addresses.map(formatAddress).join(','), r.database, r.vars.map((v) => v.name)])).toEqual([
      ['postgres', 'db:5432', 'app', ['DATABASE_URL', 'POSTGRES_URL', 'DATABASE_READONLY_URL']],
      ['redis', 'cache:6379', '0', ['REDIS_URL', 'CACHE_URL']],
      ['https', 'o1.ingest.sentry.io:443', '/42', ['SENTRY_DSN']],
      ['amqp', 'mq.internal:5672', '/', ['UPSTREAM']],
      ['postgres', 'db:5432', 'analytics', ['OTHER_DB_URL']],
    ]);
    expect(resources[0]?.vars.map((v) => v.masked)).toEqual([
      `postgres://app:${MASK}@db:5432/app`,
      `postgresql://app:${MASK}@db/app`,
      `postgres://reader:${MASK}@db/app`,
    ]);
    expect(JSON.stringify(resources.map((r) => r.vars.map((v) => v.masked)))).not.toMatch(/s3cret|r3ad/);
  });

  it('hides an encrypted value whole', () => {
    const [resource] = catalog({ DATABASE_URL: 'postgres://u:p@db/app' }, { secret: (name) => name === 'DATABASE_URL' });
    expect(resource?.vars[0]?.masked).toBe(MASK);
    expect(resource?.secret).toBe(true);
    expect(resource?.addresses).toEqual([{ host: 'db', port: 5432 }]);
  });

  it('never groups an encrypted value with another variable: their description would say where it points', () => {
    const env = { DATABASE_URL: 'postgres://u:p@db/app', PRIMARY_URL: 'postgres://u:p@db/app', REPLICA_URL: 'postgres://u:p@db/app' };
    const resources = catalog(env, { secret: (name) => name !== 'DATABASE_URL' });
    expect(resources.map((r) => [r.vars.map((v) => v.name), r.secret])).toEqual([
      [['DATABASE_URL'], false],
      [['PRIMARY_URL'], true],
      [['REPLICA_URL'], true],
    ]);
  });

  it('prints IPv6 addresses in brackets', () => {
    expect(formatAddress({ host: '::1', port: 5432 })).toBe('[::1]:5432');
  });
});

describe('unreadableReason', () => {
  const rows: [string, string, string | undefined][] = [
    // [why, value, reason]
    ['a URL with a host is readable', 'postgres://u:p@db/app', undefined],
    ['a port past 65535, whatever the password holds', 'http://user:pa ss@host:99999/x', 'port over 65535'],
    ['a port that is no number', 'redis://cache:63x9', 'port not a number'],
    ['a raw / in a password ends the host part early', 'postgres://app:pa/ss@db/app', 'port not a number; a raw / or ? in a password must be percent-encoded'],
    ['a space in the host', 'http://my host/', 'a character no host name has'],
    ['a file or socket path names no host', 'sqlite:///app.db', 'no host'],
    ['a host and port without a scheme', 'localhost:5432', 'not scheme://host'],
    ['a path', '/callback', 'not scheme://host'],
  ];
  it.each(rows)('%s', (_why, value, reason) => {
    expect(unreadableReason(value)).toBe(reason);
  });
});

describe('unreadable', () => {
  it('lists the values that start like a URL but whose host part does not parse, masked, with why', () => {
    const env = {
      DATABASE_URL: 'postgres://u:p@db/app',
      WEIRD_URL: 'http://user:pa ss@host:99999/x',
      // Parsed, and no backing service: a file, a path, a switched-off DSN, a word.
      SQLITE_URL: 'sqlite:///app.db',
      BASE_URL: '/',
      SENTRY_DSN: '',
      GREETING: 'hello',
      UPSTREAM: 'amqp://mq:99999',
      SECRET_URL: 'http://hidden-host:99999/',
    };
    expect(unreadable(env, { secret: (name) => name === 'SECRET_URL' })).toEqual([
      { name: 'WEIRD_URL', masked: `http://${MASK}`, reason: 'port over 65535' },
      { name: 'UPSTREAM', masked: `amqp://${MASK}`, reason: 'port over 65535' },
      // Why a secret is no URL would tell of its content.
      { name: 'SECRET_URL', masked: MASK, reason: 'the value is secret, so tf says no more' },
    ]);
    expect(() => waitTargets(env, ['SECRET_URL'], (name) => name === 'SECRET_URL')).toThrow(
      '--wait SECRET_URL: the value of SECRET_URL is not a URL tf can read: the value is secret, so tf says no more',
    );
    expect(() => waitTargets(env, ['WEIRD_URL'])).toThrow('is not a URL tf can read: port over 65535');
  });
});

describe('service names', () => {
  it('takes a variable name as is and a short name as NAME_URL', () => {
    expect(['DATABASE_URL', 'db', 'redis', 'sentry_dsn', 'my-cache', 'MONGO_URI', '1bad', 'a b'].map(serviceVarName)).toEqual([
      'DATABASE_URL',
      'DB_URL',
      'REDIS_URL',
      'SENTRY_DSN',
      'MY_CACHE_URL',
      'MONGO_URI',
      undefined,
      undefined,
    ]);
  });
  it('finds a resource by variable or short name', () => {
    const resources = catalog({ DB_URL: 'postgres://db/app', REDIS_URL: 'redis://c' });
    expect(resourceOf(resources, 'db')?.variable.name).toBe('DB_URL');
    expect(resourceOf(resources, 'REDIS_URL')?.resource.scheme).toBe('redis');
    expect(resourceOf(resources, 'queue')).toBeUndefined();
  });
});

describe('tf services add / remove', () => {
  /** A writer that records what it was asked; the real one is src/config/env-write.ts. */
  const recorder = (present: Set<string> = new Set()) => {
    const calls: string[] = [];
    return {
      calls,
      write: {
        set: (file: string, key: string, value: string) => {
          calls.push(`set ${file} ${key}=${value}`);
        },
        unset: (file: string, key: string) => {
          calls.push(`unset ${file} ${key}`);
          return present.has(key);
        },
      },
    };
  };
  const sink = () => {
    let text = '';
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        text += String(chunk);
        callback();
      },
    });
    return { stream, text: () => text };
  };
  const contextFor = (out: Writable, env: Record<string, string> = {}, stdin: Readable = Readable.from([])) => ({
    cwd: '/app',
    env,
    stdout: out,
    stderr: out,
    stdin,
  });
  const noOptions = { root: undefined, procfile: undefined, envName: undefined };

  it('writes NAME_URL to the layer --env and --local name, and prints the value masked', async () => {
    const { calls, write } = recorder();
    const out = sink();
    expect(await servicesAdd({ name: 'db', url: 'postgres://app:pw@db:5432/app', options: noOptions }, write, contextFor(out.stream))).toBe(0);
    await servicesAdd(
      { name: 'REDIS_URL', url: 'redis://c', options: { ...noOptions, envName: 'staging' }, local: true },
      write,
      contextFor(out.stream, { REDIS_URL: 'x' }),
    );
    await servicesAdd({ name: 'cache', url: 'redis://c', options: { ...noOptions, root: 'sub' } }, write, contextFor(out.stream));
    expect(calls).toEqual([
      'set /app/.env DB_URL=postgres://app:pw@db:5432/app',
      'set /app/.env.staging.local REDIS_URL=redis://c',
      'set /app/sub/.env CACHE_URL=redis://c',
    ]);
    expect(out.text()).toBe(
      [
        `DB_URL=postgres://app:${MASK}@db:5432/app -> .env (postgres db:5432 app)`,
        'note: a credential in the URL was on the command line (shell history, ps); without URL, tf services add db reads it from stdin or a prompt',
        'REDIS_URL=redis://c -> .env.staging.local (redis c:6379 0)',
        'warning: REDIS_URL is also set in the shell environment, whose value wins over env files (--env-override lets the files win)',
        'CACHE_URL=redis://c -> sub/.env (redis c:6379 0)',
        '',
      ].join('\n'),
    );
  });

  it('reads the URL from stdin when it is not on the command line', async () => {
    const { calls, write } = recorder();
    const out = sink();
    const piped = contextFor(out.stream, {}, Readable.from([Buffer.from('postgres://app:pw@db/app\n')]));
    expect(await servicesAdd({ name: 'db', url: undefined, options: noOptions }, write, piped)).toBe(0);
    expect(calls).toEqual(['set /app/.env DB_URL=postgres://app:pw@db/app']);
    expect(out.text()).toBe(`DB_URL=postgres://app:${MASK}@db/app -> .env (postgres db:5432 app)\n`);
    await expect(servicesAdd({ name: 'db', url: undefined, options: noOptions }, write, contextFor(out.stream))).rejects.toThrow(
      'no value for DB_URL: stdin was empty',
    );
  });

  it('refuses a bad name or a value that is not a URL, without echoing the value', async () => {
    const { calls, write } = recorder();
    const out = sink();
    await expect(servicesAdd({ name: '9x', url: 'redis://c', options: noOptions }, write, contextFor(out.stream))).rejects.toThrow(
      'services: "9x" is not a variable name',
    );
    const error = await servicesAdd({ name: 'db', url: 'app:hunter2@db/app', options: noOptions }, write, contextFor(out.stream)).catch(
      (e: unknown) => e as TfError,
    );
    expect((error as TfError).exitCode).toBe(2);
    expect((error as TfError).describe()).toMatch(/^services add DB_URL: the value is not a URL with a host; give scheme:/);
    expect((error as TfError).describe()).not.toContain('hunter2');
    expect(calls).toEqual([]);
  });

  it('removes a variable from its layer, and says so when that layer does not set it', async () => {
    const { calls, write } = recorder(new Set(['DB_URL']));
    const out = sink();
    expect(await servicesRemove({ name: 'db', options: { ...noOptions, envName: 'ci' } }, write, contextFor(out.stream))).toBe(0);
    expect(out.text()).toBe('DB_URL removed from .env.ci\n');
    const error = await servicesRemove({ name: 'redis', options: noOptions }, write, contextFor(out.stream)).catch((e: unknown) => e as TfError);
    expect((error as TfError).describe()).toBe(
      '.env: REDIS_URL is not set here; tf env shows which file sets each variable; --env NAME and --local pick the layer',
    );
    expect(calls).toEqual(['unset /app/.env.ci DB_URL', 'unset /app/.env REDIS_URL']);
  });
});

describe('tf services on an app', () => {
  const optionsFor = (envName: string) => ({
    procfile: undefined,
    root: undefined,
    envFiles: [],
    envName,
    envOverride: false,
    formation: undefined,
    formationSource: '--formation',
    port: undefined,
    portStep: 100,
  });
  const collect = () => {
    let text = '';
    const stdout = new Writable({
      write(chunk, _encoding, callback) {
        text += String(chunk);
        callback();
      },
    });
    return { stdout, text: () => text };
  };

  it('reads the env layers of --env NAME and lists their resources masked', async () => {
    const dir = tmpApp({
      '.env': 'DATABASE_URL=postgres://app:devpw@localhost/app\n',
      '.env.ci': 'DATABASE_URL=postgres://app:cipw@db/app\nQUEUE_URL=amqp://mq\n',
    });
    try {
      const { stdout, text } = collect();
      expect(await services({ options: optionsFor('ci'), probe: false, json: false }, { cwd: dir, env: {}, stdout, stderr: stdout })).toBe(0);
      expect(text()).toBe(
        `postgres db:5432 app\n  DATABASE_URL=postgres://app:${MASK}@db/app  (.env.ci:1)\namqp mq:5672 /\n  QUEUE_URL=amqp://mq  (.env.ci:2)\n`,
      );
    } finally {
      removeApp(dir);
    }
  });

  it('shows a value encrypted in its file as encrypted: no scheme, host, port or path, in text or JSON', async () => {
    const key = generateKey();
    const url = 'http://hidden-host.internal:8080/secretpath';
    const dir = tmpApp({
      '.env.prod': `PLAIN_URL=${url}\nINTERNAL_URL=${encryptValue(url, key, { envName: 'prod', name: 'INTERNAL_URL' })}\n`,
    });
    try {
      const env = { TF_KEY_PROD: formatKey(key) };
      const text = collect();
      expect(await services({ options: optionsFor('prod'), probe: false, json: false }, { cwd: dir, env, stdout: text.stdout, stderr: text.stdout })).toBe(0);
      // The plain alias is listed apart, as it is: only the encrypted one is hidden.
      expect(text.text()).toBe(
        `http hidden-host.internal:8080 /secretpath\n  PLAIN_URL=${url}  (.env.prod:1)\nencrypted URL\n  INTERNAL_URL=${MASK}  (.env.prod:2)\n`,
      );
      const json = collect();
      expect(await services({ options: optionsFor('prod'), probe: false, json: true }, { cwd: dir, env, stdout: json.stdout, stderr: json.stdout })).toBe(0);
      expect(JSON.parse(json.text()).resources[1]).toEqual({
        scheme: null,
        addresses: null,
        database: null,
        encrypted: true,
        vars: [{ name: 'INTERNAL_URL', value: MASK }],
      });
    } finally {
      removeApp(dir);
    }
  });
});
