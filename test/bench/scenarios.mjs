// The benchmark scenarios. Each runs one tool once and returns what it measured.
import { spawnSync } from 'node:child_process';
import { closeSync, createReadStream, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { cpuSeconds, killAll, launch, now, orphans, sleep } from './measure.mjs';

const READY = 'BENCHREADY';
const PAD = 'x'.repeat(85);

/** Counts occurrences of `marker` in a byte stream, across chunk boundaries, without decoding it. */
function markerCounter(marker, count) {
  const needle = Buffer.from(marker);
  let tail = Buffer.alloc(0);
  let seen = 0;
  let resolve;
  const reached = new Promise((r) => (resolve = r));
  const scan = (buf) => {
    let n = 0;
    for (let at = buf.indexOf(needle); at !== -1; at = buf.indexOf(needle, at + needle.length)) n++;
    return n;
  };
  return {
    reached,
    seen: () => seen,
    feed(chunk) {
      const edge = Buffer.concat([tail, chunk.subarray(0, needle.length - 1)]);
      seen += scan(edge) + scan(chunk);
      tail = chunk.subarray(Math.max(0, chunk.length - (needle.length - 1)));
      if (seen >= count && resolve) {
        resolve(now());
        resolve = undefined;
      }
    },
  };
}

/**
 * Waits until `files` hold `count` markers in all: the supervisor writes straight to a file,
 * as `tf start > out.txt` would, and the bench reads only the bytes added since its last look,
 * every 2 ms (so a time is at most that late). The raw pipe is timed the same way, on its files.
 */
async function fileMarkers(files, marker, count, ms) {
  const watched = files.map((file) => ({ fd: openSync(file, 'r'), offset: 0, markers: markerCounter(marker, Infinity) }));
  const buf = Buffer.allocUnsafe(1 << 20);
  const deadline = now() + ms;
  try {
    while (now() < deadline) {
      let grew = false;
      for (const file of watched) {
        const n = readSync(file.fd, buf, 0, buf.length, file.offset);
        if (n === 0) continue;
        grew = true;
        file.offset += n;
        file.markers.feed(buf.subarray(0, n));
      }
      if (watched.reduce((sum, file) => sum + file.markers.seen(), 0) >= count) return now();
      await (grew ? Promise.resolve() : sleep(2));
    }
    return undefined;
  } finally {
    for (const file of watched) closeSync(file.fd);
  }
}

/** How long past its own deadline a supervisor may take before it is reported as stuck. */
let patienceMs = 8000;
export function setPatience(ms) {
  patienceMs = ms;
}

/** The promise's value, or undefined after `ms`; the timer does not keep the bench alive. */
const within = (promise, ms) => Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms).unref())]);

/** Stops a run: the baseline shell by killing its group, a supervisor with SIGTERM (bounded). */
async function stop(tool, run, signal = 'SIGTERM', ms = patienceMs + 2000) {
  if (tool.baseline) {
    try {
      process.kill(-run.child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  } else run.child.kill(signal);
  const exit = await within(run.exited, ms);
  if (exit === undefined) {
    run.child.kill('SIGKILL');
    await run.exited;
  }
  return exit;
}

/** Children left behind after the supervisor exited (checked after 200 ms), then cleaned up. */
async function leftovers(marker) {
  await sleep(200);
  const left = orphans(marker);
  killAll(left);
  return left.length;
}

const sleeper = (marker) => `echo ${READY}; exec sleep ${marker}`;
const sleepers = (k, marker) => Array.from({ length: k }, (_, i) => ({ name: `p${i + 1}`, cmd: sleeper(marker) }));

/** Lines lost, duplicated or reordered, and torn, for producers P1..Pn of `count` lines each. */
async function verify(files, producers, count) {
  const next = new Map();
  let lost = 0;
  let disorder = 0;
  let torn = 0;
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(file, { encoding: 'latin1' }), crlfDelay: Infinity });
    for await (const line of lines) {
      const m = /(P\d+) (\d{10}) (x+)$/.exec(line);
      if (m === null) {
        if (line.includes('xxxxxxxxxx')) torn++;
        continue;
      }
      if (m[3].length !== PAD.length) {
        torn++;
        continue;
      }
      const seq = Number(m[2]);
      const expected = next.get(m[1]) ?? 1;
      if (seq === expected) next.set(m[1], seq + 1);
      else if (seq > expected) {
        lost += seq - expected;
        next.set(m[1], seq + 1);
      } else disorder++;
    }
  }
  for (let p = 1; p <= producers; p++) lost += count + 1 - (next.get(`P${p}`) ?? 1);
  return { lost, disorder, torn };
}

