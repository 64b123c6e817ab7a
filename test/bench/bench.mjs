// `npm run bench [-- --quick] [-- --runs N] [-- --only NAME,...] [-- --tools NAME,...] [-- --compare NAME=DIR] [-- --keep-ca-certs]`: tf against a raw pipe and its
// peers, interleaved run by run, printed as medians, with ratios paired run by run. Nothing here asserts a time.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { keepCaCerts, launch, median, now } from './measure.mjs';
import * as C from './control.mjs';
import * as S from './scenarios.mjs';
import { TOOLS, tfAt } from './tools.mjs';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    runs: { type: 'string' },
    only: { type: 'string' },
    tools: { type: 'string' },
    compare: { type: 'string', multiple: true },
    'keep-ca-certs': { type: 'boolean' },
  },
});
const quick = values.quick === true;
const runs = Number(values.runs ?? (quick ? 1 : 5));
// --quick is for a look while developing (about a minute); report numbers from a full run.
if (quick) S.setPatience(2000);
keepCaCerts(values['keep-ca-certs'] === true);

const SCENARIOS = {
  throughput: quick ? S.throughput(4, 50_000) : S.throughput(4, 250_000),
  'throughput-16': quick ? S.throughput(16, 10_000) : S.throughput(16, 50_000),
  'startup-1': S.startup(1),
  'startup-10': S.startup(10),
  'startup-50': S.startup(50),
  stop: S.gracefulStop(10, 'last-exit'),
  'stop-from-signal': S.gracefulStop(10, 'signal'),
  escalation: S.escalation(quick ? 0.5 : 2),
  crash: S.crash(),
  'slow-reader': quick ? S.slowReader(10, 20, 5_000) : S.slowReader(200, 20, 30_000),
  idle: quick ? S.idle(50, 1) : S.idle(50, 10),
  killed: S.killed(5),
  // Live control, tf alone: each against its own floor, in the same run.
  'control-ps': C.psRoundTrip(),
  'control-restart': C.crashRestart(),
  'control-scale': C.scaleUp(),
  'control-idle': quick ? C.idleWithFollower(50, 1) : C.idleWithFollower(50, 10),
};

const BASELINE = {
  name: 'raw pipe',
  baseline: true,
  available: () => true,
  argv: (_dir, commands) => ['/bin/sh', ['-c', `( ${commands.map((c) => `( ${c.cmd} ) &`).join(' ')} wait ) | cat`]],
};

/** All producers through one pipe and one `cat` into one file: a supervisor's shape, without a supervisor. */
const ONE_READER = { name: 'raw pipe, one reader', baseline: true, oneReader: true, reference: true, available: () => true };

/** The Node floor for throughput: copies the producers' pipes to a file, nothing else. */
const NODE_PUMP = {
  name: 'node pump (floor)',
  reference: true,
  available: () => true,
  argv: (_dir, commands) => [process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), 'pump.mjs'), ...commands.map((c) => c.cmd)]],
};

/** The same through FIFOs read into one buffer, as tf reads: the floor for tf's design. */
const FIFO_PUMP = {
  name: 'node FIFO pump (floor)',
  reference: true,
  available: () => true,
  argv: (_dir, commands) => [process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), 'fifo-pump.mjs'), ...commands.map((c) => c.cmd)]],
};

/** `node -e 0` in the same run: the floor for a Node supervisor's start-up. */
async function nodeFloor() {
  const run = launch([process.execPath, ['-e', '0']], {});
  const exit = await run.exited;
  return exit.at - run.started;
}

const wanted = (list, name) => list === undefined || list.split(',').includes(name);
// Another build of tf (a checkout of main, say) in the same interleaved runs: ratios between
// builds mean something on this noisy machine, times from separate runs do not.
const compared = (values.compare ?? []).map((spec) => {
  const [name, dir] = spec.includes('=') ? [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)] : [`tf@${path.basename(spec)}`, spec];
  return tfAt(name, path.resolve(dir));
});
// --quick leaves out the peers found on PATH (foreman alone adds a minute); --tools names them back.
const skippedInQuick = (t) => quick && values.tools === undefined && t.fromPath === true;
const tools = [...TOOLS.filter((t) => t.available() && wanted(values.tools, t.name) && !skippedInQuick(t)), ...compared];
const fmt = (value, unit) =>
  value === undefined
    ? '–'
    : unit === 'ms'
      ? `${value.toFixed(value < 100 ? 1 : 0)} ms`
      : unit === 'MB'
        ? `${value.toFixed(1)} MB`
        : unit === 's'
          ? `${value.toFixed(3)} s`
          : String(value);

/** One verdict per run, shown once when all agree, else how many runs were clean and the worst. */
function summarise(verdicts) {
  if (verdicts.length === 0) return '';
  const distinct = [...new Set(verdicts)];
  if (distinct.length === 1) return distinct[0];
  const clean = verdicts.filter((v) => v === 'ok' || v.endsWith('; ok')).length;
  const worst = [...distinct].sort((a, b) => b.length - a.length)[0];
  return `ok in ${clean}/${verdicts.length} runs; worst: ${worst}`;
}

