import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { TfError } from '../errors.js';

/**
 * The export directory, made ready to write to, or one line saying why it cannot be: which
 * directory, the reason, the fix. Missing directories are created one component at a time: Node's
 * recursive mkdirSync never returns on /proc (the kernel answers ENOENT there, and Node climbs
 * back to the parent, which exists, and tries again) and turns every other failure into an errno
 * message that names no fix.
 */

const errnoOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/** The C library's words for the codes libuv has none for (os.constants.errno minus getSystemErrorMap, Linux and macOS). */
const MORE_WORDS: Readonly<Record<string, string>> = {
  EBADMSG: 'bad message',
  ECHILD: 'no child processes',
  EDEADLK: 'resource deadlock avoided',
  EDOM: 'numerical argument out of domain',
  EIDRM: 'identifier removed',
  EINPROGRESS: 'operation now in progress',
  EMULTIHOP: 'multihop attempted',
  ENETRESET: 'network dropped connection on reset',
  ENOEXEC: 'exec format error',
  ENOLCK: 'no locks available',
  ENOLINK: 'link has been severed',
  ENOMSG: 'no message of desired type',
  ENOSR: 'out of streams resources',
  ENOSTR: 'device not a stream',
  EOPNOTSUPP: 'the file system does not support it',
  ESTALE: 'a stale file handle (a network file system?)',
  ETIME: 'timer expired',
  EWOULDBLOCK: 'resource temporarily unavailable',
};

/** The system's own words for an errno code (libuv's, as `ls` prints them), or undefined for one it does not know. */
function systemWords(code: string): string | undefined {
  for (const [name, words] of getSystemErrorMap().values()) if (name === code) return words;
  return MORE_WORDS[code];
}

/**
 * Why a file system call failed, in words; `undefined` for what is not an errno failure. The codes
 * an export meets get words that say what it means here; any other gets the system's words, never
 * a bare code.
 */
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
    case 'ENOENT':
      return 'it does not exist';
    case 'ENOTDIR':
      return 'part of the path is not a directory';
    case 'EISDIR':
      return 'a directory is in the way';
    case 'EEXIST':
      return 'something is in the way';
    case 'EBUSY':
      return 'it is in use';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    case 'EIO':
      return 'an input/output error on the device';
    case 'EINVAL':
      return 'the file system does not take such a file';
    default:
      // A code no table knows (a newer system's): the code is then all there is to say.
      return systemWords(code) ?? `the system refused it (${code})`;
  }
}

const FIX_NOT_DIRECTORY = 'pass a directory to export to';
const FIX_WRITABLE = 'pass a directory you can write to';

/**
 * An errno failure on `file`, whatever name the call itself used: a file is written under a
 * temporary name and renamed, and the user knows the file, not the temporary.
 */
export class FileFailure extends Error {
  constructor(
    readonly file: string,
    override readonly cause: unknown,
  ) {
    super(`cannot write ${file}`, { cause });
  }
}

/** ENOENT for a file being written: its directory is there and takes no new files (/proc), or it is gone. */
function missingReason(file: string): string {
  try {
    return statSync(path.dirname(file)).isDirectory() ? 'the directory takes no new files' : 'its directory was removed meanwhile';
  } catch {
    return 'its directory was removed meanwhile';
  }
}

/**
 * A failure of the export's own file system calls in `dir` (`shown` as the user typed it), as a
 * TfError naming, besides the directory, the path that failed when it is another; anything else as it was.
 */
export function writeFailure(error: unknown, dir: string, shown: string): unknown {
  if (TfError.is(error)) return error;
  const failed = error instanceof FileFailure ? error.cause : error;
  const at = error instanceof FileFailure ? error.file : (failed as NodeJS.ErrnoException).path;
  const reason = errnoOf(failed) === 'ENOENT' && at !== undefined ? missingReason(path.resolve(dir, at)) : fileSystemReason(failed);
  if (reason === undefined) return error;
  const where = at === undefined || path.resolve(dir, at) === dir ? '' : `${path.join(shown, path.relative(dir, path.resolve(dir, at)))}: `;
  return new TfError('option', `cannot write the export: ${where}${reason}`, { file: shown, hint: FIX_WRITABLE, cause: failed });
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
