/**
 * The environment for a helper tf runs for itself (mkfifo): tf's PATH to find it, and
 * nothing of the app's environment (a locale that makes the tool load its files, variables that change what it does).
 */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return process.env.PATH === undefined ? { ...extra } : { ...extra, PATH: process.env.PATH };
}
