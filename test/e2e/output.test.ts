import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { prettyFactory } from 'pino-pretty';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, TF_BIN, cleanEnv, expectAllDead, fixture, pidsIn, plainLines, runTf, tempApps, until } from '../helpers/tf.js';

const app = tempApps();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});
const HAS_PYTHON = spawnSync('python3', ['-c', '0']).status === 0;
if (!HAS_PYTHON) console.log('output: skipping the stopped-writer test: no python3 here');

const PAYLOAD = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2);

describe('tf start: output', () => {
  it('prefixes every line with time, padded name and "|", and shows tf notices as system', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nlongername: ${fixture('ready.mjs')}\n` });
    const tf = runTf(['start', '--no-color'], { cwd: dir });
    await tf.waitFor(/(READY[\s\S]*){2}/);
    tf.signal('SIGTERM');
    await tf.exited;
    const lines = tf
      .output()
      .split('\n')
      .filter((l) => l !== '');
    expect(
      lines.every((l) => /^\d\d:\d\d:\d\d (web\.1 {7}|longername\.1|system {6}) \| /.test(l)),
      lines.join('\n'),
    ).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d system +\| web\.1 started \(pid \d+, port 5000\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/ longername\.1 \| READY longername\.1 5100 pid=\d+$/));
    expect(tf.output()).not.toContain('\x1b');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('lets a process write to /dev/stdout and /dev/stderr by name, as servers configured to log there do', async () => {
    // A socket (Node's own child pipes) cannot be opened through /dev/stdout (ENXIO); FIFOs can.
    const dir = app({ Procfile: 'web: echo to-stdout > /dev/stdout && echo to-stderr > /dev/stderr && echo READY; exec sleep 30\n' });
    const tf = runTf(['start', '--no-color'], { cwd: dir });
    await tf.waitFor(/READY/);
    tf.signal('SIGTERM');
    await tf.exited;
    expect(tf.output()).toMatch(/web\.1 +\| to-stdout\n/);
    expect(tf.output()).toMatch(/web\.1 +\| to-stderr\n/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('says so, once, when FIFOs cannot be made (no mkfifo on PATH), and still shows all output', async () => {
    // PATH has no mkfifo, and no sleep either: the children name theirs in full.
    const dir = app({ Procfile: 'a: echo READY-a; exec /bin/sleep 30\nb: echo READY-b; exec /bin/sleep 30\n' });
    const tf = runTf(['start', '--no-color'], { cwd: dir, env: { PATH: path.join(dir, 'empty') } });
    await tf.waitFor(/READY-a[\s\S]*READY-b|READY-b[\s\S]*READY-a/);
    tf.signal('SIGTERM');
    expect((await tf.exited).code, tf.output()).toBe(143);
    const warnings = tf
      .output()
      .split('\n')
      .filter((l) => /system +\| .*no FIFOs/.test(l));
    expect(warnings, tf.output()).toHaveLength(1);
    expect(warnings[0]).toMatch(/\(mkfifo is not on PATH\): using socket pairs.*\/dev\/stdout/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('keeps every line of several chatty processes, once, in order and untorn', async () => {
    const count = 20_000;
    const ids = ['a', 'b', 'c', 'd'];
    const dir = app({ Procfile: ids.map((id) => `${id}: ${fixture('chatter.mjs', id, String(count))}`).join('\n') });
    const tf = runTf(['start', '--no-timestamp', '--no-color'], { cwd: dir });
    await tf.waitFor(/(DONE [abcd]\n[\s\S]*){4}/, 30_000);
    tf.signal('SIGTERM');
    await tf.exited;
    const next: Record<string, number> = { a: 0, b: 0, c: 0, d: 0 };
    for (const line of plainLines(tf.output())) {
      const m = /^([abcd])\.1 +\| (.*)$/.exec(line);
      if (m === null) {
        expect(line, 'only system lines besides the chatter').toMatch(/^system +\| /);
        continue;
      }
      const [, name, text] = m as unknown as [string, string, string];
      if (text.startsWith('DONE') || text === 'got TERM') continue;
      expect(text, `line of ${name} torn or out of order`).toBe(`${name} ${next[name]} ${PAYLOAD}`);
      next[name] = (next[name] as number) + 1;
    }
    expect(next).toEqual({ a: count, b: count, c: count, d: count });
    await expectAllDead(pidsIn(tf.output()));
  }, 60_000);

  it('applies backpressure: with a stalled reader the producer blocks instead of tf buffering', async () => {
    const count = 20_000; // 20 MB
    const dir = app({ Procfile: `flood: ${fixture('flood.mjs', String(count), 'progress.txt')}\n` });
    const tf = runTf(['start', '--no-timestamp', '--no-color'], { cwd: dir });
    tf.child.stdout?.pause();
    // The producer stalls when every pipe between it and us is full: it then waits for 'drain'
    // in its event loop, which shows from outside only as its progress file no longer changing.
    // A stall is believed only after many unchanged readings in a row, so a moment's full pipe
    // while tf is still reading is not taken for one.
    const progressFile = path.join(dir, 'progress.txt');
    const progress = (): number => (existsSync(progressFile) ? Number(readFileSync(progressFile, 'utf8') || 0) : -1);
    let last = -1;
    let unchanged = 0;
    while (unchanged < 10) {
      await new Promise((r) => setTimeout(r, 50));
      const now = progress();
      unchanged = now > 0 && now === last ? unchanged + 1 : 0;
      last = now;
    }
    expect(last, 'the producer started').toBeGreaterThan(0);
    expect(last, 'lines written while nobody reads tf: pipe buffers only').toBeLessThan(count / 4);
    tf.child.stdout?.resume();
    await tf.waitFor(/flood\.1 +\| DONE\n/, 30_000);
    tf.signal('SIGTERM');
    await tf.exited;
    const lines = plainLines(tf.output()).filter((l) => /^flood\.1 +\| \d{8} y{1000}$/.test(l));
    expect(lines.length).toBe(count);
    await expectAllDead(pidsIn(tf.output()));
  }, 60_000);

  /**
   * tf start of a python child (term-count.py) blocked on its full pipe, tf's stdout unread, then
   * SIGTERM to tf: resolves once the child has stopped, with how many lines it had written.
   */
  async function stoppedBehindSlowReader() {
    const dir = app({ Procfile: `w: python3 ${path.join(FIXTURES, 'term-count.py')} written.txt pid.txt\n` });
    const socket = path.join(dir, 'tf.sock');
    const tf = spawn(process.execPath, [TF_BIN, 'start', '--no-timestamp', '--no-color', '--socket', socket], {
      cwd: dir,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => tf.once('exit', (code) => resolve(code)));
    let child: number | undefined;
    cleanups.push(() => {
      for (const pid of [tf.pid, child]) {
        try {
          if (pid !== undefined) process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    // Nobody reads tf's stdout for now: tf stops reading the child, whose pipe fills.
    tf.stdout.pause();
    const pidFile = path.join(dir, 'pid.txt');
    await until(() => existsSync(pidFile), 'the child to start');
    child = Number(readFileSync(pidFile, 'utf8'));
    // The kernel's name for where a writer to a full pipe sleeps: pipe_write (pipe_wait before Linux 5.6).
    await until(() => /pipe_(write|wait)/.test(readFileSync(`/proc/${child}/wchan`, 'utf8')), 'the child to block on its full pipe');
    tf.kill('SIGTERM');
    const count = path.join(dir, 'written.txt');
    await until(() => existsSync(count), 'the child to stop');
    return { tf, exited, child, socket, written: Number(readFileSync(count, 'utf8')) };
  }

  it.runIf(HAS_PYTHON && existsSync('/proc/self/wchan'))(
    'shows every line a stopped process wrote, however long the reader of tf took to catch up',
    async () => {
      const { tf, exited, child, written } = await stoppedBehindSlowReader();
      // The reader stays away for a while: this wait is the scenario (a slow reader), not a
      // synchronisation. tf must wait for it rather than exit with the child's last lines unread.
      const early = await Promise.race([exited.then(() => 'exited'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 1500))]);
      expect(early).toBe('waiting');
      const chunks: Buffer[] = [];
      tf.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
      tf.stdout.resume();
      expect(await exited).toBe(143);
      const lines = plainLines(Buffer.concat(chunks).toString()).filter((l) => l.startsWith('w.1 '));
      // The child counts a line once os.write returned: a TERM right after a write may leave it one short.
      expect(lines.length).toBeGreaterThanOrEqual(written);
      expect(lines.length).toBeLessThanOrEqual(written + 1);
      expect(lines.filter((l, i) => !new RegExp(`^w\\.1 +\\| line ${i + 1}$`).test(l)).slice(0, 3)).toEqual([]);
      await expectAllDead([child]);
    },
    30_000,
  );

  it.runIf(HAS_PYTHON && existsSync('/proc/self/wchan'))(
    'a reader that never reads does not make tf unstoppable: more signals end it',
    async () => {
      const { tf, exited, child, socket } = await stoppedBehindSlowReader();
      let gone = false;
      void exited.then(() => (gone = true));
      // Each further signal first gives up the unread output, then ends tf as it would any program.
      await until(() => {
        if (!gone) tf.kill('SIGTERM');
        return gone;
      }, 'tf to end on further signals');
      await expectAllDead([child]);
      // Killed by a signal while stdout held it up, tf leaves its socket to the watchdog, which removes it.
      await until(() => !existsSync(socket), 'the control socket to be removed');
    },
    30_000,
  );

  it('shows a partial line after a short pause, and the last unterminated line at exit', async () => {
    const dir = app({ Procfile: `prompt: ${fixture('partial.mjs')}\n` });
    const tf = runTf(['start', '--no-timestamp', '--no-color'], { cwd: dir });
    await tf.waitFor(/prompt\.1 +\| prompt> \n/, 2000);
    tf.signal('SIGTERM');
    await tf.exited;
    expect(plainLines(tf.output())).toContain('prompt.1 + bye');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('keeps blank lines, handles \\r\\n, and passes invalid UTF-8 through unchanged', async () => {
    const script = `process.stdout.write(Buffer.from([0x61, 0x0a, 0x0a, 0x62, 0x0d, 0x0a, 0xff, 0xfe, 0x63, 0x0a])); setInterval(() => {}, 1e9)`;
    const dir = app({ Procfile: `bytes: ${JSON.stringify(process.execPath)} -e "${script}"\n` });
    const tf = runTf(['start', '--no-timestamp', '--no-color'], { cwd: dir });
    await tf.waitFor(/c\n/);
    tf.signal('SIGTERM');
    await tf.exited;
    const raw = tf.outputBytes();
    expect(
      raw.includes(Buffer.from([0x0a, 0x62, 0x79, 0x74, 0x65, 0x73, 0x2e, 0x31, 0x20, 0x7c, 0x20, 0xff, 0xfe, 0x63, 0x0a])),
      'the bytes 0xff 0xfe unchanged',
    ).toBe(true);
    expect(plainLines(tf.output()).filter((l) => l.startsWith('bytes.1'))).toEqual(['bytes.1 | a', 'bytes.1 | ', 'bytes.1 | b', 'bytes.1 | \ufffd\ufffdc']);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('colours prefixes with --color, and resets a child colour before the next prefix', async () => {
    const dir = app({ Procfile: `web: ${fixture('colors.mjs')}\n` });
    const tf = runTf(['start', '--color', '--no-timestamp'], { cwd: dir });
    await tf.waitFor(/plain after red/);
    tf.signal('SIGTERM');
    await tf.exited;
    const out = tf.output();
    expect(out).toContain('\x1b[36mweb.1  | \x1b[0m\x1b[31mred without reset\x1b[0m\n');
    expect(out).toContain('\x1b[36mweb.1  | \x1b[0mplain after red\n');
    expect(out).toContain('\x1b[1msystem | \x1b[0m');
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it("adds no escape sequence of its own with --no-color, not even a reset after a child's colour", async () => {
    const dir = app({ Procfile: `web: ${fixture('colors.mjs')}\n` });
    const tf = runTf(['start', '--no-color', '--no-timestamp'], { cwd: dir });
    await tf.waitFor(/plain after red/);
    tf.signal('SIGTERM');
    await tf.exited;
    const out = tf.output();
    expect(out).toContain('web.1  | \x1b[31mred without reset\nweb.1  | plain after red\n');
    expect(out.replaceAll('\x1b[31m', '')).not.toContain('\x1b');
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it('shows a progress bar (lone \\r) in a pipe as one line, its last state', async () => {
    const dir = app({ Procfile: `prog: ${fixture('progress.mjs', '5')}\n` });
    const tf = runTf(['start', '--no-color', '--no-timestamp'], { cwd: dir });
    await tf.waitFor(/prog\.1 \| AFTER\n/);
    tf.signal('SIGTERM');
    await tf.exited;
    expect(tf.output()).not.toContain('\r');
    const lines = plainLines(tf.output()).filter((l) => l.startsWith('prog.1'));
    // `label 0%` came before any \r: it may have been shown after a pause, like a prompt.
    expect(lines.filter((l) => l !== 'prog.1 | label 0%')).toEqual(['prog.1 | label done', 'prog.1 | AFTER']);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it.skipIf(process.platform !== 'linux' || !existsSync('/usr/bin/script')).each([
    ['its end in one write', 'together'],
    ['its newline written alone after a pause', 'apart'],
  ])(
    'redraws a progress bar in place on a terminal, keeping the prefix, with %s',
    async (_name, mode) => {
      const dir = app({ Procfile: `prog: ${fixture('progress.mjs', '5', mode)}\n` });
      const term = spawn(
        '/usr/bin/script',
        ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(TF_BIN)} start --no-color --no-timestamp`, '/dev/null'],
        {
          cwd: dir,
          env: cleanEnv({ TERM: 'xterm' }),
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for AFTER:\n${JSON.stringify(out)}`)), 10_000);
          term.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (/prog\.1 \| AFTER/.test(out)) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        term.stdin.write('\x03');
        await new Promise((r) => term.on('close', r));
        // The terminal turns \n into \r\n; every other \r is tf's redraw, followed by the prefix.
        const redraws = out.split('\r\n').join('\n').split('\r').slice(1);
        expect(redraws.length, JSON.stringify(out)).toBeGreaterThan(1);
        for (const redraw of redraws) expect(redraw, JSON.stringify(out)).toMatch(/^prog\.1 \| label (\d+%|done)/);
        expect(out).toMatch(/\rprog\.1 \| label done\r\nprog\.1 \| AFTER\r\n/);
        await expectAllDead(pidsIn(out));
      } finally {
        term.kill('SIGKILL');
      }
    },
    20_000,
  );

  it('prefixes a flood under node --jitless (no WebAssembly) with the JavaScript prefixer, every line in order', async () => {
    const count = 200_000;
    const dir = app({ Procfile: `seq: seq 1 ${count}\n` });
    const tf = runTf(['start', '--no-color', '--no-timestamp'], { cwd: dir, env: { NODE_OPTIONS: '--jitless' } });
    const exit = await tf.exited;
    expect(exit.code, tf.stderr()).toBe(0);
    const lines = plainLines(tf.output()).filter((l) => l.startsWith('seq.1'));
    expect(lines.length).toBe(count);
    lines.forEach((line, i) => {
      if (line !== `seq.1  | ${i + 1}`) expect(line, `line ${i + 1}`).toBe(`seq.1  | ${i + 1}`);
    });
    await expectAllDead(pidsIn(tf.output()));
  }, 60_000);

  it.each([
    ['--no-color', [] as string[], {}],
    ['NO_COLOR', [], { NO_COLOR: '1' }],
    ['a pipe', [], {}],
  ])(
    'has no colour with %s',
    async (_name, flags, env) => {
      const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
      const tf = runTf(['start', ...flags], { cwd: dir, env });
      await tf.waitFor(/READY/);
      tf.signal('SIGTERM');
      await tf.exited;
      expect(tf.output()).not.toContain('\x1b');
      await expectAllDead(pidsIn(tf.output()));
    },
    20_000,
  );

  it.skipIf(process.platform !== 'linux' || !existsSync('/usr/bin/script'))(
    'in a terminal: colours on, FORCE_COLOR=1 for children, and Ctrl-C stops everything with 130',
    async () => {
      const dir = app({ Procfile: `web: ${JSON.stringify(process.execPath)} -e "console.log('FC=' + process.env.FORCE_COLOR); setInterval(() => {}, 1e9)"\n` });
      // util-linux script(1) gives tf a pseudo-terminal; what we write to it is typed there.
      const term = spawn('/usr/bin/script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(TF_BIN)} start`, '/dev/null'], {
        cwd: dir,
        env: cleanEnv({ TERM: 'xterm' }),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      const seen = (re: RegExp): Promise<void> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}:\n${out}`)), 10_000);
          const check = (): void => {
            if (re.test(out)) {
              clearTimeout(timer);
              resolve();
            }
          };
          term.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            check();
          });
          check();
        });
      try {
        await seen(/FC=1/);
        expect(out).toMatch(/\x1b\[36m\d\d:\d\d:\d\d web\.1 {2}\| \x1b\[0mFC=1/);
        term.stdin.write('\x03');
        const code = await new Promise((r) => term.on('close', r));
        expect(out).toContain('stopping all processes (received SIGINT)');
        expect(code).toBe(130);
        await expectAllDead(pidsIn(out));
      } finally {
        term.kill('SIGKILL');
      }
    },
    20_000,
  );

  it('turns colour on with FORCE_COLOR', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const tf = runTf(['start'], { cwd: dir, env: { FORCE_COLOR: '1' } });
    await tf.waitFor(/READY/);
    tf.signal('SIGTERM');
    await tf.exited;
    expect(tf.output()).toContain('\x1b[36m');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('writes one pino JSON object per line with --json', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\ncrash: ${fixture('exit-with.mjs', '4', '100')}\n` });
    const tf = runTf(['start', '--json'], { cwd: dir });
    const exit = await tf.exited;
    expect(exit.code).toBe(4);
    const records = tf
      .output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records) {
      expect(typeof r.time).toBe('number');
      expect(typeof r.level).toBe('number');
      expect(typeof r.msg).toBe('string');
      expect(['output', 'system']).toContain(r.stream);
    }
    expect(records).toContainEqual(
      expect.objectContaining({ instance: 'web.1', type: 'web', stream: 'output', msg: expect.stringMatching(/^READY web\.1 5000/) }),
    );
    expect(records).toContainEqual(expect.objectContaining({ instance: 'web.1', stream: 'system', event: 'spawned', pid: expect.any(Number), port: 5000 }));
    expect(records).toContainEqual(expect.objectContaining({ instance: 'crash.1', stream: 'system', event: 'exited', exitCode: 4, signal: null, level: 40 }));
    expect(records).toContainEqual(expect.objectContaining({ instance: 'web.1', event: 'exited', exitCode: 0 }));
    // What `tf start --json | pino-pretty` shows: every line is understood, level and message included.
    const pretty = prettyFactory({ colorize: false });
    for (const line of tf.output().trim().split('\n')) expect(pretty(line)).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN)( \(\d+\))?: \S/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);
});
