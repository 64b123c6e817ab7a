/**
 * The environment for a helper tf runs for itself (mkfifo, perl): tf's PATH to find it, and
 * nothing of the app's environment (PERL5OPT, a locale that makes the tool load its files).
 */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return process.env.PATH === undefined ? { ...extra } : { ...extra, PATH: process.env.PATH };
}
