import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectAllDead, fixture, isAlive, pidsIn, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();

const MARKER = /^TF_SUPERVISOR_RUN=(\d+\.[0-9a-f]{16})$/m;

/** The daemon's pid, from the fixture's "DAEMON pid=N" line. */
const daemonPid = (output: string): number => Number(/DAEMON pid=(\d+)/.exec(output)?.[1]);

describe('tf start: daemonizing children do not outlive tf', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'stops a double-forked daemon (re-parented, in its own session) on %s',
    async (signal, code) => {
      const dir = app({ Procfile: `redis: ${fixture('daemon.mjs')}\nweb: ${fixture('ready.mjs')}\n` });
      const tf = runTf(['start'], { cwd: dir });
      await tf.waitFor(/READY pid=\d+[\s\S]*READY web|READY web[\s\S]*READY pid=\d+/);
      const pids = pidsIn(tf.output());
      const daemon = daemonPid(tf.output());
      expect(isAlive(daemon), 'the daemon runs before the stop').toBe(true);
      tf.signal(signal);
      expect((await tf.exited).code, tf.output()).toBe(code);
      expect(isAlive(daemon), `the daemon ${daemon} outlived tf${tf.output()}`).toBe(false);
      await expectAllDead(pids);
    },
    20_000,
  );

  it('SIGKILLs a daemon that ignores SIGTERM after the grace period', async () => {
    const dir = app({ Procfile: `redis: ${fixture('daemon.mjs', 'ignore-term')}\n` });
    const tf = runTf(['start', '-t', '0.3'], { cwd: dir });
    await tf.waitFor(/READY pid=\d+/);
    const pids = pidsIn(tf.output());
    const daemon = daemonPid(tf.output());
    tf.signal('SIGINT');
    expect((await tf.exited).code, tf.output()).toBe(130);
    expect(isAlive(daemon), `the daemon ${daemon} outlived tf${tf.output()}`).toBe(false);
    await expectAllDead(pids);
  }, 20_000);

  it('gives a daemon its grace period from the start of the stop, even while another instance uses all of it', async () => {
    const dir = app({ Procfile: '' });
    const done = `${dir}/daemon-done`;
    writeFileSync(`${dir}/Procfile`, `redis: ${fixture('daemon.mjs', `slow-term:${done}`)}\nstubborn: ${fixture('ignore-term.mjs')}\n`);
    const tf = runTf(['start', '-t', '2'], { cwd: dir });
    await tf.waitFor(/READY pid=\d+[\s\S]*READY pid=\d+/);
    const pids = pidsIn(tf.output());
    const daemon = daemonPid(tf.output());
    tf.signal('SIGINT');
    expect((await tf.exited).code, tf.output()).toBe(130);
    expect(existsSync(done) ? readFileSync(done, 'utf8') : 'killed before it finished', tf.output()).toBe('graceful');
    expect(isAlive(daemon)).toBe(false);
    await expectAllDead(pids);
  }, 20_000);

  it('stops a setsid child whose parent already exited, when an instance exits on its own', async () => {
    // sh starts a background node in a new session (detached) and exits: the instance is over,
    // its group is empty, and the escapee is nobody's child that tf knows.
    const spawner = `${JSON.stringify(process.execPath)} -e "const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { detached: true, stdio: 'ignore' }); c.unref(); console.log('ESCAPED pid=' + c.pid)"`;
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nonce: ${spawner}\n` });
    const tf = runTf(['start'], { cwd: dir });
    const exit = await tf.exited;
    expect(exit.code, tf.output()).toBe(0);
    expect(tf.output()).toMatch(/once\.1 +\| ESCAPED pid=\d+/);
    await expectAllDead(pidsIn(tf.output()), 1000);
  }, 20_000);

  it('stops the daemon through the watchdog when tf is SIGKILLed', async () => {
    const dir = app({ Procfile: `redis: ${fixture('daemon.mjs', 'ignore-term')}\n` });
    const tf = runTf(['start'], { cwd: dir });
    await tf.waitFor(/READY pid=\d+/);
    const pids = pidsIn(tf.output());
    expect(pids).toContain(daemonPid(tf.output()));
    tf.signal('SIGKILL');
    await tf.exited;
    // SIGTERM, then SIGKILL half a second later for what ignored it; the bound leaves room for a busy machine.
    await expectAllDead(pids, 3000);
  }, 20_000);

  it('gives every instance the run marker, one value per run, and spares processes that only look alike', async () => {
    const procfile = `web: echo "TF_SUPERVISOR_RUN=$TF_SUPERVISOR_RUN" && exec ${fixture('ready.mjs')}\n`;
    const marks: string[] = [];
    const bystanders: number[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const tf = runTf(['start', '--no-timestamp'], { cwd: app({ Procfile: procfile }) });
        await tf.waitFor(/READY web/);
        const mark = MARKER.exec(tf.output().replace(/^web\.1 +\| /gm, ''))?.[1];
        expect(mark, tf.output()).toBeDefined();
        marks.push(mark as string);
        // Started during the run: only the exact NAME=VALUE entry makes a process part of it.
        for (const env of [{ TF_SUPERVISOR_RUN: `${mark}0` }, { OTHER: `TF_SUPERVISOR_RUN=${mark}` }, { TF_SUPERVISOR_RUN_X: mark as string }]) {
          const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { env: { ...process.env, ...env }, stdio: 'ignore' });
          bystanders.push(bystander.pid as number);
        }
        const pids = pidsIn(tf.output());
        tf.signal('SIGINT');
        expect((await tf.exited).code, tf.output()).toBe(130);
        await expectAllDead(pids);
      }
      expect(marks[0]).not.toBe(marks[1]);
      expect(
        bystanders.filter((pid) => !isAlive(pid)),
        'tf stopped processes that are not of its run',
      ).toEqual([]);
    } finally {
      // A bystander tf wrongly killed is gone: killing it again would throw and hide the assertion above.
      for (const pid of bystanders) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 20_000);

  it("empties a crashed run's group before restarting it: no member of an old run lives beside the new one", async () => {
    // Each run leaves a background sleep in its group and crashes; only one sleep may ever be alive.
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nworker: sleep 1000 & echo "MEMBER pid=$!"; exit 1\n` });
    const tf = runTf(['start', '--restart', 'worker=always', '-t', '2'], { cwd: dir });
    await tf.waitFor(/(MEMBER pid=\d+[\s\S]*){3}/, 15_000);
    const members = [...tf.output().matchAll(/MEMBER pid=(\d+)/g)].map((m) => Number(m[1]));
    const pids = pidsIn(tf.output());
    // The third run's member may be alive; those of the first two runs were stopped before it started.
    expect(members.slice(0, 2).filter(isAlive), `members of earlier runs still alive${tf.output()}`).toEqual([]);
    tf.signal('SIGTERM');
    expect((await tf.exited).code, tf.output()).toBe(143);
    await expectAllDead([...pids, ...members]);
  }, 30_000);
});
