import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTfYamlBeside, parseTfYaml, readTfYaml, tfYamlPathFor, TF_YAML_MAX_BYTES } from '../../src/config/tfyaml.js';
import { errorOf } from '../helpers/errors.js';

const TYPES = ['web', 'worker'];
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;
const settingsOf = (text: string): Record<string, unknown> => Object.fromEntries(parseTfYaml(text, 'tf.yaml', TYPES).types);

describe('parseTfYaml', () => {
  it('reads one block per type with positions', () => {
    const text = yaml('# team settings', 'web:', '  ready: http:/health', '  stop_signal: SIGINT', 'worker:', '  restart: on-failure', '  can_die: false');
    expect(settingsOf(text)).toEqual({
      web: { ready: { value: { kind: 'http', path: '/health' }, line: 3 }, stopSignal: { value: 'SIGINT', line: 4 } },
      worker: { restart: { value: 'on-failure', line: 6 }, canDie: { value: false, line: 7 } },
    });
  });

  it.each([
    // [text, expected settings by type (values only)]
    ['', {}], // an empty file sets nothing
    ['# only a comment\n', {}], // so does one with only comments
    ['web:\n', { web: {} }], // an empty block sets nothing
    ['all:\n  restart: always\n', { all: { restart: 'always' } }], // all applies to every type
    ['web:\n  restart: no\n', { web: { restart: 'no' } }], // YAML 1.2: a bare no is the word, not false
    ['web:\n  stop_signal: 3\n', { web: { stopSignal: 'SIGQUIT' } }], // a signal number
    ['web:\n  can_die: true\n', { web: { canDie: true } }], // a boolean
    [
      'worker:\n  ready: log:Listening on http://localhost:5000, pid=1\n',
      { worker: { ready: { kind: 'log', text: 'Listening on http://localhost:5000, pid=1' } } },
    ], // commas and '=' need no escape here
    ['worker:\n  ready: "log:queue: ready"\n', { worker: { ready: { kind: 'log', text: 'queue: ready' } } }], // ': ' quoted
    ['web: {ready: port, restart: always}\n', { web: { ready: { kind: 'port' }, restart: 'always' } }], // flow style
    ['\ufeffweb:\r\n  ready: none\r\n', { web: { ready: { kind: 'none' } } }], // BOM and CRLF
  ] as const)('parses %j', (text, expected) => {
    const values = Object.fromEntries(
      Object.entries(settingsOf(text)).map(([type, settings]) => [
        type,
        Object.fromEntries(Object.entries(settings as Record<string, { value: unknown }>).map(([k, v]) => [k, v.value])),
      ]),
    );
    expect(values).toEqual(expected);
  });

  it('follows aliases', () => {
    const text = yaml('web: &shared', '  restart: always', 'worker: *shared');
    expect(settingsOf(text).worker).toEqual({ restart: { value: 'always', line: 2 } });
  });

  it.each([
    // [text, line, message, hint]
    [yaml('web:', '  ready: http:/health', 'wbe:', '  restart: always'), 3, 'unknown process type "wbe"', 'types are: web, worker (or all)'], // a typo in the type
    [
      yaml('release:', '  restart: always'),
      1,
      'release is the release phase, not a process: no setting of tf.yaml applies to it',
      'remove this block; types are: web, worker (or all)',
    ], // the release entry runs once
    [yaml('web:', '  restart: always', '  retsart: no'), 3, 'unknown key "retsart" for web', 'keys are restart, can_die, stop_signal, ready'], // a typo in the key
    [yaml('web:', '  stop-signal: INT'), 2, 'unknown key "stop-signal" for web', 'did you mean "stop_signal"? keys are restart, can_die, stop_signal, ready'], // the flag's spelling
    [yaml('web:', '  restart: sometimes'), 2, 'unknown restart policy "sometimes" for web', 'use no, on-failure or always'], // bad value
    [
      yaml('web:', '  stop_signal: KILL'),
      2,
      'SIGKILL cannot be a stop signal for web',
      'SIGKILL cannot be caught, so the process gets no chance to shut down; tf already sends SIGKILL after the grace period (-t)',
    ], // refused signal
    [yaml('worker:', '  ready: tcp'), 2, 'unknown readiness probe "tcp" for worker', 'use port, http, http:/PATH, log:TEXT or none'], // bad probe
    [yaml('web:', '  can_die: yes'), 2, 'can_die for web must be true or false, got "yes"', 'write "can_die: true" or "can_die: false"'], // YAML 1.2: yes is a string
    [
      yaml('web:', '  restart:', '    - always'),
      3,
      'restart for web must be no, on-failure or always, got a list',
      'write one value after the key, e.g. "restart: on-failure"',
    ], // a list
    [
      yaml('web:', '  ready:', '    http: /health'),
      3,
      'ready for web must be a probe (port, http, http:/PATH, log:TEXT or none), got a mapping',
      'write one value after the key, e.g. "ready: http:/health"',
    ], // a mapping
    [
      yaml('web:', '  restart:'),
      2,
      'restart for web must be no, on-failure or always, got nothing',
      'write one value after the key, e.g. "restart: on-failure"',
    ], // empty
    [
      yaml('%YAML 1.1', '---', 'web:', '  restart: no'),
      4,
      'restart for web must be no, on-failure or always, got false',
      'quote the value, e.g. restart: "no"',
    ], // YAML 1.1 reads no as false
    [
      yaml('# c', 'web: {restart}'),
      2,
      'restart for web must be no, on-failure or always, got nothing',
      'write one value after the key, e.g. "restart: on-failure"',
    ], // a flow key without a value
    [yaml('web:', '  restart: always', '  restart: no'), 3, 'duplicate key "restart" in the block of web (first on line 2)', 'keep one of them'], // duplicate key
    [yaml('web:', '  restart: always', 'worker: {}', 'web:', '  ready: port'), 4, 'duplicate key "web" in tf.yaml (first on line 1)', 'keep one of them'], // duplicate type
    [
      yaml('web: port'),
      1,
      'the block of web must hold settings such as "restart: on-failure", got a value',
      'indent its settings under "web:"; keys are restart, can_die, stop_signal, ready',
    ], // a value instead of a block
    [
      yaml('web:', '- restart: always'),
      2,
      'the block of web must hold settings such as "restart: on-failure", got a list',
      'indent its settings under "web:"; keys are restart, can_die, stop_signal, ready',
    ], // a list instead of a block
    [yaml('- web', '- worker'), 1, 'expected one block per process type, e.g. "web:" followed by indented settings', 'types are: web, worker (or all)'], // a list document
    [yaml('just text'), 1, 'expected one block per process type, e.g. "web:" followed by indented settings', 'types are: web, worker (or all)'], // a scalar document
    [yaml('web:', '  1: always'), 2, 'the block of web has key "1", which is not a name', 'keys are plain names such as web or restart'], // a number key
    [
      yaml('web:', '  ready: log: Listening'),
      2,
      'invalid YAML: Nested mappings are not allowed in compact mappings',
      'quote a value that contains ": ", e.g. ready: "log:Listening on: 5000"',
    ], // unquoted ': ' in a value
    [
      yaml('web:', '  ready: [port'),
      3,
      'invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
      'fix the YAML syntax',
    ], // broken syntax
    [
      yaml('web:', '  <<: {restart: always}'),
      2,
      'unknown key "<<" for web',
      'merge keys are not supported; put shared settings in an "all:" block. keys are restart, can_die, stop_signal, ready',
    ], // merge keys
    [yaml('web:', '  restart: !policy always'), 2, 'invalid YAML: Unresolved tag: !policy', 'remove the tag: values are plain text, numbers or true/false'], // an unknown tag is not ignored
    [yaml('%YAML 1.3', '---', 'web: {}'), 1, 'invalid YAML: Unsupported YAML version 1.3', 'fix the YAML syntax'], // an unknown version is not ignored
    [yaml('web:', '  restart: always', '---', 'worker: {}'), 3, 'invalid YAML: more than one document', 'keep one document: remove the "---" separator'], // two documents
  ] as const)('refuses %j at line %i', (text, line, message, hint) => {
    const error = errorOf(() => parseTfYaml(text, 'tf.yaml', TYPES));
    expect(error.kind).toBe('option');
    expect({ file: error.file, line: error.line, message: error.message, hint: error.hint }).toEqual({ file: 'tf.yaml', line, message, hint });
    expect(error.describe()).toBe(`tf.yaml:${line}: ${message}; ${hint}`);
  });
});

