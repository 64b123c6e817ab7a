import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
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
  type CommandName,
  type ErrorCode,
  type ErrorInfo,
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
/**
 * A local user can only hurt themselves, but a runaway script should not exhaust tf's
 * descriptors: this many connections are served as usual (see docs/control.md, "Limits").
 */
export const MAX_CONNECTIONS = 128;
/** `logs -F` followers stay below the total: the rest is kept for ps, stop and the other short requests. */
export const MAX_FOLLOWERS = 96;
/**
 * Past MAX_CONNECTIONS, this many more are accepted only to be answered: `busy`, or the
 * commands that get a user out (ALWAYS_ANSWERED). Past these, Node closes the connection unread.
 */
const MAX_OVERFLOW = 32;
/** An overflow connection gets this long to send its request: it must not hold its slot. */
const OVERFLOW_REQUEST_MS = 1000;
/** Quick requests that end by themselves: answered even over the limit, so tf can always be seen and stopped. */
const ALWAYS_ANSWERED: ReadonlySet<CommandName> = new Set(['hello', 'ps', 'stop', 'shutdown']);

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
    /** The socket file this server bound: close() and the watchdog remove only that one. */
    readonly inode: number,
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
   *
   * Probe, removal and bind happen under the start lock (`<socket>.lock`): two starts that
   * both found the socket stale would otherwise each remove it, the second removing the
   * first's live socket, leaving two supervisors and one of them unreachable.
   */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const hello: HelloResult = { pid: process.pid, root: options.app.root, procfile: options.app.procfile, startedAt: Date.now() };
    const lock = StartLock.acquire(options.path);
    try {
      const listening = await listenReplacingStale(options);
      return new ControlServer(listening.server, options.path, listening.inode, options, hello);
    } finally {
      lock.release();
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
    const overflow = this.connections.size >= MAX_CONNECTIONS;
    const connection = new Connection(socket, this.options, this.hello, {
      overflow,
      admit: (request) => this.admit(request, overflow),
      forget: () => this.connections.delete(connection),
    });
    this.connections.add(connection);
  }

  /** Why `request` is refused (`busy`), or undefined to dispatch it. */
  private admit(request: Request, overflow: boolean): ErrorInfo | undefined {
    const pid = this.hello.pid;
    if (overflow && !ALWAYS_ANSWERED.has(request.cmd))
      return busy(`tf (pid ${pid}) has ${MAX_CONNECTIONS} control connections open (tf logs -F followers count); close some and retry`);
    if (request.cmd === 'logs' && request.follow && this.followers() >= MAX_FOLLOWERS)
      return busy(`tf (pid ${pid}) has ${MAX_FOLLOWERS} tf logs -F followers open, the most it serves; close some and retry`);
    return undefined;
  }

  private followers(): number {
    let count = 0;
    for (const connection of this.connections) if (connection.following) count++;
    return count;
  }
}

const busy = (message: string): ErrorInfo => ({ code: 'busy', message });

interface ConnectionLimits {
  /** Accepted over MAX_CONNECTIONS: a short time to send the request, and only ALWAYS_ANSWERED is served. */
  readonly overflow: boolean;
  readonly admit: (request: Request) => ErrorInfo | undefined;
  /** The socket closed: the server forgets the connection. */
  readonly forget: () => void;
}

function putBack(aside: string, target: string): void {
  try {
    renameSync(aside, target);
  } catch {
    // Nothing sensible to do: the other tf's socket is gone either way.
  }
}

const refusedByRunning = (socketPath: string, pid: number | undefined, doing: 'running' | 'starting'): TfError =>
  controlError(
    `${pid === undefined ? 'a tf' : `tf (pid ${pid})`} is already ${doing} for this app`,
    socketPath,
    'use tf ps / tf stop on it, or pass --socket PATH to run another',
  );

