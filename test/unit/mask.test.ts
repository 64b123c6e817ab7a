import { describe, expect, it } from 'vitest';
import { MASK, isSecretName, looksSecret, maskText, maskUrl, maskValue } from '../../src/config/mask.js';

const M = MASK;

describe('maskUrl', () => {
  const rows: [string, string, string][] = [
    // [why, input, printed]
    ['password masked, user kept', 'postgres://user:hunter2@db.example.com:5432/app', `postgres://user:${M}@db.example.com:5432/app`],
    ['a raw @ in the password: the LAST @ of the authority ends the userinfo', 'postgres://u:p@ss@h/db', `postgres://u:${M}@h/db`],
    ['a percent-encoded @ (%40) stays inside the password', 'postgres://u:p%40ss@h/db', `postgres://u:${M}@h/db`],
    ['a raw # in the password is not a fragment', 'mysql://u:p#ss@h:3306/db', `mysql://u:${M}@h:3306/db`],
    ['IPv6 host with brackets, password masked', 'postgres://u:secret@[::1]:5432/db', `postgres://u:${M}@[::1]:5432/db`],
    ['IPv6 host without credentials: unchanged', 'redis://[2001:db8::1]:6379/0', 'redis://[2001:db8::1]:6379/0'],
    ['empty password: nothing to hide, kept as written', 'postgres://u:@h/db', 'postgres://u:@h/db'],
    ['user without password: kept', 'postgres://u@h/db', 'postgres://u@h/db'],
    ['password without user (redis style)', 'redis://:s3cret@cache:6379', `redis://:${M}@cache:6379`],
    ['no credentials at all: byte for byte', 'amqp://rabbit:5672/vhost', 'amqp://rabbit:5672/vhost'],
    ['no scheme: not a URL, unchanged', 'u:p@h/db', 'u:p@h/db'],
    ['secret query parameter masked, others kept', 'postgres://u:p@h/db?sslmode=require&password=x', `postgres://u:${M}@h/db?sslmode=require&password=${M}`],
    [
      'token, key, sig, signature in a query',
      'https://h/x?token=a&api_key=b&sig=c&X-Amz-Signature=d&page=2',
      `https://h/x?token=${M}&api_key=${M}&sig=${M}&X-Amz-Signature=${M}&page=2`,
    ],
    ['an @ in a query is not a userinfo', 'https://h/signup?email=a@b.com', 'https://h/signup?email=a@b.com'],
    ['an @ in a path is not a userinfo (npm scopes)', 'https://registry.npmjs.org:443/@scope/pkg', 'https://registry.npmjs.org:443/@scope/pkg'],
    ['MongoDB host list', 'mongodb://u:pw@h1:27017,h2:27018/app?replicaSet=rs0', `mongodb://u:${M}@h1:27017,h2:27018/app?replicaSet=rs0`],
    ['a token as the user name is masked', 'https://ghp_0123456789abcdefABCDEF0123456789abcd@github.com/o/r.git', `https://${M}@github.com/o/r.git`],
    [
      'a token as a path segment (webhook) is masked',
      'https://hooks.example.com/services/T0A1B2C3D/B4E5F6G7H/q8W2xZ9kL3mN5pR7tV1yA4cE',
      `https://hooks.example.com/services/T0A1B2C3D/B4E5F6G7H/${M}`,
    ],
    ['a secret in a fragment (OAuth implicit flow)', 'https://app/cb#access_token=abc&state=1', `https://app/cb#access_token=${M}&state=1`],
    ['a raw / in the password cannot be parsed: hidden after the scheme', 'postgres://u:pa/ss@h/db', `postgres://${M}`],
    ['a raw ? in the password cannot be parsed either', 'postgres://u:pa?ss@h/db', `postgres://${M}`],
    ['scheme is matched case-insensitively', 'POSTGRES://u:p@h/db', `POSTGRES://u:${M}@h/db`],
    ['file URL with an empty host: unchanged', 'file:///var/run/app.sock', 'file:///var/run/app.sock'],
  ];
  it.each(rows)('%s', (_why, input, printed) => {
    expect(maskUrl(input)).toBe(printed);
  });
});

