import { spawn } from 'node:child_process';
import { processRow, type ProcessRef, type RunMarker } from '../host/process-table.js';

/**
 * If tf is SIGKILLed it runs no code, so something outside it must clean up. The watchdog is
 * a tiny shell in its own session that holds a pipe from tf and learns, line by line:
 *
 *   m NAME=VALUE   the run's marker, which every process tf starts carries
 *   g PGID START   a process group tf started, and its leader's start time
 *   p PID START    a process tf started in its own group (tf run's command): never its group
 *   f ID           forget that group or process: it is gone, and its number may be reused
 *   d INODE PATH   a directory of FIFO names not yet opened: removed (its FIFOs, then it) if tf dies
 *   q              tf exits cleanly: leave without killing
 *
 * When the pipe reaches EOF without a `q`, tf died. It applies tf's own rules: a record whose
 * pid now shows another start time is another process (the pid was reused) and is left alone,
 * group and tree; otherwise it sends SIGTERM to the groups, to the recorded processes, and,
 * outside the groups (which their group's signal reaches once), to the descendants of the live
 * recorded leaders and to every process of the user whose environment holds the marker (found
 * with grep in /proc/PID/environ, then checked as an exact entry); SIGKILL half a second later
 * to the same, each pid checked again against its start time.
 */
export const WATCHDOG_SCRIPT = `
start_of() {
  if [ -r "/proc/$1/stat" ]; then
    read -r s < "/proc/$1/stat" || return 0
    s=\${s##*) }
    set -- $s
    [ $# -ge 20 ] && shift 19 && echo "$1"
  else
    s=$(ps -o lstart= -p "$1" 2>/dev/null) || return 0
    set -- $s
    [ $# -gt 0 ] && (IFS=_; echo "$*")
  fi
  return 0
}
pgid_of() {
  if [ -r "/proc/$1/stat" ]; then
    read -r s < "/proc/$1/stat" || return 0
    s=\${s##*) }
    set -- $s
    echo "$3"
  else
    set -- $(ps -o pgid= -p "$1" 2>/dev/null)
    echo "$1"
  fi
  return 0
}
in_groups() {
  for g in $groups; do [ "$g" = "$1" ] && return 0; done
  return 1
}
marked() {
  [ -n "$mark" ] || return 0
  for f in $(grep -l -F -e "$mark" /proc/[0-9]*/environ 2>/dev/null); do
    m=\${f#/proc/}; m=\${m%/environ}
    [ "$m" = "$$" ] && continue
    tr '\\000' '\\n' < "$f" 2>/dev/null | grep -q -x -F -e "$mark" || continue
    set -- $(ls -ldn "/proc/$m" 2>/dev/null)
    [ "$3" = "$uid" ] || continue
    in_groups "$(pgid_of "$m")" && continue
    s=$(start_of "$m"); [ -n "$s" ] && echo "$m:$s"
  done
  return 0
}
signal() {
  for t in $2; do
    [ "$(start_of "\${t%%:*}")" = "\${t#*:}" ] && kill -s "$1" "\${t%%:*}" 2>/dev/null
  done
  return 0
}
records=""
mark=""
sock=""
dir=""
while IFS= read -r line; do
  case "$line" in
    q) exit 0 ;;
    "m "*) mark=\${line#m } ;;
    "s "*) s=\${line#s }; sock_ino=\${s%% *}; sock=\${s#* } ;;
    "d "*) d=\${line#d }; dir_ino=\${d%% *}; dir=\${d#* } ;;
    "g "*|"p "*) set -- $line; records="$records $1:$2:\${3:--}" ;;
    "f "*) kept=""; for r in $records; do i=\${r#*:}; [ "\${i%%:*}" = "\${line#f }" ] || kept="$kept $r"; done; records=$kept ;;
  esac
done
# tf's control socket, only while it is still the one tf made (a new tf may own the path now).
if [ -n "$sock" ] && [ -S "$sock" ]; then
  set -- $(ls -di "$sock" 2>/dev/null)
  [ "$1" = "$sock_ino" ] && rm -f "$sock"
fi
# FIFO names tf made and had not opened yet, only while the directory is still the one tf made;
# only FIFOs are removed, and the directory only once that leaves it empty.
if [ -n "$dir" ] && [ -d "$dir" ] && [ ! -L "$dir" ]; then
  set -- $(ls -di "$dir" 2>/dev/null)
  if [ "$1" = "$dir_ino" ]; then
    for f in "$dir"/*; do [ -p "$f" ] && rm -f "$f"; done
    rmdir "$dir" 2>/dev/null
  fi
fi
uid=$(id -u)
groups=""
roots=""
targets=""
for r in $records; do
  kind=\${r%%:*}; i=\${r#*:}; start=\${i#*:}; i=\${i%%:*}
  now=$(start_of "$i")
  [ -n "$now" ] && [ "$now" != "$start" ] && continue
  [ "$kind" = g ] && groups="$groups $i"
  [ -n "$now" ] && roots="$roots $i" && [ "$kind" = p ] && targets="$targets $i:$now"
done
if [ -n "$roots" ]; then
  for p in $(ps -A -o pid= -o ppid= 2>/dev/null | awk -v roots="$roots" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2 }
    END { do { changed = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 2; changed = 1 } } while (changed); for (p in keep) if (keep[p] == 2) print p }'); do
    in_groups "$(pgid_of "$p")" && continue
    s=$(start_of "$p"); [ -n "$s" ] && targets="$targets $p:$s"
  done
fi
targets="$targets $(marked)"
[ -n "$groups$targets" ] || exit 0
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
signal TERM "$targets"
sleep 0.5
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
signal KILL "$targets $(marked)"
`;

