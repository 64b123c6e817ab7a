import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * cli is outermost: it parses the command line and picks a command. commands put the pipeline
 * together. Data then flows config -> plan -> supervisor (and control, its socket) -> output;
 * a pipeline stage may import its own or an earlier stage, never a later one, and never cli or
 * commands: config takes its own options type, not the command line's.
 */
// release reads config (and git) like config does; export renders from the plan, beside the supervisor.
const STAGES: Record<string, number> = { cli: 0, commands: 1, config: 2, release: 2, plan: 3, supervisor: 4, control: 4, export: 4, output: 5 };
const PIPELINE = 2;

/** host/, errors.ts and domain.ts are leaves: anything may import them, they import no stage. */
const isLeaf = (relative: string): boolean => relative.startsWith(`host${path.sep}`) || relative === 'errors.ts' || relative === 'domain.ts';

/**
 * Imports that break a rule in files other work is changing; each goes when that work lands
 * (and this list must then shrink: an entry that no longer occurs fails the test).
 */
const PENDING = new Set<string>([]);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

const stageOf = (relative: string): number | undefined => STAGES[relative.split(path.sep)[0] ?? ''];

interface Import {
  readonly from: string;
  readonly specifier: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const found = [
    ...[...text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?\sfrom\s+'(\.[^']+)'/gms)].map((m) => ({
      specifier: m[2] as string,
      typeOnly: m[1] !== undefined,
    })),
    ...[...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)].map((m) => ({ specifier: m[1] as string, typeOnly: false })),
  ];
  return found.map(({ specifier, typeOnly }) => ({
    from: path.relative(src, file),
    specifier,
    to: path.relative(src, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '.ts'),
    typeOnly,
  }));
}

/** Why an import breaks the flow, or undefined. */
function broken({ from, to, typeOnly }: Import): string | undefined {
  const fromStage = stageOf(from);
  const toStage = stageOf(to);
  if (isLeaf(from)) return toStage === undefined ? undefined : 'a leaf imports a stage';
  if (fromStage === undefined || toStage === undefined) return undefined;
  if (fromStage === STAGES.cli) return undefined;
  if (toStage === STAGES.cli) return fromStage === STAGES.commands && typeOnly ? undefined : 'only commands import cli, and only its types';
  if (fromStage === STAGES.commands) return undefined;
  if (toStage < PIPELINE) return 'a pipeline stage imports commands';
  return toStage > fromStage ? 'a stage imports a later one' : undefined;
}

const violations = (): { key: string; why: string }[] =>
  files(src)
    .flatMap(importsOf)
    .flatMap((i) => {
      const why = broken(i);
      return why === undefined ? [] : [{ key: `${i.from.split(path.sep).join('/')} imports ${i.specifier}`, why }];
    });

describe('the flow cli -> commands -> config -> plan -> supervisor/control -> output', () => {
  it('has no import against the flow, beyond the pending ones', () => {
    expect(violations().filter((v) => !PENDING.has(v.key))).toEqual([]);
  });

  it('lists as pending only imports that still occur', () => {
    const keys = new Set(violations().map((v) => v.key));
    expect([...PENDING].filter((key) => !keys.has(key))).toEqual([]);
  });

  it('catches what it is meant to catch', () => {
    expect(broken({ from: 'config/load.ts', specifier: '../cli/args.js', to: 'cli/args.ts', typeOnly: true })).toBe(
      'only commands import cli, and only its types',
    );
    expect(broken({ from: 'commands/start.ts', specifier: '../cli/args.js', to: 'cli/args.ts', typeOnly: true })).toBeUndefined();
    expect(broken({ from: 'commands/start.ts', specifier: '../cli/main.js', to: 'cli/main.ts', typeOnly: false })).toBe(
      'only commands import cli, and only its types',
    );
    expect(broken({ from: 'host/ports.ts', specifier: '../plan/plan.js', to: 'plan/plan.ts', typeOnly: true })).toBe('a leaf imports a stage');
    expect(broken({ from: 'host/ports.ts', specifier: '../domain.js', to: 'domain.ts', typeOnly: true })).toBeUndefined();
    expect(broken({ from: 'domain.ts', specifier: './output/format.js', to: 'output/format.ts', typeOnly: true })).toBe('a leaf imports a stage');
    expect(broken({ from: 'plan/plan.ts', specifier: '../supervisor/events.js', to: 'supervisor/events.ts', typeOnly: true })).toBe(
      'a stage imports a later one',
    );
    expect(broken({ from: 'output/output.ts', specifier: '../supervisor/events.js', to: 'supervisor/events.ts', typeOnly: true })).toBeUndefined();
    expect(broken({ from: 'control/server.ts', specifier: '../supervisor/supervisor.js', to: 'supervisor/supervisor.ts', typeOnly: false })).toBeUndefined();
    expect(broken({ from: 'supervisor/x.ts', specifier: '../commands/start.js', to: 'commands/start.ts', typeOnly: false })).toBe(
      'a pipeline stage imports commands',
    );
    expect(broken({ from: 'cli/main.ts', specifier: '../commands/start.js', to: 'commands/start.ts', typeOnly: false })).toBeUndefined();
  });
});