describe('maskValue', () => {
  const rows: [string, string, string, boolean, string][] = [
    // [why, key, value, encrypted, printed]
    ['an encrypted value is hidden whole, whatever its name', 'GREETING', 'hello', true, M],
    ['a name with PASSWORD hides the value', 'DB_PASSWORD', 'hunter2', false, M],
    ['SECRET_KEY_BASE', 'SECRET_KEY_BASE', 'abc', false, M],
    ['a camelCase name is split too', 'apiKey', 'abc', false, M],
    ['a segment ending in TOKEN', 'GITHUBTOKEN', 'abc', false, M],
    ['PRIVATE', 'JWT_PRIVATE', 'abc', false, M],
    ['CREDENTIALS', 'GOOGLE_APPLICATION_CREDENTIALS', '{"a":1}', false, M],
    ['KEY inside a word is not a segment: MONKEY_COUNT is shown', 'MONKEY_COUNT', '12', false, '12'],
    ['KEYBOARD is not KEY', 'KEYBOARD_LAYOUT', 'dvorak', false, 'dvorak'],
    ['PWD is the working directory, not a password', 'PWD', '/home/me', false, '/home/me'],
    ['an empty value has nothing to hide', 'DB_PASSWORD', '', false, ''],
    ['an ordinary value is shown', 'NODE_ENV', 'production', false, 'production'],
    ['a URL value gets URL masking', 'DATABASE_URL', 'postgres://u:p@h/db', false, `postgres://u:${M}@h/db`],
    ['a secret-named locator keeps its URL shape', 'AUTH_URL', 'https://u:p@auth.example.com/token', false, `https://u:${M}@auth.example.com/token`],
    ['a secret-named non-locator hides a URL whole', 'SECRET_WEBHOOK', 'https://h/x', false, M],
    ['a random-looking token under an innocent name', 'STRIPE', 'sk_live_51H8abcdefghijklmnop', false, M],
    ['a hex key', 'SIGNING', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', false, M],
    ['a mixed-case random token', 'OPAQUE', 'aZ3kQ9mN2pR7tV1yX4wL', false, M],
    ['a PEM block', 'TLS', '-----BEGIN RSA PRIVATE KEY-----\nMIIB...', false, M],
    ['a long word with digits is not a token', 'APP_NAME', 'my-app-production-1234', false, 'my-app-production-1234'],
    ['credentials without a scheme (a Go MySQL DSN)', 'MYSQL_DSN', 'app:hunter2@tcp(db:3306)/shop', false, `app:${M}@tcp(db:3306)/shop`],
    ['a URL inside a longer value', 'PSQL_CMD', 'psql postgres://u:hunter2@h/db -c x', false, `psql postgres://u:${M}@h/db -c x`],
    ['a URL with a leading space (quoted in its file)', 'DATABASE_URL', ' postgres://u:hunter2@h/db', false, ` postgres://u:${M}@h/db`],
    [
      'a libpq keyword DSN',
      'DATABASE_DSN',
      'host=db port=5432 user=app password=hunter2 dbname=app',
      false,
      `host=db port=5432 user=app password=${M} dbname=app`,
    ],
    [
      'an ADO.NET connection string',
      'SQLSERVER',
      'Server=db;Database=app;User Id=sa;Password=hunter2;',
      false,
      `Server=db;Database=app;User Id=sa;Password=${M};`,
    ],
    ['ordinary key=value lists are kept', 'NODE_OPTIONS', '--max-old-space-size=4096', false, '--max-old-space-size=4096'],
    ['an ssh remote is not a credential', 'REMOTE', 'git@github.com:org/repo.git', false, 'git@github.com:org/repo.git'],
    ['a path is not a token', 'LOG_DIR', '/var/log/my-application/current', false, '/var/log/my-application/current'],
    ['a host name is not a token', 'HOST', 'ec2-54-12-34-56.compute-1.amazonaws.com', false, 'ec2-54-12-34-56.compute-1.amazonaws.com'],
  ];
  it.each(rows)('%s', (_why, key, value, secret, printed) => {
    expect(maskValue(key, value, { secret })).toBe(printed);
  });
});

describe('isSecretName and looksSecret', () => {
  it('reads names by segment', () => {
    expect(['PASSWORD', 'db-pass', 'x.token', 'AWS_SECRET_ACCESS_KEY', 'SIG', 'CREDS'].filter(isSecretName)).toHaveLength(6);
    expect(['MONKEY', 'TOKENIZER_MODE', 'PASSENGER_COUNT', 'PATH', 'DATABASE_URL'].filter(isSecretName)).toEqual([]);
  });
  it('does not take words, numbers or versions for secrets', () => {
    expect(['production', '12345678901234567890123', '1.2.3', 'hello world this is long'].filter(looksSecret)).toEqual([]);
  });
});

describe('maskText', () => {
  it('masks every URL in free text and leaves the rest', () => {
    expect(maskText('psql "postgres://u:p@h/db" then redis://:x@c:6379 done')).toBe(`psql "postgres://u:${M}@h/db" then redis://:${M}@c:6379 done`);
    expect(maskText('PGPASSWORD=hunter2 psql -h db')).toBe(`PGPASSWORD=${M} psql -h db`);
  });
});
