import { isUtf8 } from 'node:buffer';
import type { OutputStream, Warning } from '../domain.js';
import { isSignalName, parseSignal } from '../host/signals.js';

/**
 * The control protocol: newline-delimited JSON over the app's Unix socket, one request per
 * connection, `v` in every message. A request is one line; the answer is one final reply, or
 * for `logs` a stream of `line`/`dropped` messages and then the final reply. A message with an
 * `ok` field is final; the server closes the connection after it.
 */
export const PROTOCOL_VERSION = 1;
/** A request line longer than this is refused: no client needs more, and the server never buffers without bound. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export type RequestId = string | number;

/** `count` sets the number of instances; `{ delta }` adds or removes (`web=+2`, `web=-1`). */
export interface ScaleChange {
  readonly type: string;
  readonly count: number | { readonly delta: number };
}

/** Names are instance names (`web.1`) or types (`web`); empty means all where the command allows it. */
export type Command =
  /** Who is listening: the probe a second `tf start` sends before refusing. */
  | { readonly cmd: 'hello' }
  | { readonly cmd: 'ps' }
  | { readonly cmd: 'restart'; readonly names: readonly string[] }
  | { readonly cmd: 'stop'; readonly names: readonly string[] }
  | { readonly cmd: 'signal'; readonly names: readonly string[]; readonly signal: NodeJS.Signals }
  | { readonly cmd: 'scale'; readonly scale: readonly ScaleChange[] }
  | { readonly cmd: 'logs'; readonly names: readonly string[]; readonly lines: number; readonly follow: boolean }
  /** Stop the whole supervisor gracefully, as SIGTERM does. */
  | { readonly cmd: 'shutdown' };

export type CommandName = Command['cmd'];
export type Request = Command & { readonly v: typeof PROTOCOL_VERSION; readonly id?: RequestId };

export type ErrorCode =
  /** Not JSON, or not one JSON object. */
  | 'bad-json'
  | 'too-large'
  | 'bad-version'
  | 'unknown-command'
  /** A field is missing or has the wrong type. */
  | 'bad-request'
  /** No instance or type by that name. */
  | 'unknown-name'
  /** The command was understood and could not be done (e.g. the Procfile no longer parses). */
  | 'failed'
  /** tf has as many control connections (or `logs -F` followers) open as it serves; retry after closing some. */
  | 'busy'
  | 'internal';

export interface ErrorInfo {
  readonly code: ErrorCode;
  readonly message: string;
}

/** The answer to `hello`: enough for a second `tf start` to name the running one. */
export interface HelloResult {
  readonly pid: number;
  readonly root: string;
  readonly procfile: string;
  /** Epoch milliseconds. */
  readonly startedAt: number;
}

/** One row of `tf ps`. */
export interface PsRow {
  readonly name: string;
  readonly type: string;
  readonly state: string;
  readonly pid: number | null;
  readonly port: number | null;
  /** Epoch milliseconds of the current run's start. */
  readonly startedAt: number | null;
  readonly restarts: number;
  readonly lastExit: { readonly code: number | null; readonly signal: string | null } | null;
}

/** What each command answers; restart, stop, signal and scale say what they did, one line per act. */
export interface ResultOf {
  hello: HelloResult;
  ps: { readonly instances: readonly PsRow[] };
  /** `warnings`: what the env files and Procfile re-read hold that start would warn about, for the client's stderr. */
  restart: { readonly done: readonly string[]; readonly warnings?: readonly Warning[] };
  stop: { readonly done: readonly string[] };
  signal: { readonly done: readonly string[] };
  scale: { readonly done: readonly string[] };
  /** Ends a `logs` stream: `reason` is 'done' without --follow, else why following stopped. */
  logs: { readonly reason: 'done' | 'shutdown' };
  shutdown: { readonly done: readonly string[] };
}

export type FinalBody<C extends CommandName = CommandName> = ({ readonly ok: true } & ResultOf[C]) | { readonly ok: false; readonly error: ErrorInfo };

/** Stream messages of `logs`: no `ok` field, so they are never mistaken for the end. */
export type StreamBody =
  | {
      readonly kind: 'line';
      readonly name: string;
      readonly stream: OutputStream;
      /** Epoch milliseconds of arrival. */
      readonly time: number;
      /** The text without the line end; bytes that are not UTF-8 become U+FFFD here... */
      readonly text: string;
      /** ...and then the exact bytes are here too, base64, for a client that prints them as `start` does. */
      readonly raw?: string;
      /** This piece continues the previous line (a line cut at 64 KiB or flushed while idle). */
      readonly continued?: true;
    }
  /** `count` lines of `name` were dropped here because the client was not reading fast enough. */
  | { readonly kind: 'dropped'; readonly name: string; readonly count: number };

