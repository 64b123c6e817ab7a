import { defaultPolicy, RELEASE_TYPE, type Config, type Env, type Instance, type Plan, type ProcessType } from '../domain.js';
import { TfError } from '../errors.js';
import { shellLaunch } from './launch.js';

export interface PlanOptions {
  /** Set FORCE_COLOR=1 in children (tf's own output is a colour terminal). */
  readonly childColor: boolean;
}

/**
 * foreman's formula: types in Procfile order, `step` ports apart, instances consecutive. The
 * release phase takes no place in it: `release:` above `web:` still leaves web on the base port.
 */
export const portFor = (config: Pick<Config, 'basePort' | 'portStep'> & Partial<Pick<Config, 'procfile'>>, type: ProcessType, number: number): number => {
  const release = config.procfile?.types.find((t) => t.name === RELEASE_TYPE);
  const position = release !== undefined && release.position < type.position ? type.position - 1 : type.position;
  return config.basePort + config.portStep * position + (number - 1);
};

/**
 * The defaults every child gets unless the environment already says otherwise: a value from
 * the env files or the shell, even empty or "0", is never replaced.
 */
function childEnv(base: Env, extra: Record<string, string>, options: PlanOptions): Env {
  const env: Record<string, string> = { ...base };
  // A pipe makes Python block-buffer its output; users expect lines as they are printed.
  env.PYTHONUNBUFFERED ??= '1';
  if (options.childColor) env.FORCE_COLOR ??= '1';
  return Object.assign(env, extra);
}

/** One process type's environment for a one-off `tf run`, with its first instance's port. */
export function runEnv(config: Config, type: ProcessType | undefined): Env {
  const extra: Record<string, string> = type === undefined ? {} : { PORT: String(portFor(config, type, 1)) };
  return childEnv(config.env, extra, { childColor: false });
}

/**
 * Pure: expands the Procfile and formation into the instances to run. `start` and `check`
 * (and later `export`) all use this, so they cannot disagree on names, ports or environment.
 */
export function buildPlan(config: Config, options: PlanOptions): Plan {
  const instances: Instance[] = [];
  const owners = new Map<number, string>();
  const widest = Math.max(0, ...config.formation.values());
  let release: Plan['release'];
  for (const type of config.procfile.types) {
    if (type.name === RELEASE_TYPE) {
      // Heroku's release phase runs once, to completion, before a release: as a process of the formation its exit would stop everything.
      release = { command: type.command, launch: shellLaunch(type.command), env: childEnv(config.env, {}, options), cwd: config.root, line: type.line };
      continue;
    }
    const count = config.formation.get(type.name) ?? 0;
    if (count === 0) continue;
    // One launch for the type's instances: the command is theirs alike.
    const launch = shellLaunch(type.command);
    for (let number = 1; number <= count; number++) {
      const port = portFor(config, type, number);
      if (port > 65535) {
        throw new TfError('formation', `port ${port} for ${type.name}.${number} is above 65535`, { hint: 'lower the base port (-p) or --port-step' });
      }
      const name = `${type.name}.${number}`;
      const owner = owners.get(port);
      if (owner !== undefined) {
        // Two instances on one port: the second would fail to bind, or worse, both would half-work.
        throw new TfError('formation', `${owner} and ${name} would both get port ${port}`, {
          hint: `run fewer instances of ${owner.slice(0, owner.lastIndexOf('.'))} or pass --port-step ${widest} or more`,
        });
      }
      owners.set(port, name);
      instances.push({
        name,
        type: type.name,
        number,
        command: type.command,
        launch,
        env: childEnv(config.env, { PORT: String(port), PS: name }, options),
        port,
        cwd: config.root,
        color: type.position,
        policy: config.policies.get(type.name) ?? defaultPolicy(type.name),
      });
    }
  }
  return { instances, release, warnings: config.warnings };
}
