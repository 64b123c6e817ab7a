import { constants } from 'node:os';

/**
 * Signal names and numbers as this host has them: the one parser for a user's signal (a stop
 * signal in config, `tf signal`), and the one rule for the exit code a signal stands for.
 */

/** What is wrong with a signal the user wrote, and what to write instead. */
export interface SignalProblem {
  readonly problem: string;
  readonly hint: string;
}

const table = constants.signals as Readonly<Record<string, number>>;

/**
 * The signals that stop a formation gracefully (the second one skips the grace period):
 * Ctrl-C, Ctrl-\ (SIGQUIT), a service manager's SIGTERM, a closed terminal.
 */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

const SIGNAL_HINT = 'use a signal name such as TERM, INT, QUIT, HUP, USR1 or USR2 (SIG prefix optional), or its number';

/** `TERM`, `SIGTERM`, `sigterm` or `15` as the host numbers them, as a NodeJS.Signals name. */
export function parseSignal(text: string): NodeJS.Signals | SignalProblem {
  const trimmed = text.trim();
  let name: string | undefined;
  if (/^\d+$/.test(trimmed)) {
    // Numbers differ between platforms (USR1 is 10 on Linux, 30 on macOS): the host's table decides.
    name = Object.keys(table).find((n) => table[n] === Number(trimmed));
  } else {
    const upper = trimmed.toUpperCase();
    const candidate = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (Object.hasOwn(table, candidate)) name = candidate;
  }
  if (name === undefined) return { problem: `unknown signal ${JSON.stringify(text)}`, hint: SIGNAL_HINT };
  return name as NodeJS.Signals;
}

/** Canonical names only (`SIGUSR2`), as the control protocol carries them. */
export const isSignalName = (name: string): name is NodeJS.Signals => name.startsWith('SIG') && Object.hasOwn(table, name);

/** The host's number for a signal; 0 for a name it does not know. */
export const signalNumber = (signal: NodeJS.Signals): number => table[signal] ?? 0;

/** The exit code a shell reports for a process ended by this signal: 128+n. */
export const exitCodeForSignal = (signal: NodeJS.Signals): number => 128 + signalNumber(signal);