function correctness({ lost = 0, disorder = 0, torn = 0, orphans: left = 0, note }) {
  const problems = [];
  if (lost) problems.push(`${lost} lost`);
  if (disorder) problems.push(`${disorder} dup/reordered`);
  if (torn) problems.push(`${torn} torn`);
  if (left) problems.push(`${left} orphans`);
  if (note) problems.push(note);
  return problems.length === 0 ? 'ok' : problems.join(', ');
}

export function throughput(producers, count) {
  const produce = (i) => `seq -f 'P${i} %010.0f ${PAD}' 1 ${count}`;
  return {
    title: `Throughput: ${producers} × ${count} lines × 100 B, to a file, every line verified`,
    unit: 'ms',
    baseline: true,
    pumpFloor: true,
    async run(tool, { dir, marker }) {
      if (tool.baseline) return rawPipes(dir, producers, count, produce, tool.oneReader === true);
      const commands = Array.from({ length: producers }, (_, i) => ({
        name: `p${i + 1}`,
        cmd: `${produce(i + 1)}; echo DONE P${i + 1}; exec sleep ${marker}`,
      }));
      const file = `${dir}/out-${tool.name}.txt`;
      const fd = openSync(file, 'w');
      const run = launch(tool.argv(dir, commands, { timeoutS: 5 }), { cwd: dir, stdout: fd });
      closeSync(fd);
      const finished = await fileMarkers([file], 'DONE P', producers, 300_000);
      const rss = run.sampleRss();
      await stop(tool, run);
      const check = await verify([file], producers, count);
      return { value: finished === undefined ? undefined : finished - run.started, rss, ok: correctness({ ...check, orphans: await leftovers(marker) }) };
    },
  };
}

/**
 * The floor: each producer through its own pipe and `cat` into its own file, no supervisor;
 * timed like the supervisors, until every producer's DONE line is in its file. With
 * `oneReader`, all producers share one pipe, one `cat` and one file, the shape of a
 * supervisor's job (one reader, one output), and lines from different producers tear.
 */
async function rawPipes(dir, producers, count, produce, oneReader) {
  const files = oneReader ? [`${dir}/raw-all.txt`] : Array.from({ length: producers }, (_, i) => `${dir}/raw-${i + 1}.txt`);
  for (const file of files) closeSync(openSync(file, 'w'));
  const each = (i) => `( ${produce(i + 1)}; echo DONE P${i + 1} )`;
  const all = Array.from({ length: producers }, (_, i) => i);
  const script = oneReader
    ? `( ${all.map((i) => `${each(i)} &`).join(' ')} wait ) | cat >> ${files[0]}`
    : `${all.map((i) => `${each(i)} | cat >> ${files[i]} &`).join(' ')} wait`;
  const run = launch(['/bin/sh', ['-c', script]], { cwd: dir });
  const finished = await fileMarkers(files, 'DONE P', producers, 300_000);
  await run.exited;
  return { value: finished === undefined ? undefined : finished - run.started, rss: run.sampleRss(), ok: correctness(await verify(files, producers, count)) };
}

export function startup(k) {
  return {
    title: `Startup: launch until all ${k} ready line${k === 1 ? '' : 's'} are seen`,
    unit: 'ms',
    floor: true,
    async run(tool, { dir, marker }) {
      const ready = markerCounter(READY, k);
      const run = launch(tool.argv(dir, sleepers(k, marker), { timeoutS: 5 }), { cwd: dir, onData: (c) => ready.feed(c) });
      const at = await within(ready.reached, 20_000);
      const rss = run.sampleRss();
      await stop(tool, run);
      return { value: at === undefined ? undefined : at - run.started, rss, ok: correctness({ orphans: await leftovers(marker) }) };
    },
  };
}

/**
 * A child for the stop scenario: bash, so that on SIGTERM it can note the time of its exit
 * ($EPOCHREALTIME, no fork) in `exits` before it goes; it stops its own sleep, so a tool that
 * signals only its direct children leaves nothing behind on account of the test.
 */
const noteExit = (exits, marker) =>
  `exec bash -c 'trap "kill \\$s 2>/dev/null; echo \\$EPOCHREALTIME >> ${exits}; exit 0" TERM; sleep ${marker} & s=$!; echo ${READY}; wait'`;

