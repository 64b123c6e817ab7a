import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { defaultPolicy, type TypePolicy } from '../../src/domain.js';
import type { ExportFile, ExportInput, ExportOptions, ExportType, ExportValue } from '../../src/export/types.js';

/** ExportInput values built by hand: the four Procfiles of issue 15's golden files. */

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/export');

const type = (name: string, command: string, count: number, ports: number[], policy: Partial<TypePolicy> = {}): ExportType => ({
  name,
  command,
  count,
  ports,
  firstPort: ports[0] ?? 5000,
  policy: { ...defaultPolicy(name), ...policy },
});

const env = (entries: Record<string, string | [string, 'secret']>): ReadonlyMap<string, ExportValue> =>
  new Map(Object.entries(entries).map(([k, v]) => [k, typeof v === 'string' ? { value: v, secret: false } : { value: v[0], secret: true }]));

const base = { root: '/srv/shop', release: undefined, releaseId: undefined, timeoutSeconds: 5, extensions: [], omitted: [] };

export const CASES: Record<string, ExportInput> = {
  'web-worker': {
    ...base,
    app: 'shop',
    types: [type('web', 'node server.js', 1, [5000]), type('worker', 'node worker.js --queue default', 1, [5100])],
    env: env({ NODE_ENV: 'production', DATABASE_URL: ['postgres://shop:hunter2@db/shop', 'secret'] }),
  },
  release: {
    ...base,
    app: 'shop',
    release: { command: 'bundle exec rake db:migrate' },
    releaseId: 'v12',
    types: [type('web', 'bundle exec puma -C config/puma.rb', 1, [5000], { restart: 'always', ready: { kind: 'http', path: '/health' } })],
    env: env({ RAILS_ENV: 'production', SECRET_KEY_BASE: ['0123abcd', 'secret'] }),
    timeoutSeconds: 30,
  },
  pipes: {
    ...base,
    app: 'shop',
    release: { command: 'node migrate.js && echo "migrated to $DATABASE_URL"' },
    types: [
      type('web', 'node server.js --port $PORT', 1, [5000], { stopSignal: 'SIGQUIT' }),
      type('logs', "tail -F log/*.log | grep --line-buffered 'ERROR' >> errors.log", 1, [5100], { restart: 'on-failure', canDie: true }),
      type('cost', 'ruby cost.rb "100% of $HOME costs \\$5"', 1, [5200]),
    ],
    env: env({ GREETING: 'hello world' }),
  },
  // Values extending the target's own (PATH=./bin:$PATH in .env): applied by the shell that starts each process.
  extends: {
    ...base,
    app: 'shop',
    release: { command: 'node migrate.js' },
    types: [type('web', 'node server.js', 1, [5000]), type('logs', 'tail -F log/app.log | grep ERROR', 1, [5100])],
    env: env({ NODE_ENV: 'production' }),
    extensions: [
      { key: 'PATH', parts: [{ text: './bin:' }, { variable: 'PATH' }] },
      { key: 'NODE_PATH', parts: [{ text: "~/it's $lib:" }, { variable: 'NODE_PATH' }, { text: ':100%' }] },
    ],
  },
  formation: {
    ...base,
    app: 'shop',
    types: [type('web', 'node server.js', 2, [5000, 5001]), type('worker', 'node worker.js', 1, [5100]), type('clock', 'node clock.js', 0, [])],
    env: env({
      PERCENT: '100% sure %n %%',
      DOLLAR: 'cost $5 and ${HOME} $(date)',
      QUOTES: 'say "hi"',
      SPACES: '  padded  value  ',
      BACKSLASH: 'C:\\path\\to\\x',
      NEWLINE: 'line one\nline two\n',
      API_TOKEN: ['tok$en%with "all" kinds\nof things', 'secret'],
    }),
  },
};

export const OPTIONS: ExportOptions = { user: false, image: 'registry.example.com/shop:1.0', noSecrets: false };

/**
 * Compares rendered files with test/fixtures/export/FORMAT/CASE/, byte for byte and file for file;
 * `UPDATE_GOLDEN=1` rewrites them (then review the diff).
 */
export function expectGolden(format: string, name: string, files: readonly ExportFile[]): void {
  const dir = path.join(fixtures, format, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const file of files) writeFileSync(path.join(dir, file.path), file.content);
  }
  expect(files.map((f) => f.path).sort()).toEqual(readdirSync(dir).sort());
  for (const file of files) expect(file.content, `${format}/${name}/${file.path}`).toBe(readFileSync(path.join(dir, file.path), 'utf8'));
}
