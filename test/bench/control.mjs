// Scenarios of live control (tf only): each compares a control operation with its own floor in the
// same run, as a ratio. A scenario's `variants` take the place of the tools.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchEnv, cpuSeconds, launch, lineCounter, now, sleep } from './measure.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TF = path.join(root, 'bin/tf.cjs');
const READY = 'BENCHREADY';

/** `tf start` on `lines` (name: command), with its socket in the run's directory. */
function startTf(dir, name, lines, extra = []) {
  const procfile = path.join(dir, `Procfile.${name}`);
  writeFileSync(procfile, lines.map(([n, cmd]) => `${n}: ${cmd}\n`).join(''));
  const socket = path.join(dir, `${name}.sock`);
  return { socket, procfile, args: [TF, 'start', '-f', procfile, '--socket', socket, '-t', '2', ...extra] };
}

/** Runs a tf client command to its exit; resolves with the time it took. */
function timed(args) {
  return new Promise((resolve) => {
    const started = now();
    const child = spawn(process.execPath, args, { stdio: 'ignore', env: benchEnv() });
    child.on('exit', (code) => resolve({ ms: now() - started, code }));
  });
}

async function stopRun(run) {
  run.child.kill('SIGTERM');
  await run.exited;
}

const sleepers = (k, marker) => Array.from({ length: k }, (_, i) => [`p${i + 1}`, `echo ${READY}; exec sleep ${marker}`]);

export function psRoundTrip() {
  return {
    title: '`tf ps` round trip against a running tf start with 5 instances, against `node -e 0`',
    unit: 'ms',
    variants: [
      {
        name: 'node -e 0',
        async run() {
          const { ms } = await timed(['-e', '0']);
          return { value: ms, ok: 'ok' };
        },
      },
      {
        name: 'tf ps',
        async run({ dir, marker }) {
          const tf = startTf(dir, `ps${marker}`, sleepers(5, marker));
          const ready = lineCounter(new RegExp(READY, 'g'), 5);
          const run = launch([process.execPath, tf.args], { cwd: dir, onData: (c) => ready.feed(c) });
          await ready.reached;
          const { ms, code } = await timed([TF, 'ps', '--socket', tf.socket]);
          await stopRun(run);
          return { value: code === 0 ? ms : undefined, ok: code === 0 ? 'ok' : `tf ps exited ${code}` };
        },
      },
    ],
  };
}

/** A crashing instance under on-failure: from its exit to its next run's first line, against the configured first delay. */
export function crashRestart() {
  const delayMs = 1000;
  return {
    title: `Crash to restart: an instance under --restart on-failure exits 3; from its exit to its next run's start, against the configured ${delayMs} ms delay`,
    unit: 'ms',
    variants: [
      {
        name: 'configured delay',
        async run() {
          return { value: delayMs, ok: 'ok' };
        },
      },
      {
        name: 'tf',
        async run({ dir, marker }) {
          // bash notes the time of its exit and of the next start ($EPOCHREALTIME, no fork).
          const cmd = `exec bash -c 'echo UP $EPOCHREALTIME; sleep 0.2; echo DOWN $EPOCHREALTIME; exit 3'`;
          const tf = startTf(dir, `crash${marker}`, [['crash', cmd]], ['--restart', 'crash=on-failure']);
          let text = '';
          const ups = lineCounter(/ UP /g, 2);
          const run = launch([process.execPath, tf.args], {
            cwd: dir,
            onData: (c) => {
              text += c.toString('latin1');
              ups.feed(c);
            },
          });
          const seen = await Promise.race([ups.reached, sleep(10_000).then(() => undefined)]);
          await stopRun(run);
          const down = /DOWN (\d+[.,]\d+)/.exec(text)?.[1];
          const up = [...text.matchAll(/UP (\d+[.,]\d+)/g)][1]?.[1];
          if (seen === undefined || down === undefined || up === undefined) return { value: undefined, ok: 'no restart seen' };
          return { value: (Number(up.replace(',', '.')) - Number(down.replace(',', '.'))) * 1000, ok: 'ok' };
        },
      },
    ],
  };
}

/** `tf scale p=+10` on a running tf, until the 10 new instances printed their ready line, against `tf start` of 10. */
export function scaleUp() {
  return {
    title: '`tf scale p=+10` until 10 more ready lines, against `tf start` of 10 until 10 ready lines',
    unit: 'ms',
    variants: [
      {
        name: 'tf start 10',
        async run({ dir, marker }) {
          const tf = startTf(dir, `s10${marker}`, [['p', `echo ${READY}; exec sleep ${marker}`]], ['-m', 'p=10']);
          const ready = lineCounter(new RegExp(READY, 'g'), 10);
          const run = launch([process.execPath, tf.args], { cwd: dir, onData: (c) => ready.feed(c) });
          const at = await ready.reached;
          await stopRun(run);
          return { value: at - run.started, ok: 'ok' };
        },
      },
      {
        name: 'tf scale +10',
        async run({ dir, marker }) {
          const tf = startTf(dir, `sc${marker}`, [['p', `echo ${READY}; exec sleep ${marker}`]], ['-m', 'p=1']);
          const first = lineCounter(new RegExp(READY, 'g'), 1);
          const more = lineCounter(new RegExp(READY, 'g'), 11);
          const run = launch([process.execPath, tf.args], {
            cwd: dir,
            onData: (c) => {
              first.feed(c);
              more.feed(c);
            },
          });
          await first.reached;
          const sent = now();
          const scaled = timed([TF, 'scale', 'p=+10', '--socket', tf.socket]);
          const at = await Promise.race([more.reached, sleep(10_000).then(() => undefined)]);
          const { code } = await scaled;
          await stopRun(run);
          return { value: at === undefined ? undefined : at - sent, ok: code === 0 ? 'ok' : `tf scale exited ${code}` };
        },
      },
    ],
  };
}

/** CPU of tf start with 50 quiet instances, with and without a `tf logs -F` client attached. */
export function idleWithFollower(k, seconds) {
  const measure = async ({ dir, marker }, follow) => {
    const tf = startTf(dir, `idle${follow ? 'f' : ''}${marker}`, sleepers(k, marker));
    const ready = lineCounter(new RegExp(READY, 'g'), k);
    const run = launch([process.execPath, tf.args], { cwd: dir, onData: (c) => ready.feed(c) });
    await ready.reached;
    const follower = follow ? spawn(process.execPath, [TF, 'logs', '-F', '--socket', tf.socket], { stdio: 'ignore', env: benchEnv() }) : undefined;
    await sleep(300);
    const before = cpuSeconds(run.child.pid);
    await sleep(seconds * 1000);
    const after = cpuSeconds(run.child.pid);
    follower?.kill('SIGTERM');
    await stopRun(run);
    return { value: before === undefined || after === undefined ? undefined : after - before, ok: 'ok' };
  };
  return {
    title: `Idle: ${k} quiet instances for ${seconds} s, CPU seconds of tf start, without and with a \`tf logs -F\` client`,
    unit: 's',
    variants: [
      { name: 'idle', run: (ctx) => measure(ctx, false) },
      { name: 'idle + logs -F', run: (ctx) => measure(ctx, true) },
    ],
  };
}
