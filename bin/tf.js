#!/usr/bin/env node
// The CLI is bundled into dist/ by `npm run build` (run on `npm ci` by the prepare script).
import '../dist/tf.js';
