import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TF_BIN, cleanEnv, expectAllDead, fixture, isAlive, pidsIn, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();

const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';
/** Root on Linux can choose the next pid, which is how a test reuses one on purpose. */
const canChoosePids = ((): boolean => {
  try {
    writeFileSync(NS_LAST_PID, readFileSync(NS_LAST_PID, 'utf8'));
    return true;
  } catch {
    return false;
  }
})();

/**
 * An idle process that is nothing of tf's, on exactly `pid`. The pid is free only once every
 * process that used it is reaped (an orphan's zombie waits for init) and others may take it
 * first, so this tries again, bounded, as expectAllDead polls.
 */
async function unrelatedOnPid(pid: number, ms = 5000): Promise<ChildProcess | undefined> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    writeFileSync(NS_LAST_PID, String(pid - 1));
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
    if (child.pid === pid) return child;
    child.kill('SIGKILL');
  }
  return undefined;
}

const twoReady = (): string => `web: ${fixture('ready.mjs')}\nworker: ${fixture('ready.mjs')}\n`;

describe('tf start: stopping', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const)(
    'on %s sends SIGTERM to every process, waits for them, and exits %i',
    async (signal, code) => {
      const dir = app({ Procfile: twoReady() });
      const tf = runTf(['start'], { cwd: dir });
      await tf.waitFor(/READY web\.1[\s\S]*READY worker\.1|READY worker\.1[\s\S]*READY web\.1/);
      tf.signal(signal);
      const exit = await tf.exited;
      expect(exit.code, tf.output()).toBe(code);
      expect(tf.output()).toContain(`stopping all processes (received ${signal})`);
      expect(tf.output()).toMatch(/web\.1 +\| got TERM/);
      expect(tf.output()).toMatch(/worker\.1 +\| got TERM/);
      expect(tf.output()).toMatch(/system +\| web\.1 exited with code 0/);
      await expectAllDead(pidsIn(tf.output()));
    },
    20_000,
  );

  it('SIGKILLs a process that ignores SIGTERM after --timeout, with its whole tree', async () => {
    const dir = app({ Procfile: `stubborn: ${fixture('ignore-term.mjs')}\nnice: ${fixture('ready.mjs')}\n` });
    const tf = runTf(['start', '-t', '0.3'], { cwd: dir });
    await tf.waitFor(/READY pid=\d+[\s\S]*READY nice|READY nice[\s\S]*READY pid=\d+/);
    tf.signal('SIGTERM');
    const exit = await tf.exited;
    expect(exit.code, tf.output()).toBe(143);
    expect(tf.output()).toMatch(/stubborn\.1 +\| ignoring TERM/);
    expect(tf.output()).toMatch(/system +\| stubborn\.1 did not stop within 0\.[3-9]s; sending SIGKILL to its process tree/);
    expect(tf.output()).toMatch(/system +\| stubborn\.1 was killed with SIGKILL\n/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('Ctrl-\\ (SIGQUIT) stops everything gracefully too, with exit 131', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const tf = runTf(['start'], { cwd: dir });
    await tf.waitFor(/READY/);
    tf.signal('SIGQUIT');
    expect((await tf.exited).code).toBe(131);
    expect(tf.output()).toMatch(/stopping all processes \(received SIGQUIT\)[\s\S]*web\.1 +\| got TERM/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('a second signal skips the grace period', async () => {
    const dir = app({ Procfile: `stubborn: ${fixture('ignore-term.mjs')}\n` });
    const tf = runTf(['start', '-t', '30'], { cwd: dir });
    await tf.waitFor(/READY/);
    tf.signal('SIGINT');
    await tf.waitFor(/ignoring TERM/);
    tf.signal('SIGINT');
    const exit = await tf.exited;
    expect(exit.code, tf.output()).toBe(130);
    // Said as what happened: no grace period ran out.
    expect(tf.output()).toMatch(
      /stubborn\.1: tf got a signal while stopping; sending SIGKILL to its process tree without waiting\n[\s\S]*stubborn\.1 was killed with SIGKILL\n/,
    );
    expect(tf.output()).not.toMatch(/did not stop within/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('exits with the code of the first process to exit, after stopping the others', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\ncrash: ${fixture('exit-with.mjs', '3', '200')}\n` });
    const tf = runTf(['start'], { cwd: dir });
    const exit = await tf.exited;
    expect(exit.code, tf.output()).toBe(3);
    expect(tf.output()).toMatch(/system +\| crash\.1 exited with code 3\n[\s\S]*stopping all processes \(crash\.1 exited\)[\s\S]*web\.1 +\| got TERM/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('exits 128+N when a process is killed by signal N', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nselfkill: echo READY; kill -9 $$\n` });
    const tf = runTf(['start'], { cwd: dir });
    const exit = await tf.exited;
    expect(exit.code, tf.output()).toBe(137);
    expect(tf.output()).toMatch(/selfkill\.1 exited on SIGKILL/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('stops grandchildren, in the process group or escaped from it', async () => {
    const dir = app({ Procfile: `same: ${fixture('grandchild.mjs')}\nescaped: ${fixture('grandchild.mjs', 'detached')}\n` });
    const tf = runTf(['start', '-t', '1'], { cwd: dir });
    await tf.waitFor(/(GRANDCHILD \d+[\s\S]*){2}/);
    await tf.waitFor(/(READY[\s\S]*){2}/);
    const pids = pidsIn(tf.output());
    expect(pids.length, 'two leaders and two grandchildren').toBe(4);
    tf.signal('SIGTERM');
    expect((await tf.exited).code, tf.output()).toBe(143);
    await expectAllDead(pids);
  }, 20_000);

  it('waits for a group member that outlives its leader and has closed its output, then exits', async () => {
    // The member ignores SIGTERM and lets go of tf's pipes, so only the poll for lingering
    // processes can tell that it is still there; it notes in a file that it finished by itself.
    const member = `sh -c 'trap "" TERM; echo "LINGER pid=$$"; exec >/dev/null 2>&1; sleep 0.6; echo finished > done.txt'`;
    const dir = app({ Procfile: `leader: ${member} & echo READY; wait\n` });
    const tf = runTf(['start', '-t', '10'], { cwd: dir });
    await tf.waitFor(/LINGER pid=\d+[\s\S]*READY|READY[\s\S]*LINGER pid=\d+/);
    const lingering = Number(/LINGER pid=(\d+)/.exec(tf.output())?.[1]);
    tf.signal('SIGTERM');
    expect((await tf.exited).code, tf.output()).toBe(143);
    expect(isAlive(lingering), 'the member was still running when tf exited').toBe(false);
    expect(existsSync(path.join(dir, 'done.txt')), 'the member was killed instead of waited for').toBe(true);
  }, 20_000);

  it('leaves nothing running when tf itself is killed with SIGKILL', async () => {
    const dir = app({
      Procfile: `web: ${fixture('ready.mjs')}\nstubborn: ${fixture('ignore-term.mjs')}\nfamily: ${fixture('grandchild.mjs')}\nescaped: ${fixture('grandchild.mjs', 'detached')}\n`,
    });
    const tf = runTf(['start'], { cwd: dir });
    await tf.waitFor(/(READY[\s\S]*){4}/);
    await tf.waitFor(/(GRANDCHILD \d+[\s\S]*){2}/);
    const pids = pidsIn(tf.output());
    expect(pids.length, 'four leaders and two grandchildren, one of them out of its group').toBe(6);
    tf.signal('SIGKILL');
    await tf.exited;
    // The watchdog allows half a second for SIGTERM before SIGKILL; the promise is "within a second".
    await expectAllDead(pids, 1500);
  }, 20_000);

  it('leaves nothing running when tf is SIGKILLed the moment its processes are up', async () => {
    const procfile = ['a', 'b', 'c'].map((n) => `${n}: sleep 1000 & echo "READY pid=$! pid=$$"; wait\n`).join('');
    const tf = runTf(['start'], { cwd: app({ Procfile: procfile }) });
    await tf.waitFor(/(READY[^\n]*\n[\s\S]*){3}/);
    tf.signal('SIGKILL');
    await tf.exited;
    const pids = pidsIn(tf.output());
    expect(pids.length, 'three shells and their three sleeps').toBe(6);
    await expectAllDead(pids, 1500);
  }, 20_000);

  it.skipIf(!canChoosePids)(
    'never signals a process that reused the pid of an exited leader when tf is SIGKILLed mid-stop',
    async () => {
      // The reproduction: quick's leader exits on SIGTERM while a member of its group
      // finishes a little later, so the group is still recorded; the leader's pid is then given
      // to an unrelated process, and tf is SIGKILLed during the long grace period of stubborn.
      const member = `${JSON.stringify(process.execPath)} -e "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 200)); console.log('MEMBER pid=' + process.pid); setInterval(() => {}, 1 << 30)"`;
      const dir = app({ Procfile: `stubborn: ${fixture('ignore-term.mjs')}\nquick: ${member} & exec ${fixture('ready.mjs')}\n` });
      const tf = runTf(['start', '-t', '30'], { cwd: dir });
      await tf.waitFor(/(READY[\s\S]*){2}/);
      await tf.waitFor(/MEMBER pid=\d+/);
      const pids = pidsIn(tf.output());
      const quick = Number(/quick\.1 started \(pid (\d+)/.exec(tf.output())?.[1]);
      const lingering = Number(/MEMBER pid=(\d+)/.exec(tf.output())?.[1]);
      tf.signal('SIGTERM');
      await tf.waitFor(/quick\.1 exited/);
      await expectAllDead([lingering]);
      const unrelated = await unrelatedOnPid(quick);
      expect(unrelated, `pid ${quick} could not be taken again`).toBeDefined();
      try {
        tf.signal('SIGKILL');
        await new Promise((resolve) => tf.child.once('exit', resolve));
        // The watchdog's SIGTERM comes half a second before its SIGKILL: once the stubborn
        // process is dead, anything else it meant to signal has been signalled.
        await expectAllDead(
          pids.filter((pid) => pid !== quick),
          1500,
        );
        expect(isAlive(quick), `the process that reused pid ${quick} was signalled`).toBe(true);
      } finally {
        unrelated?.kill('SIGKILL');
      }
    },
    20_000,
  );

  it('stops everything cleanly when its reader goes away (tf start | head -3)', async () => {
    const dir = app({ Procfile: `web: ${fixture('chatter.mjs', 'w', '100000')}\nworker: ${fixture('ready.mjs')}\n` });
    const shell = spawn('/bin/sh', ['-c', `"${process.execPath}" "${TF_BIN}" start --no-timestamp | head -3; echo "status=\${PIPESTATUS:-done}"`], {
      cwd: dir,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    shell.stdout.on('data', (d: Buffer) => (out += d));
    shell.stderr.on('data', (d: Buffer) => (err += d));
    await new Promise((r) => shell.on('close', r));
    expect(
      out
        .split('\n')
        .slice(0, 3)
        .every((l) => /^(system|web\.1|worker\.1) +\| /.test(l)),
      out,
    ).toBe(true);
    expect(err, 'no stack trace or error from tf').toBe('');
    // tf printed its children's pids before head closed the pipe; find them via the process table.
    const { execSync } = await import('node:child_process');
    const leftovers = execSync('ps -eo pid=,args=', { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(dir) || (l.includes('chatter.mjs') && l.includes(' w 100000')));
    expect(leftovers, 'processes left running').toEqual([]);
  }, 20_000);

  it('exits 141 when its reader went away and only the exit notice of a quiet process meets the closed pipe', async () => {
    const dir = app({ Procfile: 'web: sleep 0.5\n' });
    const tf = runTf(['start'], { cwd: dir });
    await tf.waitFor(/web\.1 started/);
    tf.child.stdout?.destroy();
    expect((await tf.exited).code).toBe(141);
  }, 20_000);

  it('forwards SIGUSR1 to every process', async () => {
    const dir = app({
      Procfile: `web: ${JSON.stringify(process.execPath)} -e "process.on('SIGUSR1', () => console.log('USR1')); console.log('READY'); setInterval(() => {}, 1e9)"\n`,
    });
    const tf = runTf(['start'], { cwd: dir });
    await tf.waitFor(/READY/);
    tf.signal('SIGUSR1');
    await tf.waitFor(/web\.1 +\| USR1/);
    expect(tf.output()).toMatch(/forwarded SIGUSR1 to 1 process/);
    tf.signal('SIGTERM');
    expect((await tf.exited).code).toBe(143);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('exits 1 and stops the others when a process cannot be started', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const tf = runTf(['start', '-d', `${dir}/does-not-exist`, '-f', `${dir}/Procfile`], { cwd: dir });
    const exit = await tf.exited;
    expect(exit.code, tf.output()).toBe(1);
    expect(tf.output()).toMatch(/web\.1 failed to start: .*ENOENT/);
    expect(isAlive(tf.pid)).toBe(false);
  }, 20_000);
});
