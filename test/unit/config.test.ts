import { describe, expect, it } from 'vitest';
import { parse as dotenvParse } from 'dotenv';
import { evaluate, expandValue, parseEnvFile, resolveEnv, scanEnvText } from '../../src/config/env.js';
import { gapsOf, lateSettings } from '../../src/config/env-gaps.js';
import { parseFormationSpec, resolveFormation } from '../../src/config/formation.js';
import { parseProcfile } from '../../src/config/procfile.js';
import { decodeConfigText } from '../../src/config/read.js';
import type { TfError } from '../../src/errors.js';
import { errorOf } from '../helpers/errors.js';

describe('parseProcfile', () => {
  it.each([
    // [text, expected [name, command, line] triples]
    ['web: node a.js', [['web', 'node a.js', 1]]], // the basic form
    ['web:node a.js', [['web', 'node a.js', 1]]], // no space after the colon
    ['web :  node a.js  ', [['web', 'node a.js', 1]]], // spaces around, trailing spaces trimmed
    [
      '\ufeffweb: a\r\nworker: b\r\n',
      [
        ['web', 'a', 1],
        ['worker', 'b', 2],
      ],
    ], // BOM and CRLF
    ['# c\n\n   \nweb: a # not a comment for tf\n', [['web', 'a # not a comment for tf', 4]]], // comments and blanks skipped; the shell sees inline #
    ['web-2_x: a: b', [['web-2_x', 'a: b', 1]]], // only the first colon splits
    ['web: echo "$PORT"; cd x && y', [['web', 'echo "$PORT"; cd x && y', 1]]], // shell syntax kept verbatim
  ] as const)('parses %j', (text, expected) => {
    const procfile = parseProcfile(text, 'Procfile');
    expect(procfile.types.map((t) => [t.name, t.command, t.line])).toEqual(expected);
    expect(procfile.types.map((t) => t.position)).toEqual(expected.map((_, i) => i));
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

  const values = (text: string, lookup: Record<string, string> = {}): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const entry of parseEnvFile({ file: '.env', text }).entries) out[entry.key] = evaluate(entry, (n) => lookup[n]);
    return out;
  };

  it('takes single-quoted values literally and expands the others', () => {
    expect(values('A=1\nB=\'$A\'\nC="$A"\nD=$A\n', { A: 'x' })).toEqual({ A: '1', B: '$A', C: 'x', D: 'x' });
  });

  it.each([
    ['DB_PASSWORD=abc#123', 'abc#123'], // sh and foreman keep a # inside a word; dotenv cut it
    ['COLOR=#ff0000', '#ff0000'],
    ['A=b # note', 'b'], // after whitespace, # starts a comment
    ['A=b\t# note', 'b'],
    ['A= # only a comment', ''],
    ['A="x # y"', 'x # y'],
    ['A="x" # note', 'x'],
    ['OTHER="escaped\\"quote"', 'escaped"quote'], // sh, foreman, honcho; dotenv kept the backslash
    ['A="back\\\\slash"', 'back\\slash'],
    ['A="\\$HOME and \\`x\\`"', '$HOME and `x`'],
    ['A="line\\nbreak"', 'line\nbreak'], // dotenv's \n, which users rely on
    ['A="keep \\q"', 'keep \\q'], // any other backslash stays, as in sh
    ["A='single \\\" #x'", 'single \\" #x'],
  ] as const)('reads %j as the shell does', (text, expected) => {
    expect(Object.values(values(text))).toEqual([expected]);
  });

  it('keeps the line of every key, including after a multi-line value', () => {
    const file = parseEnvFile({ file: '.env', text: '# head\nA=1\r\nB="two\nlines"\n\nexport C=3\n' });
    expect(file.entries.map((e) => [e.key, e.line])).toEqual([
      ['A', 2],
      ['B', 3],
      ['C', 6],
    ]);
  });

  it('warns about a key no shell can pass on, drops it, and says so truthfully', () => {
    const file = parseEnvFile({ file: '.env', text: 'GOOD=1\n-foo=1\n1A=x\na.b=2\n' });
    expect(file.entries.map((e) => e.key)).toEqual(['GOOD']);
    expect(file.warnings.map((w) => [w.line, w.message])).toEqual(
      [2, 3, 4].map((line, i) => [
        line,
        `"${['-foo', '1A', 'a.b'][i]}" is not a variable name a shell passes on, so it was ignored; use letters, digits and "_", not starting with a digit`,
      ]),
    );
  });

  it('refuses a NUL byte at load, naming the key and line but never the value', () => {
    const error = errorOf(() => parseEnvFile({ file: '.env', text: 'A=1\nSECRET=s3cr\0et\n' }));
    expect(error.describe()).toBe(
      '.env:2: the value of SECRET contains a NUL byte, which no process environment can hold; re-save the file as UTF-8 text without NUL bytes',
    );
    expect(error.describe()).not.toContain('s3cr');
    expect(errorOf(() => parseEnvFile({ file: '.env', text: 'A=1\n\0\n' })).line).toBe(2);
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
    const { env } = resolveEnv({ S: 'shell', PATH: '/bin' }, [file('A=1\nB=1\nS=file1\n'), file('B=2\nC=${A}${B}\n')], false);
    expect(env).toMatchObject({ A: '1', B: '2', C: '12', S: 'shell', PATH: '/bin' });
  });

  it('lets files win with filesWin, still able to extend what they replace', () => {
    const { env } = resolveEnv({ S: 'shell', PATH: '/bin' }, [file('S=file\nPATH=./node_modules/.bin:$PATH\n')], true);
    expect(env).toMatchObject({ S: 'file', PATH: './node_modules/.bin:/bin' });
  });

  it('expands references to the shell when the shell wins', () => {
    expect(resolveEnv({ HOST: 'shellhost' }, [file('HOST=filehost\nURL=http://$HOST/\n')], false).env.URL).toBe('http://shellhost/');
  });

  it('applies a line that extends the variable it sets on top of the shell, even when the shell wins', () => {
    const shell = { PATH: '/bin', HOST: 'shellhost', LIBS: 'l' };
    const resolved = resolveEnv(shell, [file('PATH=./bin:$PATH\nHOST=filehost\nLIBS=${LIBS}:x\n'), file('PATH=./more:${PATH}\n')], false);
    expect(resolved.env).toMatchObject({ PATH: './more:./bin:/bin', HOST: 'shellhost', LIBS: 'l:x' });
    expect(resolved.shadowed).toEqual(['HOST']);
    expect(resolved.origins.get('PATH')).toEqual({ kind: 'file', file: 'f', line: 1 });
    expect(resolved.origins.get('HOST')).toEqual({ kind: 'shell' });
  });

  it('names the values the files alone cannot complete, in parts (what an export cannot write)', () => {
    const text = [
      'PATH=./bin:$PATH', // extends itself: its own variable's place
      'HOMEDIR=${HOME}/data', // built on a variable only a shell has
      'X=1',
      'Y="$X and \\$HOME"', // built on a file key; an escaped dollar is text
      "Q='$HOME'", // single quotes: text
      'Z=${NOPE:-d}${NOPE-e}', // a default is what the user asked for when it is unset
      'W=$HOMEDIR/w', // built on a value that is itself incomplete
      'V=${UNSET:-$HOME}', // the default's own reference
    ].join('\n');
    const expected = new Map<string, unknown>([
      ['PATH', [{ text: './bin:' }, { variable: 'PATH' }]],
      ['HOMEDIR', [{ variable: 'HOME' }, { text: '/data' }]],
      ['W', [{ variable: 'HOME' }, { text: '/data/w' }]],
      ['V', [{ variable: 'HOME' }]],
    ]);
    expect(gapsOf([file(text)])).toEqual(expected);
  });

  it('completes a gap with what an earlier file sets, and carries one through layers', () => {
    expect(gapsOf([file('PATH=/usr/bin\n'), file('PATH=./bin:$PATH\n')])).toEqual(new Map());
    expect(gapsOf([file('PATH=./bin:$PATH\n'), file('PATH=./more:${PATH}:end\n')])).toEqual(
      new Map([['PATH', [{ text: './more:./bin:' }, { variable: 'PATH' }, { text: ':end' }]]]),
    );
    // A later full value closes the gap.
    expect(gapsOf([file('HOMEDIR=$HOME/d\n'), file('HOMEDIR=/srv/d\n')])).toEqual(new Map());
  });

  it('marks ${X:-default} as undecided when X is made only of variables no file sets: only the target knows if it is empty', () => {
    const text = [
      'D=$UNSET_THING',
      'E=${D:-dflt}', // empty, and so the default, only where the target leaves UNSET_THING empty
      'F=${D:-$W}', // either one: both decide
      'G=x${E:-y}', // E is undecided in turn: so is G
      'P=$U/x',
      'Q=${P:-d}', // P has text, so it is never empty: the default never applies
      'R=${D-d}', // D is set (to what the target gives): no default
    ].join('\n');
    expect(gapsOf([file(text)])).toEqual(
      new Map<string, unknown>([
        ['D', [{ variable: 'UNSET_THING' }]],
        ['E', [{ defaultOf: 'D', variables: ['UNSET_THING'] }]],
        ['F', [{ defaultOf: 'D', variables: ['UNSET_THING', 'W'] }]],
        ['G', [{ text: 'x' }, { defaultOf: 'E', variables: ['UNSET_THING'] }]],
        ['P', [{ variable: 'U' }, { text: '/x' }]],
        ['Q', [{ variable: 'U' }, { text: '/x' }]],
        ['R', [{ variable: 'UNSET_THING' }]],
      ]),
    );
  });

  it('names the lines that set a variable only after a line used it (references see only the lines above them)', () => {
    const text = [
      'A=$B/x', // 1: B is set below
      'B=1',
      'P=$V', // 3
      'Q=$P', // V reaches Q through P, which needed it first
      'V=2',
      'S=x$S', // 6: on top of itself: not a setting to move up
      'S=/s', // 7
      'N=${M:-d}', // a default taken is no use of M
      'M=1',
    ].join('\n');
    expect(lateSettings([file(text)])).toEqual(
      new Map([
        ['B', { neededAt: { file: 'f', line: 1 }, setAt: { file: 'f', line: 2 } }],
        ['V', { neededAt: { file: 'f', line: 3 }, setAt: { file: 'f', line: 5 } }],
        ['S', { neededAt: { file: 'f', line: 6 }, setAt: { file: 'f', line: 7 } }],
      ]),
    );
    // Across files, as they are layered.
    expect(lateSettings([file('A=$B\n'), parseEnvFile({ file: 'g', text: 'B=1\n' })])).toEqual(
      new Map([['B', { neededAt: { file: 'f', line: 1 }, setAt: { file: 'g', line: 1 } }]]),
    );
  });

  it('expands a name that is also an Object property (constructor, __proto__) as any other', () => {
    expect(resolveEnv({}, [file('A=x${constructor}y\nB=$__proto__\nC=${toString:-d}\n')], false).env).toMatchObject({ A: 'xy', B: '', C: 'd' });
    expect(resolveEnv({ constructor: 's' } as Record<string, string>, [file('A=$constructor\n')], false).env.A).toBe('s');
    expect(resolveEnv({}, [file('__proto__=p\nE=$__proto__\n')], false).env).toMatchObject({ E: 'p' });
  });

  it('shadows nothing when files win, and a plain reassignment after an extension lets the shell win again', () => {
    expect(resolveEnv({ A: 's' }, [file('A=f\n')], true).shadowed).toEqual([]);
    expect(resolveEnv({ A: 's' }, [file('A=x$A\n'), file('A=plain\n')], false)).toMatchObject({ env: { A: 's' }, shadowed: ['A'] });
  });
});

