import { Document } from 'yaml';
import type { RestartPolicy } from '../domain.js';
import { TfError } from '../errors.js';
import { containerCommand, literalDollars } from './container-command.js';
import type { ExportFile, ExportInput, ExportType, Render } from './types.js';

/**
 * `tf export compose DIR [--image IMAGE]`: compose.yaml with one service per process type, the
 * release phase as a service the others start after, and the config in two env files beside
 * it: config.env and secrets.env (0600). Written for the Compose Specification (`docker
 * compose`); `docker-compose` 1.x reads the same file.
 */

const COMPOSE_FILE = 'compose.yaml';
const CONFIG_ENV = 'config.env';
const SECRETS_ENV = 'secrets.env';
/** PORT of a type scaled to zero, which the plan gives no port: Heroku's first port. */
const FALLBACK_PORT = 5000;

type Obj = Record<string, unknown>;

const RESTART: Record<RestartPolicy, string> = { no: 'no', 'on-failure': 'on-failure', always: 'always' };

export const renderCompose: Render = (input, options) => {
  const plain = [...input.env].filter(([, v]) => !v.secret);
  const secret = [...input.env].filter(([, v]) => v.secret);
  const envFiles = [...(plain.length > 0 ? [CONFIG_ENV] : []), ...(secret.length > 0 ? [SECRETS_ENV] : [])];
  // Without an image, every service builds the app's Dockerfile; the export sits in its own
  // directory, so the build context is the app root, which compose resolves from this file.
  const source: Obj = options.image !== undefined && options.image !== '' ? { image: options.image } : { build: input.root };

  const services: Obj = {};
  if (input.release !== undefined) {
    services.release = {
      ...source,
      entrypoint: containerCommand(input.release.command).argv.map(literalDollars),
      ...(envFiles.length > 0 ? { env_file: envFiles } : {}),
      stop_grace_period: `${input.timeoutSeconds}s`,
      // It runs once to completion; restarting it would run the release again.
      restart: 'no',
    };
  }
  for (const type of input.types) services[serviceName(type, input.release !== undefined)] = service(type, input, source, envFiles);

  const files: ExportFile[] = [{ path: COMPOSE_FILE, mode: 0o644, content: new Document({ services }).toString({ lineWidth: 0 }) }];
  if (plain.length > 0) files.push({ path: CONFIG_ENV, mode: 0o644, content: envFile(plain.map(([k, v]) => [k, v.value])) });
  if (secret.length > 0) {
    const header = options.noSecrets ? '# Fill in every value: tf exported the keys only (--no-secrets).\n' : '';
    files.push({ path: SECRETS_ENV, mode: 0o600, content: header + envFile(secret.map(([k, v]) => [k, options.noSecrets ? '' : v.value])) });
  }
  return files;
};

function service(type: ExportType, input: ExportInput, source: Obj, envFiles: readonly string[]): Obj {
  // Every replica is its own container with its own address, so they all share one PORT.
  const port = type.ports[0] ?? FALLBACK_PORT;
  return {
    ...source,
    entrypoint: containerCommand(type.command).argv.map(literalDollars),
    environment: { PORT: String(port) },
    ...(envFiles.length > 0 ? { env_file: envFiles } : {}),
    // One replica publishes PORT on the same host port; several cannot share a host port,
    // so each gets one the engine picks (`docker compose port --index N web PORT`).
    ...(type.name === 'web' ? { ports: [type.count > 1 ? String(port) : `${port}:${port}`] } : {}),
    ...(input.release !== undefined ? { depends_on: { release: { condition: 'service_completed_successfully' } } } : {}),
    deploy: { replicas: type.count },
    stop_signal: type.policy.stopSignal,
    stop_grace_period: `${input.timeoutSeconds}s`,
    restart: RESTART[type.policy.restart],
  };
}

function serviceName(type: ExportType, hasRelease: boolean): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(type.name)) {
    throw new TfError('option', `process type "${type.name}" cannot name a compose service (letters, digits, "_", "." and "-")`, { hint: 'rename it in the Procfile' });
  }
  if (hasRelease && type.name === 'release') throw new TfError('internal', 'the release phase is listed as a process type');
  return type.name;
}

/**
 * Single quotes: compose reads what is between them byte for byte (no escapes, no `$`
 * interpolation, newlines kept). The one thing they cannot carry is a `'` of their own, or a
 * backslash right before the closing quote, which compose takes for an escaped quote.
 */
function envFile(entries: readonly (readonly [string, string])[]): string {
  return entries
    .map(([key, value]) => {
      if (value.includes("'") || value.endsWith('\\')) {
        throw new TfError('envfile', `${key}: compose env files cannot hold this value (it contains a single quote or ends with a backslash)`, {
          hint: 'change the value, or export it to systemd or kubernetes',
        });
      }
      return `${key}='${value}'\n`;
    })
    .join('');
}
