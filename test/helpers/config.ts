import type { ConfigOptions } from '../../src/config/load.js';

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
