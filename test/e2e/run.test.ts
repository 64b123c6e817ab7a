import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FIXTURES, TF_BIN, cleanEnv, expectAllDead, fixture, isAlive, pidsIn, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();

const node = process.execPath;

describe('tf run', () => {
  it.each([0, 3, 42])(
    'exits with the command exit code %i',
    async (code) => {
      const dir = app({});
      const tf = runTf(['run', node, `${FIXTURES}/exit-with.mjs`, String(code)], { cwd: dir });
      expect((await tf.exited).code, tf.output() + tf.stderr()).toBe(code);
    },
    20_000,
  );

  it('exits 128+N when the command is killed by signal N', async () => {
    const tf = runTf(['run', 'kill -TERM $$'], { cwd: app({}) });
    expect((await tf.exited).code).toBe(143);
  }, 20_000);

  it('passes several arguments as argv, untouched', async () => {
    const tf = runTf(['run', node, `${FIXTURES}/argv.mjs`, 'a b', '$HOME', "it's", '*', '--flag'], { cwd: app({}) });
    expect((await tf.exited).code).toBe(0);
    expect(JSON.parse(tf.output())).toEqual(['a b', '$HOME', "it's", '*', '--flag']);
  }, 20_000);

  it('runs a single argument with shell syntax under /bin/sh', async () => {
    const tf = runTf(['run', 'echo one && echo "two $GREETING" | tr a-z A-Z'], { cwd: app({ '.env': 'GREETING=hi\n' }) });
    expect((await tf.exited).code).toBe(0);
    expect(tf.output()).toBe('one\nTWO HI\n');
  }, 20_000);

  it('gives the command the environment start would, in the app root', async () => {
    const dir = app({ Procfile: 'web: true\n', '.env': 'A=file\nB=file\n', '.env.ci': 'B=ci\n' });
    const tf = runTf(['run', '--env', 'ci', node, '-e', 'console.log(JSON.stringify([process.env.A, process.env.B, process.env.C, process.cwd()]))'], {
      cwd: dir,
      env: { C: 'shell' },
    });
    expect((await tf.exited).code).toBe(0);
    expect(JSON.parse(tf.output())).toEqual(['file', 'ci', 'shell', dir]);
  }, 20_000);

  it("runs a Procfile type's command by name, with that type's first port", async () => {
    const dir = app({ Procfile: `web: true\nworker: ${node} -e "console.log('PORT=' + process.env.PORT)"\n` });
    const tf = runTf(['run', '-p', '7000', 'worker'], { cwd: dir });
    expect((await tf.exited).code).toBe(0);
    expect(tf.output()).toBe('PORT=7100\n');
  }, 20_000);

  it('connects stdin to the command', async () => {
    const tf = runTf(['run', node, `${FIXTURES}/stdin-echo.mjs`], { cwd: app({}), stdin: 'pipe' });
    tf.child.stdin?.end('hello from stdin\n');
    expect((await tf.exited).code).toBe(0);
    expect(tf.output()).toBe('GOT hello from stdin\n');
  }, 20_000);

  it('forwards SIGTERM to the command and waits for it', async () => {
    const tf = runTf(['run', node, `${FIXTURES}/ready.mjs`], { cwd: app({}) });
    const [, , , pid] = (await tf.waitFor(/READY (\S+) (\S+) pid=(\d+)/)) as unknown as string[];
    tf.signal('SIGTERM');
    const exit = await tf.exited;
    expect(tf.output()).toContain('got TERM');
    expect(exit.code).toBe(0);
    await expectAllDead([Number(pid)]);
  }, 20_000);

  it('lets Ctrl-C reach the command, which decides what to do', async () => {
    // A terminal sends SIGINT to the whole foreground group: tf and its child.
    const script = `process.on('SIGINT', () => { console.log('child saw SIGINT'); process.exit(7) }); console.log('READY'); setInterval(() => {}, 1e9)`;
    const shell = spawn(node, [TF_BIN, 'run', node, '-e', script], { cwd: app({}), env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    await new Promise<void>((resolve) =>
      shell.stdout.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('READY')) resolve();
      }),
    );
    process.kill(-(shell.pid as number), 'SIGINT');
    const code = await new Promise((r) => shell.on('close', r));
    expect(out).toContain('child saw SIGINT');
    expect(code).toBe(7);
  }, 20_000);

  it("warns on stderr about what start would warn about in the env files; the command's output is its own", async () => {
    const dir = app({ '.env': 'A=1\nnot a line\n' });
    const tf = runTf(['run', 'sh', '-c', 'echo "A=$A"'], { cwd: dir });
    expect((await tf.exited).code).toBe(0);
    expect(tf.output()).toBe('A=1\n');
    expect(tf.stderr()).toBe('tf: warning: .env:2: not a KEY=value line, so it was ignored; fix it or comment it out with "#"\n');
  }, 20_000);

  it('reports a command that does not exist with exit 127', async () => {
    const tf = runTf(['run', 'no-such-program-tf'], { cwd: app({}) });
    expect((await tf.exited).code).toBe(127);
    expect(tf.stderr()).toBe('tf: command not found: no-such-program-tf; check the spelling or your PATH\n');
  }, 20_000);

  it("a working directory that does not exist is tf's failure (exit 1), not a missing command", async () => {
    const dir = app({ Procfile: 'web: a\n' });
    const tf = runTf(['run', '-d', path.join(dir, 'gone'), 'echo', 'hi'], { cwd: dir });
    expect((await tf.exited).code).toBe(1);
    expect(tf.stderr()).toBe(`tf: its working directory ${path.join(dir, 'gone')} does not exist (ENOENT)\n`);
  }, 20_000);

  it('gives a plain command PORT from -p, and none of its own without it', async () => {
    const dir = app({ Procfile: 'web: a\n' });
    const withPort = runTf(['run', '-p', '7100', 'sh', '-c', 'echo "PORT=${PORT-unset}"'], { cwd: dir, env: { PORT: undefined } });
    expect((await withPort.exited).code).toBe(0);
    expect(withPort.output()).toBe('PORT=7100\n');
    const without = runTf(['run', 'sh', '-c', 'echo "PORT=${PORT-unset}"'], { cwd: dir, env: { PORT: undefined } });
    expect((await without.exited).code).toBe(0);
    expect(without.output()).toBe('PORT=unset\n');
  }, 20_000);

  it("runs a Procfile type with arguments appended, shell-quoted, and that type's first port", async () => {
    const dir = app({ Procfile: `web: echo "PORT=$PORT" && ${fixture('argv.mjs', '--first')}\n` });
    const tf = runTf(['run', '-p', '7000', 'web', 'a b', '$HOME', "it's", '*', '--flag', ''], { cwd: dir });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    const [port, args] = tf.output().split('\n');
    expect(port).toBe('PORT=7000');
    expect(JSON.parse(args as string)).toEqual(['--first', 'a b', '$HOME', "it's", '*', '--flag', '']);
  }, 20_000);

  it('never echoes an environment value when the command cannot start', async () => {
    const dir = app({ '.env': 'SECRET=s3cr\0et\n' });
    const tf = runTf(['run', 'true'], { cwd: dir });
    expect((await tf.exited).code).not.toBe(0);
    expect(tf.stderr()).toMatch(/^tf: .*SECRET/);
    expect(tf.stderr()).not.toMatch(/s3cr|\\x00et/);
  }, 20_000);

  it('leaves nothing running when tf run itself is SIGKILLed: the command and its descendants', async () => {
    const tf = runTf(['run', node, `${FIXTURES}/grandchild.mjs`, 'detached'], { cwd: app({}) });
    await tf.waitFor(/GRANDCHILD \d+[\s\S]*READY pid=\d+/);
    const pids = pidsIn(tf.output());
    expect(pids.length, 'the command and its grandchild, out of its session').toBe(2);
    tf.signal('SIGKILL');
    // Not tf.exited: that waits for tf's output pipe, which a survivor would hold open.
    await new Promise((resolve) => tf.child.once('exit', resolve));
    await expectAllDead(pids, 3000);
  }, 20_000);

  it('leaves no daemon running when tf run is SIGKILLed', async () => {
    const tf = runTf(['run', node, `${FIXTURES}/daemon.mjs`, 'ignore-term'], { cwd: app({}) });
    await tf.waitFor(/READY pid=\d+/);
    const pids = pidsIn(tf.output());
    expect(pids.length, 'the command and the daemon it started').toBe(2);
    tf.signal('SIGKILL');
    // Not tf.exited: that waits for tf's output pipe, which a survivor would hold open.
    await new Promise((resolve) => tf.child.once('exit', resolve));
    await expectAllDead(pids, 3000);
  }, 20_000);

  it('stops the watchdog when the command exits: nothing is killed after a clean exit', async () => {
    // The command leaves a background process, as in a shell; tf run waits only for the command.
    const tf = runTf(['run', `${node} -e "setInterval(() => {}, 1 << 30)" >/dev/null 2>&1 & echo "BG pid=$!"`], { cwd: app({}) });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    const [bg] = pidsIn(tf.output());
    expect(bg).toBeDefined();
    expect(isAlive(bg as number), 'the background process of a command that exited cleanly').toBe(true);
    process.kill(bg as number, 'SIGKILL');
    await expectAllDead([bg as number]);
  }, 20_000);

  it('needs a command', async () => {
    const tf = runTf(['run'], { cwd: app({}) });
    expect((await tf.exited).code).toBe(2);
    expect(tf.stderr()).toMatch(/^tf: tf run needs a command/);
  }, 20_000);

  it('works from a Procfile fixture command too', async () => {
    const dir = app({ Procfile: `task: ${fixture('exit-with.mjs', '5')}\n` });
    const tf = runTf(['run', 'task'], { cwd: dir });
    expect((await tf.exited).code).toBe(5);
  }, 20_000);
});