type Envelope = { readonly v: typeof PROTOCOL_VERSION; readonly id?: RequestId };
export type FinalReply<C extends CommandName = CommandName> = Envelope & FinalBody<C>;
export type StreamMessage = Envelope & StreamBody;
export type Reply = FinalReply | StreamMessage;

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorInfo; readonly id?: RequestId };

const fail = (code: ErrorCode, message: string, id?: RequestId): Parsed<never> =>
  id === undefined ? { ok: false, error: { code, message } } : { ok: false, error: { code, message }, id };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

const COMMANDS: Record<CommandName, readonly string[]> = {
  hello: [],
  ps: [],
  restart: ['names'],
  stop: ['names'],
  signal: ['names', 'signal'],
  scale: ['scale'],
  logs: ['names', 'lines', 'follow'],
  shutdown: [],
};

const MAX_NAMES = 1000;
const MAX_NAME_LENGTH = 200;
const MAX_LOG_LINES = 100_000;
const MAX_SCALE = 1000;

/**
 * Reads one request line, strictly: unknown fields, wrong types or a wrong version are an
 * error reply, never a guess. Never throws: anything a client sends becomes a value.
 */
export function parseRequest(line: string | Buffer): Parsed<Request> {
  const size = typeof line === 'string' ? Buffer.byteLength(line) : line.length;
  if (size > MAX_REQUEST_BYTES) return fail('too-large', `request is ${size} bytes; the limit is ${MAX_REQUEST_BYTES}`);
  let data: unknown;
  try {
    data = JSON.parse(typeof line === 'string' ? line : line.toString('utf8'));
  } catch (error) {
    return fail('bad-json', `request is not JSON (${(error as Error).message})`);
  }
  if (!isObject(data)) return fail('bad-json', 'request must be one JSON object');
  const rawId = data.id;
  const id = typeof rawId === 'string' || (typeof rawId === 'number' && Number.isFinite(rawId)) ? rawId : undefined;
  if (rawId !== undefined && id === undefined) return fail('bad-request', '"id" must be a string or a number');
  if (!('v' in data)) return fail('bad-version', `request has no "v"; send "v": ${PROTOCOL_VERSION}`, id);
  if (data.v !== PROTOCOL_VERSION)
    return fail('bad-version', `protocol version ${JSON.stringify(data.v)} is not supported; this tf speaks ${PROTOCOL_VERSION}`, id);
  const cmd = data.cmd;
  if (typeof cmd !== 'string') return fail('bad-request', 'request has no "cmd" string', id);
  if (!Object.hasOwn(COMMANDS, cmd))
    return fail('unknown-command', `unknown command ${JSON.stringify(cmd.slice(0, 40))}; known: ${Object.keys(COMMANDS).join(', ')}`, id);
  const name = cmd as CommandName;
  const allowed = new Set(['v', 'id', 'cmd', ...COMMANDS[name]]);
  const extra = Object.keys(data).find((key) => !allowed.has(key));
  if (extra !== undefined) return fail('bad-request', `"${name}" takes no field ${JSON.stringify(extra.slice(0, 40))}`, id);
  const command = readCommand(name, data);
  if (typeof command === 'string') return fail('bad-request', `"${name}": ${command}`, id);
  const request = (id === undefined ? { v: PROTOCOL_VERSION, ...command } : { v: PROTOCOL_VERSION, id, ...command }) as Request;
  return { ok: true, value: request };
}

/** The command's fields, or what is wrong with them. */
function readCommand(cmd: CommandName, data: Record<string, unknown>): Command | string {
  switch (cmd) {
    case 'hello':
    case 'ps':
    case 'shutdown':
      return { cmd };
    case 'restart':
    case 'stop': {
      const names = readNames(data.names);
      return typeof names === 'string' ? names : { cmd, names };
    }
    case 'signal': {
      const names = readNames(data.names);
      if (typeof names === 'string') return names;
      const signal = data.signal;
      if (typeof signal !== 'string' || !isSignalName(signal)) return `"signal" must be a signal name such as "SIGUSR2"`;
      return { cmd, names, signal };
    }
    case 'scale':
      return readScale(data.scale);
    case 'logs': {
      const names = readNames(data.names);
      if (typeof names === 'string') return names;
      const { lines, follow } = data;
      if (typeof lines !== 'number' || !Number.isInteger(lines) || lines < 0 || lines > MAX_LOG_LINES)
        return `"lines" must be an integer from 0 to ${MAX_LOG_LINES}`;
      if (typeof follow !== 'boolean') return '"follow" must be true or false';
      return { cmd, names, lines, follow };
    }
  }
}

