import { describe, expect, it } from 'vitest';
import { fixture, runTf, tempApps, withBusyPort } from '../helpers/tf.js';

const app = tempApps();

describe('tf check', () => {
  it('prints the plan: instances, ports, commands, env files', async () => {
    const dir = app({ Procfile: 'web: node server.js\nworker: node worker.js\n', '.env': 'PORT=3000\n' });
    const tf = runTf(['check', '-m', 'web=2,worker=1'], { cwd: dir });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(tf.output()).toContain('env files: .env\n');
    expect(tf.output()).toContain('  web.1     PORT=3000  node server.js\n  web.2     PORT=3001  node server.js\n  worker.1  PORT=3100  node worker.js\n');
    expect(tf.output()).toMatch(/ok\n$/);
  }, 20_000);

  it('warns about a program that is not on PATH and a port in use, but exits 0', async () => {
    await withBusyPort(async (port) => {
      const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nbroken: no-such-program-tf --serve\n` });
      const tf = runTf(['check', '-p', String(port)], { cwd: dir });
      expect((await tf.exited).code).toBe(0);
      expect(tf.output()).toContain('warning: Procfile:2: broken: program "no-such-program-tf" not found on PATH');
      expect(tf.output()).toContain(`warning: port ${port} for web.1 is already in use`);
      expect(tf.output()).toMatch(/ok, with 2 warnings\n$/);
    });
  }, 20_000);

  it('warns about env file lines dotenv would skip, naming file and line', async () => {
    const dir = app({ Procfile: 'web: node x.js\n', '.env': '# comment\nGOOD=1\nBAD LINE\nMULTI="a\nb"\nexport OK=2\n' });
    const tf = runTf(['check'], { cwd: dir });
    expect((await tf.exited).code).toBe(0);
    expect(tf.output()).toContain('warning: .env:3: not a KEY=value line, so it was ignored');
    expect(tf.output().match(/warning: \.env/g)).toHaveLength(1);
  }, 20_000);

  // One row per kind of bad input: the exact one-line error and the exit code.
  it.each([
    ['a line that is not "name: command"', { Procfile: 'web: ok\nweb npm start\n' }, [], /^tf: Procfile:2: expected "name: command", got "web npm start"\n$/, 1],
    ['a duplicate name', { Procfile: 'web: a\nworker: b\nweb: c\n' }, [], /^tf: Procfile:3: duplicate process type "web" \(first defined on line 1\); give each entry its own name\n$/, 1],
    ['an invalid name', { Procfile: 'web.1: a\n' }, [], /^tf: Procfile:1: invalid process type name "web\.1"; names may contain only letters, digits, "_" and "-"\n$/, 1],
    ['an entry without a command', { Procfile: 'web:\n' }, [], /^tf: Procfile:1: process type "web" has no command/, 1],
    ['an indented YAML-style block', { Procfile: 'web:\n  command: x\n' }, [], /^tf: Procfile:1: process type "web" has no command/, 1],
    ['an empty Procfile', { Procfile: '# nothing\n\n' }, [], /^tf: Procfile: no process types defined; add a line such as "web: node server\.js"\n$/, 1],
    ['a missing Procfile', {}, [], /^tf: Procfile: no such file; create one or pass another with -f PATH\n$/, 1],
    ['a missing -f Procfile', {}, ['-f', 'nope/Procfile'], /^tf: nope\/Procfile: no such file; create one or pass another with -f PATH\n$/, 1],
    ['a missing -e env file', { Procfile: 'web: a\n' }, ['-e', 'missing.env'], /^tf: missing\.env: no such env file; check the path given with -e\/--env-file\n$/, 1],
    ['an unknown type in --formation', { Procfile: 'web: a\nworker: b\n' }, ['-m', 'wbe=1'], /^tf: unknown process type "wbe" in --formation; types are: web, worker\n$/, 1],
    ['a bad count in --formation', { Procfile: 'web: a\n' }, ['-m', 'web=two'], /^tf: bad formation entry "web=two" in --formation; expected NAME=COUNT/, 1],
    ['a bad TF_FORMATION', { Procfile: 'web: a\n' }, [], /^tf: unknown process type "api" in TF_FORMATION; types are: web\n$/, 1, { TF_FORMATION: 'api=1' }],
    ['an unknown type on the command line', { Procfile: 'web: a\n' }, ['api'], /^tf: unknown process type "api" on the command line; types are: web\n$/, 1],
    ['a formation with nothing to run', { Procfile: 'web: a\n' }, ['-m', 'web=0'], /^tf: nothing to run/, 1],
    ['an unknown flag', { Procfile: 'web: a\n' }, ['--bogus'], /^tf: unknown option '--bogus'; see "tf --help"\n$/, 2],
    ['a bad --timeout', { Procfile: 'web: a\n' }, ['-t', 'soon'], /^tf: bad value "soon" for --timeout; expected a number of seconds/, 2],
    ['a bad --port', { Procfile: 'web: a\n' }, ['-p', '70000'], /^tf: bad value "70000" for --port; expected a whole number from 1 to 65535\n$/, 2],
    ['a bad PORT in .env', { Procfile: 'web: a\n', '.env': 'PORT=http\n' }, [], /^tf: PORT="http" in the environment is not a port/, 1],
    ['a bad TF_COLOR', { Procfile: 'web: a\n' }, [], /^tf: TF_COLOR="maybe" is not a boolean/, 1, { TF_COLOR: 'maybe' }],
  ] as [string, Record<string, string>, string[], RegExp, number, Record<string, string>?][])('rejects %s with one line and the right exit code', async (_name, files, flags, message, code, env = {}) => {
    for (const command of ['check', 'start']) {
      const tf = runTf([command, ...flags], { cwd: app(files), env });
      const exit = await tf.exited;
      expect(tf.stderr(), command).toMatch(message);
      expect(exit.code, command).toBe(code);
      expect(tf.output(), 'nothing started').toBe('');
    }
  }, 20_000);

  it('accepts CRLF line ends, a BOM, comments and blank lines', async () => {
    const dir = app({ Procfile: '\ufeff# app\r\n\r\nweb: node a.js\r\n  # indented comment\r\nworker:node b.js\r\n' });
    const tf = runTf(['check'], { cwd: dir });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(tf.output()).toContain('  web.1     PORT=5000  node a.js\n  worker.1  PORT=5100  node b.js\n');
  }, 20_000);

  it('prints help listing every option with its TF_* variable', async () => {
    const tf = runTf(['--help'], { cwd: app({}) });
    expect((await tf.exited).code).toBe(0);
    for (const text of ['tf start', 'tf run', 'tf check', '--formation SPEC', '[TF_FORMATION]', '[TF_TIMEOUT]', '--env-override', 'Exit codes']) {
      expect(tf.output()).toContain(text);
    }
  }, 20_000);
});
