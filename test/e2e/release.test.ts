import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { COMMANDS, OPTION_SPECS, parseInvocation, type Invocation } from '../../src/cli/args.js';
import type { CommandContext } from '../../src/commands/context.js';
import { release, releases } from '../../src/commands/release.js';
import { start } from '../../src/commands/start.js';
import { cleanEnv, expectAllDead, pidsIn, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();
const node = JSON.stringify(process.execPath);

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

function context(cwd: string): CommandContext & { stdout: Sink; stderr: Sink } {
  return { cwd, env: cleanEnv(), stdout: new Sink(), stderr: new Sink() };
}

/** Options as the CLI parses them; `start` takes every flag these commands use, until `release` and `releases` are wired. */
const parsed = (args: readonly string[] = []): Invocation => parseInvocation(['start', ...args], {});
const withReleasePhase = (invocation: Invocation): Invocation => ({
  ...invocation,
  options: { ...invocation.options, releasePhase: true } as Invocation['options'],
});

const SECRET = 'planted-s3cr3t-value';

/** An app with a release phase (exiting with `code`, leaving a file behind) and one process that reports its TF_RELEASE. */
function releaseApp(code = 0, extra: Record<string, string> = {}): string {
  return app({
    Procfile: `release: ${node} migrate.js ${code}\napp: ${node} show.js\n`,
    'migrate.js': "require('fs').writeFileSync('migrated', ''); console.log('migrating pid=' + process.pid); process.exit(Number(process.argv[2]));\n",
    'show.js': "require('fs').writeFileSync('shown', ''); console.log('TF_RELEASE=' + (process.env.TF_RELEASE ?? 'none') + ' pid=' + process.pid);\n",
    '.env': `DATABASE_URL=postgres://u:${SECRET}@db/x\nFLAG=1\n`,
    ...extra,
  });
}

const recordsOf = (root: string, env = 'default'): string[] => {
  try {
    return readdirSync(path.join(root, '.tf', 'releases', env))
      .filter((n) => n.endsWith('.json'))
      .sort();
  } catch {
    return [];
  }
};

describe('tf release', () => {
  it('runs the release phase, its output prefixed release, and records v1, v2... per environment', { timeout: 30_000 }, async () => {
    const root = releaseApp(0, { '.env.staging': 'FLAG=2\n' });
    const first = context(root);
    expect(await release({ options: parsed().options }, first)).toBe(0);
    expect(first.stdout.text).toMatch(/release\s*\| migrating pid=\d+/);
    expect(first.stdout.text).toContain('released v1 of environment default (first release)');
    await expectAllDead(pidsIn(first.stdout.text));
    const second = context(root);
    expect(await release({ options: parsed().options }, second)).toBe(0);
    expect(second.stdout.text).toContain('released v2 of environment default (since v1: nothing changed)');
    await expectAllDead(pidsIn(second.stdout.text));
    const staging = context(root);
    expect(await release({ options: parsed(['--env', 'staging']).options }, staging)).toBe(0);
    expect(staging.stdout.text).toContain('released v1 of environment staging');
    await expectAllDead(pidsIn(staging.stdout.text));
    expect(recordsOf(root)).toEqual(['v1.json', 'v2.json']);
    expect(recordsOf(root, 'staging')).toEqual(['v1.json']);
    expect(readFileSync(path.join(root, '.tf', 'releases', '.gitignore'), 'utf8')).toBe('*\n');
    for (const file of recordsOf(root)) expect(readFileSync(path.join(root, '.tf', 'releases', 'default', file), 'utf8')).not.toContain(SECRET);
  });

  it('records nothing when the release phase fails, and exits with its code', { timeout: 30_000 }, async () => {
    const root = releaseApp(3);
    const ctx = context(root);
    expect(await release({ options: parsed().options }, ctx)).toBe(3);
    expect(existsSync(path.join(root, 'migrated'))).toBe(true);
    expect(ctx.stdout.text).toContain('release phase failed (exit code 3)');
    expect(recordsOf(root)).toEqual([]);
    await expectAllDead(pidsIn(ctx.stdout.text));
  });

  it('takes no operands: one usage line, nothing run or recorded', { timeout: 10_000 }, async () => {
    const root = releaseApp();
    await expect(release({ options: parsed().options, rest: ['staging'] }, context(root))).rejects.toMatchObject({
      kind: 'usage',
      message: 'tf release takes no arguments (got "staging")',
    });
    expect(() => releases({ options: parsed().options, rest: ['x'] }, context(root))).toThrow('tf releases takes no arguments');
    expect(existsSync(path.join(root, 'migrated'))).toBe(false);
    expect(recordsOf(root)).toEqual([]);
  });

  it('records a release of an app without a release phase too', { timeout: 30_000 }, async () => {
    const root = app({ Procfile: `app: ${node} -e 0\n`, '.env': 'A=1\n' });
    const ctx = context(root);
    expect(await release({ options: parsed().options }, ctx)).toBe(0);
    expect(ctx.stdout.text).toBe('released v1 of environment default (first release)\n');
  });
});

describe('tf releases', () => {
  it('lists each release with what changed since the one before, names only', { timeout: 30_000 }, async () => {
    const root = app({ Procfile: `app: ${node} -e 0\n`, '.env': `DATABASE_URL=postgres://u:${SECRET}@db/x\nOLD=1\n` });
    const none = context(root);
    expect(releases({ options: parsed().options }, none)).toBe(0);
    expect(none.stdout.text).toBe('no releases of environment default (tf release records one)\n');
    expect(await release({ options: parsed().options }, context(root))).toBe(0);
    writeFileSync(path.join(root, '.env'), 'DATABASE_URL=postgres://other@db/x\nNEW_FLAG=1\n');
    writeFileSync(path.join(root, 'Procfile'), `app: ${node} -e 1\n`);
    expect(await release({ options: parsed().options }, context(root))).toBe(0);
    const text = context(root);
    expect(releases({ options: parsed().options }, text)).toBe(0);
    const lines = text.stdout.text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^v1 {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}no git {2}first release, 2 variables$/);
    expect(lines[1]).toMatch(/^v2 {2}.* {2}config: DATABASE_URL changed, NEW_FLAG added, OLD removed; Procfile changed$/);
    const json = context(root);
    expect(releases({ options: parsed(['--json']).options }, json)).toBe(0);
    const doc = JSON.parse(json.stdout.text);
    expect(doc.env).toBe('default');
    expect(doc.releases.map((r: { id: string }) => r.id)).toEqual(['v1', 'v2']);
    expect(doc.releases[0].changes).toBeNull();
    expect(doc.releases[1].changes).toEqual({ code: null, variables: { added: ['NEW_FLAG'], removed: ['OLD'], changed: ['DATABASE_URL'] }, procfile: true });
    expect(json.stdout.text).not.toContain(SECRET);
    const again = context(root);
    releases({ options: parsed(['--json']).options }, again);
    expect(again.stdout.text).toBe(json.stdout.text);
  });
});

