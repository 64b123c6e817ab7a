import path from 'node:path';
import { loadYaml } from '../host/yaml.js';
import type { RestartPolicy } from '../domain.js';
import { TfError } from '../errors.js';
import { containerCommand, literalDollars } from './container-command.js';
import { extensionPrelude } from './extensions.js';
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

type Obj = Record<string, unknown>;

const RESTART: Record<RestartPolicy, string> = { no: 'no', 'on-failure': 'on-failure', always: 'always' };

export const renderCompose: Render = (input, options) => {
  const entries = [...input.env];
  const plain = entries.filter(([, v]) => !v.secret && portable(v.value)).map(([k, v]) => [k, v.value] as const);
  // What an env file cannot carry the same way for every compose goes inline, where YAML can.
  const inline = entries.filter(([, v]) => !v.secret && !portable(v.value)).map(([k, v]) => [k, literalDollars(v.value)] as const);
  const secret = entries.filter(([, v]) => v.secret).map(([k, v]) => [k, options.noSecrets ? '' : secretValue(k, v.value)] as const);
  const config: Config = {
    envFiles: [...(plain.length > 0 ? [CONFIG_ENV] : []), ...(secret.length > 0 ? [SECRETS_ENV] : [])],
    inline,
    // Without an image, every service builds the app's Dockerfile; the export sits in its own
    // directory, so the build context is the app root, which compose resolves from this file:
    // relative to it where the directory is known, so the export works in any checkout.
    source: options.image !== undefined && options.image !== '' ? { image: options.image } : { build: buildContext(input.root, options.dir) },
  };

  const services: Obj = {};
  if (input.release !== undefined) {
    services.release = {
      ...config.source,
      entrypoint: containerCommand(input.release.command, extensionPrelude(input.extensions)).argv.map(literalDollars),
      ...(inline.length > 0 ? { environment: Object.fromEntries(inline) } : {}),
      ...(config.envFiles.length > 0 ? { env_file: config.envFiles } : {}),
      stop_grace_period: `${input.timeoutSeconds}s`,
      // It runs once to completion; restarting it would run the release again.
      restart: 'no',
    };
  }
  for (const type of input.types) services[serviceName(type)] = service(type, input, config);

  const files: ExportFile[] = [
    {
      path: COMPOSE_FILE,
      mode: 0o644,
      content: new (loadYaml().Document)({ services }, { version: '1.1', aliasDuplicateObjects: false }).toString({ lineWidth: 0 }),
    },
  ];
  if (plain.length > 0) files.push({ path: CONFIG_ENV, mode: 0o644, content: envFile(plain) });
  if (secret.length > 0) {
    const header = options.noSecrets ? '# Fill in every value: tf exported the keys only (--no-secrets).\n' : '';
    files.push({ path: SECRETS_ENV, mode: 0o600, content: header + envFile(secret) });
  }
  return files;
};

interface Config {
  readonly envFiles: readonly string[];
  readonly inline: readonly (readonly [string, string])[];
  readonly source: Obj;
}

function service(type: ExportType, input: ExportInput, config: Config): Obj {
  // Every replica is its own container with its own address, so they all share one PORT.
  const port = type.ports[0] ?? type.firstPort;
  return {
    ...config.source,
    entrypoint: containerCommand(type.command, extensionPrelude(input.extensions)).argv.map(literalDollars),
    environment: { ...Object.fromEntries(config.inline), PORT: String(port) },
    ...(config.envFiles.length > 0 ? { env_file: config.envFiles } : {}),
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

function serviceName(type: ExportType): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(type.name)) {
    throw new TfError('option', `process type "${type.name}" cannot name a compose service (letters, digits, "_", "." and "-")`, {
      hint: 'rename it in the Procfile',
    });
  }
  return type.name;
}

/**
 * Single quotes: Compose v2 reads what is between them byte for byte (no escapes, no
 * interpolation, newlines kept). docker-compose 1.x reads `\\` and `\'` as escapes and expands
 * `${VAR}` even there, and neither can hold a `'` of its own: a value with any of these is not
 * written to an env file.
 */
const portable = (value: string): boolean => !value.includes("'") && !value.includes('\\') && !value.includes('${');

/** A secret has no other place to go (compose.yaml is not private): one that cannot be written is refused. */
function secretValue(key: string, value: string): string {
  if (!portable(value)) {
    throw new TfError('envfile', `${key}: a compose env file cannot hold this secret value (it contains a single quote, a backslash or "\${")`, {
      hint: 'change the value, or export it to systemd or kubernetes',
    });
  }
  return value;
}

function envFile(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([key, value]) => `${key}='${value}'\n`).join('');
}

/**
 * The app root as seen from an export directory inside it (`..` for `./deploy`), which holds in any
 * checkout; absolute for a directory elsewhere (or not known), where a relative path would not.
 */
function buildContext(root: string, dir: string | undefined): string {
  if (dir === undefined) return root;
  const inside = path.relative(root, dir);
  return inside.startsWith('..') || path.isAbsolute(inside) ? root : path.relative(dir, root) || '.';
}
