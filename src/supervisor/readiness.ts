import type { Instance } from '../domain.js';

/**
 * Watches one run of an instance until it is ready, as its type's ReadySpec says. A probe
 * only reports: it never kills or restarts, and it never rejects.
 */
export interface ReadinessWatch {
  /** Resolves once the run is ready; stays pending once cancelled. */
  readonly ready: Promise<void>;
  /** Every chunk the run writes, for `log:` probes (which must match across chunk boundaries). */
  output(chunk: Buffer): void;
  /** The run ended or is being stopped: stop probing, free timers and sockets. */
  cancel(): void;
}

/** Starts watching a freshly spawned run of `instance` (its port is `instance.port`). */
export type ReadinessProbe = (instance: Instance) => ReadinessWatch;
