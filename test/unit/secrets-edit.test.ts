import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setEnvValueInText, writeEnvValue } from '../../src/config/env-edit.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tf-edit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('setEnvValueInText keeps every other byte', { timeout: 10_000 }, () => {
  it.each([
    ['replaces an unquoted value, keeping export and the comment', '# top\nexport  A=old # note\nB=2\n', 'A', 'new', '# top\nexport  A=new # note\nB=2\n'],
    // The env writer quotes a value only when it must: a token goes bare, the comment stays.
    ['replaces a quoted value, keeping the comment', 'A="old value" # c\n', 'A', 'tok', 'A=tok # c\n'],
    ['replaces a single-quoted value', "X=1\nA='o\\'ld'\n", 'A', 'tok', 'X=1\nA=tok\n'],
    ['replaces a multi-line quoted value', 'A="one\ntwo"\nB=3\n', 'A', 'tok', 'A=tok\nB=3\n'],
    ['replaces the last of two assignments', 'A=1\nA=2\n', 'A', 'tok', 'A=1\nA=tok\n'],
    ['keeps CRLF', 'A=1\r\nB=2\r\n', 'A', 'tok', 'A=tok\r\nB=2\r\n'],
    ['appends with the file line ending', 'A=1\r\n', 'B', 'tok', 'A=1\r\nB=tok\r\n'],
    ['appends after a last line without a newline', 'A=1', 'B', 'tok', 'A=1\nB=tok\n'],
    ['writes an empty file', '', 'B', 'tok', 'B=tok\n'],
    ['replaces an empty value', 'A=\nB=2\n', 'A', 'tok', 'A=tok\nB=2\n'],
    ['keeps a byte-order mark', '\uFEFFA=1\n', 'A', 'tok', '\uFEFFA=tok\n'],
    ['does not touch a longer key with the same prefix', 'AB=1\nA=2\n', 'A', 'tok', 'AB=1\nA=tok\n'],
    ['ignores a commented-out assignment', '# A=1\n', 'A', 'tok', '# A=1\nA=tok\n'],
  ])('%s', (_name, text, key, value, expected) => {
    expect(setEnvValueInText(text, key, value)).toBe(expected);
  });
});

describe('writeEnvValue', { timeout: 10_000 }, () => {
  it('replaces the file atomically, keeping its mode and leaving no temporary file', () => {
    const file = path.join(dir, '.env');
    writeFileSync(file, '# keep\nA=1\n');
    chmodSync(file, 0o640);
    writeEnvValue(file, 'B', 'tok');
    expect(readFileSync(file, 'utf8')).toBe('# keep\nA=1\nB=tok\n');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('creates a missing file', () => {
    const file = path.join(dir, '.env.new');
    writeEnvValue(file, 'A', 'tok');
    expect(readFileSync(file, 'utf8')).toBe('A=tok\n');
  });
});
