/**
 * How a slot under a restart policy waits between runs: exponential delays, a streak of
 * quick exits that resets once a run stays up, and a bound after which the slot gives up
 * (a crash loop would otherwise flood the output and the machine for ever).
 */
export interface BackoffRules {
  /** The delay before the first restart; it doubles with every quick exit in a row. */
  readonly firstMs: number;
  readonly maxMs: number;
  /** A run that stayed up this long was healthy: its exit starts a new streak. */
  readonly steadyMs: number;
  /** This many quick exits in a row and the slot is failed. */
  readonly maxQuickExits: number;
}

export const defaultBackoff: BackoffRules = { firstMs: 1000, maxMs: 30_000, steadyMs: 10_000, maxQuickExits: 5 };

/** The wait before restart number `attempt` (1-based) of a streak. */
export function backoffDelay(rules: BackoffRules, attempt: number): number {
  return Math.min(rules.firstMs * 2 ** Math.max(0, attempt - 1), rules.maxMs);
}

/** Quick exits in a row after a run that lasted `uptimeMs`, given `streak` before it. */
export function nextStreak(rules: BackoffRules, streak: number, uptimeMs: number): number {
  return uptimeMs < rules.steadyMs ? streak + 1 : 1;
}
