#!/usr/bin/env node
// Chaos trial for `tf start`: runs the built CLI many times, each with a seeded random scenario
// (producers of numbered lines on stdout and stderr, partial lines, setsid children, double-forked
// daemons, injection attempts in .env), ends each run with one random event (SIGTERM, SIGINT or
// SIGKILL of tf, a crash of one instance, or tf's stdout closed by its reader), and checks the
// guarantees the README makes: the documented exit code, no torn line, no gap or reordering in any
// producer's lines, no line lost at a graceful end, nothing left running, no injection.
//
//   npm run build && node test/tools/chaos.mjs [--runs N] [--seed S] [--verbose]
//
// Not part of `npm test`: it takes minutes. Each run has its own seed (printed with any failure);
// `--seed THAT --runs 1` replays it. Exit status 1 on any violation, 2 on a bad command line.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const TF_BIN = path.resolve(here, '../../bin/tf.cjs');
const EVENTS = ['TERM', 'INT', 'KILL', 'crash', 'pipe'];
/** How long processes of a finished run may take to go (the watchdog's TERM, then KILL half a second later). */
const ORPHAN_GRACE_MS = 1500;
/** A run that has not ended this long after its event is hung (tf's stop timeout is 3 s). */
const RUN_LIMIT_MS = 20_000;
const STOP_TIMEOUT_S = 3;

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const options = { runs: 200, seed: Date.now() % 1_000_000, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) usage(`${arg} needs a non-negative integer`);
      return Number(v);
    };
    if (arg === '--runs') options.runs = value();
    else if (arg === '--seed') options.seed = value();
    else if (arg === '--verbose') options.verbose = true;
    else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  return options;
}

function usage(message) {
  process.stderr.write(`chaos: ${message}\nusage: node test/tools/chaos.mjs [--runs N] [--seed S] [--verbose]\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32): a run is fully described by its seed.

function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    chance: (p) => next() < p,
  };
}

// ---------------------------------------------------------------------------------------------
// Producers. Every line is `NAME S SEQ LEN X...`: S is o (stdout) or e (stderr), SEQ one counter
// across both streams (they share one pipe, so the merged order must hold), LEN the number of x.
// After each line the producer records how many it wrote in its count file, so lines lost at the
// end can be told from lines never written.

const NODE_PRODUCER = String.raw`
import { closeSync, openSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
const [name, marker, countFile, spec, ...echoArgs] = process.argv.slice(2);
const o = JSON.parse(spec);
let seed = o.seed >>> 0;
const rand = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 4294967296; };
const nap = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const countFd = openSync(countFile, 'w');
function writeAll(fd, text) {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try { off += writeSync(fd, buf, off); }
    catch (e) { if (e.code === 'EAGAIN') nap(1); else process.exit(0); }
  }
}
if (o.echo) {
  for (const key of o.echo) writeAll(1, name + ' env ' + key + ' ' + JSON.stringify(process.env[key] ?? null) + '\n');
  echoArgs.forEach((a, i) => writeAll(1, name + ' arg ' + i + ' ' + JSON.stringify(a) + '\n'));
}
if (o.spawn === 'setsid') spawn('sleep', [marker], { detached: true, stdio: o.inherit ? ['ignore', 1, 2] : 'ignore' }).unref();
if (o.spawn === 'daemon') spawn('/bin/sh', ['-c', 'sleep "$1" </dev/null >/dev/null 2>&1 & exit 0', 'sh', marker], { detached: true, stdio: 'ignore' }).unref();
if (o.spawn === 'group') spawn('sleep', [marker], { stdio: o.inherit ? ['ignore', 1, 2] : 'ignore' }).unref();
if (o.crash) setTimeout(() => {
  if (o.crash.signal) process.kill(process.pid, o.crash.signal);
  else process.exit(o.crash.code);
}, o.crash.after);
let seq = 0;
function line() {
  const len = rand() < 0.03 ? 4000 + Math.floor(rand() * 6000) : 1 + Math.floor(rand() * 120);
  const text = name + ' ' + (rand() < 0.5 ? 'o' : 'e') + ' ' + String(seq).padStart(6, '0') + ' ' + len + ' ' + 'x'.repeat(len);
  return text;
}
function emit(final) {
  const text = line();
  const fd = text[name.length + 1] === 'o' ? 1 : 2;
  if (final) writeAll(fd, text); // a prompt: no newline, then silence
  else if (o.split && rand() < 0.5) {
    // one line in several writes, back to back: tf must join the pieces
    const cut = 1 + Math.floor(rand() * text.length);
    writeAll(fd, text.slice(0, cut));
    writeAll(fd, text.slice(cut) + '\n');
  } else writeAll(fd, text + '\n');
  seq++;
  // A count that could not be written (a full disk) only weakens the lost-tail check.
  try { writeSync(countFd, String(seq).padStart(10, ' '), 0, 'utf8'); } catch {}
}
function tick() {
  if (o.prompt !== undefined && seq >= o.prompt) { emit(true); setInterval(() => {}, 1 << 30); return; }
  const burst = o.flood ? 200 : 1 + Math.floor(rand() * o.burst);
  for (let i = 0; i < burst; i++) emit(false);
  if (o.flood) setImmediate(tick);
  else setTimeout(tick, Math.floor(rand() * o.gap));
}
tick();
`;

const SHELL_PRODUCER = String.raw`
name=$1 marker=$2 count=$3 delay=$4 spawn=$5 crash=$6 how=$7 after=$8
case $spawn in
  group) sleep "$marker" & ;;
  daemon) ( sleep "$marker" </dev/null >/dev/null 2>&1 & ) ;;
  setsid) setsid sleep "$marker" </dev/null >/dev/null 2>&1 & ;;
