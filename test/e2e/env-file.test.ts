import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();
const node = process.execPath;
const printEnv = (...names: string[]): string[] => [
  node,
  '-e',
  `console.log(JSON.stringify([${names.map((n) => `process.env[${JSON.stringify(n)}]`).join(',')}]))`,
];

describe('env files as processes see them', () => {
  it('keeps # inside a word and takes the shell escapes in double quotes, as sh and foreman do', async () => {
    const env = ['DB_PASSWORD=abc#123', 'HEX_COLOR=#ff0000', 'NOTE=b # a comment', 'OTHER="escaped\\"quote"', 'NL="a\\nb"', 'DOLLAR="\\$HOME"'].join('\n');
    const tf = runTf(['run', ...printEnv('DB_PASSWORD', 'HEX_COLOR', 'NOTE', 'OTHER', 'NL', 'DOLLAR')], { cwd: app({ '.env': `${env}\n` }) });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(JSON.parse(tf.output())).toEqual(['abc#123', '#ff0000', 'b', 'escaped"quote', 'a\nb', '$HOME']);
  }, 20_000);

  it('applies PATH=./bin:$PATH on top of the shell PATH without --env-override', async () => {
    const dir = app({ '.env': 'PATH=./bin:$PATH\n', Procfile: 'x: x\n' });
    mkdirSync(path.join(dir, 'bin'));
    writeFileSync(path.join(dir, 'bin', 'x'), '#!/bin/sh\necho "from bin: $PATH"\n');
    chmodSync(path.join(dir, 'bin', 'x'), 0o755);
    const tf = runTf(['run', 'x'], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    expect((await tf.exited).code, tf.stderr()).toBe(0);
    expect(tf.output()).toBe(`from bin: ./bin:${process.env.PATH ?? '/usr/bin:/bin'}\n`);
  }, 20_000);

  it('gives a process PYTHONUNBUFFERED=0 from an env file, and check names the shell when it wins', async () => {
    const dir = app({ '.env': 'PYTHONUNBUFFERED=0\n', Procfile: 'web: true\n' });
    const fromFile = runTf(['run', ...printEnv('PYTHONUNBUFFERED')], { cwd: dir, env: { PYTHONUNBUFFERED: undefined } });
    expect((await fromFile.exited).code, fromFile.stderr()).toBe(0);
    expect(JSON.parse(fromFile.output())).toEqual(['0']);
    const check = runTf(['check'], { cwd: dir, env: { PYTHONUNBUFFERED: '1' } });
    expect((await check.exited).code, check.stderr()).toBe(0);
    expect(check.output()).toContain('shadowed by the shell: PYTHONUNBUFFERED ');
  }, 20_000);
});
