import { describe, expect, it } from 'vitest';
import { COMMANDS, CONTROL_COMMANDS, OPTION_SPECS, parseInvocation } from '../../src/cli/args.js';
import { usage } from '../../src/cli/usage.js';
import { TfError } from '../../src/errors.js';

const usageErrorOf = (argv: string[], env: Record<string, string> = {}): TfError => {
  try {
    parseInvocation(argv, env);
  } catch (error) {
    if (error instanceof TfError) return error;
    throw error;
  }
  throw new Error(`no error for ${JSON.stringify(argv)}`);
};

describe('the options of live control, kept raw for their own parsers', () => {
  it.each([
    ['restart', '--restart', 'TF_RESTART', 'all=on-failure,web=always'],
    ['canDie', '--can-die', 'TF_CAN_DIE', 'migrate,assets'],
    ['stopSignal', '--stop-signal', 'TF_STOP_SIGNAL', 'worker=QUIT'],
    ['ready', '--ready', 'TF_READY', 'web=port'],
    ['socket', '--socket', 'TF_SOCKET', '/tmp/tf.sock'],
  ] as const)('%s: from %s, else %s, else undefined', (field, flag, variable, value) => {
    expect(parseInvocation(['start', flag, value], { [variable]: 'from-env' }).options[field]).toEqual({ raw: value, source: flag });
    expect(parseInvocation(['start', `${flag}=${value}`], {}).options[field]).toEqual({ raw: value, source: flag });
    expect(parseInvocation(['start'], { [variable]: value }).options[field]).toEqual({ raw: value, source: variable });
    expect(parseInvocation(['start'], { [variable]: '' }).options[field]).toBeUndefined();
    expect(parseInvocation(['start'], {}).options[field]).toBeUndefined();
  });

  it('--wait-timeout is plain decimal seconds, in ms, from the flag or TF_WAIT_TIMEOUT', () => {
    expect(parseInvocation(['start', '--wait-timeout', '2.5'], {}).options.waitTimeoutMs).toBe(2500);
    expect(parseInvocation(['start'], { TF_WAIT_TIMEOUT: '3' }).options.waitTimeoutMs).toBe(3000);
    expect(parseInvocation(['start'], {}).options.waitTimeoutMs).toBeUndefined();
    expect(() => parseInvocation(['start', '--wait-timeout', '1e3'], {})).toThrow('bad value "1e3" for --wait-timeout');
  });

  it('--split-stderr is a yes/no, from the flag or TF_SPLIT_STDERR', () => {
    expect(parseInvocation(['start', '--split-stderr'], {}).options.splitStderr).toBe(true);
    expect(parseInvocation(['start'], { TF_SPLIT_STDERR: '1' }).options.splitStderr).toBe(true);
    expect(parseInvocation(['start'], {}).options.splitStderr).toBe(false);
    expect(() => parseInvocation(['start'], { TF_SPLIT_STDERR: 'perhaps' })).toThrow('TF_SPLIT_STDERR="perhaps" is not a boolean');
  });

  it('knows the control commands, each taking -f, -d, --socket and --json', () => {
    for (const command of CONTROL_COMMANDS) {
      const invocation = parseInvocation([command, '-f', 'P', '-d', 'D', '--socket', 'S', '--json', 'web'], {});
      expect(invocation.command).toBe(command);
      expect(invocation.options).toMatchObject({ procfile: 'P', root: 'D', socket: { raw: 'S', source: '--socket' }, json: true });
      expect(invocation.rest).toEqual(['web']);
    }
  });

  it('logs takes -n N and -F/--follow; -f stays --procfile', () => {
    expect(parseInvocation(['logs', '-n', '50', '-F'], {}).options).toMatchObject({ lines: { raw: '50', source: '--lines' }, follow: true });
    expect(parseInvocation(['logs', '--follow', '-f', 'Procfile.dev'], {}).options).toMatchObject({ follow: true, procfile: 'Procfile.dev' });
    expect(usageErrorOf(['logs', '-f']).describe()).toBe('-f needs a value; write -f PATH (to follow, use -F/--follow)');
  });
});