/** When bash can note its exit time: `$EPOCHREALTIME` is bash 5's. */
const bashClock = (() => {
  const probe = spawnSync('bash', ['-c', 'echo $EPOCHREALTIME'], { encoding: 'utf8' });
  return probe.status === 0 && /^\d+[.,]\d+$/.test(probe.stdout.trim());
})();

/**
 * `from`: 'last-exit' times from the last child's exit (what the supervisor alone adds;
 * needs bash 5 to note the exits, else it falls back to 'signal'), 'signal' from the SIGTERM
 * sent to the supervisor (what a user waits for, the children's own exits included).
 */
export function gracefulStop(k, from) {
  const fromExit = from === 'last-exit' && bashClock;
  const span = fromExit ? "from the last child's exit" : `from SIGTERM${from === 'last-exit' ? " (no bash 5 here to note the children's exits)" : ''}`;
  return {
    title: `Graceful stop: ${k} children that exit at once on SIGTERM; SIGTERM to the supervisor, ${span} until it exits`,
    unit: 'ms',
    async run(tool, { dir, marker }) {
      const ready = markerCounter(READY, k);
      const exits = `${dir}/exits-${tool.name.replace(/\W/g, '_')}.txt`;
      writeFileSync(exits, '');
      const commands = Array.from({ length: k }, (_, i) => ({ name: `p${i + 1}`, cmd: bashClock ? noteExit(exits, marker) : sleeper(marker) }));
      const run = launch(tool.argv(dir, commands, { timeoutS: 5 }), { cwd: dir, onData: (c) => ready.feed(c) });
      await within(ready.reached, 20_000);
      const rss = run.sampleRss();
      const sent = now();
      const exit = await stop(tool, run, 'SIGTERM', patienceMs);
      const noted = readFileSync(exits, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((t) => Number(t.replace(',', '.')) * 1000 - performance.timeOrigin);
      const start = fromExit ? Math.max(...noted) : sent;
      const notes = [
        exit === undefined ? `did not exit within ${patienceMs / 1000} s` : undefined,
        bashClock && noted.length < k ? `${k - noted.length} children did not exit on SIGTERM` : undefined,
      ];
      return {
        value: exit === undefined || (fromExit && noted.length === 0) ? undefined : exit.at - start,
        rss,
        ok: correctness({ orphans: await leftovers(marker), note: notes.filter(Boolean).join(', ') || undefined }),
      };
    },
  };
}

export function escalation(timeoutS) {
  return {
    title: `Escalation: one child ignores SIGTERM, timeout ${timeoutS} s; SIGTERM until the supervisor exits`,
    unit: 'ms',
    async run(tool, { dir, marker }) {
      const commands = [
        { name: 'stubborn', cmd: `trap '' TERM; echo ${READY}; exec sleep ${marker}` },
        { name: 'nice', cmd: sleeper(marker) },
      ];
      const ready = markerCounter(READY, 2);
      const run = launch(tool.argv(dir, commands, { timeoutS }), { cwd: dir, onData: (c) => ready.feed(c) });
      await within(ready.reached, 20_000);
      const rss = run.sampleRss();
      const sent = now();
      const exit = await stop(tool, run, 'SIGTERM', timeoutS * 1000 + patienceMs);
      return {
        value: exit === undefined ? undefined : exit.at - sent,
        rss,
        ok: correctness({ orphans: await leftovers(marker), note: exit === undefined ? `did not exit within ${timeoutS + patienceMs / 1000} s` : undefined }),
      };
    },
  };
}

export function crash() {
  return {
    title: 'Crash: one of 3 children exits 3 after 300 ms; from its last line until the supervisor has stopped the rest and exited',
    unit: 'ms',
    async run(tool, { dir, marker }) {
      const commands = [...sleepers(2, marker), { name: 'crash', cmd: `echo ${READY}; sleep 0.3; echo BENCHCRASH; exit 3` }];
      const crashed = markerCounter('BENCHCRASH', 1);
      const run = launch(tool.argv(dir, commands, { timeoutS: 5, killOthers: true }), { cwd: dir, onData: (c) => crashed.feed(c) });
      const at = await within(crashed.reached, 20_000);
      const rss = run.sampleRss();
      const exit = await within(run.exited, 5000);
      if (exit === undefined) await stop(tool, run);
      const code = exit === undefined ? 'kept running' : `exit ${exit.code ?? exit.signal}`;
      return {
        value: exit === undefined || at === undefined ? undefined : exit.at - at,
        rss,
        ok: `${code}; ${correctness({ orphans: await leftovers(marker) })}`,
      };
    },
  };
}

/** `slackMs`: how long past the reader's own pace a supervisor may take before it is reported as not finishing. */
export function slowReader(megabytes, rateMbPerS, slackMs) {
  return {
    title: `Slow reader: one producer writes ${megabytes} MB, the reader takes ${rateMbPerS} MB/s; peak RSS of the supervisor`,
    unit: 'MB',
    baseline: true,
    async run(tool, { dir, marker }) {
      const bytes = megabytes * 1_000_000;
      const commands = [{ name: 'p1', cmd: `head -c ${bytes} /dev/zero | tr '\\0' x | fold -w 99; echo DONE P1; exec sleep ${marker}` }];
      const done = markerCounter('DONE P1', 1);
      let timer;
      let reading;
      let consumed = 0;
      const run = launch(tool.argv(dir, commands, { timeoutS: 5 }), {
        cwd: dir,
        detached: tool.baseline,
        // A token bucket refilled every 10 ms, spent whenever bytes arrive: reading only on the
        // tick took one pipe's worth (64 KiB) per tick, ~6.5 MB/s whatever the rate asked.
        readable: (stream) => {
          const perTick = (rateMbPerS * 1_000_000) / 100;
          let tokens = 0;
          reading = () => {
            for (let chunk = tokens > 0 ? stream.read() : null; chunk !== null; chunk = tokens > 0 ? stream.read() : null) {
              tokens -= chunk.length;
              consumed += chunk.length;
              done.feed(chunk);
            }
          };
          stream.on('readable', reading);
          timer = setInterval(() => {
            tokens = Math.min(tokens + perTick, perTick);
            reading();
          }, 10);
        },
      });
      const started = now();
      const finished = await within(done.reached, (megabytes / rateMbPerS) * 3000 + slackMs);
      clearInterval(timer);
      const rss = run.sampleRss();
      run.child.stdout.off('readable', reading);
      run.child.stdout.resume();
      await stop(tool, run);
      // TF_BENCH_PACE=1 shows the pace the reader kept (start-up included), to check the bucket.
      if (process.env.TF_BENCH_PACE)
        console.error(`${tool.name}: read ${(consumed / 1e6).toFixed(1)} MB at ${(consumed / 1000 / (now() - started)).toFixed(1)} MB/s`);
      return { value: rss, rss, ok: correctness({ orphans: await leftovers(marker), note: finished === undefined ? 'did not finish' : undefined }) };
    },
  };
}

export function idle(k, seconds) {
  return {
    title: `Idle: ${k} quiet children for ${seconds} s; CPU seconds used by the supervisor`,
    unit: 's',
    async run(tool, { dir, marker }) {
      const ready = markerCounter(READY, k);
      const run = launch(tool.argv(dir, sleepers(k, marker), { timeoutS: 5 }), { cwd: dir, onData: (c) => ready.feed(c) });
      await within(ready.reached, 20_000);
      await sleep(300); // let start-up work settle before measuring the quiet part
      const before = cpuSeconds(run.child.pid);
      await sleep(seconds * 1000);
      const after = cpuSeconds(run.child.pid);
      const rss = run.sampleRss();
      await stop(tool, run);
      return { value: before === undefined || after === undefined ? undefined : after - before, rss, ok: correctness({ orphans: await leftovers(marker) }) };
    },
  };
}

export function killed(k) {
  return {
    title: `Supervisor SIGKILLed: ${k} children (each a shell with a sleeping child); orphans 1.5 s later`,
    unit: 'orphans',
    async run(tool, { dir, marker }) {
      const commands = Array.from({ length: k }, (_, i) => ({ name: `p${i + 1}`, cmd: `echo ${READY}; sleep ${marker}; true` }));
      const ready = markerCounter(READY, k);
      const run = launch(tool.argv(dir, commands, { timeoutS: 5 }), { cwd: dir, onData: (c) => ready.feed(c) });
      await within(ready.reached, 20_000);
      const rss = run.sampleRss();
      run.child.kill('SIGKILL');
      await run.exited;
      await sleep(1300);
      const left = await leftovers(marker);
      return { value: left, rss, ok: left === 0 ? 'ok' : `${left} orphans` };
    },
  };
}