describe('readTfYaml', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-yaml-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lives beside the Procfile', () => {
    expect(tfYamlPathFor('/app/config/Procfile.dev')).toBe('/app/config/tf.yaml');
  });

  it('is found beside the Procfile and named as the Procfile is shown', () => {
    const app = path.join(dir, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'tf.yaml'), 'web:\n  ready: nope\n');
    expect(errorOf(() => loadTfYamlBeside(path.join(app, 'Procfile'), 'app/Procfile', TYPES)).describe()).toBe(
      'app/tf.yaml:2: unknown readiness probe "nope" for web; use port, http, http:/PATH, log:TEXT or none',
    );
    expect(loadTfYamlBeside(path.join(dir, 'Procfile'), 'Procfile', TYPES)).toBeUndefined();
  });

  it('returns undefined when there is no tf.yaml', () => {
    expect(readTfYaml(path.join(dir, 'missing.yaml'), 'tf.yaml', TYPES)).toBeUndefined();
  });

  it('reads and validates a file, naming it as shown', () => {
    const file = path.join(dir, 'ok.yaml');
    writeFileSync(file, 'web:\n  restart: always\n');
    expect(readTfYaml(file, 'app/tf.yaml', TYPES)?.types.get('web')?.restart?.value).toBe('always');
    writeFileSync(file, 'web:\n  restart: maybe\n');
    expect(errorOf(() => readTfYaml(file, 'app/tf.yaml', TYPES)).describe()).toBe(
      'app/tf.yaml:2: unknown restart policy "maybe" for web; use no, on-failure or always',
    );
  });

  it('follows a symlink to a regular file', () => {
    const target = path.join(dir, 'target.yaml');
    writeFileSync(target, 'worker:\n  can_die: true\n');
    const link = path.join(dir, 'link.yaml');
    symlinkSync(target, link);
    expect(readTfYaml(link, 'tf.yaml', TYPES)?.types.get('worker')?.canDie?.value).toBe(true);
  });

  it('refuses a directory', () => {
    const sub = path.join(dir, 'sub');
    mkdirSync(sub);
    expect(errorOf(() => readTfYaml(sub, 'tf.yaml', TYPES)).describe()).toBe(
      'tf.yaml: is a directory; make tf.yaml a plain UTF-8 file of a few settings per process type, or remove it',
    );
  });

  it('refuses a FIFO without blocking on it', () => {
    const fifo = path.join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    expect(errorOf(() => readTfYaml(fifo, 'tf.yaml', TYPES)).message).toBe('is a named pipe (FIFO)');
  });

  it('refuses a file over 1 MiB', () => {
    const big = path.join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(TF_YAML_MAX_BYTES)}\n`);
    const error = errorOf(() => readTfYaml(big, 'tf.yaml', TYPES));
    expect(error.message).toBe('is larger than 1 MiB, too large for a config file');
    expect(error.file).toBe('tf.yaml');
  });

  it('accepts a file of exactly 1 MiB', () => {
    const edge = path.join(dir, 'edge.yaml');
    writeFileSync(edge, `#${' '.repeat(TF_YAML_MAX_BYTES - 2)}\n`);
    expect(readTfYaml(edge, 'tf.yaml', TYPES)?.types.size).toBe(0);
  });
});