describe('yes/no options undo their TF_* variable', () => {
  it('--timestamp undoes TF_TIMESTAMP=0, --no-timestamp drops it', () => {
    expect(parseInvocation(['start', '--timestamp'], { TF_TIMESTAMP: '0' }).options.timestamp).toBe(true);
    expect(parseInvocation(['start'], { TF_TIMESTAMP: '0' }).options.timestamp).toBe(false);
    expect(parseInvocation(['start', '--no-timestamp'], {}).options.timestamp).toBe(false);
  });

  it('--no-json undoes TF_JSON=1', () => {
    expect(parseInvocation(['start', '--no-json'], { TF_JSON: '1' }).options.json).toBe(false);
    expect(parseInvocation(['start'], { TF_JSON: '1' }).options.json).toBe(true);
  });

  it('--color undoes TF_COLOR=0', () => {
    expect(parseInvocation(['start', '--color'], { TF_COLOR: '0' }).options.color).toBe(true);
  });

  it.each(['color', 'timestamp', 'json'])('--%s and --no-%s together contradict each other', (flag) => {
    expect(usageErrorOf(['start', `--${flag}`, `--no-${flag}`]).describe()).toBe(`--${flag} and --no-${flag} contradict each other; pass one of them`);
  });
});

describe('usage errors in tf words', () => {
  it.each([
    [['start', '--formaton', 'web=2'], 'unknown option \'--formaton\'; did you mean --formation? see "tf --help"'],
    [['start', '--bogus'], 'unknown option \'--bogus\'; see "tf --help"'],
    [['start', '-x'], 'unknown option \'-x\'; see "tf --help"'],
    [['start', '-e'], '-e needs a value; write -e PATH'],
    [['start', '--port'], '--port needs a value; write --port N'],
    [['start', '-e', '-x.env'], `-e needs a value (PATH) but '-x.env' follows it; to give a value that starts with "-", write --env-file=-x.env`],
    [['start', '--json=yes'], '--json takes no value; write --json or --no-json alone'],
    [
      ['run', '--formation', 'web=2', 'ls'],
      '--formation applies to "tf run" only with --with; it shapes the services --with starts; a plain tf run starts none',
    ],
    [
      ['check', '--json'],
      '--json is not an option of "tf check"; it is for tf start, tf run, tf release, tf ps, tf restart, tf stop, tf scale, tf logs, tf signal, tf env, tf services, tf releases; see "tf check --help"',
    ],
    [['run', '-t', '3', 'ls'], '-t applies to "tf run" only with --with; it shapes the services --with starts; a plain tf run starts none'],
    [['check', '--with', 'web'], '--with is not an option of "tf check"; it is for tf run; see "tf check --help"'],
    [['start', '--follow'], '--follow is not an option of "tf start"; it is for tf logs; see "tf start --help"'],
    [
      ['strat'],
      'unknown command "strat"; did you mean "start"? commands are: start, run, check, release, releases, export, env, secrets, services, ps, restart, stop, scale, logs, signal, help, version; see "tf --help"',
    ],
  ])('%j', (argv, message) => {
    const error = usageErrorOf(argv);
    expect(error.describe()).toBe(message);
    expect(error.exitCode).toBe(2);
  });

  it("never passes Node's parser wording on", () => {
    const bad = [
      ['start', '-e', '--json'],
      ['start', '--nope'],
      ['start', '-m'],
      ['start', '-p', '-1'],
      ['check', '--env-file'],
      ['start', '--help=1'],
    ];
    for (const argv of bad) expect(usageErrorOf(argv).describe()).not.toMatch(/ambiguous|Unknown option|ERR_PARSE_ARGS|Did you forget/);
  });

  it('takes the short forms: attached values, grouped yes/no letters', () => {
    expect(parseInvocation(['start', '-p7000', '-mweb=2'], {}).options).toMatchObject({ port: 7000, formation: 'web=2' });
    expect(parseInvocation(['start', '-hv'], {})).toMatchObject({ help: true, command: 'version' });
  });

  it('leaves a TF_* variable of another command alone, but not a flag', () => {
    expect(parseInvocation(['run', 'ls'], { TF_FORMATION: 'web=2' }).rest).toEqual(['ls']);
  });

  it('tells a bare tf (a usage error) from tf --help', () => {
    expect(parseInvocation([], {})).toMatchObject({ command: 'help', commandGiven: false, help: false });
    expect(parseInvocation(['-f', 'Procfile'], {})).toMatchObject({ commandGiven: false });
    expect(parseInvocation(['--help'], {})).toMatchObject({ command: 'help', help: true });
    expect(parseInvocation(['help', 'run'], {})).toMatchObject({ command: 'help', commandGiven: true, rest: ['run'] });
  });
});

