import { describe, expect, it } from 'vitest';
import {
  describePolicy,
  describeReadySpec,
  parseReadySpec,
  parseRestartPolicy,
  parseStopSignal,
  resolvePolicies,
  splitSpec,
  type PolicyInputs,
} from '../../src/config/policies.js';
import { parseTfYaml } from '../../src/config/tfyaml.js';
import { defaultPolicy } from '../../src/domain.js';
import { errorOf } from '../helpers/errors.js';

const TYPES = ['web', 'worker', 'assets'];

describe('value parsers', () => {
  it.each([
    ['no', 'no'], // foreman's default, spelled out
    ['on-failure', 'on-failure'], // restart after a non-zero exit or a signal
    ['always', 'always'], // restart after every exit
  ] as const)('restart %j', (value, expected) => {
    expect(parseRestartPolicy(value)).toBe(expected);
  });

  it.each([
    ['sometimes'], // not a policy
    ['Always'], // policies are lower case, as in docker and process-compose
    [''], // empty
  ])('refuses restart %j, naming the choices', (value) => {
    expect(parseRestartPolicy(value)).toEqual({ problem: `unknown restart policy ${JSON.stringify(value)}`, hint: 'use no, on-failure or always' });
  });

  it.each([
    ['TERM', 'SIGTERM'], // bare name
    ['SIGTERM', 'SIGTERM'], // with the prefix
    ['int', 'SIGINT'], // lower case
    ['SigQuit', 'SIGQUIT'], // mixed case
    ['USR1', 'SIGUSR1'], // user signals
    ['HUP', 'SIGHUP'], // hang-up
    ['15', 'SIGTERM'], // a number, as the host numbers it
    ['2', 'SIGINT'], // another number
    [' TERM ', 'SIGTERM'], // spaces around are ignored
  ] as const)('stop signal %j is %s', (value, expected) => {
    expect(parseStopSignal(value)).toBe(expected);
  });

  it.each([
    ['KILL', 'SIGKILL cannot be a stop signal', /tf already sends SIGKILL after the grace period/], // cannot be caught
    ['9', 'SIGKILL cannot be a stop signal', /grace period/], // same by number
    ['STOP', 'SIGSTOP cannot be a stop signal', /suspends the process/], // suspends, does not stop
    ['TERMINATE', 'unknown signal "TERMINATE"', /TERM, INT, QUIT/], // not a signal
    ['0', 'unknown signal "0"', /or its number/], // 0 probes a pid, it is no signal
    ['999', 'unknown signal "999"', /signal name/], // out of range
    ['', 'unknown signal ""', /signal name/], // empty
  ] as const)('refuses stop signal %j', (value, problem, hint) => {
    const result = parseStopSignal(value);
    expect(result).toMatchObject({ problem });
    expect((result as { hint: string }).hint).toMatch(hint);
  });

  it.each([
    ['none', { kind: 'none' }], // started is ready
    ['port', { kind: 'port' }], // a TCP connect succeeds
    ['http', { kind: 'http', path: '/' }], // GET / below 500
    ['http:/health', { kind: 'http', path: '/health' }], // a path
    ['http:/a?b=c:d', { kind: 'http', path: '/a?b=c:d' }], // a query with ':' and '='
    ['log:Ready', { kind: 'log', text: 'Ready' }], // text to wait for
    ['log:listening on http://0.0.0.0:5000', { kind: 'log', text: 'listening on http://0.0.0.0:5000' }], // ':' in the text
    ['log:a=b, c', { kind: 'log', text: 'a=b, c' }], // '=' and ',' in the text (the spec splitter unescapes before)
    ['log: spaced ', { kind: 'log', text: ' spaced ' }], // the text is verbatim
  ] as const)('probe %j', (value, expected) => {
    expect(parseReadySpec(value)).toEqual(expected);
    expect(describeReadySpec(expected)).toBe(value); // and back
  });

  it.each([
    ['tcp', 'unknown readiness probe "tcp"'], // not a probe
    ['http:health', 'bad HTTP path "health" in readiness probe "http:health"'], // path without a slash
    ['http:/a b', 'bad HTTP path "/a b" in readiness probe "http:/a b"'], // a space node:http would refuse
    ['http:', 'bad HTTP path "" in readiness probe "http:"'], // nothing after the colon
    ['log:', 'readiness probe "log:" has no text to wait for'], // nothing to wait for
    ['log:a\nb', 'readiness probe text "a\\nb" spans lines'], // a line break can never match one line
    ['Port', 'unknown readiness probe "Port"'], // probe names are lower case
  ])('refuses probe %j', (value, problem) => {
    expect(parseReadySpec(value)).toMatchObject({ problem });
  });
});

