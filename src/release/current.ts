import { nodeCrypto } from '../host/crypto.js';
import type { Config } from '../domain.js';
import { configVariables, fingerprint, readFingerprintKey } from './fingerprint.js';
import { codeState, compareStates, latestRecord, procfileDigestOf, stateOf, unchanged, type ReleaseChanges, type ReleaseState } from './records.js';

/** How a run relates to the latest release of its environment. */
export type CurrentRelease =
  /** The code and config are that release's: processes get `TF_RELEASE=<id>`. */
  | { readonly kind: 'release'; readonly id: string }
  /** They differ from it: no id, and `start` says what changed. */
  | { readonly kind: 'changed'; readonly changedSince: { readonly id: string; readonly changes: ReleaseChanges } };

/** The code, Procfile and config of an app as they are now, fingerprinted with `key`. */
export function currentState(config: Pick<Config, 'env' | 'envOrigins' | 'shadowed' | 'procfile'>, root: string, key: Buffer): ReleaseState {
  return { code: codeState(root, key), procfile: procfileDigestOf(config.procfile), config: fingerprint(configVariables(config), key) };
}

/**
 * The latest release of `envName` and whether this run is it; undefined when the environment
 * has no release (runs without releases are normal: nothing to say). Git is asked only when
 * there is a record to compare with.
 */
export function currentRelease(
  config: Pick<Config, 'env' | 'envOrigins' | 'shadowed' | 'procfile'>,
  envName: string,
  root: string,
): CurrentRelease | undefined {
  const latest = latestRecord(root, envName);
  if (latest === undefined) return undefined;
  // Without the key (removed by hand) no digest can match: every variable then shows as changed.
  const key = readFingerprintKey(root) ?? nodeCrypto().randomBytes(32);
  const changes = compareStates(stateOf(latest), currentState(config, root, key));
  return unchanged(changes) ? { kind: 'release', id: latest.id } : { kind: 'changed', changedSince: { id: latest.id, changes } };
}

/** The release id a run carries, for `TF_RELEASE` and an export's labels. */
export const releaseIdOf = (current: CurrentRelease | undefined): string | undefined => (current?.kind === 'release' ? current.id : undefined);
