import { describe, expect, it } from 'vitest';
import { expectAllDead, fixture, pidsIn, plainLines, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();

/** The lines one instance printed, without tf's prefix. */
const linesOf = (output: string, name: string): string[] =>
  plainLines(output)
    .filter((l) => l.startsWith(`${name} `))
    .map((l) => l.replace(/^\S+ +\| /, ''));

describe('tf start: the order of stdout and stderr', () => {
  it("shows one process's stdout and stderr lines in the order it wrote them, run after run", async () => {
    const count = 200;
    const dir = app({ Procfile: `alt: ${fixture('alternate.mjs', String(count))}\n` });
    const expected = Array.from({ length: count }, (_, i) => [`out ${i}`, `err ${i}`]).flat();
    for (let run = 0; run < 10; run++) {
      const tf = runTf(['start', '--no-timestamp', '--no-color'], { cwd: dir });
      const exit = await tf.exited;
      expect(exit.code, tf.output()).toBe(0);
      expect(linesOf(tf.output(), 'alt.1'), `run ${run}`).toEqual(expected);
      await expectAllDead(pidsIn(tf.output()));
    }
  }, 60_000);

  it('shows console.log, console.error, console.log as a, ERR, b (as foreman does)', async () => {
    const dir = app({ Procfile: `node: node -e "console.log('a');console.error('ERR');console.log('b')"\n` });
    const tf = runTf(['start', '--no-timestamp', '--no-color'], {
      cwd: dir,
      env: { PATH: `${process.execPath.replace(/\/[^/]+$/, '')}:${process.env.PATH ?? ''}` },
    });
    expect((await tf.exited).code, tf.output()).toBe(0);
    expect(linesOf(tf.output(), 'node.1')).toEqual(['a', 'ERR', 'b']);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);
});
