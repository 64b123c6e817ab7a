import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

/** `git ARGS` in `cwd`: its output, or undefined where git fails (no git, not a work tree, no commit). */
export function git(cwd: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', [...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * 1024 * 1024 });
  } catch {
    return undefined;
  }
}

/**
 * The files (absolute paths) that sit in a git work tree and that git would not ignore, so a
 * `git add -A` takes them. A file git cannot judge (no git, outside any work tree) is not listed.
 */
export function notIgnoredByGit(files: readonly string[]): string[] {
  return files.filter((file) => {
    // check-ignore: 0 ignored, 1 not ignored, 128 not in a work tree (or no git at all).
    const result = spawnSync('git', ['check-ignore', '-q', '--', path.basename(file)], { cwd: path.dirname(file), stdio: 'ignore' });
    return result.status === 1;
  });
}
