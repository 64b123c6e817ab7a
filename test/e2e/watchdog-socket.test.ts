import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expectAllDead, fixture, killAllTf, pidsIn, runTf, tempApps, until } from '../helpers/tf.js';

const app = tempApps();
const scratch = mkdtempSync(path.join(tmpdir(), 'tf-sock-'));
afterEach(killAllTf);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the watchdog and the control socket', () => {
  it('removes the socket when tf start is SIGKILLed, and stops the instances', async () => {
    const socket = path.join(scratch, 'app.sock');
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const tf = runTf(['start', '--socket', socket, '--ready', 'web=none'], { cwd: dir });
    await tf.waitFor(/READY/);
    expect(existsSync(socket)).toBe(true);
    tf.signal('SIGKILL');
    await tf.exited;
    await until(() => !existsSync(socket), 'the watchdog to remove the socket');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);
});
