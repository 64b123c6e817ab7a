import { afterEach, describe, expect, it } from 'vitest';
import { expectAllDead, fixture, killAllTf, pidsIn, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();
afterEach(killAllTf);

describe('a starved tf keeps lines whole', () => {
  it('does not show half a line as a partial one when tf itself was paused past the idle wait', async () => {
    const dir = app({ Procfile: `a: ${fixture('split-lines.mjs', '40')}\n` });
    const tf = runTf(['start', '--no-color', '--no-timestamp'], { cwd: dir });
    await tf.waitFor(/a\.1 +\| L 1 first-half second-half/);
    // Pause tf for longer than the idle wait again and again: its timers then run before it reads.
    let pausing = true;
    const starve = (async () => {
      while (pausing) {
        tf.signal('SIGSTOP');
        await new Promise((resolve) => setTimeout(resolve, 80));
        tf.signal('SIGCONT');
        await new Promise((resolve) => setTimeout(resolve, 17));
      }
    })();
    try {
      await tf.waitFor(/SPLIT-DONE/, 20_000);
    } finally {
      pausing = false;
      await starve;
      tf.signal('SIGCONT');
    }
    const lines = tf
      .output()
      .split('\n')
      .filter((l) => / L \d+ /.test(l) || / \+ /.test(l));
    expect(
      lines.filter((l) => !/\| L \d+ first-half second-half$/.test(l)),
      tf.output(),
    ).toEqual([]);
    expect(lines).toHaveLength(40);
    tf.signal('SIGTERM');
    await tf.exited;
    await expectAllDead(pidsIn(tf.output()));
  }, 40_000);
});
