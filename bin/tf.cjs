#!/usr/bin/env node
// The CLI is one CommonJS bundle (dist/tf.cjs, built by `npm run build`, which `npm ci` runs
// through the prepare script): CommonJS skips Node's ES module loader, about 15 ms of start-up.
require('../dist/tf.cjs');
