import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { TfError } from '../errors.js';

/**
 * The export directory, made ready to write to, or one line saying why it cannot be: which
 * directory, the reason, the fix. Missing directories are created one component at a time: Node's
 * recursive mkdirSync never returns on /proc (the kernel answers ENOENT there, and Node climbs
 * back to the parent, which exists, and tries again) and turns every other failure into an errno
 * message that names no fix.
 */

const errnoOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/** Why a file system call failed, in words; `undefined` for what is not an errno failure. */
export function fileSystemReason(error: unknown): string | undefined {
  const code = errnoOf(error);
  switch (code) {
    case undefined:
      return undefined;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'the file system is read-only';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'the disk quota is used up';
    case 'ELOOP':
      return 'too many symbolic links';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    default:
      return code;
  }
}

const FIX_NOT_DIRECTORY = 'pass a directory to export to';
const FIX_WRITABLE = 'pass a directory you can write to';

/** A failure of the export's own file system calls in `shown` (as the user typed it), as a TfError; anything else as it was. */
export function writeFailure(error: unknown, shown: string): unknown {
  const reason = fileSystemReason(error);
  if (reason === undefined || TfError.is(error)) return error;
  return new TfError('option', `cannot write the export: ${reason}`, { file: shown, hint: FIX_WRITABLE, cause: error });
}

type Found = 'directory' | 'other' | 'missing';

function look(dir: string, fail: (reason: string, error: unknown) => TfError): Found {
  try {
    return statSync(dir).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    // ENOTDIR: something above is not a directory; the walk up finds which.
    if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') return 'missing';
    throw fail(fileSystemReason(error) ?? String(error), error);
  }
}

/** Makes sure `dir` (absolute) is a directory, creating what is missing of it; `shown` is the path as the user typed it. */
export function ensureDirectory(dir: string, shown: string): void {
  const shownOf = (other: string): string => (other === dir ? shown : path.join(shown, path.relative(dir, other)) || '.');
  const cannotCreate = (reason: string, error: unknown, hint = FIX_WRITABLE): TfError =>
    new TfError('option', `cannot create the export directory: ${reason}`, { file: shown, hint, cause: error });

  const missing: string[] = [];
  let current = dir;
  for (;;) {
    const found = look(current, cannotCreate);
    if (found === 'directory') break;
    if (found === 'other') {
      if (current === dir) throw new TfError('option', 'is not a directory', { file: shown, hint: FIX_NOT_DIRECTORY });
      throw cannotCreate(`${shownOf(current)} is not a directory`, undefined, FIX_NOT_DIRECTORY);
    }
    missing.unshift(current);
    const parent = path.dirname(current);
    // Only a missing root gets here, which no system has; said rather than looped on.
    if (parent === current) throw cannotCreate(`${current} does not exist`, undefined);
    current = parent;
  }
  for (const next of missing) {
    try {
      mkdirSync(next);
    } catch (error) {
      const code = errnoOf(error);
      // Made meanwhile by someone else: fine, if it is a directory.
      if (code === 'EEXIST' && look(next, cannotCreate) === 'directory') continue;
      if (code === 'EEXIST') throw cannotCreate(`${shownOf(next)} is in the way (a broken symbolic link?)`, error, FIX_NOT_DIRECTORY);
      // The parent exists (it was just found or made), yet ENOENT: a file system that takes no new directories (/proc).
      if (code === 'ENOENT') throw cannotCreate(`${shownOf(path.dirname(next))} does not take new directories`, error);
      throw cannotCreate(fileSystemReason(error) ?? String(error), error);
    }
  }
}
