import { chmodSync, lstatSync, renameSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TfError } from '../errors.js';
import {
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  encode,
  isFinal,
  parseReply,
  parseRequest,
  type ErrorCode,
  type FinalBody,
  type HelloResult,
  type Request,
  type RequestId,
  type StreamBody,
} from './protocol.js';

/**
 * The answering side of one request. The handler ends it once with a final reply, or, for
 * `logs`, streams messages first. The client may vanish at any time: `onClose` says so, and
 * everything sent after that is dropped without error.
 */
export interface ReplyChannel {
  /** The final reply; the connection closes after it. Later calls do nothing. */
  end(body: FinalBody): void;
  /**
   * One stream message. Returns false when the client is not keeping up (the socket's buffer
   * is full): send no more until `onDrain`, and drop (and count) what comes meanwhile.
   */
  send(message: StreamBody): boolean;
  onDrain(listener: () => void): void;
  /** Called once if the client goes away (or the server closes) before `end`. */
  onClose(listener: () => void): void;
  readonly state: ChannelState;
}

export type ChannelState = 'open' | 'ended' | 'gone';

/** What `tf start` plugs in: everything but `hello`, which the server answers itself. */
export interface ControlHandler {
  handle(request: Request, reply: ReplyChannel): void | Promise<void>;
}

export interface ControlServerOptions {
  readonly path: string;
  readonly handler: ControlHandler;
  /** What `hello` answers besides the pid: who this tf is. */
  readonly app: { readonly root: string; readonly procfile: string };
  /** How long a socket holder gets to answer the start-up probe before it counts as unresponsive. */
  readonly probeTimeoutMs?: number;
  /** How long a client gets to send its request line. */
  readonly requestTimeoutMs?: number;
}

const DEFAULT_PROBE_MS = 2000;
const DEFAULT_REQUEST_MS = 10_000;
/** A local user can only hurt themselves, but a runaway script should not exhaust tf's descriptors. */
const MAX_CONNECTIONS = 128;

export type ProbeResult =
  | { readonly kind: 'stale' } // nothing listens: its tf died without cleaning up
  | { readonly kind: 'gone' } // the file disappeared meanwhile
  | { readonly kind: 'running'; readonly hello: HelloResult | undefined } // a tf answers
  | { readonly kind: 'unresponsive' }; // something accepts and does not answer

const controlError = (message: string, file: string, hint: string, cause?: unknown): TfError =>
  new TfError('option', message, cause === undefined ? { file, hint } : { file, hint, cause });

export class ControlServer {
  private readonly connections = new Set<Connection>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly path: string,
    private readonly inode: number,
    private readonly options: ControlServerOptions,
    private readonly hello: HelloResult,
  ) {
    server.on('connection', (socket) => this.accept(socket));
    // After listening, a server error (EMFILE on accept) must not crash the supervisor.
    server.on('error', () => {});
  }

  /**
   * Listens on `options.path`. An existing socket is probed first: nothing listening (its tf
   * was killed) -> replaced; a tf answering -> refused, naming its pid; a holder that does not
   * answer -> refused, never replaced. Anything else at the path is never removed.
   */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const hello: HelloResult = { pid: process.pid, root: options.app.root, procfile: options.app.procfile, startedAt: Date.now() };
    for (let attempt = 0; ; attempt++) {
      const outcome = await listenOnce(options.path);
      if (outcome.kind === 'listening') {
        return new ControlServer(outcome.server, options.path, outcome.inode, options, hello);
      }
      if (attempt >= 3) throw controlError('the control socket keeps being taken by another process', options.path, 'stop the other tf for this app and try again');
      assertSocketFile(options.path);
      const probe = await probeSocket(options.path, options.probeTimeoutMs ?? DEFAULT_PROBE_MS);
      switch (probe.kind) {
        case 'running': {
          const who = probe.hello === undefined ? 'a tf' : `tf (pid ${probe.hello.pid})`;
          throw controlError(`${who} is already running for this app`, options.path, 'use tf ps / tf stop on it, or pass --socket PATH to run another');
        }
        case 'unresponsive':
          throw controlError(
            'the control socket is held by a process that does not answer',
            options.path,
            'if no tf runs for this app, remove the socket and start again',
          );
        case 'stale':
          removeIfSocket(options.path);
          break;
        case 'gone':
          break;
      }
    }
  }

  /** Open connections (requests being answered and `logs -f` streams). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Stops listening, drops every open connection (their handlers hear `onClose`) and removes
   * the socket file if it is still the one this server made.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const foreign = this.setAsideIfReplaced();
      this.server.close(() => {
        if (foreign !== undefined) putBack(foreign, this.path);
        resolve();
      });
      for (const connection of this.connections) connection.drop();
    });
    return this.closing;
  }

  /**
   * libuv unlinks the bound path on close, by name. If someone replaced the file (deleted ours
   * and started another tf), move theirs aside across our close so it survives.
   */
  private setAsideIfReplaced(): string | undefined {
    let inode: number;
    try {
      inode = statSync(this.path).ino;
    } catch {
      return undefined;
    }
    if (inode === this.inode) return undefined;
    const aside = path.join(path.dirname(this.path), `.${path.basename(this.path)}.${process.pid}.aside`);
    try {
      renameSync(this.path, aside);
      return aside;
    } catch {
      return undefined;
    }
  }

  private accept(socket: net.Socket): void {
    const connection = new Connection(socket, this.options, this.hello, () => this.connections.delete(connection));
    this.connections.add(connection);
  }
}

