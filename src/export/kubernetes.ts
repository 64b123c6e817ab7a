import { createHash } from 'node:crypto';
import { loadYaml } from '../host/yaml.js';
import type { ReadySpec } from '../domain.js';
import { TfError } from '../errors.js';
import { type ContainerCommand, containerCommand, literalDollars } from './container-command.js';
import { extensionPrelude } from './extensions.js';
import type { ExportFile, ExportInput, ExportType, Render } from './types.js';

/**
 * `tf export kubernetes DIR --image IMAGE`: one file per object, numbered so that
 * `kubectl apply -f DIR` creates config before the workloads that read it:
 * 00-config.yaml (ConfigMap), 01-secrets.yaml (Secret, 0600), 10-release-job.yaml (Job),
 * 20-deployment-TYPE.yaml, 30-service-web.yaml.
 */

/** Port the web Service listens on; it forwards to the container's PORT. */
const SERVICE_PORT = 80;

/** A DNS-1035 label: what Service names need, and the strictest name any object here takes. */
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 63;

type Obj = Record<string, unknown>;

export const renderKubernetes: Render = (input, options) => {
  const image = options.image;
  if (image === undefined || image === '') {
    throw new TfError('usage', 'the kubernetes export needs an image to run', { hint: 'pass --image IMAGE (the image built from this app)' });
  }
  const app = objectName(input.app, 'app name', '--app NAME');
  const types = typeNames(input.types, app);
  const release = releaseTag(input, image);
  const labels = (component: string): Obj => ({
    'app.kubernetes.io/name': app,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/version': release,
    'app.kubernetes.io/managed-by': 'tf',
  });
  const selector = (component: string): Obj => ({ 'app.kubernetes.io/name': app, 'app.kubernetes.io/component': component });

  const plain = [...input.env].filter(([, v]) => !v.secret);
  const secret = [...input.env].filter(([, v]) => v.secret);
  const configName = `${app}-config`;
  const secretName = `${app}-secrets`;
  const envFrom: Obj[] = [
    ...(plain.length > 0 ? [{ configMapRef: { name: configName } }] : []),
    ...(secret.length > 0 ? [{ secretRef: { name: secretName } }] : []),
  ];

  const files: ExportFile[] = [];
  if (plain.length > 0) {
    files.push(
      yamlFile('00-config.yaml', 0o644, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: configName, labels: labels('config') },
        data: Object.fromEntries(plain.map(([k, v]) => [k, v.value])),
      }),
    );
  }
  if (secret.length > 0) {
    const secretFile = yamlFile(
      '01-secrets.yaml',
      0o600,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: secretName, labels: labels('config') },
        type: 'Opaque',
        stringData: Object.fromEntries(secret.map(([k, v]) => [k, options.noSecrets ? '' : v.value])),
      },
      options.noSecrets ? 'Fill in every value before applying: tf exported the keys only (--no-secrets).' : undefined,
    );
    files.push(secretFile);
  }

  /** `type` undefined is the release phase: no PORT, no probe, the default stop signal. */
  const container = (name: string, command: ContainerCommand, type: ExportType | undefined): Obj => {
    const port = type === undefined ? undefined : (type.ports[0] ?? type.firstPort);
    return {
      name,
      image,
      command: command.argv.map(literalDollars),
      ...(port === undefined ? {} : { env: [{ name: 'PORT', value: String(port) }] }),
      ...(envFrom.length > 0 ? { envFrom } : {}),
      ...(type?.name === 'web' ? { ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }] } : {}),
      ...(type === undefined || port === undefined ? {} : probe(type.policy.ready, port)),
      ...(type === undefined || type.policy.stopSignal === 'SIGTERM' ? {} : { lifecycle: { stopSignal: type.policy.stopSignal } }),
    };
  };
  const podSpec = (containerObj: Obj, extra: Obj): Obj => ({
    ...extra,
    terminationGracePeriodSeconds: input.timeoutSeconds,
    // The API accepts lifecycle.stopSignal only for pods that name their OS.
    ...('lifecycle' in containerObj ? { os: { name: 'linux' } } : {}),
    containers: [containerObj],
  });

  if (input.release !== undefined) {
    const jobName = `${app}-release-${release}`;
    if (jobName.length > MAX_NAME) {
      throw new TfError('option', `the release job name "${jobName}" is longer than Kubernetes allows (${MAX_NAME})`, { hint: 'use a shorter --app NAME' });
    }
    const command = containerCommand(input.release.command, extensionPrelude(input.extensions));
    files.push(
      yamlFile(
        '10-release-job.yaml',
        0o644,
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name: jobName, labels: labels('release') },
          spec: {
            // A failed release phase is a failed release: it is not retried behind the user's back.
            backoffLimit: 0,
            template: {
              metadata: { labels: labels('release') },
              spec: podSpec(container('release', command, undefined), { restartPolicy: 'Never' }),
            },
          },
        },
        shellNote(command),
      ),
    );
  }

  for (const type of input.types) {
    const name = types.get(type.name) as string;
    const command = containerCommand(type.command, extensionPrelude(input.extensions));
    files.push(
      yamlFile(
        `20-deployment-${name}.yaml`,
        0o644,
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `${app}-${name}`, labels: labels(name) },
          spec: {
            replicas: type.count,
            selector: { matchLabels: selector(name) },
            template: {
              metadata: { labels: labels(name) },
              spec: podSpec(container(name, command, type), {}),
            },
          },
        },
        notes(shellNote(command), stopSignalNote(type)),
      ),
    );
    if (type.name === 'web') {
      files.push(
        yamlFile(`30-service-${name}.yaml`, 0o644, {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: `${app}-${name}`, labels: labels(name) },
          spec: {
            selector: selector(name),
            ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', protocol: 'TCP' }],
          },
        }),
      );
    }
  }
  return files;
};

