import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { parseEnvFile, resolveEnv } from '../../src/config/env.js';
import { editEnvFile, editEnvText, withFileLock, type EnvEdit } from '../../src/config/env-write.js';
import { expectAllDead } from '../helpers/tf.js';
import { errorOf } from '../helpers/errors.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-env-write-'));
  dirs.push(dir);
  return dir;
};

const set = (key: string, value: string): EnvEdit => ({ kind: 'set', key, value });
const unset = (key: string): EnvEdit => ({ kind: 'unset', key });
const edit = (text: string, ...edits: EnvEdit[]): string => editEnvText(text, edits, '.env').text;
/** What tf's own loader gives a process from this file. */
const read = (text: string): Record<string, string> => resolveEnv({}, [parseEnvFile({ file: '.env', text })], false).env;

describe('editEnvText keeps every other byte', () => {
  it.each([
    // [name, before, edits, after]
    [
      'a value in the middle; comments, blanks and odd spacing untouched',
      '# top\n\nA=1\n  B = 2   # two\nC=3\n',
      [set('B', 'x')],
      '# top\n\nA=1\n  B = x   # two\nC=3\n',
    ],
    ['a new key is appended', 'A=1\n', [set('B', '2')], 'A=1\nB=2\n'],
    ['no final newline: one is added before the new line', 'A=1', [set('B', '2')], 'A=1\nB=2\n'],
    ['no final newline on the edited last line: still none', 'A=1\nB=2', [set('B', '3')], 'A=1\nB=3'],
    ['CRLF stays CRLF, the new line too', 'A=1\r\nB=2\r\n', [set('A', 'x'), set('C', 'y')], 'A=x\r\nB=2\r\nC=y\r\n'],
    ['export and indentation kept on the edited line', '  export A=1\n', [set('A', '2')], '  export A=2\n'],
    ['a quoted value with its comment', 'A="old value" # keep\n', [set('A', 'new')], 'A=new # keep\n'],
    ['a key assigned twice: the last one (the winner) is edited', 'A=1\nB=2\nA=3\n', [set('A', '9')], 'A=1\nB=2\nA=9\n'],
    ['a multi-line value becomes one line; the next lines stay', 'A="line 1\nline 2" # c\nB=2\n', [set('A', 'x')], 'A=x # c\nB=2\n'],
    ['a byte-order mark stays', '\ufeffA=1\n', [set('A', '2')], '\ufeffA=2\n'],
    ['the YAML-ish separator stays', 'A: 1\n', [set('A', '2')], 'A: 2\n'],
    ['unset removes every assignment, a multi-line one whole', 'A="x\ny"\nB=1\nA=2 # c\n# end\n', [unset('A')], 'B=1\n# end\n'],
    ['unset of the last line of a file without a final newline', 'A=1\nB=2', [unset('B')], 'A=1\n'],
    ['unset of a key that is not there changes nothing', 'A=1', [unset('B')], 'A=1'],
    ['an empty file', '', [set('A', '')], 'A=\n'],
  ] as const)('%s', (_name, before, edits, after) => {
    expect(edit(before, ...edits)).toBe(after);
  });

  it('says which line it edited and which others it left', () => {
    expect(editEnvText('A=1\nB=2\nA=3\n', [set('A', 'x'), set('C', 'y'), unset('B'), unset('D')], '.env').outcomes).toEqual([
      // Lines set are numbered as in the file written ("A=1\nA=x\nC=y\n")...
      { kind: 'replaced', key: 'A', line: 2, earlier: [1] },
      { kind: 'added', key: 'C', line: 3 },
      // ...lines removed as in the file read.
      { kind: 'removed', key: 'B', lines: [2] },
      { kind: 'absent', key: 'D' },
    ]);
    expect(editEnvText('A=1\nB="x\ny"\nC=3\n', [unset('B'), unset('C'), set('B', '1')], '.env').outcomes).toEqual([
      { kind: 'removed', key: 'B', lines: [2] },
      { kind: 'removed', key: 'C', lines: [4] },
      { kind: 'added', key: 'B', line: 2 },
    ]);
  });

  it.each([
    // [value, how it is written]
    ['plain-value_1.2:3/4@x', 'plain-value_1.2:3/4@x'], // safe characters: bare
    ['two words', "'two words'"], // a space: single quotes
    ['a # not a comment', "'a # not a comment'"],
    ['$HOME and ${X}', "'$HOME and ${X}'"], // single quotes: no expansion
    ["it's", `"it's"`], // a single quote: double quotes
    ['multi\nline', '"multi\\nline"'], // newlines escaped, so the value stays on one line
    ['back\\slash $x "q" `b`', '"back\\\\slash \\$x \\"q\\" \\`b\\`"'],
  ])('writes %j as %s', (value, written) => {
    expect(edit('', set('A', value))).toBe(`A=${written}\n`);
  });
});