function putBack(aside: string, target: string): void {
  try {
    renameSync(aside, target);
  } catch {
    // Nothing sensible to do: the other tf's socket is gone either way.
  }
}

type ListenOutcome = { readonly kind: 'listening'; readonly server: net.Server; readonly inode: number } | { readonly kind: 'in-use' };

/**
 * One attempt to bind. bind(2) runs synchronously inside `listen()`, so the umask set around
 * that call alone decides the socket's mode (0600) before any client can connect, and no child
 * can be spawned with the narrowed umask meanwhile. The chmod after is for file systems that
 * ignore the umask on sockets.
 */
function listenOnce(socketPath: string): Promise<ListenOutcome> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true });
    server.maxConnections = MAX_CONNECTIONS;
    const onError = (error: NodeJS.ErrnoException): void => {
      server.close();
      if (error.code === 'EADDRINUSE') resolve({ kind: 'in-use' });
      else reject(controlError(`cannot listen on the control socket (${error.code ?? error.message})`, socketPath, 'pass --socket PATH in a directory you can write', error));
    };
    server.once('error', onError);
    const previous = narrowUmask();
    try {
      server.listen(socketPath, () => {
        server.off('error', onError);
        try {
          chmodSync(socketPath, 0o600);
          resolve({ kind: 'listening', server, inode: statSync(socketPath).ino });
        } catch (error) {
          server.close();
          reject(controlError('cannot secure the control socket', socketPath, 'pass --socket PATH in a directory of your own', error));
        }
      });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}

/** Worker threads may not change the umask: there the chmod alone (and the 0700 directory) protect the socket. */
function narrowUmask(): number | undefined {
  try {
    return process.umask(0o177);
  } catch {
    return undefined;
  }
}

/** Only a socket is ever removed: a regular file at the path is the user's, not a stale tf's. */
function assertSocketFile(socketPath: string): void {
  try {
    if (!lstatSync(socketPath).isSocket()) {
      throw controlError('the control socket path exists and is not a socket', socketPath, 'remove it or pass --socket PATH');
    }
  } catch (error) {
    if (error instanceof TfError) throw error;
    // Vanished since the bind failed: the next attempt will tell.
  }
}

function removeIfSocket(socketPath: string): void {
  try {
    if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
  } catch {
    // Gone already (another tf cleaned it up): the next bind decides who wins.
  }
}

/**
 * Asks whatever listens at `socketPath` who it is: a `hello` request, bounded by `timeoutMs`.
 * supervisord's probe-then-replace: only a refused connection proves nobody is there.
 */
export function probeSocket(socketPath: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffered = '';
    let settled = false;
    const finish = (result: ProbeResult | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'unresponsive' }), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(encode({ v: PROTOCOL_VERSION, cmd: 'hello' })));
    socket.on('data', (text: string) => {
      buffered += text;
      const nl = buffered.indexOf('\n');
      if (nl === -1) {
        if (buffered.length > MAX_REQUEST_BYTES) finish({ kind: 'unresponsive' });
        return;
      }
      const reply = parseReply(buffered.slice(0, nl));
      if (!reply.ok || !isFinal(reply.value)) return finish({ kind: 'unresponsive' });
      const value = reply.value;
      finish({ kind: 'running', hello: value.ok && 'pid' in value && typeof value.pid === 'number' ? (value as unknown as HelloResult) : undefined });
    });
    socket.on('end', () => finish({ kind: 'unresponsive' }));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') finish({ kind: 'stale' });
      else if (error.code === 'ENOENT') finish({ kind: 'gone' });
      else if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish({ kind: 'unresponsive' });
      else finish(controlError(`cannot probe the control socket (${error.code ?? error.message})`, socketPath, 'check its permissions, or pass --socket PATH', error));
    });
  });
}

