import { readdirSync, readFileSync } from 'node:fs';

/**
 * This process's limit on open files (the soft RLIMIT_NOFILE, which Node raises to the hard
 * one at start-up), where the system says it without running a tool: Linux's /proc. Elsewhere
 * undefined, and running out shows up as EMFILE instead.
 */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'latin1');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\S+)/m.exec(text);
  if (match === null || match[1] === 'unlimited') return undefined;
  const limit = Number(match[1]);
  return Number.isSafeInteger(limit) ? limit : undefined;
}

/** How many descriptors this process has open now, where the system lists them (/proc, /dev/fd). */
export function openDescriptorCount(): number | undefined {
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      // Less one: listing the directory opens it.
      return readdirSync(dir).length - 1;
    } catch {
      // Not here; try the next.
    }
  }
  return undefined;
}
