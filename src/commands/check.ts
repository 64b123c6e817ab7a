import { existsSync } from 'node:fs';
import type { Invocation } from '../cli/args.js';
import { loadConfig } from '../config/load.js';
import { assertKeyFilesSafe } from '../config/keys.js';
import { maskText } from '../config/mask.js';
import { exportWarnings } from './export.js';
import { describePolicy } from '../config/policies.js';
import type { Warning } from '../domain.js';
import { describePlace } from '../errors.js';
import { checkPorts } from '../host/ports.js';
import { shellSyntaxError } from '../host/shell.js';
import { findProgram, programOf, type ProgramLookupResult } from '../host/which.js';
import { shellLaunch } from '../plan/launch.js';
import { buildPlan } from '../plan/plan.js';
import type { CommandContext } from './context.js';

/** Linux's MAX_ARG_STRLEN (32 pages): the longest single argument execve takes, its NUL included. */
const MAX_ARGUMENT_BYTES = 32 * 4096;

/** `tf check`: everything `start` would do short of starting, printed; non-zero on any error. */
export async function check(invocation: Invocation, context: CommandContext): Promise<number> {
  const config = loadConfig({ options: invocation.options, only: invocation.rest }, { cwd: context.cwd, shellEnv: context.env });
  // A key file in git or readable by others fails the check: it would leak every secret.
  assertKeyFilesSafe(config.root, context.cwd);
  const plan = buildPlan(config, { childColor: false });

  const warnings: Warning[] = [...plan.warnings];
  // A missing root is left to fail at spawn (an export may name a server's path); check says so now.
  if (!existsSync(config.root)) warnings.push({ message: `app root ${config.root} does not exist: every process would fail to start in it` });
  if (plan.instances.length === 0)
    warnings.push({ file: config.procfile.path, message: 'tf start has nothing to run: the only entry is release, which runs as a phase (tf release)' });
  for (const type of config.procfile.types) {
    const lookup = programOf(type.command, config.env);
    const found = lookup === undefined ? undefined : findProgram(lookup.program, config.root, lookup.pathVar);
    const problem = lookup === undefined || found === undefined ? undefined : programProblem(lookup.program, found);
    if (problem !== undefined) warnings.push({ file: config.procfile.path, line: type.line, message: `${type.name}: ${problem} (seen from ${config.root})` });
    // Linux takes at most 128 KiB in one argument (MAX_ARG_STRLEN), and the command is one: /bin/sh -c's.
    const longest = Math.max(...shellLaunch(type.command).args.map((arg) => Buffer.byteLength(arg)));
    if (longest >= MAX_ARGUMENT_BYTES)
      warnings.push({
        file: config.procfile.path,
        line: type.line,
        message: `${type.name}: the command is ${longest} bytes, over the 128 KiB /bin/sh -c takes in one argument: start would fail (E2BIG); put it in a script`,
      });
    const syntax = longest >= MAX_ARGUMENT_BYTES ? undefined : shellSyntaxError(type.command);
    if (syntax !== undefined) warnings.push({ file: config.procfile.path, line: type.line, message: `${type.name}: /bin/sh would refuse it: ${syntax}` });
  }
  warnings.push(...(await checkPorts(plan.instances)).warnings);
  // What an export would refuse, so a deploy does not discover it first.
  warnings.push(...exportWarnings(config, invocation.options.envName));

  const width = Math.max(...plan.instances.map((i) => i.name.length));
  const policies = new Map(plan.instances.map((i) => [i.type, i.policy]));
  const typeWidth = Math.max(...[...policies.keys()].map((t) => t.length));
  const lines = [
    `procfile: ${config.procfile.path}`,
    `root: ${config.root}`,
    `env files: ${config.envFiles.length === 0 ? '(none)' : config.envFiles.join(', ')}`,
    // Names only: a value may be a secret.
    ...(config.shadowed.length === 0
      ? []
      : [`shadowed by the shell: ${config.shadowed.join(', ')} (the shell's values win; --env-override lets the files win)`]),
    ...(config.tfYaml === undefined ? [] : [`tf.yaml: ${config.tfYaml}`]),
    `instances:`,
    // A command may carry a URL with a password (or KEY=value pairs): the one masker covers them too.
    ...plan.instances.map((i) => `  ${i.name.padEnd(width)}  PORT=${i.port}  ${maskText(i.command)}`),
    `policies:`,
    ...[...policies].map(([type, policy]) => `  ${type.padEnd(typeWidth)}  ${describePolicy(policy)}`),
    ...warnings.map((w) => `warning: ${describePlace(w.file, w.line, w.message)}`),
    warnings.length === 0 ? 'ok' : `ok, with ${warnings.length} warning${warnings.length === 1 ? '' : 's'}`,
  ];
  context.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** What start would meet running `program`, as its failure would say it; undefined when it runs. */
function programProblem(program: string, found: ProgramLookupResult): string | undefined {
  switch (found.kind) {
    case 'found':
      return undefined;
    case 'missing':
      return program.includes('/') ? `program "${program}" does not exist` : `program "${program}" not found on PATH`;
    case 'directory':
      return `"${program}" is a directory, not a program`;
    case 'not-executable':
      return `"${program}" is not executable (chmod +x it)`;
  }
}
