import { describe, expect, it } from 'vitest';
import { expectAllDead, fixture, pidsIn, runTf, tempApps, type TfProcess, withBusyPort } from '../helpers/tf.js';

const app = tempApps();

/** Waits for `count` ENV lines, stops tf, checks everything is dead, returns the parsed lines by instance. */
async function envLines(tf: TfProcess, count: number): Promise<Record<string, Record<string, string | null>>> {
  await tf.waitFor(new RegExp(`(ENV .*\\n[\\s\\S]*){${count}}`));
  tf.signal('SIGTERM');
  const exit = await tf.exited;
  expect(exit.code, tf.output()).toBe(143);
  await expectAllDead(pidsIn(tf.output()));
  const result: Record<string, Record<string, string | null>> = {};
  for (const m of tf.output().matchAll(/(\S+) +\| ENV (.*)$/gm)) result[m[1] as string] = JSON.parse(m[2] as string);
  return result;
}

describe('tf start: instances, ports and environment', () => {
  it('gives each instance PORT by the foreman formula and PS by name, honouring --formation', async () => {
    const dir = app({
      Procfile: `web: ${fixture('print-env.mjs', 'PORT', 'PS')}\nworker: ${fixture('print-env.mjs', 'PORT', 'PS')}\nclock: ${fixture('print-env.mjs', 'PORT')}\n`,
    });
    const tf = runTf(['start', '-m', 'web=2,worker=1', '-p', '7000'], { cwd: dir });
    const env = await envLines(tf, 3);
    expect(env).toEqual({
      'web.1': { PORT: '7000', PS: 'web.1' },
      'web.2': { PORT: '7001', PS: 'web.2' },
      'worker.1': { PORT: '7100', PS: 'worker.1' },
    });
    expect(tf.output()).not.toContain('clock');
  }, 20_000);

  it('takes the base port from PORT in .env, uses --port-step, and all= for unnamed types', async () => {
    const dir = app({
      Procfile: `a: ${fixture('print-env.mjs', 'PORT')}\nb: ${fixture('print-env.mjs', 'PORT')}\n`,
      '.env': 'PORT=6000\n',
    });
    const tf = runTf(['start', '-m', 'all=1,b=2', '--port-step', '10'], { cwd: dir });
    const env = await envLines(tf, 3);
    expect(env).toEqual({ 'a.1': { PORT: '6000' }, 'b.1': { PORT: '6010' }, 'b.2': { PORT: '6011' } });
  }, 20_000);

  it('runs only the types named on the command line', async () => {
    const dir = app({ Procfile: `web: ${fixture('print-env.mjs', 'PS')}\nworker: ${fixture('print-env.mjs', 'PS')}\n` });
    const tf = runTf(['start', 'worker'], { cwd: dir });
    const env = await envLines(tf, 1);
    expect(Object.keys(env)).toEqual(['worker.1']);
  }, 20_000);

  it('layers .env, .env.local, .env.NAME, .env.NAME.local for --env NAME, expands ${VAR}, and lets the shell win', async () => {
    const dir = app({
      Procfile: `web: ${fixture('print-env.mjs', 'A', 'B', 'C', 'D', 'URL', 'SHELLY', 'LITERAL')}\n`,
      '.env': "A=env\nB=env\nC=env\nD=env\nHOST=localhost\nURL=http://${HOST}:${APP_PORT:-8080}/x\nSHELLY=file\nLITERAL='${HOST}'\n",
      '.env.local': 'B=local\nC=local\nD=local\n',
      '.env.ci': 'C=ci\nD=ci\nHOST=ci-host\n',
      '.env.ci.local': 'D=ci-local\n',
      '.env.prod': 'A=prod\n',
    });
    const tf = runTf(['start', '--env', 'ci'], { cwd: dir, env: { SHELLY: 'shell' } });
    const env = await envLines(tf, 1);
    expect(env['web.1']).toEqual({ A: 'env', B: 'local', C: 'ci', D: 'ci-local', URL: 'http://localhost:8080/x', SHELLY: 'shell', LITERAL: '${HOST}' });
  }, 20_000);

  it('loads -e files in order (comma-separated and repeated), and --env-override lets files beat the shell', async () => {
    const dir = app({
      Procfile: `web: ${fixture('print-env.mjs', 'X', 'Y', 'Z', 'P')}\n`,
      'a.env': 'X=a\nY=a\nZ=a\nP=./bin:$P\n',
      'b.env': 'Y=b\nZ=b\n',
      'c.env': 'Z=c\n',
      '.env': 'X=default-dotenv\n',
    });
    const tf = runTf(['start', '-e', 'a.env,b.env', '-e', 'c.env', '--env-override'], { cwd: dir, env: { X: 'shell', P: '/usr/bin' } });
    const env = await envLines(tf, 1);
    expect(env['web.1']).toEqual({ X: 'a', Y: 'b', Z: 'c', P: './bin:/usr/bin' });
  }, 20_000);

  it('reads every option from TF_* variables, with flags winning over them', async () => {
    const dir = app({
      'conf/Procfile': `web: ${fixture('print-env.mjs', 'PORT', 'FROM')}\nworker: ${fixture('print-env.mjs', 'PORT')}\n`,
      'vars.env': 'FROM=tf-env-file\n',
    });
    const tf = runTf(['start', '-p', '9100'], {
      cwd: dir,
      env: { TF_PROCFILE: 'conf/Procfile', TF_FORMATION: 'web=1', TF_PORT: '9000', TF_ENV_FILE: 'vars.env', TF_TIMESTAMP: '0' },
    });
    const env = await envLines(tf, 1);
    expect(env).toEqual({ 'web.1': { PORT: '9100', FROM: 'tf-env-file' } });
    expect(tf.output()).toMatch(/^web\.1 +\| ENV/m);
  }, 20_000);

  it('runs every process in the app root: the Procfile directory, or --root', async () => {
    const dir = app({
      'sub/Procfile': `web: ${JSON.stringify(process.execPath)} -e "console.log('CWD ' + process.cwd()); setInterval(() => {}, 1e9)"\n`,
      'other/.keep': '',
    });
    const tf = runTf(['start', '-f', 'sub/Procfile', '--no-timestamp'], { cwd: dir });
    await tf.waitFor(/CWD (.*)\n/);
    tf.signal('SIGINT');
    expect((await tf.exited).code).toBe(130);
    expect(tf.output()).toContain(`CWD ${dir}/sub\n`);

    const tf2 = runTf(['start', '-f', 'sub/Procfile', '-d', 'other', '--no-timestamp'], { cwd: dir });
    await tf2.waitFor(/CWD (.*)\n/);
    tf2.signal('SIGINT');
    expect((await tf2.exited).code).toBe(130);
    expect(tf2.output()).toContain(`CWD ${dir}/other\n`);
    await expectAllDead([...pidsIn(tf.output()), ...pidsIn(tf2.output())]);
  }, 20_000);

  it('warns about a port that is already in use, naming the instance', async () => {
    await withBusyPort(async (port) => {
      const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
      const tf = runTf(['start', '-p', String(port)], { cwd: dir });
      await tf.waitFor(/READY/);
      tf.signal('SIGTERM');
      await tf.exited;
      expect(tf.output()).toMatch(new RegExp(`system +\\| warning: port ${port} for web\\.1 is already in use`));
      await expectAllDead(pidsIn(tf.output()));
    });
  }, 20_000);
});