describe('TF_RELEASE in tf start and tf run', () => {
  it('is set when code and config are the latest release, and absent, with one notice, when they changed', { timeout: 60_000 }, async () => {
    const root = releaseApp();
    // No release yet: nothing said, no id.
    const before = runTf(['start'], { cwd: root });
    expect((await before.exited).code).toBe(0);
    expect(before.output()).toContain('TF_RELEASE=none');
    expect(before.output()).not.toContain('changed since');
    expect(before.output()).toContain('release: not run by tf start (use --release-phase or tf release)');
    expect(before.output()).not.toContain('migrating');
    await expectAllDead(pidsIn(before.output()));

    expect(await release({ options: parsed().options }, context(root))).toBe(0);
    const matching = runTf(['start'], { cwd: root });
    expect((await matching.exited).code).toBe(0);
    expect(matching.output()).toContain('TF_RELEASE=v1');
    expect(matching.output()).not.toContain('changed since');
    expect(matching.output().match(/not run by tf start/g)).toHaveLength(1);
    await expectAllDead(pidsIn(matching.output()));
    const run = runTf(['run', 'app'], { cwd: root });
    expect((await run.exited).code).toBe(0);
    expect(run.output()).toContain('TF_RELEASE=v1');

    writeFileSync(path.join(root, '.env'), `DATABASE_URL=postgres://u:other@db/x\nFLAG=1\nNEW_FLAG=1\n`);
    const changed = runTf(['start'], { cwd: root, env: { TF_RELEASE: 'v99' } });
    expect((await changed.exited).code).toBe(0);
    expect(changed.output()).toContain('TF_RELEASE=none');
    expect(changed.output().match(/changed since v1 \(config: DATABASE_URL changed, NEW_FLAG added\)/g)).toHaveLength(1);
    expect(changed.output()).not.toContain(SECRET);
    await expectAllDead(pidsIn(changed.output()));
    const changedRun = runTf(['run', 'app'], { cwd: root });
    expect((await changedRun.exited).code).toBe(0);
    expect(changedRun.output()).toContain('TF_RELEASE=none');
  });
});

