import net from 'node:net';
import { TfError } from '../errors.js';
import { PROTOCOL_VERSION, encode, isFinal, parseReply, type Command, type FinalReply, type Reply } from './protocol.js';

/** Which tf a client command talks to: found the same way `start` finds its socket. */
export interface ControlTarget {
  readonly socketPath: string;
  /** The app root, for "no tf running for ROOT". */
  readonly root: string;
}

export interface ClientOptions {
  /** A tf that is alive accepts at once; a full backlog or a stopped process gets this long. */
  readonly connectTimeoutMs?: number;
}

const DEFAULT_CONNECT_MS = 3000;

/** One request, its final reply (an error reply too: the caller words it). */
export async function request(target: ControlTarget, command: Command, options: ClientOptions = {}): Promise<FinalReply> {
  let final: FinalReply | undefined;
  for await (const reply of stream(target, command, options)) {
    if (isFinal(reply)) final = reply;
  }
  if (final === undefined) throw closedEarly(target);
  return final;
}

/**
 * One request and every message it gets back: stream messages (`logs`), then the final reply
 * last. Breaking out of the loop closes the connection, which ends a `logs --follow`.
 */
export async function* stream(target: ControlTarget, command: Command, options: ClientOptions = {}): AsyncGenerator<Reply, void, undefined> {
  const socket = await connect(target, options.connectTimeoutMs ?? DEFAULT_CONNECT_MS);
  // Errors after connecting (the tf died mid-reply) end the line reader; a missing final reply says so.
  let failure: NodeJS.ErrnoException | undefined;
  socket.on('error', (error: NodeJS.ErrnoException) => {
    failure = error;
  });
  // node:readline only for a request: `tf start` imports this module for the socket's path alone.
  const lines = (require('node:readline') as typeof import('node:readline')).createInterface({ input: socket, crlfDelay: Infinity });
  try {
    socket.write(encode({ v: PROTOCOL_VERSION, ...command }));
    for await (const line of readLines(lines, () => closedEarly(target, failure))) {
      const parsed = parseReply(line);
      // A line cut short by the connection's end is a tf that stopped mid-reply, not another version's answer.
      if (!parsed.ok && socket.readableEnded) throw closedEarly(target, failure);
      if (!parsed.ok) {
        throw new TfError('option', `tf answered with something this tf does not understand (${parsed.error.message})`, {
          file: target.socketPath,
          hint: 'use the same tf version for start and its clients',
        });
      }
      yield parsed.value;
      if (isFinal(parsed.value)) return;
    }
    throw closedEarly(target, failure);
  } finally {
    lines.close();
    socket.destroy();
  }
}

/** The reply's lines; a connection reset mid-reply (tf died or exited) is `closed()`, not Node's error. */
async function* readLines(lines: AsyncIterable<string>, closed: () => TfError): AsyncGenerator<string> {
  try {
    yield* lines;
  } catch (error) {
    if (error instanceof TfError) throw error;
    throw closed();
  }
}

/** An error reply as the one line a client command prints. */
export function replyError(reply: FinalReply): TfError | undefined {
  return reply.ok ? undefined : new TfError('option', reply.error.message);
}

const closedEarly = (target: ControlTarget, cause?: Error): TfError =>
  new TfError(
    'option',
    `tf for ${target.root} closed the connection before replying${cause === undefined ? '' : ` (${(cause as NodeJS.ErrnoException).code ?? cause.message})`}`,
    {
      file: target.socketPath,
      // Past its hard ceiling of connections (docs/control.md, "Limits") tf closes them unread too.
      hint: 'it may have stopped (see its output), or have far too many control connections open',
    },
  );

function connect(target: ControlTarget, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new TfError('option', `tf for ${target.root} did not accept a connection within ${timeoutMs / 1000} s`, {
          file: target.socketPath,
          hint: 'it may be stopped (SIGSTOP) or overloaded',
        }),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(connectError(target, error));
    });
  });
}

function connectError(target: ControlTarget, error: NodeJS.ErrnoException): TfError {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
    return new TfError('option', `no tf running for ${target.root} (socket ${target.socketPath})`, {
      hint: 'start it with tf start, from the same directory and with the same -f/-d',
      cause: error,
    });
  }
  return new TfError('option', `cannot connect to tf for ${target.root} (${error.code ?? error.message})`, {
    file: target.socketPath,
    hint: "check the socket's permissions, or pass --socket PATH",
    cause: error,
  });
}