/** Binds, probing and replacing a stale socket on the way; the caller holds the start lock. */
async function listenReplacingStale(options: ControlServerOptions): Promise<Extract<ListenOutcome, { kind: 'listening' }>> {
  for (let attempt = 0; ; attempt++) {
    const outcome = await listenOnce(options.path);
    if (outcome.kind === 'listening') return outcome;
    if (attempt >= 3)
      throw controlError('the control socket keeps being taken by another process', options.path, 'stop the other tf for this app and try again');
    const inode = socketInode(options.path);
    if (inode === undefined) continue;
    const probe = await probeSocket(options.path, options.probeTimeoutMs ?? DEFAULT_PROBE_MS);
    switch (probe.kind) {
      case 'running':
        throw refusedByRunning(options.path, probe.hello?.pid, 'running');
      case 'unresponsive':
        throw controlError(
          'the control socket is held by a process that does not answer',
          options.path,
          'if no tf runs for this app, remove the socket and start again',
        );
      case 'stale':
        unlinkIfSame(options.path, inode);
        break;
      case 'gone':
        break;
    }
  }
}

/**
 * A start holds the lock for one probe and one bind. A lock older than this was left by a
 * tf that died or hung while starting, and a reused pid in it must not block the app forever.
 */
const LOCK_STALE_MS = 30_000;

type LockHolder = { readonly kind: 'gone' } | { readonly kind: 'live'; readonly pid: number | undefined } | { readonly kind: 'stale'; readonly inode: number };

/**
 * `<socket>.lock`, linked into place holding the pid of the tf that is starting. Only one
 * tf at a time probes, replaces and binds the socket; another is refused with that pid. A
 * lock whose pid is dead was left by a tf killed while starting: it is replaced.
 */
class StartLock {
  private constructor(
    private readonly path: string,
    private readonly inode: number,
  ) {}

