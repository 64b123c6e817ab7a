// Makes dist/tf.code-cache; `npm run build` runs it after esbuild. It runs `tf start` once on a
// small Procfile and keeps the bytecode V8 compiled for that run. bin/tf.cjs then loads it
// instead of compiling again, which saves 3-6 ms of each start. Without it the build still
// succeeds: tf works, it only starts slower.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const launcher = createRequire(import.meta.url)('../../bin/tf.cjs');

if (process.argv[2] === '--run') {
  // The run itself, in a process of its own: the bundle compiled without a cache, then
  // `tf start`. At exit, V8 serialises every function compiled so far.
  const script = launcher.compileBundle(false);
  process.on('exit', () => writeFileSync(launcher.CODE_CACHE, script.createCachedData()));
  process.argv = [process.argv[0], launcher.BUNDLE, 'start', '-f', process.argv[3]];
  launcher.runBundle(script);
} else {
  rmSync(launcher.CODE_CACHE, { force: true });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tf-code-cache-'));
  try {
    // `seq` writes 4 KiB blocks, which go through the bulk path (the prefixer); its exit
    // then stops `idle`, which covers the stop path. Output goes to a pipe, as with `| less`.
    const procfile = path.join(dir, 'Procfile');
    writeFileSync(procfile, 'lines: seq 1 3000\nidle: sleep 10\n');
    const self = fileURLToPath(import.meta.url);
    const run = spawnSync(process.execPath, [self, '--run', procfile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    if (!existsSync(launcher.CODE_CACHE)) {
      const why = run.error?.message ?? `tf exited with ${run.status ?? run.signal}: ${run.stderr.toString().trim().split('\n')[0]}`;
      console.warn(`tf build: no code cache made (${why}); tf works, but starts a few ms slower`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
