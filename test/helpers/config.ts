import { resolveFormation } from '../../src/config/formation.js';
import type { ConfigOptions } from '../../src/config/load.js';
import { parseProcfile } from '../../src/config/procfile.js';
import type { Config } from '../../src/domain.js';

/** Config options as the CLI gives them with no flag set, changed by `change`. */
export const configOptions = (change: Partial<ConfigOptions> = {}): ConfigOptions => ({
  procfile: undefined,
  root: undefined,
  envFiles: [],
  envName: undefined,
  envOverride: false,
  formation: undefined,
  formationSource: '--formation',
  port: undefined,
  portStep: 100,
  ...change,
});

/** A Config as loadConfig would give it for `procfile` in /app, with formation `spec` and PATH=/bin, changed by `extra`. */
export function testConfig(procfile: string, spec?: string, extra: Partial<Config> = {}): Config {
  const parsed = parseProcfile(procfile, 'Procfile');
  return {
    root: '/app',
    procfile: parsed,
    env: { PATH: '/bin' },
    envFiles: [],
    envOrigins: new Map(),
    secretKeys: new Set(),
    shadowed: [],
    formation: resolveFormation(parsed.types, { spec }),
    basePort: 5000,
    portStep: 100,
    policies: new Map(),
    tfYaml: undefined,
    warnings: [],
    ...extra,
  };
}
