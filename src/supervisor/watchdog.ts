import { spawn } from 'node:child_process';

/**
 * If tf is SIGKILLed it runs no code, so something outside it must clean up. The watchdog is
 * a tiny shell in its own session that holds a pipe from tf and learns each process group tf
 * starts (`+PGID`) and reaps (`-PGID`). When the pipe reaches EOF without a `q` first, tf died:
 * it sends SIGTERM to every group still recorded and to their leaders' descendants that left
 * the group (found in the process table), and SIGKILL half a second later.
 */
const SCRIPT = `
groups=""
while IFS= read -r line; do
  case "$line" in
    q) exit 0 ;;
    +*) groups="$groups \${line#+}" ;;
    -*) kept=""; for g in $groups; do [ "$g" = "\${line#-}" ] || kept="$kept $g"; done; groups="$kept" ;;
  esac
done
[ -n "$groups" ] || exit 0
strays=$(ps -A -o pid= -o ppid= 2>/dev/null | awk -v roots="$groups" '
  BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
  { parent[$1] = $2 }
  END { do { changed = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } } while (changed); for (p in keep) print p }')
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
for p in $strays; do kill -s TERM "$p" 2>/dev/null; done
sleep 0.5
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
for p in $strays; do kill -s KILL "$p" 2>/dev/null; done
`;

export interface Watchdog {
  add(pgid: number): void;
  remove(pgid: number): void;
  /** tf is exiting cleanly with nothing left: the watchdog leaves without killing. */
  release(): void;
}

export const noWatchdog: Watchdog = { add() {}, remove() {}, release() {} };

/**
 * Spawned before any instance: a process tf starts must never exist without a watchdog
 * that knows it (deferring this spawn let a tf killed right after start-up orphan all).
 */
export function startWatchdog(): Watchdog {
  const child = spawn('/bin/sh', ['-c', SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  const pipe = child.stdin;
  child.unref();
  pipe.on('error', () => {
    // The watchdog died (someone killed it); tf keeps supervising without it.
  });
  (pipe as { unref?: () => void }).unref?.();
  const send = (line: string): void => {
    if (!pipe.destroyed) pipe.write(`${line}\n`);
  };
  return {
    add: (pgid) => send(`+${pgid}`),
    remove: (pgid) => send(`-${pgid}`),
    release: () => {
      send('q');
      pipe.end();
    },
  };
}
