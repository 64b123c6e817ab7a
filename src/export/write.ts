import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { EXPORT_MANIFEST, LEGACY_EXPORT_MANIFEST } from '../domain.js';
import { TfError } from '../errors.js';
import { ensureDirectory, FileFailure, writeFailure } from './directory.js';
import type { ExportFile } from './types.js';

/**
 * The one writer of export directories. It keeps a manifest of what it wrote (path and a
 * digest of the content), so that it can replace and remove its own files on the next export
 * and refuse to touch anything else: a file it did not write, or one edited since.
 */
export const MANIFEST = EXPORT_MANIFEST;
/** What an earlier tf named it: read when there is no manifest by the new name, removed once that is written. */
export const LEGACY_MANIFEST = LEGACY_EXPORT_MANIFEST;

interface Manifest {
  readonly format: string;
  /** Path (relative to the directory) -> sha256 of the content tf wrote. */
  readonly files: Readonly<Record<string, string>>;
}

export interface WriteRequest {
  /** As the user typed it, for messages. */
  readonly dirShown: string;
  readonly dir: string;
  readonly format: string;
  readonly files: readonly ExportFile[];
  /** Overwrite or remove files tf did not write or that were edited since. */
  readonly force: boolean;
}

export interface WriteResult {
  readonly written: readonly string[];
  readonly unchanged: readonly string[];
  readonly removed: readonly string[];
}

/** Locale-independent, so the manifest is the same bytes everywhere. */
const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const digest = (content: string | Buffer): string => createHash('sha256').update(content).digest('hex');

function readIfFile(file: string): Buffer | undefined {
  let isFile: boolean;
  try {
    isFile = lstatSync(file).isFile();
  } catch {
    return undefined;
  }
  if (!isFile) throw new TfError('option', 'is in the way of an exported file and is not a regular file', { file, hint: 'move it away and export again' });
  return readFileSync(file);
}

function readManifest(dir: string, shown: string): Manifest | undefined {
  for (const name of [MANIFEST, LEGACY_MANIFEST]) {
    const bytes = readIfFile(path.join(dir, name));
    if (bytes !== undefined) return parseManifest(bytes, path.join(shown, name));
  }
  return undefined;
}

function parseManifest(bytes: Buffer, shown: string): Manifest {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as Partial<Manifest>;
    if (
      typeof parsed.format === 'string' &&
      typeof parsed.files === 'object' &&
      parsed.files !== null &&
      Object.values(parsed.files).every((v) => typeof v === 'string')
    ) {
      return { format: parsed.format, files: parsed.files };
    }
  } catch {
    // Reported below, as any other manifest tf cannot read.
  }
  throw new TfError('option', 'is not a manifest tf wrote, so tf cannot tell which files are its own', {
    file: shown,
    hint: 'export to an empty directory, or delete the manifest and pass --force',
  });
}

/** Paths are the formats' own; one that escapes the directory is a bug, not user input. */
function checkPath(relative: string): void {
  if (
    relative === '' ||
    path.isAbsolute(relative) ||
    relative.split(/[\\/]/).some((p) => p === '..' || p === '' || p === '.') ||
    relative === MANIFEST ||
    relative === LEGACY_MANIFEST
  ) {
    throw new TfError('internal', `export path "${relative}" is not a plain relative path`);
  }
}

/** Written beside its target and renamed over it: a reader sees the old file or the new one, never half. */
function writeAtomically(file: string, content: string, mode: number): void {
  try {
    writeBeside(file, content, mode);
  } catch (error) {
    throw new FileFailure(file, error);
  }
}

function writeBeside(file: string, content: string, mode: number): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  // Created with its final mode: a secret file is never readable by others, not even for a moment.
  const fd = openSync(temporary, 'wx', mode);
  try {
    // The umask may have narrowed the mode; the format decided it.
    fchmodSync(fd, mode);
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Applies an export's files to `dir`; refuses, before writing anything, if that would clobber a file
 * not its own. A directory it cannot create or write to is one line naming it, never an errno trace.
 */
export function writeExport(request: WriteRequest): WriteResult {
  try {
    return applyExport(request);
  } catch (error) {
    throw writeFailure(error, request.dir, request.dirShown);
  }
}

function applyExport(request: WriteRequest): WriteResult {
  const { dir, dirShown, files, force } = request;
  ensureDirectory(dir, dirShown);
  const manifest = readManifest(dir, dirShown);
  const ours = manifest?.files ?? {};
  const shown = (relative: string): string => path.join(dirShown, relative);

  const refused: string[] = [];
  const plan: { file: ExportFile; current: Buffer | undefined }[] = [];
  for (const file of files) {
    checkPath(file.path);
    const current = readIfFile(path.join(dir, file.path));
    const mine = current === undefined || ours[file.path] === digest(current) || current.equals(Buffer.from(file.content));
    if (!mine && !force) refused.push(file.path);
    plan.push({ file, current });
  }
  const next = new Set(files.map((f) => f.path));
  const stale: string[] = [];
  for (const [relative, hash] of Object.entries(ours).sort(([a], [b]) => byCodeUnit(a, b))) {
    if (next.has(relative)) continue;
    checkPath(relative);
    const current = readIfFile(path.join(dir, relative));
    if (current === undefined) continue;
    if (digest(current) !== hash && !force) refused.push(relative);
    else stale.push(relative);
  }
  if (refused.length > 0) {
    const [first] = refused;
    const more = refused.length === 1 ? '' : ` (and ${refused.length - 1} more: ${refused.slice(1).join(', ')})`;
    // Which of the two: the manifest knows the files tf wrote.
    const why = first !== undefined && first in ours ? 'was edited since tf exported it' : 'was not written by tf';
    throw new TfError('option', `${why}${more}; an export never replaces it`, {
      file: shown(first ?? ''),
      hint: 'move it away, or pass --force to overwrite what tf exported',
    });
  }

  const written: string[] = [];
  const unchanged: string[] = [];
  for (const { file, current } of plan) {
    const target = path.join(dir, file.path);
    if (current?.equals(Buffer.from(file.content)) === true && (statSync(target).mode & 0o777) === file.mode) {
      unchanged.push(file.path);
      continue;
    }
    // Formats may nest files in directories of their own.
    ensureDirectory(path.dirname(target), shown(path.dirname(file.path)));
    writeAtomically(target, file.content, file.mode);
    written.push(file.path);
  }
  for (const relative of stale) rmSync(path.join(dir, relative), { force: true });
  const record: Manifest = {
    format: request.format,
    files: Object.fromEntries(files.map((f) => [f.path, digest(f.content)] as const).sort(([a], [b]) => byCodeUnit(a, b))),
  };
  writeAtomically(path.join(dir, MANIFEST), `${JSON.stringify(record, null, 2)}\n`, 0o644);
  // Only once the new one is in place: an export that fails halfway still has a manifest.
  rmSync(path.join(dir, LEGACY_MANIFEST), { force: true });
  return { written, unchanged, removed: stale };
}
