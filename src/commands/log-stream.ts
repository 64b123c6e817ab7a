import { lineMessage } from '../control/protocol.js';
import type { ReplyChannel } from '../control/server.js';
import type { LogRing, Subscription } from '../supervisor/log-ring.js';
import type { LogBook, NamedLine } from './log-book.js';

/** A `tf logs --follow` client being fed. */
export interface Follower {
  /** Sends what is queued, then the final reply: tf is ending. */
  end(reason: 'shutdown'): void;
}

/** The history part of `tf logs`: the socket buffers it (the ring bounds it). */
export function sendHistory(reply: ReplyChannel, lines: readonly NamedLine[]): void {
  for (const { name, line } of lines) reply.send(lineMessage(name, line));
}

/**
 * Streams new lines of the instances `matches` accepts, including instances that print their
 * first line later (a scale-up). The rings never wait for this client: it takes lines once
 * per turn of the event loop, and while its socket is full its queues fill up and then drop
 * lines, which it is told about (`dropped`) once it reads again.
 */
export function followLogs(book: LogBook, reply: ReplyChannel, matches: (name: string) => boolean, names: readonly string[]): Follower {
  const subscriptions = new Map<string, Subscription>();
  let congested = false;
  let scheduled: NodeJS.Immediate | undefined;

  const pump = (): void => {
    scheduled = undefined;
    if (reply.state !== 'open') return;
    let more = true;
    for (const [name, subscription] of subscriptions) {
      const taken = subscription.take();
      for (const line of taken.lines) more = reply.send(lineMessage(name, line));
      if (taken.dropped > 0) more = reply.send({ kind: 'dropped', name, count: taken.dropped });
    }
    congested = !more;
  };
  const schedule = (): void => {
    if (!congested && scheduled === undefined) scheduled = setImmediate(pump);
  };
  const follow = (name: string, ring: LogRing): void => {
    subscriptions.get(name)?.close();
    subscriptions.set(name, ring.subscribe(schedule));
  };

  for (const name of names) {
    const ring = book.get(name);
    if (ring !== undefined) follow(name, ring);
  }
  const unwatch = book.watch((name, ring) => {
    if (matches(name)) follow(name, ring);
  });
  const cleanup = (): void => {
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    unwatch();
    for (const subscription of subscriptions.values()) subscription.close();
    subscriptions.clear();
  };
  reply.onDrain(() => {
    congested = false;
    schedule();
  });
  reply.onClose(cleanup);
  return {
    end(reason) {
      congested = false;
      pump();
      cleanup();
      reply.end({ ok: true, reason });
    },
  };
}
