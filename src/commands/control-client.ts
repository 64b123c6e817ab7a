import path from 'node:path';
import type { Invocation } from '../cli/args.js';
import type { Warning } from '../domain.js';
import { appPaths } from '../config/paths.js';
import { request, replyError, type ControlTarget } from '../control/client.js';
import type { Command, FinalReply, PsRow, ResultOf } from '../control/protocol.js';
import { locateSocket } from '../control/socket-path.js';
import { usageError } from '../errors.js';
import { type CommandContext, writeWarnings } from './context.js';
import { waitFor, waitTimeoutMs } from './control-wait.js';

export interface SocketPlace {
  /** The socket file. */
  readonly path: string;
  /** The private directory start creates, when the socket is not named by --socket / TF_SOCKET. */
  readonly dir: string | undefined;
  readonly root: string;
  readonly procfile: string;
}

/**
 * The control socket of the app the options name: `start` listens there and every client
 * command connects there, found from -f, -d, --socket and their TF_* variables alone.
 */
export function socketFor(invocation: Invocation, context: CommandContext): SocketPlace {
  const { root, procfile } = appPaths(invocation.options, context.cwd);
  const override = invocation.options.socket?.raw;
  const location = locateSocket({
    root,
    procfile,
    override: override === undefined || override === '' ? undefined : path.resolve(context.cwd, override),
    env: context.env,
    uid: process.getuid?.() ?? 0,
  });
  return { ...location, root, procfile };
}

export function targetOf(invocation: Invocation, context: CommandContext): ControlTarget {
  const socket = socketFor(invocation, context);
  return { socketPath: socket.path, root: socket.root };
}

type Ok<C extends Command['cmd']> = { readonly ok: true } & ResultOf[C];

/** One request to the running tf; an error reply becomes the TfError the CLI prints (exit 1). */
export async function ask<C extends Command>(invocation: Invocation, context: CommandContext, command: C): Promise<Ok<C['cmd']>> {
  const reply: FinalReply = await request(targetOf(invocation, context), command);
  const error = replyError(reply);
  if (error !== undefined) throw error;
  return reply as unknown as Ok<C['cmd']>;
}

/**
 * restart, stop, scale, signal: the reply's account of what was done, one line each. With
 * --wait-timeout (restart, stop, scale), then waits until it has happened (see control-wait).
 */
export async function askAndTell(
  invocation: Invocation,
  context: CommandContext,
  command: Extract<Command, { cmd: 'restart' | 'stop' | 'scale' | 'signal' | 'shutdown' }>,
): Promise<number> {
  const timeoutMs = command.cmd === 'signal' ? undefined : waitTimeoutMs(invocation);
  const ps = async (): Promise<readonly PsRow[]> => (await ask(invocation, context, { cmd: 'ps' })).instances;
  const before = timeoutMs === undefined ? [] : await ps();
  const reply = await ask(invocation, context, command);
  // --json: what was done as one JSON object, for scripts; the lines otherwise.
  context.stdout.write(invocation.options.json ? `${JSON.stringify({ done: reply.done })}\n` : `${reply.done.join('\n')}\n`);
  if ('warnings' in reply) writeWarnings(context.stderr, warningsIn(reply.warnings));
  if (timeoutMs !== undefined) await waitFor(ps, command, before, timeoutMs);
  return 0;
}

/** The reply's warnings as far as they have a warning's shape: another tf's reply must not crash this one. */
function warningsIn(value: unknown): Warning[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((w: unknown): Warning[] => {
    const { file, line, message } = (w ?? {}) as Record<string, unknown>;
    if (typeof message !== 'string') return [];
    return [{ message, ...(typeof file === 'string' ? { file } : {}), ...(typeof line === 'number' ? { line } : {}) }];
  });
}

/** For commands that take no operands. */
export function noOperands(invocation: Invocation): void {
  const extra = invocation.rest[0];
  if (extra !== undefined) throw usageError(`tf ${invocation.command} takes no names, got "${extra}"`, `see "tf ${invocation.command} --help"`);
}