function readNames(value: unknown): readonly string[] | string {
  if (!Array.isArray(value)) return '"names" must be an array of strings';
  if (value.length > MAX_NAMES) return `"names" holds more than ${MAX_NAMES} names`;
  for (const name of value) {
    if (typeof name !== 'string' || name === '' || name.length > MAX_NAME_LENGTH) return '"names" must hold non-empty strings';
  }
  return value as string[];
}

function readScale(value: unknown): Command | string {
  if (!Array.isArray(value) || value.length === 0) return '"scale" must be a non-empty array of {type, count}';
  const changes: ScaleChange[] = [];
  for (const item of value) {
    if (!isObject(item)) return '"scale" entries must be objects {type, count}';
    const keys = Object.keys(item).filter((k) => k !== 'type' && k !== 'count');
    if (keys.length > 0) return `a "scale" entry takes no field ${JSON.stringify(keys[0]?.slice(0, 40))}`;
    const { type, count } = item;
    if (typeof type !== 'string' || type === '' || type.length > MAX_NAME_LENGTH) return 'a "scale" entry needs a "type" string';
    if (isCount(count)) changes.push({ type, count });
    else if (isObject(count) && Object.keys(count).length === 1 && isDelta(count.delta)) changes.push({ type, count: { delta: count.delta } });
    else return `"count" of ${type} must be an integer from 0 to ${MAX_SCALE} or {"delta": integer}`;
  }
  return { cmd: 'scale', scale: changes };
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= MAX_SCALE;
const isDelta = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && Math.abs(x) <= MAX_SCALE;

/** A client's user input (`USR2`, `sigusr2`, `12`) as a canonical signal name, or undefined. */
export function toSignalName(input: string): NodeJS.Signals | undefined {
  const signal = parseSignal(input);
  return typeof signal === 'string' ? signal : undefined;
}

/** Reads one message from the server; used by clients, so it checks only the envelope and the shape of the kind. */
export function parseReply(line: string): Parsed<Reply> {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    return fail('bad-json', 'reply is not JSON');
  }
  if (!isObject(data)) return fail('bad-json', 'reply must be one JSON object');
  if (data.v !== PROTOCOL_VERSION) return fail('bad-version', `reply has protocol version ${JSON.stringify(data.v)}; this tf speaks ${PROTOCOL_VERSION}`);
  if (data.ok === true) return { ok: true, value: data as unknown as Reply };
  if (data.ok === false) {
    const error = data.error;
    if (!isObject(error) || typeof error.code !== 'string' || typeof error.message !== 'string') return fail('bad-json', 'error reply without {code, message}');
    return { ok: true, value: data as unknown as Reply };
  }
  if (data.kind === 'line' && typeof data.name === 'string' && typeof data.text === 'string' && typeof data.time === 'number')
    return { ok: true, value: data as unknown as Reply };
  if (data.kind === 'dropped' && typeof data.name === 'string' && typeof data.count === 'number') return { ok: true, value: data as unknown as Reply };
  return fail('bad-json', 'reply is neither final (ok) nor a stream message (kind)');
}

/** The stream message for one stored line (a LogRing line) of instance `name`. */
export function lineMessage(
  name: string,
  line: { readonly time: number; readonly stream: OutputStream; readonly text: Buffer; readonly continued?: true },
): StreamBody {
  const base = { kind: 'line' as const, name, stream: line.stream, time: line.time, text: line.text.toString('utf8') };
  const exact = isUtf8(line.text) ? base : { ...base, raw: line.text.toString('base64') };
  return line.continued === true ? { ...exact, continued: true } : exact;
}

export const isFinal = (reply: Reply): reply is FinalReply => 'ok' in reply;

/** One message as it goes on the wire. */
export const encode = (message: Reply | Request): string => `${JSON.stringify(message)}\n`;
