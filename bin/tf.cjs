#!/usr/bin/env node
'use strict';
// The CLI is one CommonJS bundle, dist/tf.cjs, built by `npm run build` (which `npm ci` runs
// through the prepare script). CommonJS skips Node's ES module loader, about 15 ms of start-up.
//
// The build also runs tf once and keeps what V8 compiled, dist/tf.code-cache: a V8 code cache
// taken after that run holds the bytecode of every function it ran, not only the top level.
// Compiling them again is 3-6 ms of each start. Node 20's own loader takes no code cache,
// so the bundle is compiled here, with the same wrapper Node gives a CommonJS module.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');

const BUNDLE = path.join(__dirname, '..', 'dist', 'tf.cjs');
const CODE_CACHE = path.join(__dirname, '..', 'dist', 'tf.code-cache');

/**
 * The cache, if there is one made from this bundle: one older than the bundle was made from an
 * earlier build. V8 itself rejects a cache from another V8 or other flags, and one whose source
 * length differs, but not one from an edited bundle of the same length.
 */
function readCodeCache() {
  try {
    if (fs.statSync(CODE_CACHE).mtimeMs < fs.statSync(BUNDLE).mtimeMs) return undefined;
    return fs.readFileSync(CODE_CACHE);
  } catch {
    return undefined;
  }
}

/** `useCache`: false when making the cache. `script.cachedDataRejected` tells if V8 took it. */
function compileBundle(useCache) {
  const source = fs.readFileSync(BUNDLE, 'utf8');
  const cachedData = useCache ? readCodeCache() : undefined;
  return new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: BUNDLE, cachedData });
}

/** For TF_LOG=debug: whether this start skipped compiling, and if not, why. */
function codeCacheState(script) {
  if (script.cachedDataRejected === false) return `compiled from ${CODE_CACHE}`;
  if (script.cachedDataRejected === true) return `V8 rejected ${CODE_CACHE} (made by another Node or under other V8 flags); compiled without it`;
  return `no usable ${CODE_CACHE} (missing, or older than the bundle); compiled without it`;
}

function runBundle(script) {
  const bundleModule = { exports: {} };
  script.runInThisContext().call(bundleModule.exports, bundleModule.exports, createRequire(BUNDLE), bundleModule, BUNDLE, path.dirname(BUNDLE));
}

// A script compiled with a code cache cannot import(): the cache pins its import callback to
// the process that made it. ES-only packages (execa) are imported here instead; see
// src/cli/packages.ts.
globalThis[Symbol.for('tf.importPackage')] = (specifier) => import(specifier);

module.exports = { BUNDLE, CODE_CACHE, compileBundle, runBundle };
if (require.main === module) {
  let script;
  try {
    script = compileBundle(true);
  } catch (error) {
    // No stack trace for an install without a build (a clone before `npm ci`, a failed build).
    const missing = error?.code === 'ENOENT';
    process.stderr.write(missing ? `tf: ${BUNDLE} is missing; build it with "npm run build" (npm ci runs it)\n` : `tf: cannot load ${BUNDLE}: ${error?.message ?? error}\n`);
    process.exit(missing ? 1 : 70);
  }
  if (process.env.TF_LOG === 'debug') process.stderr.write(`tf: debug: ${codeCacheState(script)}\n`);
  runBundle(script);
}
