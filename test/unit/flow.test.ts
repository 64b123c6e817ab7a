import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** Data flows left to right; a stage may import its own or earlier stages, never a later one. */
const STAGES: Record<string, number> = { cli: 0, commands: 0, config: 1, plan: 2, supervisor: 3, output: 4 };

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

const stageOf = (file: string): number | undefined => STAGES[path.relative(src, file).split(path.sep)[0] ?? ''];

describe('the flow cli -> config -> plan -> supervisor -> output', () => {
  it('has no stage importing a stage to its right', () => {
    const backwards: string[] = [];
    for (const file of files(src)) {
      const from = stageOf(file);
      if (from === undefined) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const target = path.resolve(path.dirname(file), m[1] as string);
        const to = stageOf(target);
        if (to !== undefined && to > from && from !== 0) backwards.push(`${path.relative(src, file)} imports ${m[1]}`);
      }
    }
    expect(backwards).toEqual([]);
  });
});
