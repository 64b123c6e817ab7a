import { spawnSync } from 'node:child_process';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { TfError } from '../../src/errors.js';
import { containerCommand } from '../../src/export/container-command.js';
import { renderKubernetes } from '../../src/export/kubernetes.js';
import type { ExportFile, ExportInput, ExportValue } from '../../src/export/types.js';
import { CASES, expectGolden, OPTIONS } from '../helpers/export-cases.js';

// biome-ignore lint/suspicious/noExplicitAny: manifests are checked by their models, not by TypeScript
type Manifest = any;

const MODELS: Record<string, new (data: Manifest) => { validate(): void }> = { ConfigMap, Secret, Service, Deployment, Job };

const objects = (files: readonly ExportFile[]): Manifest[] => files.map((f) => parse(f.content));
const byKind = (files: readonly ExportFile[], kind: string): Manifest[] => objects(files).filter((o) => o.kind === kind);
const container = (o: Manifest): Manifest => o.spec.template.spec.containers[0];
/** Kubernetes' own reading of `command`: `$$` is one `$` (and `$(VAR)` would expand). */
const kubeArgv = (argv: readonly string[]): string[] => argv.map((a) => a.replaceAll('$$', '$'));

/** The line the CLI would print for the TfError `run` throws. */
function described(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof TfError) return error.describe();
    throw error;
  }
  throw new Error('no error thrown');
}