esac
case $crash in
  exit) trap 'exit "$how"' USR1; ( sleep "$after"; kill -USR1 $$ ) & ;;
  kill) ( sleep "$after"; kill -"$how" $$ ) & ;;
esac
i=0
while :; do
  case $((i % 3)) in
    0) printf '%s e %06d 5 xxxxx\n' "$name" "$i" >&2 ;;
    *) printf '%s o %06d 3 xxx\n' "$name" "$i" ;;
  esac
  i=$((i + 1))
  { printf '%10d' "$i" > "$count"; } 2>/dev/null
  [ "$delay" = 0 ] || sleep "$delay"
done
`;

// ---------------------------------------------------------------------------------------------
// Injection attempts: every value must arrive verbatim and no pwned file may appear.

function injection(marker) {
  const pwned = (tag) => path.join(tmpdir(), `pwned-${marker}-${tag}`);
  const env = [
    [`INJ_UNQ=$(touch ${pwned('unq')})`, `$(touch ${pwned('unq')})`],
    [`INJ_DQ="$(touch ${pwned('dq')})"`, `$(touch ${pwned('dq')})`],
    [`INJ_SQ='$(touch ${pwned('sq')}) \`touch ${pwned('sq2')}\` $HOME'`, `$(touch ${pwned('sq')}) \`touch ${pwned('sq2')}\` $HOME`],
    [`INJ_BT='\`touch ${pwned('bt')}\`'`, `\`touch ${pwned('bt')}\``],
    [`INJ_BTE="a \\\`touch ${pwned('bte')}\\\` b"`, `a \`touch ${pwned('bte')}\` b`],
    [`INJ_BTD="x \`touch ${pwned('btd')}\` y"`, `x \`touch ${pwned('btd')}\` y`],
    [`INJ_SEMI="a;touch ${pwned('semi')};b"`, `a;touch ${pwned('semi')};b`],
    [`INJ_SEMIU=a;touch ${pwned('semiu')}`, `a;touch ${pwned('semiu')}`],
    [`INJ_RM="';rm -f ${pwned('rm')}; touch ${pwned('rm')}; echo '"`, `';rm -f ${pwned('rm')}; touch ${pwned('rm')}; echo '`],
    [`INJ_NL="line1\\n$(touch ${pwned('nl')})\\nline3"`, `line1\n$(touch ${pwned('nl')})\nline3`],
    [`INJ_ML="first\n\`touch ${pwned('ml')}\`\n;touch ${pwned('ml2')}\nlast"`, `first\n\`touch ${pwned('ml')}\`\n;touch ${pwned('ml2')}\nlast`],
    [`INJ_REF=\${INJ_DQ}-and-$INJ_SEMI`, `$(touch ${pwned('dq')})-and-a;touch ${pwned('semi')};b`],
  ];
  const shellValue = `$(touch ${pwned('shell')})\n\`touch ${pwned('shell2')}\`;touch ${pwned('shell3')}`;
  const expected = Object.fromEntries(env.map(([line, value]) => [line.slice(0, line.indexOf('=')), value]));
  expected.CHAOS_SHELL_INJ = shellValue;
  return {
    dotenv: `${env.map(([line]) => line).join('\n')}\n`,
    shellValue,
    expected,
    // Passed as quoted arguments in the Procfile too: sh expands them once, never re-evaluates.
    args: ['INJ_DQ', 'INJ_ML', 'INJ_BTD', 'INJ_RM', 'CHAOS_SHELL_INJ'],
    pwnedPrefix: `pwned-${marker}`,
  };
}

