import { COMMANDS, CONTROL_COMMANDS, OPTION_SPECS, RUN_WITH_ONLY, takes, type CommandName } from './args.js';

const COMMAND_HELP: Readonly<Record<string, string>> = {
  start: 'tf start [TYPE...] [options]\n  Run every process type of the Procfile (or only the TYPEs named) at its formation count.',
  run: "tf run [options] COMMAND [ARGS...]\n  Run a one-off command (or a Procfile type by name) with the app's environment, attached to the terminal.\n  With --with TYPE,... (for CI, e.g. tf run --with web -- npm test): start those types, wait until they are\n  ready (--ready, --wait-timeout), run the command with the first type's PORT, then stop them; exit: the\n  command's code, or 1 when a service exits (even one its restart policy would restart; a can-die one may)\n  or is not ready in time (--wait-timeout 0: only those ready at once pass, e.g. --ready TYPE=none).",
  check: 'tf check [TYPE...] [options]\n  Validate the Procfile and env files and print the plan: instances, ports, commands, warnings.',
  release:
    "tf release [--env NAME] [options]\n  Run the Procfile's release entry (if any) to completion and, when it succeeds, record a release (v1, v2...)\n  of the environment: the commit, a digest of the Procfile and a keyed fingerprint of the config (no value).",
  releases: 'tf releases [--env NAME] [--json]\n  List the recorded releases of the environment, each with what changed since the one before (names only).',
  export:
    'tf export systemd|kubernetes|compose DIR [--app NAME] [--user] [--image IMAGE] [--no-secrets] [--force] [options]\n  Write the same plan tf start runs as systemd units, Kubernetes manifests or a Compose file; never over files tf did not write.',
  env: 'tf env [TYPE] [--reveal] [--json] | tf env get KEY | tf env set KEY=VALUE... [--local] [--secret] | tf env unset KEY... [--local]\n  Show every variable a process gets and where it came from (secrets masked), or read and write the .env layers.',
  secrets:
    'tf secrets init|set NAME|get NAME|ls|rotate [--env NAME] [--local]\n  Encrypted values in env files: one key per environment; set reads the value from stdin or a hidden prompt.',
  services:
    'tf services [--probe] [--json] | tf services add NAME [URL] | tf services remove NAME [--local]\n  The backing services the environment points at (every *_URL), masked; --probe connects to each; add reads a URL it is not given from stdin or a prompt.',
  ps: 'tf ps [options]\n  List the instances of a running tf start: name, state, pid, port, uptime, restarts, last exit.\n  States: starting, running, ready, stopping, backoff, stopped, exited, failed.',
  restart: 'tf restart [TYPE|INSTANCE...] [options]\n  Restart instances of a running tf start (none: all), re-reading the env files and Procfile first.',
  stop: 'tf stop [TYPE|INSTANCE...] [options]\n  Stop those instances of a running tf start; with none, stop all of it (tf exits 0).',
  scale: 'tf scale TYPE=N|+N|-N... [options]\n  Change how many instances of a type a running tf start runs.',
  logs: 'tf logs [TYPE|INSTANCE...] [options]\n  Print the last lines (-n, default 100) a running tf start printed; -F/--follow keeps printing.',
  signal: 'tf signal SIGNAL [TYPE|INSTANCE...] [options]\n  Send a signal (name or number) to instances of a running tf start (none: all).',
};

/** `start, check, control`: the control commands named as one, as the help lists them. */
function forCommands(commands: readonly CommandName[]): string {
  const control = CONTROL_COMMANDS.every((c) => commands.includes(c));
  return [...commands.filter((c) => !control || !CONTROL_COMMANDS.includes(c)), ...(control ? ['control'] : [])].join(', ');
}

/** The options `command` takes (all of them, with the commands each is for, without one). */
function optionLines(command: CommandName | undefined): string[] {
  const specs = OPTION_SPECS.filter((spec) => command === undefined || takes(spec, command));
  const rows = specs.map((spec) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const left = `${short}--${spec.flag}${spec.arg === undefined ? '' : ` ${spec.arg}`}`;
    const env = spec.env === undefined ? '' : ` [${spec.env}]`;
    const forWhom =
      command === 'run' && RUN_WITH_ONLY.has(spec.flag)
        ? ' (with --with)'
        : command !== undefined || spec.commands === 'all'
          ? ''
          : ` (${forCommands(spec.commands)})`;
    return { left, right: `${spec.help}${env}${forWhom}` };
  });
  const width = Math.max(...rows.map((r) => r.left.length));
  return rows.map((r) => `  ${r.left.padEnd(width)}  ${r.right}`);
}

/** Help for one command, or for tf as a whole when `command` is not one with help of its own. */
export function usage(command?: CommandName | string): string {
  const known = command !== undefined && COMMAND_HELP[command] !== undefined ? (command as CommandName) : undefined;
  const head =
    known !== undefined
      ? [`Usage: ${COMMAND_HELP[known]}`]
      : [
          'Usage: tf COMMAND [options]',
          '',
          'Commands:',
          ...COMMANDS.flatMap((c) => (COMMAND_HELP[c] === undefined ? [] : [`  ${(COMMAND_HELP[c] ?? '').replaceAll('\n', '\n  ')}`])),
          '',
          `Help on one command: tf COMMAND --help. The control commands (${CONTROL_COMMANDS.join(', ')}) talk to a running tf start.`,
        ];
  return [
    ...head,
    '',
    'Options (flag, then the TF_* variable in brackets, then the default):',
    ...optionLines(known),
    '',
    ...exitCodes(known),
    'Diagnostics about tf itself: TF_LOG=debug.',
    '',
  ].join('\n');
}

/** The exit codes of one command (or of start, the default), so that no help promises another's. */
function exitCodes(command: CommandName | undefined): string[] {
  const common = '1 bad Procfile, env file, formation or option value; 2 bad command line.';
  switch (command) {
    case 'run':
      return [
        "Exit codes: the command's own (128+N if signal N killed it); 126 not executable, 127 not found;",
        '  with --with, 1 when a service exits (restarted or not) or is not ready in time;',
        `  ${common}`,
      ];
    case 'check':
      return [`Exit codes: 0 when the plan is valid (warnings do not change it); ${common}`];
    case 'release':
      return ["Exit codes: the release command's own when it fails (128+N if signal N killed it); 0 when recorded;", `  ${common}`];
    case 'secrets':
    case 'services':
      return ['Exit codes: 0 done; 1 it could not be done (the message says why); 2 bad command line; 130 prompt cancelled.'];
    case undefined:
    case 'start':
      return [
        'Exit codes: the exit code of the first process to exit (128+N if signal N killed it);',
        '  128+N when tf is stopped by signal N (130 Ctrl-C, 143 SIGTERM); 1 bad Procfile, env file',
        '  or formation, or a process failed to start; 2 bad command line.',
      ];
    default:
      return ['Exit codes: 0 done; 1 it could not be done (the message says why); 2 bad command line.'];
  }
}