/**
 * The median over runs of `op(run r of row, run r of base)`, runs where either gave nothing (or
 * `op` gives undefined) left out. Run r of a tool is set against run r of the base, which ran
 * seconds before it: this machine's load drifts over minutes, by more than the margins the
 * targets leave, and a pair shares its spell; a ratio of medians from different runs does not.
 */
function paired(row, base, op) {
  const values = row.byRun.flatMap((v, r) => {
    const value = v === undefined || base.byRun[r] === undefined ? undefined : op(v, base.byRun[r]);
    return value === undefined ? [] : [value];
  });
  return values.length === 0 ? undefined : median(values);
}
const pairedRatio = (row, base) => paired(row, base, (v, b) => (b === 0 ? undefined : v / b));
/** What a tool adds to the floor (start-up against `node -e 0`). */
const pairedExcess = (row, base) => paired(row, base, (v, b) => v - b);

function table(scenario, rows, reference) {
  const tf = rows.find((r) => r.name === 'tf');
  const overFloor = scenario.floor === true;
  const header = ['tool', 'median (min–max)', `× ${reference?.name ?? 'baseline'}${overFloor ? ' (+ ms)' : ''}`, '× tf', 'peak RSS', 'correctness'];
  const body = rows.map((r) => {
    const ratio = (base) => {
      const value = base === undefined ? undefined : pairedRatio(r, base);
      return value === undefined ? '–' : value.toFixed(2);
    };
    const excess = overFloor && reference !== undefined ? pairedExcess(r, reference) : undefined;
    return [
      r.name,
      r.values.length === 0
        ? '–'
        : `${fmt(r.median, scenario.unit)} (${fmt(Math.min(...r.values), scenario.unit)}–${fmt(Math.max(...r.values), scenario.unit)})`,
      reference === undefined || r === reference
        ? ''
        : `${ratio(reference)}${excess === undefined ? '' : ` (${excess >= 0 ? '+' : ''}${excess.toFixed(1)} ms)`}`,
      r.name === 'tf' ? '' : ratio(tf),
      r.rss.length === 0 ? '–' : `${median(r.rss).toFixed(1)} MB`,
      r.reference ? `reference, no line handling: ${summarise(r.ok)}` : summarise(r.ok),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'tf-bench-'));
const started = now();
console.log(
  `# tf benchmark (${quick ? 'quick' : 'full'}): ${runs} interleaved runs; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}`,
);
const missing = TOOLS.filter((t) => !t.available()).map((t) => t.name);
const leftOut = TOOLS.filter((t) => t.available() && skippedInQuick(t)).map((t) => t.name);
console.log(
  `tools: ${tools.map((t) => t.name).join(', ')}${missing.length > 0 ? ` (not found: ${missing.join(', ')})` : ''}${leftOut.length > 0 ? ` (on PATH, left out of --quick: ${leftOut.join(', ')}; --tools adds them)` : ''}\n`,
);
if (process.env.NODE_EXTRA_CA_CERTS) {
  const kept = values['keep-ca-certs'] === true;
  console.log(
    `NODE_EXTRA_CA_CERTS is set here: ${kept ? 'kept (--keep-ca-certs), so every Node process parses it at start-up' : 'left out of every run (all tools alike; --keep-ca-certs keeps it)'}.\n`,
  );
}
let counter = 0;
try {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (!wanted(values.only, name)) continue;
    // A control scenario compares variants of tf with their floor (its first variant) instead of tools.
    const participants = scenario.variants ?? [
      ...(scenario.baseline ? [BASELINE] : []),
      ...(scenario.pumpFloor ? [ONE_READER, NODE_PUMP, FIFO_PUMP] : []),
      ...tools,
    ];
    // byRun[r] is run r's value (a hole where a run gave none): ratios pair runs by index.
    const rows = new Map(participants.map((t) => [t.name, { name: t.name, reference: t.reference === true, values: [], byRun: [], rss: [], ok: [] }]));
    if (scenario.floor) rows.set('node -e 0', { name: 'node -e 0', values: [], byRun: [], rss: [], ok: [] });
    // Start-up runs are short and the machine's noise is of their size: they get three times the runs.
    const scenarioRuns = scenario.floor ? runs * 3 : runs;
    for (let run = 0; run < scenarioRuns; run++) {
      if (scenario.floor) {
        const floor = rows.get('node -e 0');
        floor.values.push((floor.byRun[run] = await nodeFloor()));
      }
      for (const tool of participants) {
        const marker = `1000.${process.pid}${++counter}`;
        const result = scenario.variants === undefined ? await scenario.run(tool, { dir, marker }) : await tool.run({ dir, marker });
        const row = rows.get(tool.name);
        if (result.value !== undefined) row.values.push((row.byRun[run] = result.value));
        if (result.rss !== undefined) row.rss.push(result.rss);
        row.ok.push(result.ok);
      }
    }
    const list = [...rows.values()].map((r) => ({ ...r, median: r.values.length ? median(r.values) : undefined }));
    if (scenario.floor) list.unshift(list.pop());
    const reference = scenario.variants === undefined ? list.find((r) => r.name === 'raw pipe' || r.name === 'node -e 0') : list[0];
    console.log(`## ${scenario.title}\n\n${table(scenario, list, reference)}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`(${((now() - started) / 1000).toFixed(0)} s)`);
