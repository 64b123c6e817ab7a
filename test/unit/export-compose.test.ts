import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { TfError } from '../../src/errors.js';
import { renderCompose } from '../../src/export/compose.js';
import type { ExportFile, ExportInput } from '../../src/export/types.js';
import { CASES, expectGolden, OPTIONS } from '../helpers/export-cases.js';

// biome-ignore lint/suspicious/noExplicitAny: the compose file is checked by docker-compose and by these tests
type ComposeFile = any;

const composeOf = (files: readonly ExportFile[]): ComposeFile => parse(files.find((f) => f.path === 'compose.yaml')?.content ?? '');

/** docker-compose (Debian's package) where it is installed; the structural tests run everywhere. */
const dockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8', timeout: 10_000 }).status === 0;
if (!dockerCompose) console.log('skipping docker-compose checks: docker-compose is not installed (apt-get install docker-compose)');

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function writeExport(files: readonly ExportFile[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-compose-'));
  dirs.push(dir);
  for (const file of files) writeFileSync(path.join(dir, file.path), file.content, { mode: file.mode });
  return dir;
}

function composeConfig(dir: string, ...args: string[]) {
  return spawnSync('docker-compose', ['--project-directory', dir, '-f', path.join(dir, 'compose.yaml'), 'config', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
  });
}

describe('compose export', { timeout: 30_000 }, () => {
  for (const [name, input] of Object.entries(CASES)) {
    it(`renders the ${name} case as its golden files${dockerCompose ? ', accepted by docker-compose config -q' : ''}`, () => {
      const files = renderCompose(input, OPTIONS);
      expectGolden('compose', name, files);
      expect(renderCompose(input, OPTIONS)).toEqual(files);
      if (!dockerCompose) return;
      const check = composeConfig(writeExport(files), '-q');
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
    });
  }

  it('runs one service per type: replicas, PORT, stop signal and grace period, restart from the policy', () => {
    const { services } = composeOf(renderCompose(CASES.formation as ExportInput, OPTIONS));
    expect(Object.keys(services)).toEqual(['web', 'worker', 'clock']);
    expect(Object.values(services).map((s: ComposeFile) => [s.deploy.replicas, s.environment.PORT, s.stop_signal, s.stop_grace_period, s.restart])).toEqual([
      [2, '5000', 'SIGTERM', '5s', 'no'],
      [1, '5100', 'SIGTERM', '5s', 'no'],
      [0, '5000', 'SIGTERM', '5s', 'no'],
    ]);
    // Two web replicas cannot share a host port: each publishes PORT on one the engine picks.
    expect(services.web.ports).toEqual(['5000']);
    expect(services.worker.ports).toBeUndefined();
    expect(composeOf(renderCompose(CASES['web-worker'] as ExportInput, OPTIONS)).services.web.ports).toEqual(['5000:5000']);
    const pipes = composeOf(renderCompose(CASES.pipes as ExportInput, OPTIONS)).services;
    expect([pipes.web.stop_signal, pipes.logs.restart]).toEqual(['SIGQUIT', 'on-failure']);
  });

  it('runs the release phase as a service that every other one waits for, once', () => {
    const { services } = composeOf(renderCompose(CASES.release as ExportInput, OPTIONS));
    expect(Object.keys(services)).toEqual(['release', 'web']);
    expect(services.release).toMatchObject({ entrypoint: ['bundle', 'exec', 'rake', 'db:migrate'], restart: 'no' });
    expect(services.release.deploy).toBeUndefined();
    expect(services.web.depends_on).toEqual({ release: { condition: 'service_completed_successfully' } });
    expect(services.web.restart).toBe('always');
  });

  it('gives the program PID 1 as the entrypoint, with every $ doubled for compose', () => {
    const { services } = composeOf(renderCompose(CASES.pipes as ExportInput, OPTIONS));
    expect(services.web.entrypoint).toEqual(['/bin/sh', '-c', 'exec node server.js --port $$PORT']);
    expect(services.logs.entrypoint).toEqual(['/bin/sh', '-c', "tail -F log/*.log | grep --line-buffered 'ERROR' >> errors.log"]);
    expect(services.release.entrypoint).toEqual(['/bin/sh', '-c', 'node migrate.js && echo "migrated to $$DATABASE_URL"']);
  });

  it('builds the app root when no --image is given', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'tf-compose-root-'));
    dirs.push(root);
    const files = renderCompose({ ...(CASES['web-worker'] as ExportInput), root }, { ...OPTIONS, image: undefined });
    const { services } = composeOf(files);
    expect([services.web.build, services.web.image]).toEqual([root, undefined]);
    // Written into a directory of the app, the context is relative: the file works in any checkout.
    const inApp = composeOf(renderCompose({ ...(CASES['web-worker'] as ExportInput), root }, { ...OPTIONS, image: undefined, dir: path.join(root, 'deploy') }));
    expect(inApp.services.web.build).toBe('..');
    // Outside the app it stays absolute: a path climbing out of one checkout means nothing in another.
    const elsewhere = composeOf(
      renderCompose({ ...(CASES['web-worker'] as ExportInput), root }, { ...OPTIONS, image: undefined, dir: path.join(tmpdir(), 'deploy') }),
    );
    expect(elsewhere.services.web.build).toBe(root);
    if (!dockerCompose) return;
    const check = composeConfig(writeExport(files), '-q');
    expect([check.status, check.stderr]).toEqual([0, '']);
  });

  it('keeps plain config in config.env and secrets in secrets.env (0600); --no-secrets leaves their keys empty', () => {
    const input = CASES['web-worker'] as ExportInput;
    const files = renderCompose(input, OPTIONS);
    expect(files.map((f) => [f.path, f.mode])).toEqual([
      ['compose.yaml', 0o644],
      ['config.env', 0o644],
      ['secrets.env', 0o600],
    ]);
    expect(composeOf(files).services.web.env_file).toEqual(['config.env', 'secrets.env']);
    expect(
      files
        .filter((f) => f.mode !== 0o600)
        .map((f) => f.content)
        .join(''),
    ).not.toContain('hunter2');
    const blank = renderCompose(input, { ...OPTIONS, noSecrets: true });
    expect(blank.find((f) => f.path === 'secrets.env')?.content).toBe("# Fill in every value: tf exported the keys only (--no-secrets).\nDATABASE_URL=''\n");
    for (const f of blank) expect(f.content).not.toContain('hunter2');
  });

  it.runIf(dockerCompose)('carries % $ quotes spaces backslashes and newlines through docker-compose byte for byte', () => {
    const input = CASES.formation as ExportInput;
    const result = composeConfig(writeExport(renderCompose(input, OPTIONS)));
    expect(result.stderr).toBe('');
    const environment = parse(result.stdout).services.worker.environment;
    // docker-compose prints the config back for compose to read, so its own $ come back doubled.
    for (const [key, { value }] of input.env) expect(String(environment[key]).replaceAll('$$', '$'), key).toBe(value);
  });

  it('writes restart: "no" as a string, as YAML 1.1 readers (docker-compose) need', () => {
    const content = renderCompose(CASES['web-worker'] as ExportInput, OPTIONS)[0]?.content ?? '';
    expect(parse(content, { version: '1.1' }).services.web.restart).toBe('no');
  });

  it('refuses a value a compose env file cannot hold, naming the key and never the value', () => {
    const input = { ...(CASES['web-worker'] as ExportInput), env: new Map([['NOTE', { value: "it's s3cret", secret: true }]]) };
    let error: unknown;
    try {
      renderCompose(input, OPTIONS);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TfError);
    const line = (error as TfError).describe();
    expect(line).toMatch(/^NOTE: a compose env file cannot hold this secret value.*; change the value, or export it to systemd or kubernetes$/);
    expect(line).not.toContain('s3cret');
  });
});
