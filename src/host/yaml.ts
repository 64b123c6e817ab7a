/**
 * The yaml package, loaded the first time something reads or writes YAML (a tf.yaml, an
 * export): most starts need neither, and its evaluation would otherwise be part of each.
 */
let yamlModule: typeof import('yaml') | undefined;

export const loadYaml = (): typeof import('yaml') => {
  yamlModule ??= require('yaml') as typeof import('yaml');
  return yamlModule;
};