function probe(ready: ReadySpec, port: number): Obj {
  switch (ready.kind) {
    case 'port':
      return { readinessProbe: { tcpSocket: { port } } };
    case 'http':
      return { readinessProbe: { httpGet: { path: ready.path, port } } };
    case 'none':
    case 'log':
      // A log line is something only tf sees; Kubernetes has no probe for it.
      return {};
  }
}

function shellNote(command: ContainerCommand): string | undefined {
  return command.kind === 'shell'
    ? [
        'This command needs a shell that cannot exec it: /bin/sh is PID 1 and ignores SIGTERM,',
        'so the pod is killed after terminationGracePeriodSeconds. To stop it cleanly, move the',
        'command into a script that ends in exec.',
      ].join('\n')
    : undefined;
}

function stopSignalNote(type: ExportType): string | undefined {
  return type.policy.stopSignal === 'SIGTERM'
    ? undefined
    : [
        `lifecycle.stopSignal (${type.policy.stopSignal}) needs Kubernetes 1.33 or later with the ContainerStopSignals`,
        "feature gate; without it the container gets its image's STOPSIGNAL, SIGTERM by default.",
      ].join('\n');
}

function notes(...lines: readonly (string | undefined)[]): string | undefined {
  const present = lines.filter((l): l is string => l !== undefined);
  return present.length === 0 ? undefined : present.join('\n');
}

function yamlFile(path: string, mode: number, object: Obj, comment?: string): ExportFile {
  const doc = new (loadYaml().Document)(object, { version: '1.1', aliasDuplicateObjects: false });
  if (comment !== undefined)
    doc.commentBefore = comment
      .split('\n')
      .map((line) => ` ${line}`)
      .join('\n');
  return { path, mode, content: doc.toString({ lineWidth: 0 }) };
}

/** A name as Kubernetes takes it: lowercase, `-` for anything else (still to be checked as a DNS label). */
const lowered = (raw: string): string =>
  raw
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');

/** What keeps `raw` from naming Kubernetes objects even made lowercase, if anything; `fix` says how to pass another. */
export function kubernetesNameProblem(raw: string, what: string, fix: string): string | undefined {
  const name = lowered(raw);
  return DNS_LABEL.test(name) && name.length <= MAX_NAME - 20
    ? undefined
    : `${what} "${raw}" cannot name a Kubernetes object (lowercase letters, digits and "-", starting with a letter, at most ${MAX_NAME - 20} characters); ${fix}`;
}

/** A name Kubernetes accepts: lowercase, `-` for anything else; refused when still not a DNS label. */
function objectName(raw: string, what: string, fix: string): string {
  const problem = kubernetesNameProblem(raw, what, `use ${fix}`);
  if (problem !== undefined) throw new TfError('option', problem);
  return lowered(raw);
}

function typeNames(types: readonly ExportType[], app: string): Map<string, string> {
  const names = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const type of types) {
    const name = objectName(type.name, 'process type', 'a Procfile type name of lowercase letters, digits and "-"');
    const other = owners.get(name);
    if (other !== undefined) {
      throw new TfError('option', `process types "${other}" and "${type.name}" both become "${app}-${name}" in Kubernetes`, {
        hint: 'rename one of them in the Procfile',
      });
    }
    if (`${app}-${name}`.length > MAX_NAME) {
      throw new TfError('option', `process type "${type.name}" makes the name "${app}-${name}", longer than Kubernetes allows (${MAX_NAME})`, {
        hint: 'use a shorter --app NAME or type name',
      });
    }
    owners.set(name, type.name);
    names.set(type.name, name);
  }
  return names;
}

/**
 * The release id, or, without one, a digest of what the release Job runs (image, commands, plain
 * config and the names of secrets, never their values): the same input names the same Job, and
 * a change names a new one, as Jobs cannot be edited once created.
 */
function releaseTag(input: ExportInput, image: string): string {
  if (input.releaseId !== undefined) return objectName(input.releaseId, 'release id', 'a release id such as v12');
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      image,
      release: input.release?.command ?? null,
      types: input.types.map((t) => [t.name, t.command]),
      env: [...input.env].map(([k, v]) => (v.secret ? [k] : [k, v.value])),
      // Only when there are any, so that the Jobs of exports without them keep their names.
      ...(input.extensions.length > 0 ? { extensions: input.extensions } : {}),
    }),
  );
  return hash.digest('hex').slice(0, 10);
}