// ---------------------------------------------------------------------------------------------
// One scenario

function scenario(seed, runIndex) {
  const r = rng(seed);
  const marker = `1000.${process.pid}${String(runIndex).padStart(4, '0')}`;
  const event = r.pick(EVENTS);
  const count = r.int(1, 6);
  const crasher = event === 'crash' ? r.int(1, count) : 0;
  const producers = [];
  for (let i = 1; i <= count; i++) {
    const kind = i === 1 || r.chance(0.5) ? 'node' : 'sh';
    const p = { name: `P${i}`, kind, spawn: r.pick(['none', 'none', 'group', 'setsid', 'daemon']), inherit: r.chance(0.5) };
    if (kind === 'node') {
      p.flood = r.chance(0.15);
      p.burst = r.int(1, 20);
      p.gap = r.int(1, 60);
      p.split = r.chance(0.4);
      p.prompt = r.chance(0.15) ? r.int(0, 30) : undefined;
      p.seed = r.int(1, 2 ** 31);
    } else {
      p.delay = r.pick(['0', '0.01', '0.02', '0.05']);
    }
    if (i === crasher) {
      const after = r.int(100, 1500);
      p.prompt = undefined;
      if (r.chance(0.8)) p.crash = { code: r.chance(0.1) ? 0 : r.int(1, 125), after };
      else p.crash = { signal: r.pick(['SIGKILL', 'SIGHUP']), after };
    }
    producers.push(p);
  }
  // tf can only learn that its reader left when it writes: a closed pipe needs a producer that keeps talking.
  if (event === 'pipe' && producers.every((p) => p.prompt !== undefined)) producers[0].prompt = undefined;
  const early = event !== 'crash' && r.chance(0.15);
  const delay = r.int(0, 800);
  return { seed, runIndex, marker, event, producers, early, delay };
}

const signalNumber = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };

function expectedExit(s) {
  switch (s.event) {
    case 'TERM':
      return 143;
    case 'INT':
      return 130;
    case 'KILL':
      return 128 + 9;
    case 'pipe':
      return 141;
    case 'crash': {
      const c = s.producers.find((p) => p.crash).crash;
      return c.signal ? 128 + signalNumber[c.signal] : c.code;
    }
  }
}