export interface Watchdog {
  /** A process group tf started, by its leader as read once at the spawn (Killer.started). */
  add(leader: ProcessRef): void;
  remove(pgid: number): void;
  /**
   * A directory of FIFO names tf has not opened yet (see FifoMaker): removed if tf dies, while
   * it is still that directory. Sent at once, as mkfifo is about to put names there.
   */
  fifoDirectory(path: string, inode: number): void;
  /** tf is exiting cleanly with nothing left: the watchdog leaves without killing. */
  release(): void;
}

export const noWatchdog: Watchdog = { add() {}, remove() {}, fifoDirectory() {}, release() {} };

export interface RunningWatchdog extends Watchdog {
  /** Its pid: tf never signals it. */
  readonly pid: number | undefined;
  /** A process tf started in its own process group (tf run's command): its tree, never its group. */
  addProcess(pid: number): void;
  /** tf's control socket: removed if tf dies, while PATH is still that socket (inode). */
  socket(path: string, inode: number): void;
}

/**
 * Spawned before any instance: a process tf starts must never exist without a watchdog
 * that knows it (deferring this spawn let a tf killed right after start-up orphan all).
 * Without the marker in its environment, so that neither this run's scan nor an outer tf's
 * (tf under tf) takes the watchdog for a process to stop.
 */
export function startWatchdog(marker?: RunMarker): RunningWatchdog {
  const env = { ...process.env };
  if (marker !== undefined) delete env[marker.name];
  const child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env });
  const pipe = child.stdin;
  child.unref();
  pipe.on('error', () => {
    // The watchdog died (someone killed it); tf keeps supervising without it.
  });
  (pipe as { unref?: () => void }).unref?.();
  // The records of one synchronous stretch (a start of 50 instances) go out in one write once
  // it ends: each write wakes the watchdog, which then takes a core from tf and the starting
  // instances. Until then a SIGKILL of tf leaves the watchdog the run's marker to find them.
  let pending = '';
  const flush = (): void => {
    if (pending !== '' && !pipe.destroyed) pipe.write(pending);
    pending = '';
  };
  const send = (line: string): void => {
    if (pending === '') queueMicrotask(flush);
    pending += `${line}\n`;
  };
  // Read while the process is tf's unreaped child, so the pid still names it.
  const startOf = (pid: number): string => processRow(pid)?.startTime ?? '-';
  if (marker !== undefined) send(`m ${marker.name}=${marker.value}`);
  return {
    pid: child.pid,
    add: (leader) => send(`g ${leader.pid} ${leader.startTime}`),
    addProcess: (pid) => send(`p ${pid} ${startOf(pid)}`),
    remove: (pgid) => send(`f ${pgid}`),
    socket: (path, inode) => {
      // One line each: a path with a newline could not be told from the next record.
      if (!path.includes('\n')) send(`s ${inode} ${path}`);
    },
    fifoDirectory: (path, inode) => {
      if (path.includes('\n')) return;
      send(`d ${inode} ${path}`);
      flush();
    },
    release: () => {
      send('q');
      flush();
      pipe.end();
    },
  };
}