describe('tf start --release-phase', () => {
  it('runs the release phase to completion first, then the formation', { timeout: 30_000 }, async () => {
    const root = releaseApp(0);
    const ctx = context(root);
    expect(await start(withReleasePhase(parsed()), ctx)).toBe(0);
    const out = ctx.stdout.text;
    expect(out).toMatch(/release\s*\| migrating pid=\d+/);
    expect(out).toContain('release phase succeeded');
    expect(out.indexOf('migrating')).toBeLessThan(out.indexOf('TF_RELEASE='));
    expect(out).not.toContain('not run by tf start');
    await expectAllDead(pidsIn(out));
  });

  it('starts nothing when the release phase fails, and exits with its code', { timeout: 30_000 }, async () => {
    const root = releaseApp(4);
    const ctx = context(root);
    expect(await start(withReleasePhase(parsed()), ctx)).toBe(4);
    expect(ctx.stdout.text).toContain('release phase failed (exit code 4): nothing else starts');
    expect(existsSync(path.join(root, 'migrated'))).toBe(true);
    expect(existsSync(path.join(root, 'shown'))).toBe(false);
    await expectAllDead(pidsIn(ctx.stdout.text));
  });
});

/** Through the CLI, once `release`, `releases` and `--release-phase` are wired (skipped until then). */
describe('the CLI wiring', () => {
  const wired = COMMANDS.includes('release' as never) && COMMANDS.includes('releases' as never) && OPTION_SPECS.some((s) => s.flag === 'release-phase');

  it.skipIf(!wired)('tf release, tf releases --json and tf start --release-phase', { timeout: 60_000 }, async () => {
    const root = releaseApp(0);
    const made = runTf(['release'], { cwd: root });
    expect((await made.exited).code).toBe(0);
    expect(made.output()).toContain('released v1 of environment default');
    await expectAllDead(pidsIn(made.output()));
    const list = runTf(['releases', '--json'], { cwd: root });
    expect((await list.exited).code).toBe(0);
    expect(JSON.parse(list.output()).releases.map((r: { id: string }) => r.id)).toEqual(['v1']);
    // With --json every line of stdout is JSON: the phase's lines, then the release.
    const json = runTf(['release', '--json'], { cwd: root });
    expect((await json.exited).code).toBe(0);
    const lines = json
      .output()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ released: 'v2', environment: 'default', previous: 'v1' });
    await expectAllDead(pidsIn(json.output()));
    const failing = releaseApp(5);
    const started = runTf(['start', '--release-phase'], { cwd: failing });
    expect((await started.exited).code).toBe(5);
    expect(existsSync(path.join(failing, 'shown'))).toBe(false);
    await expectAllDead(pidsIn(started.output()));
    const phaseFails = runTf(['release'], { cwd: failing });
    expect((await phaseFails.exited).code).toBe(5);
    expect(phaseFails.output()).toContain('release phase failed (exit code 5): no release recorded');
    expect(recordsOf(failing)).toEqual([]);
  });
});
