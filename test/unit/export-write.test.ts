import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TfError } from '../../src/errors.js';
import { FileFailure, fileSystemReason, writeFailure } from '../../src/export/directory.js';
import type { ExportFile } from '../../src/export/types.js';
import { LEGACY_MANIFEST, MANIFEST, writeExport } from '../../src/export/write.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-export-write-'));
  made.push(dir);
  return dir;
};

const FILES: ExportFile[] = [
  { path: 'app.target', content: '[Unit]\n', mode: 0o644 },
  { path: 'app.env', content: 'SECRET="x"\n', mode: 0o600 },
];
const write = (dir: string, files: readonly ExportFile[] = FILES, force = false) => writeExport({ dir, dirShown: 'out', format: 'systemd', files, force });
const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    if (error instanceof TfError) return error.describe();
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('writeExport', () => {
  it('creates the directory, writes each file with its mode, and records them in a manifest', { timeout: 10_000 }, () => {
    const dir = path.join(tempDir(), 'out');
    expect(write(dir)).toEqual({ written: ['app.target', 'app.env'], unchanged: [], removed: [] });
    expect(readFileSync(path.join(dir, 'app.env'), 'utf8')).toBe('SECRET="x"\n');
    expect(statSync(path.join(dir, 'app.env')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'app.target')).mode & 0o777).toBe(0o644);
    const manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as { format: string; files: Record<string, string> };
    expect(manifest.format).toBe('systemd');
    expect(Object.keys(manifest.files)).toEqual(['app.env', 'app.target']);
    // No temporary file is left behind.
    expect(readdirSync(dir).sort()).toEqual([MANIFEST, 'app.env', 'app.target']);
  });

  it('leaves files alone when the export did not change, and writes the same manifest bytes', { timeout: 10_000 }, () => {
    const dir = tempDir();
    write(dir);
    const manifest = readFileSync(path.join(dir, MANIFEST));
    expect(write(dir)).toEqual({ written: [], unchanged: ['app.target', 'app.env'], removed: [] });
    expect(readFileSync(path.join(dir, MANIFEST))).toEqual(manifest);
  });

  it('refuses to overwrite a file it did not write, naming it and the fix, and writes nothing', { timeout: 10_000 }, () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'app.env'), 'MINE=1\n');
    expect(refusal(() => write(dir))).toBe(
      'out/app.env: was not written by tf; an export never replaces it; move it away, or pass --force to overwrite what tf exported',
    );
    expect(readdirSync(dir)).toEqual(['app.env']);
    expect(readFileSync(path.join(dir, 'app.env'), 'utf8')).toBe('MINE=1\n');
  });

  it('takes over a file that already holds exactly what it would write', { timeout: 10_000 }, () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'app.target'), '[Unit]\n');
    expect(write(dir)).toEqual({ written: ['app.env'], unchanged: ['app.target'], removed: [] });
  });

  it('refuses to overwrite a file edited since it wrote it; --force overwrites', { timeout: 10_000 }, () => {
    const dir = tempDir();
    write(dir);
    writeFileSync(path.join(dir, 'app.target'), '[Unit]\nDescription=edited by hand\n');
    const changed = [{ ...FILES[0]!, content: '[Unit]\nDescription=new\n' }, FILES[1]!];
    expect(refusal(() => write(dir, changed))).toMatch(/^out\/app\.target: was edited since tf exported it/);
    expect(write(dir, changed, true).written).toEqual(['app.target']);
    expect(readFileSync(path.join(dir, 'app.target'), 'utf8')).toBe('[Unit]\nDescription=new\n');
  });

  it('removes the files it wrote before that the new export no longer has', { timeout: 10_000 }, () => {
    const dir = tempDir();
    write(dir, [...FILES, { path: 'app-clock-1.service', content: 'x\n', mode: 0o644 }]);
    expect(write(dir)).toEqual({ written: [], unchanged: ['app.target', 'app.env'], removed: ['app-clock-1.service'] });
    expect(existsSync(path.join(dir, 'app-clock-1.service'))).toBe(false);
  });

  it('keeps a file it wrote before and that was edited since, unless forced', { timeout: 10_000 }, () => {
    const dir = tempDir();
    write(dir, [...FILES, { path: 'app-clock-1.service', content: 'x\n', mode: 0o644 }]);
    writeFileSync(path.join(dir, 'app-clock-1.service'), 'edited\n');
    expect(refusal(() => write(dir))).toMatch(/^out\/app-clock-1\.service: was edited since tf exported it/);
    expect(write(dir, FILES, true).removed).toEqual(['app-clock-1.service']);
  });

  it('names every file it refuses in the one line', { timeout: 10_000 }, () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'app.target'), 'a');
    writeFileSync(path.join(dir, 'app.env'), 'b');
    expect(refusal(() => write(dir))).toMatch(/^out\/app\.target: .* \(and 1 more: app\.env\)/);
  });

  it('refuses a manifest it cannot read, and a directory that is a file', { timeout: 10_000 }, () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, MANIFEST), '{not json');
    expect(refusal(() => write(dir))).toBe(
      'out/.tf-export: is not a manifest tf wrote, so tf cannot tell which files are its own; export to an empty directory, or delete the manifest and pass --force',
    );
    const file = path.join(tempDir(), 'file');
    writeFileSync(file, '');
    expect(refusal(() => write(file))).toBe('out: is not a directory; pass a directory to export to');
  });

  it('creates missing directories, for the export and for a file nested in it', { timeout: 10_000 }, () => {
    const dir = path.join(tempDir(), 'a', 'b');
    expect(write(dir, [...FILES, { path: 'units/app-web-1.service', content: 'x\n', mode: 0o644 }]).written).toContain('units/app-web-1.service');
    expect(readFileSync(path.join(dir, 'units', 'app-web-1.service'), 'utf8')).toBe('x\n');
  });

  it('names a broken symbolic link in the way of the directory, in one line', { timeout: 10_000 }, () => {
    const dir = path.join(tempDir(), 'out');
    symlinkSync(path.join(path.dirname(dir), 'gone', 'deeper'), dir);
    expect(refusal(() => write(dir))).toBe(
      'out: cannot create the export directory: out is in the way (a broken symbolic link?); pass a directory to export to',
    );
  });

  it('keeps its manifest in .tf-export, a name no directory reader takes for its own (kubectl reads every .json and .yaml)', { timeout: 10_000 }, () => {
    const dir = tempDir();
    write(dir);
    expect(MANIFEST).toBe('.tf-export');
    expect(readdirSync(dir).filter((f) => /\.(json|ya?ml)$/.test(f))).toEqual([]);
  });

  it('reads the .tf-export.json of an earlier tf, and replaces it by .tf-export', { timeout: 10_000 }, () => {
    const dir = tempDir();
    const digest = (text: string): string => createHash('sha256').update(text).digest('hex');
    // As an earlier tf left it: the same JSON under the old name, with a unit the new export no longer has.
    for (const file of [...FILES, { path: 'app-clock-1.service', content: 'x\n', mode: 0o644 }]) writeFileSync(path.join(dir, file.path), file.content);
    writeFileSync(path.join(dir, 'app-clock-1.service'), 'x\n');
    const files = Object.fromEntries([...FILES.map((f) => [f.path, digest(f.content)]), ['app-clock-1.service', digest('x\n')]].sort());
    writeFileSync(path.join(dir, LEGACY_MANIFEST), `${JSON.stringify({ format: 'systemd', files }, null, 2)}\n`);
    writeFileSync(path.join(dir, 'app.target'), '[Unit]\nDescription=old\n');
    const changed = [{ ...FILES[0]!, content: '[Unit]\nDescription=new\n' }, FILES[1]!];
    // Its files are known as tf's own: an edited one is refused as edited, the rest replaced or removed.
    expect(refusal(() => write(dir, changed))).toMatch(/^out\/app\.target: was edited since tf exported it/);
    writeFileSync(
      path.join(dir, LEGACY_MANIFEST),
      `${JSON.stringify({ format: 'systemd', files: { ...files, 'app.target': digest('[Unit]\nDescription=old\n') } }, null, 2)}\n`,
    );
    expect(write(dir, changed)).toEqual({ written: ['app.target', 'app.env'], unchanged: [], removed: ['app-clock-1.service'] });
    expect(readdirSync(dir).sort()).toEqual([MANIFEST, 'app.env', 'app.target']);
    expect(Object.keys(JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')).files)).toEqual(['app.env', 'app.target']);
    // With both (an earlier tf ran after this one), the new name wins and the old one goes.
    writeFileSync(path.join(dir, LEGACY_MANIFEST), '{"format":"systemd","files":{}}\n');
    expect(write(dir, changed).unchanged).toEqual(['app.target', 'app.env']);
    expect(existsSync(path.join(dir, LEGACY_MANIFEST))).toBe(false);
  });
});

