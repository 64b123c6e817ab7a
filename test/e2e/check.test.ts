import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixture, runTf, tempApps, withBusyPort } from '../helpers/tf.js';

const app = tempApps();

/** tf check's warnings (it must pass): whatever else listens on this machine's ports is not a test's business. */
async function checkWarnings(dir: string, env: Record<string, string> = {}): Promise<string[]> {
  const tf = runTf(['check'], { cwd: dir, env });
  expect((await tf.exited).code, tf.stderr()).toBe(0);
  return tf
    .output()
    .split('\n')
    .filter((l) => l.startsWith('warning:') && !l.includes('already in use'));
}

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
    [
      'a line that is not "name: command"',
      { Procfile: 'web: ok\nweb npm start\n' },
      [],
      /^tf: Procfile:2: expected "name: command", got "web npm start"\n$/,
      1,
    ],
    [
      'a duplicate name',
      { Procfile: 'web: a\nworker: b\nweb: c\n' },
      [],
      /^tf: Procfile:3: duplicate process type "web" \(first defined on line 1\); give each entry its own name\n$/,
      1,
    ],
    [
      'an invalid name',
      { Procfile: 'web.1: a\n' },
      [],
      /^tf: Procfile:1: invalid process type name "web\.1"; names may contain only letters, digits, "_" and "-"\n$/,
      1,
    ],
    ['an entry without a command', { Procfile: 'web:\n' }, [], /^tf: Procfile:1: process type "web" has no command/, 1],
    ['an indented YAML-style block', { Procfile: 'web:\n  command: x\n' }, [], /^tf: Procfile:1: process type "web" has no command/, 1],
    ['an empty Procfile', { Procfile: '# nothing\n\n' }, [], /^tf: Procfile: no process types defined; add a line such as "web: node server\.js"\n$/, 1],
    ['a missing Procfile', {}, [], /^tf: Procfile: no such file; create one or pass another with -f PATH\n$/, 1],
    ['a missing -f Procfile', {}, ['-f', 'nope/Procfile'], /^tf: nope\/Procfile: no such file; create one or pass another with -f PATH\n$/, 1],
    [
      'a missing -e env file',
      { Procfile: 'web: a\n' },
      ['-e', 'missing.env'],
      /^tf: missing\.env: no such env file; check the path given with -e\/--env-file\n$/,
      1,
    ],
    [
      'an unknown type in --formation',
      { Procfile: 'web: a\nworker: b\n' },
      ['-m', 'wbe=1'],
      /^tf: unknown process type "wbe" in --formation; types are: web, worker\n$/,
      1,
    ],
    ['a bad count in --formation', { Procfile: 'web: a\n' }, ['-m', 'web=two'], /^tf: bad formation entry "web=two" in --formation; expected NAME=COUNT/, 1],
    ['a bad TF_FORMATION', { Procfile: 'web: a\n' }, [], /^tf: unknown process type "api" in TF_FORMATION; types are: web\n$/, 1, { TF_FORMATION: 'api=1' }],
    ['an unknown type on the command line', { Procfile: 'web: a\n' }, ['api'], /^tf: unknown process type "api" on the command line; types are: web\n$/, 2],
    ['a formation with nothing to run', { Procfile: 'web: a\n' }, ['-m', 'web=0'], /^tf: nothing to run/, 1],
    [
      'a formation naming only the release entry',
      { Procfile: 'release: a\nweb: b\n' },
      ['-m', 'release=1'],
      /^tf: nothing to run: the formation gives every type 0 instances \(release is not run as a process: tf release runs it\); name at least one of: web\n$/,
      1,
    ],
    ['an unknown flag', { Procfile: 'web: a\n' }, ['--bogus'], /^tf: unknown option '--bogus'; see "tf --help"\n$/, 2],
    ['a bad --timeout', { Procfile: 'web: a\n' }, ['-t', 'soon'], /^tf: bad value "soon" for --timeout; expected a number of seconds/, 2],
    ['a bad --port', { Procfile: 'web: a\n' }, ['-p', '70000'], /^tf: bad value "70000" for --port; expected a whole number from 1 to 65535\n$/, 2],
    [
      'a bad PORT in .env',
      { Procfile: 'web: a\n', '.env': 'A=1\n\nPORT=http\n' },
      [],
      /^tf: PORT from \.env:3 is not a port number \(1-65535\); set it to a whole number/,
      1,
    ],
    ['a bad PORT in the shell', { Procfile: 'web: a\n' }, [], /^tf: PORT from the shell environment is not a port number \(1-65535\)/, 1, { PORT: '80x' }],
    [
      'a NUL byte in an env value',
      { Procfile: 'web: a\n', '.env': 'A=1\nSECRET=s3cr\0et\n' },
      [],
      /^tf: \.env:2: the value of SECRET contains a NUL byte, which no process environment can hold; re-save the file as UTF-8 text without NUL bytes\n$/,
      1,
    ],
    [
      'a UTF-16 env file',
      { Procfile: 'web: a\n', '.env': '\ufeffA=1\n' },
      ['-e', 'utf16.env'],
      /^tf: utf16\.env:1: is encoded as UTF-16 LE \(with a byte-order mark\), not UTF-8; re-save it as UTF-8\n$/,
      1,
    ],
    [
      'a named environment with no file',
      { Procfile: 'web: a\n', '.env': 'A=1\n', '.env.production': 'A=2\n', '.env.staging.local': 'A=3\n', '.env.local': 'A=4\n' },
      ['--env', 'prodution'],
      /^tf: no environment "prodution": neither \.env\.prodution nor \.env\.prodution\.local exists in [^;]+; environments here: production, staging\n$/,
      1,
    ],
    [
      "tf's own ports colliding",
      { Procfile: 'web: a\nworker: b\n' },
      ['-m', 'web=150,worker=1'],
      /^tf: web\.101 and worker\.1 would both get port 5100; run fewer instances of web or pass --port-step 150 or more\n$/,
      1,
    ],
    [
      'a .env that is a directory',
      { Procfile: 'web: a\n', '.env/x': '' },
      [],
      /^tf: \.env: is a directory; the app root's \.env must be a readable file; fix or remove it\n$/,
      1,
    ],
    ['-e /dev/zero', { Procfile: 'web: a\n' }, ['-e', '/dev/zero'], /^tf: \/dev\/zero: is a device; check the path given with -e\/--env-file\n$/, 1],
    ['-f /dev/zero', {}, ['-f', '/dev/zero'], /^tf: \/dev\/zero: is a device; pass the right file with -f PATH\n$/, 1],
    [
      '-d given a file',
      { Procfile: 'web: a\n' },
      ['-d', 'Procfile'],
      /^tf: app root Procfile is not a directory; -d\/--root takes the app's directory; pass a Procfile with -f PATH\n$/,
      1,
    ],
    [
      'an env file over 1 MiB',
      { Procfile: 'web: a\n', 'big.env': `A=${'x'.repeat(1024 * 1024)}\n` },
      ['-e', 'big.env'],
      /^tf: big\.env: is larger than 1 MiB, too large for a config file; check the path given with -e\/--env-file\n$/,
      1,
    ],
    ['a bad TF_COLOR', { Procfile: 'web: a\n' }, [], /^tf: TF_COLOR="maybe" is not a boolean/, 1, { TF_COLOR: 'maybe' }],
  ] as [string, Record<string, string>, string[], RegExp, number, Record<string, string>?][])(
    'rejects %s with one line and the right exit code',
    async (_name, files, flags, message, code, env = {}) => {
      for (const command of ['check', 'start']) {
        const dir = app(files);
        if (flags.includes('utf16.env')) writeFileSync(path.join(dir, 'utf16.env'), Buffer.from('\ufeffSECRET=s3cret\n', 'utf16le'));
        const tf = runTf([command, ...flags], { cwd: dir, env });
        const exit = await tf.exited;
        expect(tf.stderr(), command).toMatch(message);
        expect(exit.code, command).toBe(code);
        expect(tf.output(), 'nothing started').toBe('');
        expect(tf.stderr(), 'no value echoed').not.toMatch(/s3cr|http|80x/);
      }
    },
    20_000,
  );

  it('a Procfile with only a release entry: start refuses at once (it would wait on nothing), check warns', async () => {
    const dir = app({ Procfile: 'release: echo migrate\n' });
    const start = runTf(['start'], { cwd: dir });
    expect((await start.exited).code).toBe(1);
    expect(start.stderr()).toMatch(/^tf: nothing to run: .*Procfile has only a release entry, which tf start does not run as a process; tf release runs it/);
    const check = runTf(['check'], { cwd: dir });
    expect((await check.exited).code).toBe(0);
    expect(check.output()).toContain('tf start has nothing to run: the only entry is release, which runs as a phase (tf release)');
  }, 20_000);

  it('warns about a command longer than /bin/sh -c takes in one argument (start would fail with E2BIG)', async () => {
    const dir = app({ Procfile: `big: echo ${'x'.repeat(140_000)} | wc -c\nfine: echo ${'y'.repeat(100_000)} | wc -c\n` });
    expect(await checkWarnings(dir)).toEqual([
      'warning: Procfile:1: big: the command is 140013 bytes, over the 128 KiB /bin/sh -c takes in one argument: start would fail (E2BIG); put it in a script',
    ]);
  }, 20_000);

  it('warns that the app root does not exist, where start would fail every process', async () => {
    const dir = app({ Procfile: 'web: echo hi\n' });
    const tf = runTf(['check', '-f', 'Procfile', '-d', path.join(dir, 'gone')], { cwd: dir });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(tf.output()).toContain(`warning: app root ${path.join(dir, 'gone')} does not exist: every process would fail to start in it\n`);
  }, 20_000);

  it('a program on PATH that is there but not executable is said to be so, not missing', async () => {
    const dir = app({ Procfile: 'web: tf-test-plain-tool\n' });
    mkdirSync(path.join(dir, 'bin'));
    writeFileSync(path.join(dir, 'bin', 'tf-test-plain-tool'), '#!/bin/sh\n');
    expect(await checkWarnings(dir, { PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}` })).toEqual([
      `warning: Procfile:1: web: "tf-test-plain-tool" is not executable (chmod +x it) (seen from ${dir})`,
    ]);
  }, 20_000);

  it("warns about a command /bin/sh cannot parse, in the shell's words", async () => {
    const dir = app({ Procfile: 'web: echo "unterminated\nworker: if true; then echo hi\nok: echo fine && true\n' });
    expect((await checkWarnings(dir)).filter((l) => l.includes('/bin/sh'))).toEqual([
      // dash says "Unterminated quoted string", bash as sh "unexpected EOF while looking for matching".
      expect.stringMatching(/^warning: Procfile:1: web: \/bin\/sh would refuse it: .*([Uu]nterminated quoted string|unexpected EOF)/),
      expect.stringMatching(/^warning: Procfile:2: worker: \/bin\/sh would refuse it: .*(end of file|unexpected)/),
    ]);
  }, 20_000);

  it('says what start would meet for a program path: missing, not executable, or a directory', async () => {
    const dir = app({ Procfile: 'a: bin/missing\nb: ./bin/plain.sh\nc: ./bin\nd: ./bin/ok.sh\n' });
    mkdirSync(path.join(dir, 'bin'));
    writeFileSync(path.join(dir, 'bin', 'plain.sh'), '#!/bin/sh\n');
    writeFileSync(path.join(dir, 'bin', 'ok.sh'), '#!/bin/sh\n');
    chmodSync(path.join(dir, 'bin', 'ok.sh'), 0o755);
    expect(await checkWarnings(dir)).toEqual([
      `warning: Procfile:1: a: program "bin/missing" does not exist (seen from ${dir})`,
      `warning: Procfile:2: b: "./bin/plain.sh" is not executable (chmod +x it) (seen from ${dir})`,
      `warning: Procfile:3: c: "./bin" is a directory, not a program (seen from ${dir})`,
    ]);
  }, 20_000);

  it("-e /dev/null loads no env file (foreman's idiom), where .env would be read", async () => {
    const dir = app({ Procfile: 'web: a\n', '.env': 'FROM_FILE=1\n' });
    const tf = runTf(['run', '-e', '/dev/null', 'sh', '-c', 'echo "FROM_FILE=${FROM_FILE-unset}"'], { cwd: dir });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(tf.output()).toBe('FROM_FILE=unset\n');
  }, 20_000);

  it('names a .env that is a link to a missing file, rather than reading no .env; --env takes such a link as there', async () => {
    const dir = app({ Procfile: 'web: a\n' });
    symlinkSync('/nonexistent/app.env', path.join(dir, '.env'));
    symlinkSync('/nonexistent/ci.env', path.join(dir, '.env.ci'));
    const plain = runTf(['check'], { cwd: dir });
    expect((await plain.exited).code).toBe(1);
    expect(plain.stderr()).toBe(
      "tf: .env: is a symbolic link to /nonexistent/app.env, which does not exist; the app root's .env must be a readable file; fix or remove it\n",
    );
    const ls = runTf(['secrets', 'ls'], { cwd: dir });
    expect((await ls.exited).code).toBe(1);
    expect(ls.stderr()).toContain('tf: .env: is a symbolic link to /nonexistent/app.env, which does not exist');
    rmSync(path.join(dir, '.env'));
    const ci = runTf(['check', '--env', 'ci'], { cwd: dir });
    expect((await ci.exited).code).toBe(1);
    expect(ci.stderr()).toContain('tf: .env.ci: is a symbolic link to /nonexistent/ci.env, which does not exist');
  }, 20_000);

  it('refuses a FIFO as an env file at once instead of blocking on it', async () => {
    const dir = app({ Procfile: 'web: a\n' });
    execFileSync('mkfifo', [path.join(dir, 'fifo.env')]);
    const tf = runTf(['check', '-e', 'fifo.env'], { cwd: dir });
    expect((await tf.exited).code).toBe(1);
    expect(tf.stderr()).toBe('tf: fifo.env: is a named pipe (FIFO); check the path given with -e/--env-file\n');
  }, 20_000);

  it('warns about keys no shell can pass on, with file and line, and lists keys the shell shadows by name only', async () => {
    const dir = app({ Procfile: 'web: node x.js\n', '.env': 'GOOD=1\n-foo=1\n1A=x\nSHADOWED=file-secret\nPATH=./bin:$PATH\n' });
    const tf = runTf(['check'], { cwd: dir, env: { SHADOWED: 'shell-secret' } });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(tf.output()).toContain('warning: .env:2: "-foo" is not a variable name a shell passes on, so it was ignored');
    expect(tf.output()).toContain('warning: .env:3: "1A" is not a variable name a shell passes on, so it was ignored');
    expect(tf.output()).toContain("shadowed by the shell: SHADOWED (the shell's values win; --env-override lets the files win)\n");
    expect(tf.output()).not.toMatch(/secret/);
    const override = runTf(['check', '--env-override'], { cwd: dir, env: { SHADOWED: 'shell-secret' } });
    expect((await override.exited).code).toBe(0);
    expect(override.output()).not.toContain('shadowed');
  }, 20_000);

  it('finds the program behind wrappers and their options, and through a PATH= prefix', async () => {
    const dir = app({
      Procfile: [
        'a: nice -n 5 echo hi',
        'b: exec -a name echo hi',
        'c: PATH=./bin:$PATH x',
        'd: env -u HOME timeout -s KILL 5 x2',
        'e: timeout 5 no-such-program-tf',
      ].join('\n'),
    });
    mkdirSync(path.join(dir, 'bin'));
    for (const name of ['x', 'x2']) {
      writeFileSync(path.join(dir, 'bin', name), '#!/bin/sh\n');
      chmodSync(path.join(dir, 'bin', name), 0o755);
    }
    expect(await checkWarnings(dir, { PATH: `${path.join(dir, 'bin').replace('/bin', '/nope')}:${process.env.PATH ?? ''}` })).toEqual([
      expect.stringContaining('Procfile:4: d: program "x2" not found on PATH'),
      expect.stringContaining('Procfile:5: e: program "no-such-program-tf" not found on PATH'),
    ]);
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