  static acquire(socketPath: string): StartLock {
    const lockPath = `${socketPath}.lock`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const made = StartLock.create(lockPath, socketPath);
      if (made !== undefined) return made;
      const holder = lockHolder(lockPath);
      if (holder.kind === 'live') throw refusedByRunning(socketPath, holder.pid, 'starting');
      if (holder.kind === 'stale') unlinkIfSame(lockPath, holder.inode);
    }
    throw controlError('the start lock keeps being taken by another process', lockPath, 'stop the other tf for this app and try again');
  }

  /**
   * The lock, or undefined when one exists already. It is written under a name of its own and
   * linked into place (link(2) fails on an existing name, as O_EXCL does), so another tf never
   * reads a lock without its pid.
   */
  private static create(lockPath: string, socketPath: string): StartLock | undefined {
    const draft = `${lockPath}.${process.pid}`;
    const cannot = (error: unknown): TfError =>
      controlError(
        `cannot listen on the control socket (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
        socketPath,
        'pass --socket PATH in a directory you can write',
        error,
      );
    let inode: number | undefined;
    try {
      const fd = openSync(draft, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
      try {
        inode = fstatSync(fd).ino;
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      linkSync(draft, lockPath);
      return new StartLock(lockPath, inode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw cannot(error);
    } finally {
      // The draft never stays, whatever failed: the lock is its other name.
      if (inode !== undefined) unlinkIfSame(draft, inode);
    }
  }

  /** Removes the lock if it is still this one. */
  release(): void {
    unlinkIfSame(this.path, this.inode);
  }
}

/** Who holds the lock at `lockPath`: a live tf (its pid), nobody any more, or a dead or hung one. */
function lockHolder(lockPath: string): LockHolder {
  let inode: number;
  let ageMs: number;
  let text: string;
  try {
    const st = lstatSync(lockPath);
    if (!st.isFile()) throw controlError('the start lock path exists and is not a file', lockPath, 'remove it and start again');
    [inode, ageMs] = [st.ino, Date.now() - st.mtimeMs];
    const fd = openSync(lockPath, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (error instanceof TfError) throw error;
    return { kind: 'gone' };
  }
  if (ageMs > LOCK_STALE_MS) return { kind: 'stale', inode };
  // Not a pid: a lock of an older tf, made empty and written after.
  if (!/^\d+\n$/.test(text)) return { kind: 'live', pid: undefined };
  const pid = Number(text.trim());
  return isAlive(pid) ? { kind: 'live', pid } : { kind: 'stale', inode };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes `file` only if it is still the one seen as `inode`: between the look and the
 * removal another tf may have put its own there.
 */
function unlinkIfSame(file: string, inode: number): void {
  try {
    if (lstatSync(file).ino === inode) unlinkSync(file);
  } catch {
    // Gone already: nothing to remove.
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
    server.maxConnections = MAX_CONNECTIONS + MAX_OVERFLOW;
    const onError = (error: NodeJS.ErrnoException): void => {
      server.close();
      if (error.code === 'EADDRINUSE') resolve({ kind: 'in-use' });
      else
        reject(
          controlError(
            `cannot listen on the control socket (${error.code ?? error.message})`,
            socketPath,
            'pass --socket PATH in a directory you can write',
            error,
          ),
        );
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

/**
 * The inode of the socket at `socketPath`, or undefined when nothing is there. Only a socket
 * is ever removed: a regular file at the path is the user's, not a stale tf's.
 */
function socketInode(socketPath: string): number | undefined {
  let st: Stats;
  try {
    st = lstatSync(socketPath);
  } catch {
    return undefined; // vanished since the bind failed: the next attempt will tell
  }
  if (!st.isSocket()) throw controlError('the control socket path exists and is not a socket', socketPath, 'remove it or pass --socket PATH');
  return st.ino;
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
      else
        finish(
          controlError(`cannot probe the control socket (${error.code ?? error.message})`, socketPath, 'check its permissions, or pass --socket PATH', error),
        );
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
  private follow = false;
  private readonly closeListeners: Array<() => void> = [];
  private readonly drainListeners: Array<() => void> = [];
  /** While reading: the request line's deadline. After the final reply has left: how long the client may linger. */
  private deadline: NodeJS.Timeout | undefined;
  /** How long a client may keep its side open after the final reply has left; undefined: the request time. */
  private lingerMs: number | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ControlServerOptions,
    private readonly hello: HelloResult,
    private readonly limits: ConnectionLimits,
  ) {
    // From connect, not from the last byte: a client trickling its request cannot hold a slot either.
    this.arm(limits.overflow ? OVERFLOW_REQUEST_MS : this.requestMs(), () => {
      if (this.phase !== 'reading') return;
      // It sent nothing in time: once told so, it has had its chance to linger.
      this.lingerMs = 0;
      this.fail('bad-request', 'no request line received in time');
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => {
      for (const listener of this.drainListeners) listener();
    });
    // EPIPE / ECONNRESET from a client that went away: the close handler does the rest.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(this.deadline);
      this.gone();
      limits.forget();
    });
  }

  /** A `logs -F` stream: counted against MAX_FOLLOWERS. */
  get following(): boolean {
    return this.follow;
  }

  private requestMs(): number {
    return this.options.requestTimeoutMs ?? DEFAULT_REQUEST_MS;
  }

  private arm(ms: number, action: () => void): void {
    clearTimeout(this.deadline);
    this.deadline = setTimeout(action, ms);
    this.deadline.unref();
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
    } else if (this.follow) {
      this.drop();
    }
  }

  private dispatch(): void {
    this.phase = 'dispatched';
    clearTimeout(this.deadline);
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
    const refused = this.limits.admit(request);
    if (refused !== undefined) {
      this.end({ ok: false, error: refused });
      return;
    }
    this.follow = request.cmd === 'logs' && request.follow;
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
    // Counted from when the reply is all with the kernel, not from when it was queued: a slow reader of a long
    // `tf logs -n` keeps its connection while it reads. Past that, a client that never closes its side must not keep the slot.
    this.socket.end(encode({ ...envelope, ...body } as never), () =>
      this.arm(this.lingerMs ?? (this.limits.overflow ? OVERFLOW_REQUEST_MS : this.requestMs()), () => this.socket.destroy()),
    );
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