describe('splitSpec', () => {
  it.each([
    ['web=always', [['web', 'always']]], // one entry
    [
      'web=always,worker=no',
      [
        ['web', 'always'],
        ['worker', 'no'],
      ],
    ], // two
    [
      ' web = always , worker=no ,',
      [
        ['web', 'always'],
        ['worker', 'no'],
      ],
    ], // spaces and a trailing comma
    [
      'web,worker',
      [
        ['web', undefined],
        ['worker', undefined],
      ],
    ], // bare names (can-die)
    [
      'worker=log:a\\, b,web=port',
      [
        ['worker', 'log:a, b'],
        ['web', 'port'],
      ],
    ], // an escaped comma stays in the value
    ['worker=log:C:\\app', [['worker', 'log:C:\\app']]], // other backslashes are kept
    [
      'worker=log:end\\\\,web=port',
      [
        ['worker', 'log:end\\'],
        ['web', 'port'],
      ],
    ], // \\ before a comma is one backslash
    ['worker=log:a=b', [['worker', 'log:a=b']]], // only the first '=' splits
    ['', []], // empty spec
  ] as const)('splits %j', (raw, expected) => {
    expect(splitSpec(raw).map((e) => [e.type, e.value])).toEqual(expected);
  });
});

describe('resolvePolicies', () => {
  it("gives every type foreman's default without any input", () => {
    const policies = resolvePolicies(TYPES, {});
    for (const type of TYPES) expect(policies.get(type)).toEqual(defaultPolicy(type));
    expect(policies.get('web')?.ready).toEqual({ kind: 'port' });
    expect(policies.get('worker')?.ready).toEqual({ kind: 'none' });
  });

  it('applies each spec per type, with all= for the rest and a named type beating all=', () => {
    const policies = resolvePolicies(TYPES, {
      restart: { raw: 'worker=always,all=on-failure', source: '--restart' },
      canDie: { raw: 'assets', source: '--can-die' },
      stopSignal: { raw: 'worker=QUIT', source: 'TF_STOP_SIGNAL' },
      ready: { raw: 'web=http:/health,worker=log:Ready\\, set', source: '--ready' },
    });
    expect(policies.get('web')).toEqual({ restart: 'on-failure', canDie: false, stopSignal: 'SIGTERM', ready: { kind: 'http', path: '/health' } });
    expect(policies.get('worker')).toEqual({ restart: 'always', canDie: false, stopSignal: 'SIGQUIT', ready: { kind: 'log', text: 'Ready, set' } });
    expect(policies.get('assets')).toEqual({ restart: 'on-failure', canDie: true, stopSignal: 'SIGTERM', ready: { kind: 'none' } });
  });

  it('describes a policy on one line', () => {
    expect(describePolicy(defaultPolicy('web'))).toBe('restart=no stop=SIGTERM ready=port');
    expect(describePolicy({ restart: 'always', canDie: true, stopSignal: 'SIGINT', ready: { kind: 'http', path: '/up' } })).toBe(
      'restart=always can-die stop=SIGINT ready=http:/up',
    );
  });

  it('lets can-die all cover every type', () => {
    const policies = resolvePolicies(TYPES, { canDie: { raw: 'all', source: 'TF_CAN_DIE' } });
    expect(TYPES.map((t) => policies.get(t)?.canDie)).toEqual([true, true, true]);
  });

  it('layers flag over tf.yaml over the default, per field and type', () => {
    const file = parseTfYaml(
      ['all:', '  restart: always', 'web:', '  ready: http:/up', '  stop_signal: INT', 'worker:', '  restart: on-failure', '  can_die: true'].join('\n'),
      'tf.yaml',
      TYPES,
    );
    const inputs: PolicyInputs = { file, stopSignal: { raw: 'web=HUP', source: '--stop-signal' }, ready: { raw: 'worker=port', source: '--ready' } };
    const policies = resolvePolicies(TYPES, inputs);
    // web: its own ready from the file, the flag's signal, restart from the file's all block
    expect(policies.get('web')).toEqual({ restart: 'always', canDie: false, stopSignal: 'SIGHUP', ready: { kind: 'http', path: '/up' } });
    // worker: its own file block beats the file's all; the flag sets ready
    expect(policies.get('worker')).toEqual({ restart: 'on-failure', canDie: true, stopSignal: 'SIGTERM', ready: { kind: 'port' } });
    // assets: only the file's all block applies
    expect(policies.get('assets')).toEqual({ ...defaultPolicy('assets'), restart: 'always' });
  });

  it('lets a command-line all= beat a type block in tf.yaml', () => {
    const file = parseTfYaml('worker:\n  restart: on-failure\n', 'tf.yaml', TYPES);
    const policies = resolvePolicies(TYPES, { file, restart: { raw: 'all=no', source: 'TF_RESTART' } });
    expect(policies.get('worker')?.restart).toBe('no');
  });

  it.each([
    // [inputs, kind, message, hint]
    [
      { restart: { raw: 'web=sometimes', source: '--restart' } },
      'usage',
      'unknown restart policy "sometimes" for web in --restart',
      'use no, on-failure or always',
    ], // bad value from a flag: usage error
    [
      { restart: { raw: 'web=sometimes', source: 'TF_RESTART' } },
      'option',
      'unknown restart policy "sometimes" for web in TF_RESTART',
      'use no, on-failure or always',
    ], // same from a variable: option error
    [{ restart: { raw: 'wbe=always', source: '--restart' } }, 'usage', 'unknown process type "wbe" in --restart', 'types are: web, worker, assets (or all)'], // a typo in the type
    [
      { restart: { raw: 'release=always', source: '--restart' } },
      'usage',
      'release in --restart is the release phase, not a process: no policy applies to it',
      'drop it; types are: web, worker, assets (or all)',
    ], // the release entry runs once, as the release phase
    [
      { restart: { raw: 'web', source: '--restart' } },
      'usage',
      'bad entry "web" in --restart',
      'expected TYPE=POLICY, e.g. "web=on-failure,worker=always" or "all=always"',
    ], // no '='
    [
      { restart: { raw: '=always', source: '--restart' } },
      'usage',
      'bad entry "=always" in --restart',
      'expected TYPE=POLICY, e.g. "web=on-failure,worker=always" or "all=always"',
    ], // no type
    [{ restart: { raw: 'web=always,web=no', source: '--restart' } }, 'usage', 'web is given twice in --restart', 'keep one entry per type'], // contradicting entries
    [
      { canDie: { raw: 'web=true', source: '--can-die' } },
      'usage',
      'bad entry "web=true" in --can-die',
      'expected process type names, e.g. "assets,seed" or "all"',
    ], // can-die takes names
    [{ canDie: { raw: 'nope', source: 'TF_CAN_DIE' } }, 'option', 'unknown process type "nope" in TF_CAN_DIE', 'types are: web, worker, assets (or all)'], // unknown type
    [
      { stopSignal: { raw: 'worker=KILL', source: '--stop-signal' } },
      'usage',
      'SIGKILL cannot be a stop signal for worker in --stop-signal',
      'SIGKILL cannot be caught, so the process gets no chance to shut down; tf already sends SIGKILL after the grace period (-t)',
    ], // refused with a reason
    [
      { stopSignal: { raw: 'worker=FOO', source: '--stop-signal' } },
      'usage',
      'unknown signal "FOO" for worker in --stop-signal',
      'use a signal name such as TERM, INT, QUIT, HUP, USR1 or USR2 (SIG prefix optional), or its number',
    ], // unknown
    [
      { ready: { raw: 'web=tcp', source: '--ready' } },
      'usage',
      'unknown readiness probe "tcp" for web in --ready',
      'use port, http, http:/PATH, log:TEXT or none',
    ], // unknown probe
    [
      { ready: { raw: 'web=log:a,b', source: '--ready' } },
      'usage',
      'bad entry "b" in --ready',
      'expected TYPE=PROBE, e.g. "web=http:/health,worker=log:Ready"; write a comma inside log:TEXT as \\,',
    ], // an unescaped comma splits the text
  ] as const)('refuses %j', (inputs, kind, message, hint) => {
    const error = errorOf(() => resolvePolicies(TYPES, inputs));
    expect(error.kind).toBe(kind);
    expect(error.message).toBe(message);
    expect(error.hint).toBe(hint);
    expect(error.exitCode).toBe(kind === 'usage' ? 2 : 1);
  });
});
