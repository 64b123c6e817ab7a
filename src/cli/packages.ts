/**
 * Kept for one release so that src/commands/run.ts builds unchanged: it should call
 * `await import('execa')` itself and this file then goes. A plain import() works in the bundle:
 * esbuild keeps it for an external package, and Node loads the ES module from CommonJS.
 */
export function importPackage<T>(specifier: string): Promise<T> {
  return import(specifier) as Promise<T>;
}