/** Every object, validated by the model of its kind (kubernetes-models 4: the API's OpenAPI schema). */
function validateAll(files: readonly ExportFile[]): void {
  for (const object of objects(files)) {
    const Model = MODELS[object.kind];
    expect(Model, `a model for ${object.kind}`).toBeDefined();
    expect(() => new (Model as NonNullable<typeof Model>)(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
  }
}

describe('kubernetes export', { timeout: 10_000 }, () => {
  for (const [name, input] of Object.entries(CASES)) {
    it(`renders the ${name} case as its golden files, each a valid object`, () => {
      const files = renderKubernetes(input, OPTIONS);
      expectGolden('kubernetes', name, files);
      validateAll(files);
      expect(renderKubernetes(input, OPTIONS)).toEqual(files);
    });
  }

  it('refuses to export without --image, naming the flag', () => {
    const run = () => renderKubernetes(CASES['web-worker'] as ExportInput, { ...OPTIONS, image: undefined });
    expect(run).toThrow(TfError);
    expect(described(run)).toMatch(/pass --image IMAGE/);
  });

  it('runs a Deployment per type: replicas from the formation, PORT, grace period, labels; a Service for web only', () => {
    const files = renderKubernetes(CASES.formation as ExportInput, OPTIONS);
    const deployments = byKind(files, 'Deployment');
    expect(deployments.map((d) => [d.metadata.name, d.spec.replicas])).toEqual([
      ['shop-web', 2],
      ['shop-worker', 1],
      ['shop-clock', 0],
    ]);
    expect(deployments.map((d) => container(d).env)).toEqual([
      [{ name: 'PORT', value: '5000' }],
      [{ name: 'PORT', value: '5100' }],
      [{ name: 'PORT', value: '5000' }],
    ]);
    for (const d of deployments) {
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(5);
      expect(d.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'shop', 'app.kubernetes.io/component': d.metadata.name.slice(5) });
      expect(d.spec.template.metadata.labels).toMatchObject({
        ...d.spec.selector.matchLabels,
        'app.kubernetes.io/version': expect.stringMatching(/^[0-9a-f]{10}$/),
      });
    }
    expect(container(deployments[0]).ports).toEqual([{ name: 'http', containerPort: 5000, protocol: 'TCP' }]);
    expect(container(deployments[1]).ports).toBeUndefined();
    expect(byKind(files, 'Service').map((s) => [s.metadata.name, s.spec.ports[0].targetPort])).toEqual([['shop-web', 'http']]);
  });

  it('gives the program PID 1: plain words as argv, exec under sh for expansions, sh -c (with a note) for pipes', () => {
    const files = renderKubernetes(CASES.pipes as ExportInput, OPTIONS);
    const [web, logs, cost] = byKind(files, 'Deployment');
    expect(container(web).command).toEqual(['/bin/sh', '-c', 'exec node server.js --port $$PORT']);
    expect(container(logs).command).toEqual(['/bin/sh', '-c', "tail -F log/*.log | grep --line-buffered 'ERROR' >> errors.log"]);
    expect(container(cost).command).toEqual(['/bin/sh', '-c', 'exec ruby cost.rb "100% of $$HOME costs \\$$5"']);
    expect(files.find((f) => f.path === '20-deployment-logs.yaml')?.content).toMatch(/^# This command needs a shell that cannot exec it/);
    const worker = byKind(renderKubernetes(CASES['web-worker'] as ExportInput, OPTIONS), 'Deployment')[1];
    expect(container(worker).command).toEqual(['node', 'worker.js', '--queue', 'default']);
  });

  it('turns commands into argv that run what sh -c runs, with the program as the process started', () => {
    const node = JSON.stringify(process.execPath);
    const commands = [
      `${node} -e 'console.log(process.pid, process.argv.length)' a\\ b "c d"`,
      `${node} -e 'console.log(process.pid, process.argv.length)' $TF_EXPORT_UNSET "$HOME"`,
      `${node} -e 'console.log(process.pid, process.argv.length)' *.nothing-matches`,
    ];
    for (const command of commands) {
      const argv = kubeArgv(containerCommand(command).argv.map((a) => a.replaceAll('$', '$$')));
      const run = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 5000 });
      const expected = spawnSync('/bin/sh', ['-c', command], { encoding: 'utf8', timeout: 5000 });
      expect(run.stdout.split(' ')[0], command).toBe(String(run.pid));
      expect(run.stdout.split(' ')[1]).toBe(expected.stdout.split(' ')[1]);
      for (const pid of [run.pid, expected.pid]) expect(() => process.kill(pid as number, 0)).toThrow();
    }
  });

  it('carries every value byte for byte: % $ quotes spaces backslashes newlines, plain in the ConfigMap, secret in the Secret', () => {
    const input = CASES.formation as ExportInput;
    const files = renderKubernetes(input, OPTIONS);
    const [config] = byKind(files, 'ConfigMap');
    const [secret] = byKind(files, 'Secret');
    for (const [key, { value, secret: isSecret }] of input.env) expect((isSecret ? secret.stringData : config.data)[key], key).toBe(value);
    for (const d of byKind(files, 'Deployment'))
      expect(container(d).envFrom).toEqual([{ configMapRef: { name: 'shop-config' } }, { secretRef: { name: 'shop-secrets' } }]);
    expect(files.find((f) => f.path === '01-secrets.yaml')?.mode).toBe(0o600);
    const secretValue = input.env.get('API_TOKEN')?.value as string;
    for (const f of files.filter((x) => x.mode !== 0o600)) expect(parse(f.content)).not.toContain(secretValue);
  });

  it('writes YAML that a YAML 1.1 reader (kubectl) reads back as strings: no, on, yes, 0x10, a backslash in a secret', () => {
    const values = { A: 'no', B: 'on', C: 'yes', D: '0x10', E: '1_000', F: '~' };
    const input: ExportInput = {
      ...(CASES['web-worker'] as ExportInput),
      env: new Map<string, ExportValue>([
        ...Object.entries(values).map(([k, value]) => [k, { value, secret: false }] as const),
        ['TOKEN', { value: "a\\b\\\\c'd", secret: true }],
      ]),
    };
    const files = renderKubernetes(input, OPTIONS);
    validateAll(files);
    const read = (path: string) => parse(files.find((f) => f.path === path)?.content ?? '', { version: '1.1' });
    expect(read('00-config.yaml').data).toEqual(values);
    expect(read('01-secrets.yaml').stringData).toEqual({ TOKEN: "a\\b\\\\c'd" });
  });

  it('with --no-secrets writes the Secret with its keys and empty values, and no secret anywhere', () => {
    const input = CASES['web-worker'] as ExportInput;
    const files = renderKubernetes(input, { ...OPTIONS, noSecrets: true });
    validateAll(files);
    expect(byKind(files, 'Secret')[0].stringData).toEqual({ DATABASE_URL: '' });
    for (const f of files) expect(f.content).not.toContain('hunter2');
    expect(files.find((f) => f.path === '01-secrets.yaml')?.content).toMatch(/^# Fill in every value/);
  });

  it('runs the release phase as a Job named after the release id, never retried', () => {
    const files = renderKubernetes(CASES.release as ExportInput, OPTIONS);
    const [job] = byKind(files, 'Job');
    expect(job.metadata.name).toBe('shop-release-v12');
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
    expect(job.metadata.labels['app.kubernetes.io/version']).toBe('v12');
    expect(container(job).command).toEqual(['bundle', 'exec', 'rake', 'db:migrate']);
  });

  it('names the Job by a digest without a release id: the same input the same name, a new image a new one', () => {
    const input = CASES.pipes as ExportInput;
    const name = (image: string) => byKind(renderKubernetes(input, { ...OPTIONS, image }), 'Job')[0].metadata.name;
    expect(name('a:1')).toMatch(/^shop-release-[0-9a-f]{10}$/);
    expect(name('a:1')).toBe(name('a:1'));
    expect(name('a:2')).not.toBe(name('a:1'));
  });

  it('asks for another stop signal with lifecycle.stopSignal (on a pod that names its OS)', () => {
    const [web, logs] = byKind(renderKubernetes(CASES.pipes as ExportInput, OPTIONS), 'Deployment');
    expect(container(web).lifecycle).toEqual({ stopSignal: 'SIGQUIT' });
    expect(web.spec.template.spec.os).toEqual({ name: 'linux' });
    expect(container(logs).lifecycle).toBeUndefined();
    expect(logs.spec.template.spec.os).toBeUndefined();
  });

  it('refuses an app name that cannot name an object, naming it and the fix', () => {
    const run = () => renderKubernetes({ ...(CASES['web-worker'] as ExportInput), app: '_' }, OPTIONS);
    expect(run).toThrow(/app name "_" cannot name a Kubernetes object/);
    expect(described(run)).toMatch(/; use --app NAME$/);
    expect(byKind(renderKubernetes({ ...(CASES['web-worker'] as ExportInput), app: 'My_Shop' }, OPTIONS), 'Deployment')[0].metadata.name).toBe('my-shop-web');
  });
});
