/**
 * Imports an ES-module-only package (execa). bin/tf.cjs runs the bundle from a V8 code cache,
 * and a script compiled from a cache cannot import(): the cache pins its import callback to the
 * process that made it ("A dynamic import callback was not specified"). The launcher is an
 * ordinary CommonJS module whose import() works, and it lends it here. Without the launcher
 * (the unit tests run the sources), this module's own import() does the same.
 */
type Importer = (specifier: string) => Promise<unknown>;

const LENT = Symbol.for('tf.importPackage');

export function importPackage<T>(specifier: string): Promise<T> {
  const lent = (globalThis as Record<symbol, Importer | undefined>)[LENT];
  return (lent === undefined ? import(specifier) : lent(specifier)) as Promise<T>;
}
