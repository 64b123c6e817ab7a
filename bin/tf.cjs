#!/usr/bin/env node
'use strict';
// The CLI is a CommonJS bundle, dist/tf.cjs, which loads each command's own bundle from
// dist/commands/ when it runs it; `npm run build` makes them (npm ci runs it; a packed tarball
// ships them). Node's compile cache, where this Node has one, keeps the bundle's compiled
// code between runs in the OS temporary directory.
const path = require('node:path');
const nodeModule = require('node:module');

if (typeof nodeModule.enableCompileCache === 'function') nodeModule.enableCompileCache();
const BUNDLE = path.join(__dirname, '..', 'dist', 'tf.cjs');
try {
  require.resolve(BUNDLE);
} catch {
  // No stack trace for an install without a build (a clone before `npm ci`, a failed build).
  process.stderr.write(`tf: ${BUNDLE} is missing; build it with "npm run build" (npm ci runs it)\n`);
  process.exit(1);
}
require(BUNDLE);