function procfileLine(p, dir, inj) {
  const node = JSON.stringify(process.execPath);
  const count = JSON.stringify(path.join(dir, `${p.name}.count`));
  if (p.kind === 'node') {
    const spec = {
      seed: p.seed,
      flood: p.flood,
      burst: p.burst,
      gap: p.gap,
      split: p.split,
      prompt: p.prompt,
      spawn: p.spawn,
      inherit: p.inherit,
      crash: p.crash,
      echo: p.name === 'P1' ? Object.keys(inj.expected) : undefined,
    };
    const args = p.name === 'P1' ? inj.args.map((k) => `"$${k}"`).join(' ') : '';
    return `${p.name}: ${node} ../producer.mjs ${p.name} ${p.marker} ${count} '${JSON.stringify(spec)}' ${args}`;
  }
  const crash = p.crash ? (p.crash.signal ? `kill ${p.crash.signal.slice(3)}` : `exit ${p.crash.code}`) : 'none -';
  const after = p.crash ? (p.crash.after / 1000).toFixed(3) : '0';
  return `${p.name}: sh ../producer.sh ${p.name} ${p.marker} ${count} ${p.delay} ${p.spawn} ${crash} ${after}`;
}

// ---------------------------------------------------------------------------------------------
// Processes of a run: anything whose command line holds the marker, or whose environment holds
// CHAOS_MARK=marker (tf, its watchdog, every instance and what they started).

function runProcesses(marker) {
  const found = new Map();
  const pattern = new RegExp(`${marker.replace('.', '\\.')}(?!\\d)`);
  let listing = '';
  try {
    listing = execFileSync('ps', ['-eo', 'pid=,ppid=,pgid=,stat=,args='], { encoding: 'utf8', maxBuffer: 1 << 24 });
  } catch {
    // ps failed: the /proc scan below still runs
  }
  for (const row of listing.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(row);
    if (m && pattern.test(m[5]) && !m[4].startsWith('Z') && Number(m[1]) !== process.pid) found.set(Number(m[1]), row.trim());
  }
  const needle = `CHAOS_MARK=${marker}\0`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid || found.has(Number(entry))) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (/\) Z /.test(stat)) continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
      found.set(Number(entry), `${entry} (environ) ${cmd}`);
    } catch {
      // gone, or another user's
    }
  }
  return found;
}

/** Any beginning of a producer's line (its name, then a prefix of ` S SEQ LEN X...`). */
const SHORT = /^(P\d)(?: (?:[oe](?: (?:\d{1,6}(?: (?:\d+(?: x*)?)?)?)?)?)?)?$/;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// One run