const LF = 0x0a;

/** One client: read one request line, dispatch it, write the reply, close. */
class Connection implements ReplyChannel {
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private phase: 'reading' | 'dispatched' = 'reading';
  state: ChannelState = 'open';
  private id: RequestId | undefined;
  /** `logs --follow`: runs until the client leaves, so the client's EOF means it left. */
  private following = false;
  private readonly closeListeners: Array<() => void> = [];
  private readonly drainListeners: Array<() => void> = [];

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ControlServerOptions,
    private readonly hello: HelloResult,
    forget: () => void,
  ) {
    socket.setTimeout(options.requestTimeoutMs ?? DEFAULT_REQUEST_MS, () => {
      if (this.phase === 'reading') this.fail('bad-request', 'no request line received in time');
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => {
      for (const listener of this.drainListeners) listener();
    });
    // EPIPE / ECONNRESET from a client that went away: the close handler does the rest.
    socket.on('error', () => {});
    socket.on('close', () => {
      this.gone();
      forget();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.phase !== 'reading') return; // one request per connection: the rest is ignored
    const nl = chunk.indexOf(LF);
    const part = nl === -1 ? chunk : chunk.subarray(0, nl);
    this.receivedBytes += part.length;
    if (this.receivedBytes > MAX_REQUEST_BYTES) {
      this.fail('too-large', `request is longer than ${MAX_REQUEST_BYTES} bytes`);
      return;
    }
    this.received.push(part);
    if (nl !== -1) this.dispatch();
  }

  /** A client may half-close after its request; while streaming, EOF means it is gone. */
  private onEnd(): void {
    if (this.phase === 'reading') {
      if (this.receivedBytes > 0) this.dispatch();
      else this.drop();
    } else if (this.following) {
      this.drop();
    }
  }

  private dispatch(): void {
    this.phase = 'dispatched';
    this.socket.setTimeout(0);
    const line = Buffer.concat(this.received);
    this.received = [];
    const parsed = parseRequest(line);
    if (!parsed.ok) {
      this.id = parsed.id;
      this.end({ ok: false, error: parsed.error });
      return;
    }
    const request = parsed.value;
    this.id = request.id;
    this.following = request.cmd === 'logs' && request.follow;
    if (request.cmd === 'hello') {
      this.end({ ok: true, ...this.hello });
      return;
    }
    try {
      const result = this.options.handler.handle(request, this);
      if (result !== undefined) result.catch((error: unknown) => this.internal(error));
    } catch (error) {
      this.internal(error);
    }
  }

  private internal(error: unknown): void {
    this.end({ ok: false, error: { code: 'internal', message: error instanceof Error ? error.message : String(error) } });
  }

  private fail(code: ErrorCode, message: string): void {
    this.phase = 'dispatched';
    this.end({ ok: false, error: { code, message } });
  }

  end(body: FinalBody): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    const envelope = this.id === undefined ? { v: PROTOCOL_VERSION } : { v: PROTOCOL_VERSION, id: this.id };
    this.socket.end(encode({ ...envelope, ...body } as never));
    this.release();
  }

  send(message: StreamBody): boolean {
    if (this.state !== 'open') return false;
    const envelope = this.id === undefined ? { v: PROTOCOL_VERSION } : { v: PROTOCOL_VERSION, id: this.id };
    return this.socket.write(encode({ ...envelope, ...message } as never));
  }

  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  onClose(listener: () => void): void {
    if (this.state === 'gone') listener();
    else if (this.state === 'open') this.closeListeners.push(listener);
  }

  /** The client left, or the server is closing: forget it, tell the handler, free the socket. */
  drop(): void {
    this.gone();
    this.socket.destroy();
  }

  private gone(): void {
    if (this.state === 'open') {
      this.state = 'gone';
      const listeners = this.closeListeners.splice(0);
      for (const listener of listeners) {
        try {
          listener();
        } catch {
          // A handler's cleanup must not take the server down.
        }
      }
    }
    this.release();
  }

  private release(): void {
    this.closeListeners.length = 0;
    this.drainListeners.length = 0;
  }
}
