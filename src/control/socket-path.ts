import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { TfError } from '../errors.js';
import { trustedRuntimeDir } from '../host/runtime-dir.js';

/**
 * Where an app's control socket lives. Not in the project directory: no git noise, and no
 * 108-byte sun_path limit for deep checkouts. One private directory per user, one socket per
 * app (root + Procfile), so two checkouts of the same app never share a socket.
 */
export interface SocketLocation {
  /** The socket file. */
  readonly path: string;
  /** The directory tf creates and checks; undefined when the user named the socket. */
  readonly dir: string | undefined;
}

/**
 * `tf-<16 hex of FNV-1a 64(root NUL procfile)>.sock`: same app, same name. A name, not a secret
 * (the directory is the user's own, mode 0700): a plain hash does, where `node:crypto` would be
 * loaded by every start and every control command for this alone.
 */
export function socketName(realRoot: string, realProcfile: string): string {
  return `tf-${fnv1a64(Buffer.from(`${realRoot}\0${realProcfile}`))
    .toString(16)
    .padStart(16, '0')}.sock`;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = 0xffffffffffffffffn;

function fnv1a64(bytes: Uint8Array): bigint {
  let hash = FNV_OFFSET;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & U64;
  return hash;
}

/**
 * The per-user directory: `$XDG_RUNTIME_DIR/tf` when XDG_RUNTIME_DIR is what the XDG spec
 * promises (a directory of ours, mode 0700), else `${TMPDIR:-/tmp}/tf-$UID`.
 */
export function socketDir(env: NodeJS.ProcessEnv, uid: number): string {
  const runtime = trustedRuntimeDir(env, uid);
  if (runtime !== undefined) return path.join(runtime, 'tf');
  const tmp = env.TMPDIR !== undefined && env.TMPDIR !== '' ? env.TMPDIR : '/tmp';
  return path.join(tmp, `tf-${uid}`);
}

export interface SocketInputs {
  /** The app root (`-d`), as given; resolved to its real path here. */
  readonly root: string;
  /** The Procfile (`-f`), as given. */
  readonly procfile: string;
  /** `--socket PATH` or `TF_SOCKET`, when set: used as is, no directory is made. */
  readonly override?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly uid: number;
}

/** The socket for an app; `start` and every client command call this with the same inputs. */
export function locateSocket(inputs: SocketInputs): SocketLocation {
  if (inputs.override !== undefined && inputs.override !== '') return { path: path.resolve(inputs.override), dir: undefined };
  const dir = socketDir(inputs.env, inputs.uid);
  return { path: path.join(dir, socketName(realOrResolved(inputs.root), realOrResolved(inputs.procfile))), dir };
}

/** A missing file still names a socket (a client may ask before the Procfile exists). */
function realOrResolved(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

const dirError = (dir: string, problem: string, fix: string): TfError => new TfError('option', `socket directory ${problem}`, { file: dir, hint: fix });

/**
 * Makes the socket directory (mode 0700) or checks the one that exists: ours, a real
 * directory (lstat: a symlink could point anywhere), no access for anyone else. Its mode is
 * what keeps other users away from the socket, so a wrong one is an error, never repaired
 * silently.
 */
export function prepareSocketDir(dir: string, uid: number): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      throw new TfError('option', `cannot create the socket directory (${code ?? String(error)})`, {
        file: dir,
        hint: 'set TMPDIR to a writable directory or pass --socket PATH',
        cause: error,
      });
    }
  }
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw dirError(dir, 'is a symlink', `remove it (rm ${dir}) and run tf again`);
  if (!st.isDirectory()) throw dirError(dir, 'is not a directory', `remove it (rm ${dir}) and run tf again`);
  if (st.uid !== uid) throw dirError(dir, `belongs to uid ${st.uid}, not to you (uid ${uid})`, `use another TMPDIR or pass --socket PATH`);
  if ((st.mode & 0o777) !== 0o700) {
    throw dirError(dir, `has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}, not 0700`, `chmod 700 ${dir}`);
  }
}