describe('the env-file scanner against dotenv', () => {
  // A small seeded generator, so a failure names a file that can be replayed.
  const random = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const KEYS = ['A', 'B_1', 'x.y', '-foo', '1A', 'export A', 'export', '  C', 'D\t'];
  const SEPARATORS = ['=', ' = ', ': ', ':', '= ', '=\t', ' '];
  const VALUES = [
    '',
    'v',
    'a b',
    'abc#123',
    '#ff0000',
    'x # note',
    '"q"',
    "'s'",
    '`b`',
    '"esc\\"q"',
    '"multi',
    "'open",
    'line"',
    '"a\\nb"',
    '  spaced  ',
    '"x" # c',
    "'it''s'",
    '"#"',
    '\\',
    '"a" "b"',
    '==',
  ];
  const LINES = ['', '# comment', 'BAD LINE', '   ', '\t# x', '"', "'", '#', '=1'];

  it('never disagrees with dotenv on which keys are read, nor on values outside the documented differences', () => {
    const next = random(12);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
    for (let run = 0; run < 3000; run++) {
      const lines = Array.from({ length: 1 + Math.floor(next() * 8) }, () => (next() < 0.2 ? pick(LINES) : `${pick(KEYS)}${pick(SEPARATORS)}${pick(VALUES)}`));
      const text = lines.join(next() < 0.8 ? '\n' : '\r\n');
      const reference = dotenvParse(text);
      const scan = scanEnvText(text);
      const mine: Record<string, string> = {};
      const raw: Record<string, string> = {};
      for (const entry of scan.entries) {
        mine[entry.key] = evaluate(entry, () => undefined);
        raw[entry.key] = entry.raw;
      }
      expect(Object.keys(mine).sort(), JSON.stringify(text)).toEqual(Object.keys(reference).sort());
      for (const [key, value] of Object.entries(reference)) {
        // Documented differences: `#` (a comment only after whitespace) and backslash escapes in double quotes.
        if (/[#\\]/.test(raw[key] ?? '') || /[#\\]/.test(value)) continue;
        expect(mine[key], `${key} in ${JSON.stringify(text)}`).toBe(value);
      }
    }
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
    ['web = 2 worker= 1', [], { web: 2, worker: 1, clock: 0 }], // around "=" too, as foreman takes them
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
    ['web=1,web=2', '"web" is given twice in --formation'],
  ])('rejects %j', (spec, message) => {
    expect(errorOf(() => parseFormationSpec(spec, '--formation', types)).message).toBe(message);
  });

  it('lists the valid types in the hint', () => {
    expect(errorOf(() => resolveFormation(types, { only: ['api'] })).describe()).toBe(
      'unknown process type "api" on the command line; types are: web, worker, clock',
    );
  });
});

describe('decodeConfigText', () => {
  it('refuses bytes that are not UTF-8, naming the line, instead of turning them into U+FFFD', () => {
    const bytes = Buffer.concat([Buffer.from('A=1\nB=caf'), Buffer.from([0xe9]), Buffer.from('\nC=3\n')]);
    expect(() => decodeConfigText(bytes, { shown: '.env', kind: 'envfile' })).toThrow(/is not valid UTF-8/);
    try {
      decodeConfigText(bytes, { shown: '.env', kind: 'envfile' });
    } catch (error) {
      expect((error as TfError).describe()).toBe('.env:2: is not valid UTF-8 (a byte sequence no UTF-8 text has); re-save it as UTF-8');
    }
  });

  it('takes valid UTF-8, accents included', () => {
    expect(decodeConfigText(Buffer.from('A=café\n'), { shown: '.env', kind: 'envfile' })).toBe('A=café\n');
  });
});

describe('parseEnvFile warnings', () => {
  it('warns, with the line, about a value that opens a quote and does not close it (taken as written)', () => {
    const parsed = parseEnvFile({ file: '.env', text: 'A=1\nB="unterminated\nC="x" trailing\nD="ok"\n' });
    expect(parsed.warnings.map((w) => [w.line, w.message.split(' starts with')[0]])).toEqual([
      [2, 'the value of B'],
      [3, 'the value of C'],
    ]);
  });

  it('warns about shell syntax tf keeps as written (${E:?}, $(cmd), backticks), naming its form, never the value', () => {
    const text = [
      'E=${E:?required}',
      'F=$(whoami)',
      'G="a `date` b"',
      'H=${HOME}/x',
      'I="\\${X}"',
      'J=\\${Y}',
      'K=${Z:-${W}}',
      "L='$(literal)'",
      'M=${HOME:-x}$(id)',
      'N=`literal in dotenv backticks`',
      'O=${X:-$(pwd)}',
      'P="${X:-${Y:-`id`}}"',
    ].join('\n');
    const parsed = parseEnvFile({ file: '.env', text });
    expect(parsed.warnings.map((w) => [w.line, w.message.split(', which')[0]])).toEqual([
      [1, 'the value of E holds a ${...} form'],
      [2, 'the value of F holds a command substitution $(...)'],
      [3, 'the value of G holds a command substitution in backticks'],
      [9, 'the value of M holds a command substitution $(...)'],
      [10, 'the value of N is in backticks'],
      [11, 'the value of O holds a command substitution $(...)'],
      [12, 'the value of P holds a command substitution in backticks'],
    ]);
    for (const w of parsed.warnings) expect(w.message).not.toMatch(/required|whoami|date|\(id\)/);
  });
});
