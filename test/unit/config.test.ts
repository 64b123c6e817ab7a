import { describe, expect, it } from 'vitest';
import { expandValue, parseEnvFile, resolveEnv, scanEnvText } from '../../src/config/env.js';
import { parseFormationSpec, resolveFormation } from '../../src/config/formation.js';
import { parseProcfile } from '../../src/config/procfile.js';
import { TfError } from '../../src/errors.js';

const errorOf = (fn: () => unknown): TfError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof TfError) return error;
    throw error;
  }
  throw new Error('expected a TfError');
};

describe('parseProcfile', () => {
  it.each([
    // [text, expected [name, command, line] triples]
    ['web: node a.js', [['web', 'node a.js', 1]]], // the basic form
    ['web:node a.js', [['web', 'node a.js', 1]]], // no space after the colon
    ['web :  node a.js  ', [['web', 'node a.js', 1]]], // spaces around, trailing spaces trimmed
    ['\ufeffweb: a\r\nworker: b\r\n', [['web', 'a', 1], ['worker', 'b', 2]]], // BOM and CRLF
    ['# c\n\n   \nweb: a # not a comment for tf\n', [['web', 'a # not a comment for tf', 4]]], // comments and blanks skipped; the shell sees inline #
    ['web-2_x: a: b', [['web-2_x', 'a: b', 1]]], // only the first colon splits
    ['web: echo "$PORT"; cd x && y', [['web', 'echo "$PORT"; cd x && y', 1]]], // shell syntax kept verbatim
  ] as const)('parses %j', (text, expected) => {
    const procfile = parseProcfile(text, 'Procfile');
    expect(procfile.types.map((t) => [t.name, t.command, t.line])).toEqual(expected);
    expect(procfile.types.map((t) => t.index)).toEqual(expected.map((_, i) => i));
  });

  it.each([
    ['web npm start', 1, 'expected "name: command", got "web npm start"'], // missing colon
    ['web: a\n  worker: b', 2, 'expected "name: command", got "  worker: b"'], // indented entry
    ['web.1: a', 1, 'invalid process type name "web.1"'], // bad characters
    ['web:', 1, 'process type "web" has no command'], // empty command
    ['all: a', 1, 'process type name "all" is reserved'], // clashes with --formation all=
    ['web: a\nweb: b', 2, 'duplicate process type "web" (first defined on line 1)'],
  ] as const)('rejects %j at line %i', (text, line, message) => {
    const error = errorOf(() => parseProcfile(text, 'Procfile'));
    expect(error.line).toBe(line);
    expect(error.file).toBe('Procfile');
    expect(error.message).toBe(message);
  });

  it('rejects a Procfile without entries', () => {
    expect(errorOf(() => parseProcfile('# only a comment\n', 'P')).describe()).toBe('P: no process types defined; add a line such as "web: node server.js"');
  });
});

describe('env files', () => {
  it.each([
    ['A=1\nB = 2\nexport C=3\n# x\n\nD: 4', []], // dotenv's accepted forms
    ['A=1\nBAD LINE\nC', [2, 3]], // lines dotenv would skip
    ['A="multi\nline value\nBAD inside quotes"\nB=1', []], // a multi-line quoted value is one entry
    ["A='one\ntwo'\nNOPE", [3]], // after the quote closes, scanning resumes
  ] as const)('reports skipped lines in %j', (text, skipped) => {
    expect(scanEnvText(text).skipped).toEqual(skipped);
  });

  it('parses with dotenv and marks single-quoted values literal', () => {
    const file = parseEnvFile({ file: '.env', text: "A=1\nB='$A'\nC=\"$A\"\n" });
    expect(file.vars).toEqual({ A: '1', B: '$A', C: '$A' });
    expect([...file.literal]).toEqual(['B']);
  });

  it.each([
    ['${A}', 'a'],
    ['$A-$B', 'a-'],
    ['${B:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'], // :- also replaces an empty value
    ['${EMPTY-fallback}', ''], // - only replaces an unset one
    ['${B:-${A}x}', 'ax'], // defaults expand too
    ['\\$A', '$A'], // escaped dollar
    ['cost: 5$', 'cost: 5$'], // a lone dollar stays
  ] as const)('expands %j', (value, expected) => {
    const vars: Record<string, string> = { A: 'a', EMPTY: '' };
    expect(expandValue(value, (n) => vars[n])).toBe(expected);
  });

  const file = (text: string) => parseEnvFile({ file: 'f', text });

  it('layers files in order and lets the shell win by default', () => {
    const env = resolveEnv({ S: 'shell', PATH: '/bin' }, [file('A=1\nB=1\nS=file1\n'), file('B=2\nC=${A}${B}\n')], false);
    expect(env).toMatchObject({ A: '1', B: '2', C: '12', S: 'shell', PATH: '/bin' });
  });

  it('lets files win with filesWin, still able to extend what they replace', () => {
    const env = resolveEnv({ S: 'shell', PATH: '/bin' }, [file('S=file\nPATH=./node_modules/.bin:$PATH\n')], true);
    expect(env).toMatchObject({ S: 'file', PATH: './node_modules/.bin:/bin' });
  });

  it('expands references to the shell when the shell wins', () => {
    expect(resolveEnv({ HOST: 'shellhost' }, [file('HOST=filehost\nURL=http://$HOST/\n')], false).URL).toBe('http://shellhost/');
  });
});

describe('formation', () => {
  const types = parseProcfile('web: a\nworker: b\nclock: c\n', 'Procfile').types;
  const counts = (f: ReadonlyMap<string, number>) => Object.fromEntries(f);

  it.each([
    [undefined, [], { web: 1, worker: 1, clock: 1 }], // default: one of each
    ['web=2', [], { web: 2, worker: 0, clock: 0 }], // unnamed types run none
    ['all=2,worker=0', [], { web: 2, worker: 0, clock: 2 }], // all= for unnamed
    ['web=3, clock=1', [], { web: 3, worker: 0, clock: 1 }], // spaces allowed
    [undefined, ['worker'], { web: 0, worker: 1, clock: 0 }], // only named types
    ['worker=3', ['worker', 'web'], { web: 1, worker: 3, clock: 0 }], // named types take spec counts
  ] as const)('resolves %j with types %j', (spec, only, expected) => {
    expect(counts(resolveFormation(types, { spec, only }))).toEqual(expected);
  });

  it.each([
    ['wbe=1', 'unknown process type "wbe" in --formation'],
    ['web=x', 'bad formation entry "web=x" in --formation'],
    ['web', 'bad formation entry "web" in --formation'],
    ['web=-1', 'bad formation entry "web=-1" in --formation'],
  ])('rejects %j', (spec, message) => {
    expect(errorOf(() => parseFormationSpec(spec, '--formation', types)).message).toBe(message);
  });

  it('lists the valid types in the hint', () => {
    expect(errorOf(() => resolveFormation(types, { only: ['api'] })).describe()).toBe('unknown process type "api" on the command line; types are: web, worker, clock');
  });
});