describe('export file system failures, in words', () => {
  it('puts every errno code into words, never the bare code', () => {
    for (const code of Object.keys(constants.errno)) {
      const reason = fileSystemReason(Object.assign(new Error(code), { code }));
      expect(reason, code).toMatch(/^[a-z]/);
      expect(reason, code).not.toContain(code);
    }
  });

  it('names the file that failed, not its temporary name, and says why an existing directory refused it', () => {
    const dir = tempDir();
    const enoent = Object.assign(new Error('ENOENT'), { code: 'ENOENT', path: path.join(dir, '.app.target.0123.tmp') });
    const failure = writeFailure(new FileFailure(path.join(dir, 'app.target'), enoent), dir, 'out');
    expect(failure).toBeInstanceOf(TfError);
    expect((failure as TfError).describe()).toBe(
      'out: cannot write the export: out/app.target: the directory takes no new files; pass a directory you can write to',
    );
    const gone = writeFailure(new FileFailure(path.join(dir, 'gone', 'app.target'), enoent), dir, 'out');
    expect((gone as TfError).describe()).toBe(
      'out: cannot write the export: out/gone/app.target: its directory was removed meanwhile; pass a directory you can write to',
    );
    // The directory itself is named once.
    const own = writeFailure(Object.assign(new Error('EACCES'), { code: 'EACCES', path: dir }), dir, 'out');
    expect((own as TfError).describe()).toBe('out: cannot write the export: permission denied; pass a directory you can write to');
  });
});
