import { OPTION_SPECS, type CommandName } from './args.js';

const COMMAND_HELP: Record<string, string> = {
  start: 'tf start [TYPE...] [options]\n  Run every process type of the Procfile (or only the TYPEs named) at its formation count.',
  run: 'tf run [options] COMMAND [ARGS...]\n  Run a one-off command (or a Procfile type by name) with the app\'s environment, attached to the terminal.',
  check: 'tf check [TYPE...] [options]\n  Validate the Procfile and env files and print the plan: instances, ports, commands, warnings.',
};

function optionLines(): string[] {
  const rows = OPTION_SPECS.map((spec) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    const left = `${short}--${spec.flag}${spec.arg === undefined ? '' : ` ${spec.arg}`}`;
    const env = spec.env === undefined ? '' : ` [${spec.env}]`;
    return { left, right: `${spec.help}${env}` };
  });
  const width = Math.max(...rows.map((r) => r.left.length));
  return rows.map((r) => `  ${r.left.padEnd(width)}  ${r.right}`);
}

export function usage(command?: CommandName | string): string {
  const head = command !== undefined && COMMAND_HELP[command] !== undefined ? [`Usage: ${COMMAND_HELP[command]}`] : [
    'Usage: tf COMMAND [options]',
    '',
    'Commands:',
    `  ${COMMAND_HELP.start}`,
    `  ${COMMAND_HELP.run}`,
    `  ${COMMAND_HELP.check}`,
  ];
  return [
    ...head,
    '',
    'Options (flag, then the TF_* variable in brackets, then the default):',
    ...optionLines(),
    '',
    'Exit codes: the exit code of the first process to exit (128+N if signal N killed it);',
    '  128+N when tf is stopped by signal N (130 Ctrl-C, 143 SIGTERM); 1 bad Procfile, env file',
    '  or formation, or a process failed to start; 2 bad command line.',
    'Diagnostics about tf itself: TF_LOG=debug.',
    '',
  ].join('\n');
}