/** A small seeded generator, so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [...'aZ09 _-=:#$\\\'"`{}!\t\n\r.@/%?&*;|<>()[]~,+'].concat(['é', '€', '😀', '${A}', '$A', '\\n', '\\$', ' #', '\r\n']);

describe('a written value reads back exactly (tf parser), whatever it holds', () => {
  it('random values into files with random surroundings', () => {
    const contexts = [
      '',
      'A=1\n',
      '# c\nX="multi\nline"\nY=2',
      'export K=old # note\r\nZ=3\r\n',
      "K='a'\nK=b\n",
      '\ufeffK="multi\r\nline" # c\r\nZ=1',
      'K=a\n\n# end',
      "  K = 'q' # it's\nQ=`b`\n",
    ];
    for (let seed = 1; seed <= 800; seed++) {
      const next = random(seed);
      const length = Math.floor(next() * 12);
      let value = '';
      for (let i = 0; i < length; i++) value += ALPHABET[Math.floor(next() * ALPHABET.length)];
      const context = contexts[seed % contexts.length] ?? '';
      const before = read(context);
      const written = edit(context, set('K', value));
      const after = read(written);
      expect(after.K, `seed ${seed}: ${JSON.stringify(value)} in ${JSON.stringify(context)} -> ${JSON.stringify(written)}`).toBe(value);
      expect({ ...after, K: undefined }, `seed ${seed}`).toEqual({ ...before, K: undefined });
    }
  });
});

describe('bad edits are refused without showing the value', () => {
  it.each([
    ['1BAD', 'not a variable name'],
    ['MY-KEY', 'not a variable name'],
    ['', 'not a variable name'],
  ])('refuses the key %j, with the fix', (key, message) => {
    const error = errorOf(() => editEnvText('', [set(key, 'hunter2')], '.env'));
    expect(error.message).toContain(message);
    expect(error.hint).toContain('letters, digits and "_"');
    expect(error.describe()).not.toContain('hunter2');
  });

  it('refuses a NUL byte and half a surrogate pair, naming the key only', () => {
    for (const value of ['hun\0ter2', 'hunter2\ud800']) {
      const error = errorOf(() => editEnvText('', [set('PASSWORD', value)], '.env'));
      expect(error.describe()).toContain('PASSWORD');
      expect(error.describe()).not.toContain('hunter2');
    }
  });

  it('refuses (rather than corrupt) when the lines around cannot hold the value', () => {
    // A value ending in a backslash needs double quotes, and `\"` then reads as an escaped quote
    // that runs on to the quote in the comment below (dotenv's own line pattern does the same).
    const error = errorOf(() => editEnvText('K=old\n# 5"\n', [set('K', 'a b\\')], '.env'));
    expect(error.line).toBe(1);
    expect(error.message).toContain('cannot be written so that it reads back exactly');
  });
});

describe('editEnvFile', () => {
  it('replaces the file atomically, keeps its mode, leaves no temporary or lock file', async () => {
    const dir = tempDir();
    const file = path.join(dir, '.env');
    writeFileSync(file, '# keep\nA=1\n');
    chmodSync(file, 0o640);
    const inode = statSync(file).ino;
    const result = await editEnvFile({ path: file, shown: '.env', newMode: 0o644 }, [set('A', '2'), set('B', 'two words')]);
    expect(result).toMatchObject({ created: false, changed: true });
    expect(readFileSync(file, 'utf8')).toBe("# keep\nA=2\nB='two words'\n");
    expect(statSync(file).mode & 0o777).toBe(0o640);
    // A rename, not a rewrite in place: a reader holding the old file never sees half of the new one.
    expect(statSync(file).ino).not.toBe(inode);
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('creates a missing file with the given mode, and creates nothing for an unset', async () => {
    const dir = tempDir();
    const file = path.join(dir, '.env.local');
    await editEnvFile({ path: file, shown: '.env.local', newMode: 0o600 }, [unset('A')]);
    expect(readdirSync(dir)).toEqual([]);
    const result = await editEnvFile({ path: file, shown: '.env.local', newMode: 0o600 }, [set('A', '1')]);
    expect(result.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('edits the file a symlink points to, keeping the link', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'shared.env'), 'A=1\n');
    symlinkSync('shared.env', path.join(dir, '.env'));
    await editEnvFile({ path: path.join(dir, '.env'), shown: '.env', newMode: 0o644 }, [set('A', '2')]);
    expect(readFileSync(path.join(dir, 'shared.env'), 'utf8')).toBe('A=2\n');
    expect(statSync(path.join(dir, '.env')).isFile()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['.env', 'shared.env']);
  });

  it('refuses a file that is not UTF-8 rather than change its other bytes', async () => {
    const dir = tempDir();
    const file = path.join(dir, '.env');
    writeFileSync(file, Buffer.from([0x41, 0x3d, 0xff, 0x0a]));
    await expect(editEnvFile({ path: file, shown: '.env', newMode: 0o644 }, [set('B', '1')])).rejects.toThrow(/not valid UTF-8/);
    expect(readFileSync(file)).toEqual(Buffer.from([0x41, 0x3d, 0xff, 0x0a]));
  });
});

describe('the lock', () => {
  it('waits for a live holder and then names it', async () => {
    const dir = tempDir();
    const file = path.join(dir, '.env');
    writeFileSync(`${file}.lock`, `${process.pid} ${hostname()}\n`);
    await expect(withFileLock(file, '.env', () => 1, { waitMs: 100 })).rejects.toThrow(`another writer holds .env.lock (pid ${process.pid} on ${hostname()})`);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
  });

  it('breaks the lock of a process that is gone, and one it cannot check once it is old', async () => {
    const dir = tempDir();
    const file = path.join(dir, '.env');
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid as number;
    await new Promise((resolve) => child.on('close', resolve));
    await expectAllDead([pid]);
    writeFileSync(`${file}.lock`, `${pid} ${hostname()}\n`);
    expect(await withFileLock(file, '.env', () => 'ran', { waitMs: 5000 })).toBe('ran');
    writeFileSync(`${file}.lock`, '');
    expect(await withFileLock(file, '.env', () => 'ran', { waitMs: 5000, staleMs: 0 })).toBe('ran');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('concurrent writers in several processes lose no update', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const here = path.dirname(fileURLToPath(import.meta.url));
    const writer = path.join(dir, 'writer.mjs');
    await build({
      entryPoints: [path.resolve(here, '../../src/config/env-write.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: writer,
      logLevel: 'silent',
    });
    const script = path.join(dir, 'child.mjs');
    // Each child waits for "go" on stdin, so that all of them write at once.
    writeFileSync(
      script,
      `import { editEnvFile } from ${JSON.stringify(writer)};
const [file, name, count] = process.argv.slice(2);
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  for (let i = 0; i < Number(count); i++) await editEnvFile({ path: file, shown: '.env', newMode: 0o644 }, [{ kind: 'set', key: name + '_' + i, value: 'v ' + name + ' ' + i }]);
  process.stdout.write('done\\n');
  process.exit(0);
});
`,
    );
    const file = path.join(dir, '.env');
    writeFileSync(file, '# shared\nKEEP=1\n');
    const names = ['A', 'B', 'C', 'D', 'E', 'F'];
    const count = 8;
    const children = names.map((name) => spawn(process.execPath, [script, file, name, String(count)], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const outputs = children.map(() => ({ out: '', err: '' }));
    const exits = children.map(
      (child, i) =>
        new Promise<number | null>((resolve) => {
          child.stdout.on('data', (d: Buffer) => {
            (outputs[i] as { out: string }).out += d.toString();
          });
          child.stderr.on('data', (d: Buffer) => {
            (outputs[i] as { err: string }).err += d.toString();
          });
          child.on('close', resolve);
        }),
    );
    await Promise.all(
      children.map(
        (child, i) =>
          new Promise<void>((resolve, reject) => {
            const check = (): void => {
              if (outputs[i]?.out.includes('ready')) resolve();
            };
            child.stdout.on('data', check);
            child.on('close', () => reject(new Error(`child ${names[i]} exited early: ${outputs[i]?.err}`)));
          }),
      ),
    );
    for (const child of children) child.stdin.write('go\n');
    const codes = await Promise.all(exits);
    expect(codes, JSON.stringify(outputs)).toEqual(names.map(() => 0));
    const env = read(readFileSync(file, 'utf8'));
    for (const name of names) for (let i = 0; i < count; i++) expect(env[`${name}_${i}`], `${name}_${i}`).toBe(`v ${name} ${i}`);
    expect(env.KEEP).toBe('1');
    expect(readFileSync(file, 'utf8').startsWith('# shared\nKEEP=1\n')).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['.env', 'child.mjs', 'writer.mjs']);
    await expectAllDead(children.map((c) => c.pid as number));
  });
});
