import { describe, expect, it } from 'vitest';
import { testConfig } from '../helpers/config.js';
import { isSimpleByTokens, isSimpleCommand, shellLaunch } from '../../src/plan/launch.js';
import { buildPlan } from '../../src/plan/plan.js';
import { parseInvocation } from '../../src/cli/args.js';

const config = testConfig;

describe('buildPlan', () => {
  it('names instances type.N and assigns base + step × type position + N − 1', () => {
    const plan = buildPlan(config('web: a\nworker: b\nclock: c\n', 'web=2,clock=2'), { childColor: false });
    expect(plan.instances.map((i) => [i.name, i.port, i.env.PORT, i.env.PS, i.color])).toEqual([
      ['web.1', 5000, '5000', 'web.1', 0],
      ['web.2', 5001, '5001', 'web.2', 0],
      ['clock.1', 5200, '5200', 'clock.1', 2],
      ['clock.2', 5201, '5201', 'clock.2', 2],
    ]);
  });

  it('refuses two instances on one port, naming both and the fix', () => {
    expect(() => buildPlan(config('web: a\nworker: b\n', 'web=150,worker=1'), { childColor: false })).toThrow('web.101 and worker.1 would both get port 5100');
    let hint = '';
    try {
      buildPlan(config('web: a\nworker: b\n', 'web=150,worker=1'), { childColor: false });
    } catch (error) {
      hint = (error as { hint?: string }).hint ?? '';
    }
    expect(hint).toBe('run fewer instances of web or pass --port-step 150 or more');
    expect(buildPlan(config('web: a\nworker: b\n', 'web=150,worker=1', { portStep: 150 }), { childColor: false }).instances).toHaveLength(151);
  });

  it('never replaces a value the env files or the shell gave, even an empty one or "0"', () => {
    for (const value of ['0', '']) {
      const instance = buildPlan(config('web: a\n', undefined, { env: { PYTHONUNBUFFERED: value } }), { childColor: true }).instances[0];
      expect(instance?.env.PYTHONUNBUFFERED).toBe(value);
    }
  });

  it('sets PYTHONUNBUFFERED and, for a colour terminal, FORCE_COLOR, unless the environment has them', () => {
    const plain = buildPlan(config('web: a\n'), { childColor: false }).instances[0];
    expect(plain?.env.PYTHONUNBUFFERED).toBe('1');
    expect(plain?.env.FORCE_COLOR).toBeUndefined();
    const coloured = buildPlan(config('web: a\n', undefined, { env: { PYTHONUNBUFFERED: '0', FORCE_COLOR: '3' } }), { childColor: true }).instances[0];
    expect(coloured?.env).toMatchObject({ PYTHONUNBUFFERED: '0', FORCE_COLOR: '3' });
    expect(buildPlan(config('web: a\n'), { childColor: true }).instances[0]?.env.FORCE_COLOR).toBe('1');
  });

  it('rejects a port above 65535', () => {
    expect(() => buildPlan(config('web: a\n', undefined, { basePort: 65535 }), { childColor: false })).not.toThrow();
    expect(() => buildPlan(config('web: a\nworker: b\n', undefined, { basePort: 65500 }), { childColor: false })).toThrow(
      /port 65600 for worker\.1 is above 65535/,
    );
  });
});

describe('launch', () => {
  it.each([
    ['node server.js', true],
    ['node server.js --port $PORT', true],
    ['node server.js --port ${PORT:-3000}', true],
    ["node -e 'console.log(1)'", true], // quoted parentheses are data
    ['bundle exec puma -C config/puma.rb', true],
    ['npm start *.js', true], // globs are fine under exec
    ['FOO=1 node x', false], // assignment prefix: exec would try to run "FOO=1"
    ['cd web && npm start', false],
    ['a | b', false],
    ['a; b', false],
    ['a > log', false],
    ['a &', false],
    ['exit 3', false], // builtins cannot be exec'd
    ['exec node x', false], // already exec
    ['(cd x; y)', false],
    ['echo $(date)', false],
  ])('%j is a simple command: %s', (command, simple) => {
    expect(isSimpleCommand(command)).toBe(simple);
  });

  it('judges every command as shell-quote alone does (the shortcut for operators without quoting included)', () => {
    // Commands built from words, operators and what quotes, escapes or expands.
    const pieces = ['node', 'x', ';', '&', '|', '<', '>', '(', ')', '&&', '||', '2>&1', "'x;y'", '"x|y"', '\\;', '$(d)', '${e}', '`f`', '#g', '*', '=1'];
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      const command = Array.from({ length: 1 + random(5) }, () => pieces[random(pieces.length)]).join(random(2) === 0 ? ' ' : '');
      expect(isSimpleCommand(command), command).toBe(isSimpleByTokens(command));
    }
  });

  it('runs simple commands with exec under /bin/sh -c, others as written', () => {
    expect(shellLaunch('node x')).toEqual({ file: '/bin/sh', args: ['-c', 'exec node x'] });
    expect(shellLaunch('a && b')).toEqual({ file: '/bin/sh', args: ['-c', 'a && b'] });
  });
});

describe('parseInvocation', () => {
  it('prefers flags over TF_* variables over defaults', () => {
    const env = { TF_PORT: '6000', TF_TIMEOUT: '2', TF_FORMATION: 'web=2', TF_JSON: '1' };
    const { options } = parseInvocation(['start', '-p', '7000'], env);
    expect(options).toMatchObject({
      port: 7000,
      timeoutMs: 2000,
      formation: 'web=2',
      formationSource: 'TF_FORMATION',
      json: true,
      portStep: 100,
      timestamp: true,
    });
    expect(parseInvocation(['start'], {}).options).toMatchObject({ port: undefined, timeoutMs: 5000, formation: undefined, json: false });
  });

  it('leaves everything after the command of tf run untouched', () => {
    const invocation = parseInvocation(['run', '-e', 'x.env', 'ls', '-la', '--json', '--', 'x'], {});
    expect(invocation.command).toBe('run');
    expect(invocation.options.envFiles).toEqual(['x.env']);
    expect(invocation.rest).toEqual(['ls', '-la', '--json', '--', 'x']);
  });

  it('splits -e on commas and accepts it repeated', () => {
    expect(parseInvocation(['start', '-e', 'a.env,b.env', '--env-file', 'c.env'], {}).options.envFiles).toEqual(['a.env', 'b.env', 'c.env']);
  });

  it.each([
    [['bogus'], 'unknown command "bogus"'],
    [['start', '--nope'], "unknown option '--nope'"],
    [['start', '--color', '--no-color'], '--color and --no-color contradict each other'],
    [['start', '--env', '../x'], 'bad environment name "../x" in --env'],
  ])('rejects %j as a usage error', (argv, message) => {
    expect(() => parseInvocation(argv, {})).toThrow(message);
  });
});