async function runOne(s, sessionDir, verbose) {
  const dir = path.join(sessionDir, `run-${s.marker}`);
  mkdirSync(dir);
  const inj = injection(s.marker);
  for (const p of s.producers) p.marker = s.marker;
  writeFileSync(path.join(dir, 'Procfile'), `${s.producers.map((p) => procfileLine(p, dir, inj)).join('\n')}\n`);
  writeFileSync(path.join(dir, '.env'), inj.dotenv);

  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('TF_') || ['NO_COLOR', 'FORCE_COLOR', 'PORT', 'PS'].includes(key)) continue;
    env[key] = value;
  }
  env.CHAOS_MARK = s.marker;
  env.CHAOS_SHELL_INJ = inj.shellValue;
  const tf = spawn(process.execPath, [TF_BIN, 'start', '-f', path.join(dir, 'Procfile'), '--no-timestamp', '--no-color', '-t', String(STOP_TIMEOUT_S)], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = { violations: [], lines: 0, torn: [], order: [], lost: [], orphans: [], pwned: [], values: 'unseen', exit: undefined };
  const seen = new Map(); // producer -> { next, firstSeen }
  const echoed = new Map();
  let pending = '';
  const received = []; // tf's stdout as read, saved as tf.out for a failed run
  let stderr = '';
  let reading = true;
  const started = new Set();
  let wakeStarted;
  const allStarted = new Promise((resolve) => (wakeStarted = resolve));
  let wakeFirstByte;
  const firstByte = new Promise((resolve) => (wakeFirstByte = resolve));

  const names = new Set(s.producers.map((p) => p.name));
  const check = (raw) => {
    result.lines++;
    const m = /^(\S+) *\| (.*)$/.exec(raw);
    if (!m) return result.torn.push(`unprefixed: ${clip(raw)}`);
    const [, who, text] = m;
    if (who === 'system') return;
    const type = who.replace(/\.1$/, '');
    if (!names.has(type) || who !== `${type}.1`) return result.torn.push(`unknown instance ${who}: ${clip(text)}`);
    const echo = /^(P\d) (env|arg) (\S+) (.*)$/.exec(text);
    if (echo) {
      if (echo[1] !== type) return result.torn.push(`${who} printed another producer's echo: ${clip(text)}`);
      echoed.set(`${echo[2]} ${echo[3]}`, echo[4]);
      return;
    }
    const state = seen.get(type) ?? { next: 0 };
    // A line after a short one means tf split a line the producer wrote whole.
    if (state.short !== undefined) {
      result.torn.push(`${who}: ${clip(state.short)} (followed by more lines)`);
      state.next++; // its rest is the torn piece: the lines after it are no gap
    }
    state.short = undefined;
    seen.set(type, state);
    const line = /^(P\d) ([oe]) (\d{6}) (\d+) (x*)$/.exec(text);
    if (!line || line[1] !== type || Number(line[4]) !== line[5].length) {
      // The beginning of a line may be the producer's last, cut by its death mid-write: judged at the end.
      const cut = SHORT.exec(text);
      if (cut && cut[1] === type && (line === null || Number(line[4]) > line[5].length)) state.short = text;
      else result.torn.push(`${who}: ${clip(text)}`);
      return;
    }
    const seq = Number(line[3]);
    if (seq !== state.next) result.order.push(`${who}: expected ${String(state.next).padStart(6, '0')}, got ${line[3]}`);
    state.next = seq + 1;
    seen.set(type, state);
    started.add(type);
    if (started.size === names.size) wakeStarted();
  };
  tf.stdout.on('data', (chunk) => {
    wakeFirstByte();
    if (!reading) return;
    received.push(chunk);
    pending += chunk.toString('utf8');
    const cut = pending.lastIndexOf('\n');
    if (cut < 0) return;
    for (const raw of pending.slice(0, cut).split('\n')) check(raw);
    pending = pending.slice(cut + 1);
  });
  tf.stdout.on('error', () => {});
  tf.stderr.on('data', (d) => (stderr += d.toString('utf8')));
  const exited = new Promise((resolve) => tf.on('exit', (code, signal) => resolve({ code, signal })));
  let exitInfo;
  void exited.then((e) => (exitInfo = e));

  // The event: after every producer has written (or at tf's first byte for an early one).
  const startLimit = sleep(10_000).then(() => 'timeout');
  let fired = 'none';
  if (s.event !== 'crash') {
    const gate = await Promise.race([s.early ? firstByte : allStarted, exited, startLimit]);
    if (exitInfo === undefined) {
      if (gate === 'timeout') result.violations.push(`not every producer wrote within 10 s (seen: ${[...started].join(',') || 'none'})`);
      if (!s.early) await sleep(s.delay);
      if (exitInfo === undefined) {
        fired = s.event;
        if (s.event === 'pipe') {
          reading = false;
          tf.stdout.destroy();
        } else tf.kill(`SIG${s.event}`);
      }
    }
    if (fired === 'none') result.violations.push(`tf exited before the event: ${describeExit(exitInfo)}`);
  }
  const ended = await Promise.race([exited, sleep(RUN_LIMIT_MS).then(() => undefined)]);
  if (ended === undefined) {
    result.violations.push(`tf still running ${RUN_LIMIT_MS / 1000} s after the event (hung); killed`);
    tf.kill('SIGKILL');
    await exited;
  }
  result.exit = exitInfo;
  // Let the rest of stdout arrive (tf's pipe closes when tf is gone).
  if (reading) await Promise.race([new Promise((resolve) => tf.stdout.on('close', resolve)), sleep(2000)]);
  reading = false;
  tf.stdout.destroy();
  tf.stderr.destroy();

  // Exit code, as a shell sees it: 128+n for a death by signal n.
  const want = expectedExit(s);
  const got = exitInfo.signal ? 128 + (signalNumber[exitInfo.signal] ?? 0) : exitInfo.code;
  result.exitForm = exitInfo.signal ? `signal ${exitInfo.signal}` : `code ${exitInfo.code}`;
  if (ended !== undefined && got !== want) result.wrongExit = `expected ${want}, got ${describeExit(exitInfo)}`;

  // Nothing may be left running: poll until the run's processes are gone or the grace ends.
  const deadline = Date.now() + ORPHAN_GRACE_MS;
  let left = runProcesses(s.marker);
  while (left.size > 0 && Date.now() < deadline) {
    await sleep(100);
    left = runProcesses(s.marker);
  }
  if (left.size > 0) {
    // Say whether they were only late (gone within 5 s more) or stuck, then clean up.
    const later = Date.now() + 5000;
    let still = left;
    while (still.size > 0 && Date.now() < later) {
      await sleep(250);
      still = runProcesses(s.marker);
    }
    for (const [pid, row] of left) result.orphans.push(`${row}${still.has(pid) ? ' (still there 5 s later; killed)' : ' (gone within 5 s more)'}`);
    for (const pid of still.keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  // A short last line is only allowed when the producer died writing it: its count file (written
  // after each complete line) must not include it.
  for (const p of s.producers) {
    const state = seen.get(p.name);
    if (state?.short === undefined) continue;
    const written = countOf(dir, p.name);
    if (written > state.next) result.torn.push(`${p.name}.1: ${clip(state.short)} (last line, but the producer wrote ${written} whole lines)`);
    else result.cutAtDeath = (result.cutAtDeath ?? 0) + 1;
  }

  // Lines lost at the end: at a graceful end (not after SIGKILL of tf or a closed pipe) every
  // line a producer wrote must have been printed.
  const graceful = s.event === 'TERM' || s.event === 'INT' || s.event === 'crash';
  if ((graceful && fired !== 'none') || s.event === 'crash') {
    for (const p of s.producers) {
      const written = countOf(dir, p.name);
      const printed = seen.get(p.name)?.next ?? 0;
      if (printed < written) result.lost.push(`${p.name}.1 wrote ${written} lines, ${printed} printed`);
    }
  }

  // Injection: no pwned file, and every echoed value verbatim.
  for (const name of readdirSync(tmpdir())) if (name.startsWith(inj.pwnedPrefix)) result.pwned.push(name);
  for (const name of readdirSync(dir)) if (name.startsWith('pwned')) result.pwned.push(path.join(dir, name));
  const wanted = [...Object.entries(inj.expected).map(([k, v]) => [`env ${k}`, v]), ...inj.args.map((k, i) => [`arg ${i}`, inj.expected[k]])];
  if (echoed.size > 0) {
    result.values = 'verbatim';
    result.mismatches = [];
    for (const [key, value] of wanted) {
      const raw = echoed.get(key);
      if (raw === undefined) {
        if (seen.has('P1')) result.mismatches.push(`${key} never printed`);
        else result.values = 'partial';
        continue;
      }
      const got = JSON.parse(raw);
      if (got !== value) result.mismatches.push(`${key}: expected ${JSON.stringify(value)}, got ${raw}`);
    }
    if (result.mismatches.length > 0) result.values = 'mismatch';
  }
  result.stderr = stderr;
  if (
    verbose ||
    result.wrongExit ||
    result.violations.length ||
    result.torn.length ||
    result.order.length ||
    result.lost.length ||
    result.orphans.length ||
    result.pwned.length ||
    result.values === 'mismatch'
  ) {
    result.failed = !(verbose && isClean(result));
  }
  if (!result.failed) rmSync(dir, { recursive: true, force: true });
  else writeFileSync(path.join(dir, 'tf.out'), Buffer.concat(received));
  result.dir = dir;
  return result;
}

function countOf(dir, name) {
  try {
    return Number(readFileSync(path.join(dir, `${name}.count`), 'utf8').trim() || 0);
  } catch {
    return 0; // never started
  }
}

const isClean = (r) =>
  !r.wrongExit &&
  !r.violations.length &&
  !r.torn.length &&
  !r.order.length &&
  !r.lost.length &&
  !r.orphans.length &&
  !r.pwned.length &&
  r.values !== 'mismatch';
const describeExit = (e) => (e === undefined ? 'still running' : e.signal ? `signal ${e.signal}` : `code ${e.code}`);
const clip = (text) => (text.length > 160 ? `${text.slice(0, 160)}... (${text.length} chars)` : text);

function describeScenario(s) {
  const ps = s.producers.map((p) => {
    const bits = [p.kind];
    if (p.kind === 'node') {
      if (p.flood) bits.push('flood');
      else bits.push(`burst<=${p.burst} gap<${p.gap}ms`);
      if (p.split) bits.push('split');
      if (p.prompt !== undefined) bits.push(`prompt@${p.prompt}`);
    } else bits.push(`delay ${p.delay}`);
    if (p.spawn !== 'none') bits.push(`${p.spawn}${p.inherit && p.kind === 'node' && p.spawn !== 'daemon' ? '+stdout' : ''}`);
    if (p.crash) bits.push(p.crash.signal ? `dies ${p.crash.signal} at ${p.crash.after}ms` : `exits ${p.crash.code} at ${p.crash.after}ms`);
    return `${p.name}(${bits.join(' ')})`;
  });
  const when = s.event === 'crash' ? '' : s.early ? ' early' : ` +${s.delay}ms`;
  return `${s.event}${when}; ${ps.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(path.resolve(here, '../../dist/tf.cjs'))) {
    process.stderr.write('chaos: dist/tf.cjs is missing; run "npm run build" first\n');
    process.exit(2);
  }
  const sessionDir = path.join(tmpdir(), `tf-chaos-${process.pid}`);
  mkdirSync(sessionDir, { recursive: true });
  writeFileSync(path.join(sessionDir, 'producer.mjs'), NODE_PRODUCER);
  writeFileSync(path.join(sessionDir, 'producer.sh'), SHELL_PRODUCER);
  let stopping = false;
  process.on('SIGINT', () => {
    stopping = true;
  });

  const totals = {
    events: Object.fromEntries(EVENTS.map((e) => [e, 0])),
    early: 0,
    lines: 0,
    streams: 0,
    wrongExit: 0,
    exitForms: new Map(),
    bySignal: [],
    cutAtDeath: 0,
    torn: 0,
    order: 0,
    lost: 0,
    lostChecked: 0,
    orphans: 0,
    orphanRuns: 0,
    pwned: 0,
    verbatim: 0,
    mismatch: 0,
    other: 0,
    failures: [],
  };
  const began = Date.now();
  let done = 0;
  for (let i = 0; i < options.runs && !stopping; i++) {
    const seed = options.seed + i;
    const s = scenario(seed, i);
    const r = await runOne(s, sessionDir, options.verbose);
    done++;
    totals.events[s.event]++;
    if (s.early) totals.early++;
    totals.lines += r.lines;
    totals.streams += s.producers.length;
    if (r.wrongExit) totals.wrongExit++;
    const formKey = `${s.event}: ${r.exitForm}`;
    totals.exitForms.set(formKey, (totals.exitForms.get(formKey) ?? 0) + 1);
    if (r.exit?.signal && s.event !== 'KILL' && !r.wrongExit) totals.bySignal.push(seed);
    totals.cutAtDeath += r.cutAtDeath ?? 0;
    totals.torn += r.torn.length;
    totals.order += r.order.length;
    if (s.event === 'TERM' || s.event === 'INT' || s.event === 'crash') totals.lostChecked++;
    totals.lost += r.lost.length;
    totals.orphans += r.orphans.length;
    if (r.orphans.length) totals.orphanRuns++;
    totals.pwned += r.pwned.length;
    if (r.values === 'verbatim') totals.verbatim++;
    if (r.values === 'mismatch') totals.mismatch++;
    totals.other += r.violations.length;
    const mark = r.failed && !isClean(r) ? 'FAIL' : 'ok';
    if (options.verbose || mark === 'FAIL') {
      const lines = [`run ${i} seed ${seed} ${mark}: ${describeScenario(s)}; exit ${describeExit(r.exit)}`];
      if (r.wrongExit) lines.push(`  wrong exit code: ${r.wrongExit}`);
      for (const v of r.violations) lines.push(`  ${v}`);
      for (const t of r.torn.slice(0, 5)) lines.push(`  torn: ${t}`);
      for (const o of r.order.slice(0, 5)) lines.push(`  order: ${o}`);
      for (const l of r.lost) lines.push(`  lost: ${l}`);
      for (const o of r.orphans) lines.push(`  orphan: ${o}`);
      for (const p of r.pwned) lines.push(`  pwned: ${p}`);
      for (const m of r.mismatches ?? []) lines.push(`  value: ${m}`);
      if (mark === 'FAIL') {
        const err = r.stderr.trim();
        if (err) lines.push(`  tf stderr: ${clip(err.replaceAll('\n', ' / '))}`);
        lines.push(`  kept: ${r.dir} (tf.out: tf's stdout as read); replay: node test/tools/chaos.mjs --seed ${seed} --runs 1`);
        totals.failures.push(seed);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    } else if (done % 20 === 0) {
      process.stdout.write(`... ${done} runs, ${totals.failures.length} failing, ${Math.round((Date.now() - began) / 1000)} s\n`);
    }
  }
  // Cleanup of the session: only run directories of clean runs were removed.
  if (totals.failures.length === 0) rmSync(sessionDir, { recursive: true, force: true });

  const secs = Math.round((Date.now() - began) / 1000);
  const ev = EVENTS.map((e) => `${e} ${totals.events[e]}`).join(', ');
  const forms = [...totals.exitForms]
    .sort()
    .map(([k, n]) => `${k} x${n}`)
    .join('; ');
  const out = [
    `chaos: ${done} runs in ${secs} s, seeds ${options.seed}..${options.seed + done - 1}: ${ev} (${totals.early} of them early)`,
    `wrong exit codes: ${totals.wrongExit} of ${done} runs (${forms})`,
    ...(totals.bySignal.length ? [`                  tf died of the signal itself (a shell still sees 128+n) in seeds ${totals.bySignal.join(' ')}`] : []),
    `torn lines:       ${totals.torn} of ${totals.lines} lines read (${totals.cutAtDeath} last lines cut by their producer's death mid-write, allowed)`,
    `gaps/reordering:  ${totals.order} over ${totals.streams} producers (stdout+stderr merged order)`,
    `lost at the end:  ${totals.lost} producers (${totals.lostChecked} TERM/INT/crash runs checked)`,
    `orphans:          ${totals.orphans} processes in ${totals.orphanRuns} runs (after ${ORPHAN_GRACE_MS} ms)`,
    `injection:        ${totals.pwned} pwned files; values verbatim in ${totals.verbatim} runs, ${totals.mismatch} runs with a changed value`,
    `other:            ${totals.other} (tf exited before its event, producers that never wrote, hangs)`,
  ];
  if (totals.failures.length) out.push(`FAILED runs (seeds): ${totals.failures.join(' ')}; kept in ${sessionDir}`);
  process.stdout.write(`${out.join('\n')}\n`);
  process.exit(totals.failures.length > 0 ? 1 : 0);
}

await main();
