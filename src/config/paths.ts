import path from 'node:path';

/** Where an app is, from `-f` / `-d` (or TF_PROCFILE / TF_ROOT) alone; no file is read. */
export interface AppPaths {
  /** The app root: `-d`, else the Procfile's directory. Absolute. */
  readonly root: string;
  /** The Procfile: `-f`, else ROOT/Procfile. Absolute. */
  readonly procfile: string;
  /** The root came from `-d` (it is then checked to be a directory). */
  readonly rootGiven: boolean;
}

/**
 * The one rule for finding an app. `start` reads the Procfile it names; the control commands
 * only hash these paths to find the running tf's socket, so a Procfile that no longer parses
 * never keeps `tf ps` or `tf stop` from reaching it.
 */
export function appPaths(options: { readonly procfile: string | undefined; readonly root: string | undefined }, cwd: string): AppPaths {
  const rootFromFlag = options.root === undefined ? undefined : path.resolve(cwd, options.root);
  const procfile = options.procfile !== undefined ? path.resolve(cwd, options.procfile) : path.join(rootFromFlag ?? cwd, 'Procfile');
  return { root: rootFromFlag ?? path.dirname(procfile), procfile, rootGiven: rootFromFlag !== undefined };
}
