import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { TfError, type TfErrorKind } from '../errors.js';

/** Config files are small; anything larger is a wrong path, not a Procfile or an env file. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Which file is being read, as the user should hear it. */
export interface ConfigFile {
  readonly path: string;
  /** The path as shown in messages. */
  readonly shown: string;
  readonly kind: Extract<TfErrorKind, 'procfile' | 'envfile' | 'option'>;
  /** How the user chose this file, so an error blames the right thing. */
  readonly hint: string;
}

const kindOf = (stats: Stats): string =>
  stats.isDirectory()
    ? 'is a directory'
    : stats.isFIFO()
      ? 'is a named pipe (FIFO)'
      : stats.isCharacterDevice() || stats.isBlockDevice()
        ? 'is a device'
        : stats.isSocket()
          ? 'is a socket'
          : 'is not a regular file';

/** /dev/null itself (or a link to it): the same device. */
function isNullDevice(file: string, stats: Stats): boolean {
  try {
    return realpathSync(file) === '/dev/null' && statSync('/dev/null').rdev === stats.rdev;
  } catch {
    return false;
  }
}

/** Where the symbolic link at `file` points, when `file` is one (its target missing); else undefined. */
function danglingLinkTarget(file: string): string | undefined {
  try {
    return lstatSync(file).isSymbolicLink() ? readlinkSync(file) : undefined;
  } catch {
    return undefined;
  }
}

function fail(file: ConfigFile, message: string, cause?: unknown): TfError {
  return new TfError(file.kind, message, { file: file.shown, hint: file.hint, cause });
}

function failure(file: ConfigFile, error: unknown): TfError {
  const code = (error as NodeJS.ErrnoException).code;
  const what = code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code ?? String(error)})`;
  return fail(file, what, error);
}

/**
 * Reads a config file, or undefined when there is none. Only a regular file (a symlink is
 * followed) of at most MAX_CONFIG_BYTES is read: a device would be read until memory runs
 * out and a FIFO would block forever. The open never blocks (O_NONBLOCK) and the opened
 * descriptor is checked again, so a path swapped between the two checks changes nothing.
 */
export function readConfigFile(file: ConfigFile): Buffer | undefined {
  let stats: Stats;
  try {
    stats = statSync(file.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw failure(file, error);
    // A link to a file that is not there (a secret mounted elsewhere, not mounted now) is a mistake to name, not an absent file.
    const target = danglingLinkTarget(file.path);
    if (target === undefined) return undefined;
    throw fail(file, `is a symbolic link to ${target}, which does not exist`, error);
  }
  // `-e /dev/null` is foreman's way to load no env file: the null device reads as an empty file.
  if (stats.isCharacterDevice() && isNullDevice(file.path, stats)) return Buffer.alloc(0);
  if (!stats.isFile()) throw fail(file, kindOf(stats));
  let fd: number;
  try {
    fd = openSync(file.path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw failure(file, error);
  }
  try {
    const opened = fstatSync(fd);
    if (!opened.isFile()) throw fail(file, kindOf(opened));
    if (opened.size > MAX_CONFIG_BYTES) throw fail(file, `is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB, too large for a config file`);
    // Sized from fstat, one byte over to see a file that grew since; grown up to the cap if it did.
    let buffer = Buffer.allocUnsafe(Math.min(opened.size, MAX_CONFIG_BYTES) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(Math.min(2 * buffer.length, MAX_CONFIG_BYTES + 1));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > MAX_CONFIG_BYTES) throw fail(file, `is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB, too large for a config file`);
    }
    return buffer.subarray(0, length);
  } catch (error) {
    throw error instanceof TfError ? error : failure(file, error);
  } finally {
    closeSync(fd);
  }
}

/**
 * Decodes a config file as UTF-8. UTF-16 (what some Windows editors save) is refused at load
 * with its name, rather than read as text full of NUL bytes that fails at spawn.
 */
export function decodeConfigText(bytes: Buffer, file: Pick<ConfigFile, 'shown' | 'kind'>): string {
  const bom = bytes.length >= 2 ? (bytes[0] === 0xff && bytes[1] === 0xfe ? 'LE' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'BE' : undefined) : undefined;
  const oddNuls = bytes.length >= 2 && bytes[1] === 0 && bytes[0] !== 0 ? 'LE' : bytes.length >= 2 && bytes[0] === 0 && bytes[1] !== 0 ? 'BE' : undefined;
  const utf16 = bom ?? oddNuls;
  if (utf16 !== undefined) {
    throw new TfError(file.kind, `is encoded as UTF-16 ${utf16}${bom === undefined ? '' : ' (with a byte-order mark)'}, not UTF-8`, {
      file: file.shown,
      line: 1,
      hint: 're-save it as UTF-8',
    });
  }
  if (!isUtf8(bytes)) {
    // Decoding would turn the bad bytes into U+FFFD silently: a value would change behind the user's back.
    let line = 1;
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); ; nl = bytes.indexOf(0x0a, start)) {
      const end = nl === -1 ? bytes.length : nl;
      if (!isUtf8(bytes.subarray(start, end))) break;
      if (nl === -1) break;
      start = nl + 1;
      line++;
    }
    throw new TfError(file.kind, 'is not valid UTF-8 (a byte sequence no UTF-8 text has)', { file: file.shown, line, hint: 're-save it as UTF-8' });
  }
  return bytes.toString('utf8');
}