const flagsIn = (text: string): string[] => [...text.matchAll(/ --([a-z-]+)/g)].map((m) => m[1] as string);

describe('help per command lists only what that command takes', () => {
  it('run: formation, timeout, output and policy options marked as --with only; no socket', () => {
    const text = usage('run');
    const flags = flagsIn(text);
    expect(flags).toEqual(expect.arrayContaining(['procfile', 'root', 'env-file', 'env', 'env-override', 'port', 'port-step', 'with', 'help', 'version']));
    for (const flag of [
      'formation',
      'timeout',
      'color',
      'no-color',
      'timestamp',
      'no-timestamp',
      'json',
      'no-json',
      'restart',
      'split-stderr',
      'wait-timeout',
      'ready',
    ]) {
      const row = new RegExp(`^  (?:-\\w, | {4})--${flag}(?![\\w-])`);
      expect(text.split('\n').find((l) => row.test(l))).toContain('(with --with)');
    }
    for (const flag of ['socket', 'follow']) expect(flags).not.toContain(flag);
  });

  it('run takes the service options only with --with', () => {
    expect(parseInvocation(['run', '--with', 'web', '-m', 'web=2', '-t', '1', '--json', '--ready', 'web=http:/up', '--', 'npm', 'test'], {})).toMatchObject({
      options: { with: { raw: 'web', source: '--with' }, formation: 'web=2', timeoutMs: 1000, json: true, ready: { raw: 'web=http:/up' } },
      rest: ['npm', 'test'],
    });
    expect(parseInvocation(['run', 'ls'], { TF_WITH: 'web' }).options.with).toBeUndefined();
  });

  it('check: what start validates, no output options', () => {
    const flags = flagsIn(usage('check'));
    expect(flags).toEqual(expect.arrayContaining(['formation', 'timeout', 'restart', 'can-die', 'stop-signal', 'ready']));
    for (const flag of ['color', 'no-color', 'timestamp', 'no-timestamp', 'json', 'no-json', 'split-stderr', 'socket', 'follow'])
      expect(flags).not.toContain(flag);
  });

  it('start: every option it takes, with its variable', () => {
    const text = usage('start');
    for (const flag of ['formation', 'timeout', 'split-stderr', 'restart', 'can-die', 'stop-signal', 'ready', 'socket', 'wait-timeout', 'timestamp', 'no-json'])
      expect(flagsIn(text)).toContain(flag);
    expect(text).toContain('[TF_SPLIT_STDERR]');
    expect(flagsIn(text)).not.toContain('follow');
  });

  it("states each command's own exit codes, not start's", () => {
    expect(usage('start')).toContain('the exit code of the first process to exit');
    expect(usage('run')).toContain('126 not executable, 127 not found');
    expect(usage('run')).not.toContain('first process to exit');
    expect(usage('check')).toContain('0 when the plan is valid');
    expect(usage('release')).toContain("the release command's own when it fails");
    expect(usage('ps')).toContain('Exit codes: 0 done; 1 it could not be done');
  });

  it('tf --help names every command and every option', () => {
    const text = usage();
    for (const command of COMMANDS.filter((c) => c !== 'help' && c !== 'version')) expect(text).toContain(`tf ${command} `);
    for (const spec of OPTION_SPECS) expect(flagsIn(text)).toContain(spec.flag);
  });
});
