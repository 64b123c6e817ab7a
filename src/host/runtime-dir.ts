import { lstatSync } from 'node:fs';
import path from 'node:path';

/**
 * $XDG_RUNTIME_DIR when it is what the XDG spec promises: an absolute path to a real
 * directory (lstat: a symlink could point anywhere), owned by the user, mode 0700. A variable
 * can name any directory, so one that is not private to the user is not trusted.
 */
export function trustedRuntimeDir(env: NodeJS.ProcessEnv, uid: number | undefined = process.getuid?.()): string | undefined {
  const dir = env.XDG_RUNTIME_DIR;
  if (dir === undefined || dir === '' || !path.isAbsolute(dir)) return undefined;
  try {
    const st = lstatSync(dir);
    const ours = uid === undefined || st.uid === uid;
    return st.isDirectory() && ours && (st.mode & 0o777) === 0o700 ? dir : undefined;
  } catch {
    return undefined;
  }
}
