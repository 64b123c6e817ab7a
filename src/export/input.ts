import path from 'node:path';
import { defaultPolicy, RELEASE_TYPE, type Config, type ProcessType } from '../domain.js';
import { TfError } from '../errors.js';
import { isSecretName, maskValue } from '../config/mask.js';
import { buildPlan, portFor } from '../plan/plan.js';
import type { EnvExtension, ExportInput, ExportType, ExportValue, OmittedValue } from './types.js';

export interface ExportInputOptions {
  /** `--app`, taken as given (`exportProblems` says when a format cannot take it). */
  readonly app: string | undefined;
  /** `-t` in seconds. */
  readonly timeoutSeconds: number;
  readonly releaseId?: string | undefined;
}

/**
 * A directory name made usable as an app name by every format: lower case letters, digits and
 * single dashes (a DNS label, the strictest of systemd unit names and Kubernetes object names).
 */
export function sanitizeAppName(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return cleaned === '' ? 'app' : cleaned;
}

/**
 * Pure: the export's view of a loaded config. Values come from env files only: a key whose
 * value the shell supplied is left out, so an export is the same whoever runs it, and a
 * developer's shell never ends up in a unit file.
 */
/** A type's PORT by foreman's formula, checked as the plan checks its instances' (a type scaled to zero is exported too). */
function firstPortOf(config: Config, type: ProcessType): number {
  const port = portFor(config, type, 1);
  if (port > 65535) throw new TfError('formation', `port ${port} for ${type.name} is above 65535`, { hint: 'lower the base port (-p) or --port-step' });
  return port;
}

export function exportInput(config: Config, options: ExportInputOptions): ExportInput {
  // The plan is what `tf start` would run: its port checks (collisions, above 65535) hold for an export too.
  const plan = buildPlan(config, { childColor: false });
  const env = new Map<string, ExportValue>();
  const extensions: EnvExtension[] = [];
  const omitted: OmittedValue[] = [];
  for (const [key, value] of Object.entries(config.env)) {
    const origin = config.envOrigins.get(key);
    if (origin?.kind !== 'file') continue;
    // A value the masker would hide (a URL's password, a token) is a secret too, wherever it sits.
    const secret = config.secretKeys.has(key) || isSecretName(key) || maskValue(key, value) !== value;
    const parts = config.envGaps?.get(key);
    if (parts === undefined) {
      env.set(key, { value, secret });
      continue;
    }
    // Written with the gaps empty it would be a value no one meant (PATH="./bin:"). A line that
    // extends its own variable means "on top of whatever is there", which the target can do; a
    // secret never goes into a command line, where anyone may read it.
    const variables = [...new Set(parts.flatMap((p) => ('variable' in p ? [p.variable] : 'variables' in p ? p.variables : [])))];
    const plain = parts.flatMap((p) => ('defaultOf' in p ? [] : [p]));
    if (!secret && plain.length === parts.length && variables.length === 1 && variables[0] === key) {
      extensions.push({ key, parts: plain });
      continue;
    }
    const undecidedDefaults = [...new Set(parts.flatMap((p) => ('defaultOf' in p ? [p.defaultOf] : [])))];
    const setLate = variables.flatMap((variable) => {
      const late = config.envSetLate?.get(variable);
      return late === undefined ? [] : [{ variable, ...late }];
    });
    omitted.push({ key, file: origin.file, line: origin.line, variables, undecidedDefaults, setLate });
  }
  // What tf start gives processes when code and config are the release's: exported processes are that release.
  if (options.releaseId !== undefined) env.set('TF_RELEASE', { value: options.releaseId, secret: false });
  const types: ExportType[] = config.procfile.types
    .filter((t) => t.name !== RELEASE_TYPE)
    .map((t) => ({
      name: t.name,
      command: t.command,
      count: config.formation.get(t.name) ?? 0,
      ports: plan.instances.filter((i) => i.type === t.name).map((i) => i.port),
      firstPort: firstPortOf(config, t),
      policy: config.policies.get(t.name) ?? defaultPolicy(t.name),
    }));
  const release = config.procfile.types.find((t) => t.name === RELEASE_TYPE);
  return {
    app: options.app ?? sanitizeAppName(path.basename(config.root)),
    root: config.root,
    types,
    release: release === undefined ? undefined : { command: release.command },
    releaseId: options.releaseId,
    env,
    extensions,
    omitted,
    timeoutSeconds: options.timeoutSeconds,
  };
}
