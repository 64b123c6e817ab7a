import { existsSync, readdirSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy, type Instance, type TypePolicy } from '../../src/domain.js';
import type { SupervisorEvent } from '../../src/supervisor/events.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { noWatchdog } from '../../src/supervisor/watchdog.js';
import { expectAllDead } from '../helpers/tf.js';

/** The slot machinery against real processes and the real spawner (FIFOs), killer and clock. */

const make = (type: string, index: number, script: string, policy: Partial<TypePolicy> = {}): Instance => ({
  name: `${type}.${index}`,
  type,
  number: index,
  command: script,
  launch: { file: '/bin/sh', args: ['-c', script] },
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(5000 + index - 1) },
  port: 5000 + index - 1,
  cwd: '/',
  color: 0,
  policy: { ...defaultPolicy(type), ready: { kind: 'none' }, ...policy },
});

/** Collects events and lets a test wait for one, never for a time. */
function recorder() {
  const events: SupervisorEvent[] = [];
  const waiting: { match: (e: SupervisorEvent) => boolean; resolve: (e: SupervisorEvent) => void }[] = [];
  const emit = (event: SupervisorEvent): void => {
    if (event.kind === 'output') event = { ...event, chunk: Buffer.from(event.chunk) };
    events.push(event);
    for (const w of [...waiting]) {
      if (!w.match(event)) continue;
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(event);
    }
  };
  const next = (match: (e: SupervisorEvent) => boolean): Promise<SupervisorEvent> => new Promise((resolve) => waiting.push({ match, resolve }));
  const is = (kind: SupervisorEvent['kind'], name?: string) => (e: SupervisorEvent) =>
    e.kind === kind && (name === undefined || ('instance' in e && e.instance.name === name));
  const pids = () => events.flatMap((e) => (e.kind === 'spawned' ? [e.pid] : []));
  return { events, emit, next, is, pids };
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe('slots with real processes', () => {
  it('restarts a crashing worker until it fails, restarts it again, scales web up and down, and leaves nothing behind', async () => {
    const r = recorder();
    const web = (n: number) => make('web', n, 'echo "web $PORT up"; exec sleep 30');
    const supervisor = new Supervisor(
      [web(1), make('worker', 1, 'echo crash; exit 3', { restart: 'always' })],
      { timeoutMs: 2000, backoff: { firstMs: 10, maxMs: 40, steadyMs: 10_000, maxQuickExits: 3 } },
      r.emit,
    );
    const failed = r.next(r.is('failed', 'worker.1'));
    const done = supervisor.run();
    cleanup = async () => {
      supervisor.signal('SIGKILL');
      await done;
      await expectAllDead(r.pids());
    };
    await failed;
    const crashes = () => r.events.filter((e) => e.kind === 'output' && e.chunk.toString() === 'crash\n').length;
    expect(crashes()).toBe(3);
    expect(r.events.filter((e) => e.kind === 'backoff').map((e) => (e.kind === 'backoff' ? e.delayMs : 0))).toEqual([10, 20]);

    const again = r.next(r.is('exited', 'worker.1'));
    supervisor.restart(['worker.1']);
    await again;
    expect(crashes()).toBe(4);

    const third = r.next((e) => e.kind === 'output' && e.chunk.toString() === 'web 5002 up\n');
    supervisor.scale('web', 3, web);
    await third;
    const removed = Promise.all([r.next(r.is('removed', 'web.2')), r.next(r.is('removed', 'web.3'))]);
    supervisor.scale('web', 1, web);
    await removed;
    expect(supervisor.snapshot().map((v) => v.name)).toEqual(['web.1', 'worker.1']);
    const webExits = r.events.flatMap((e) => (e.kind === 'exited' && e.instance.type === 'web' ? [[e.instance.name, e.exit.signal, e.exit.stoppedByTf]] : []));
    expect(webExits.sort()).toEqual([
      ['web.2', 'SIGTERM', true],
      ['web.3', 'SIGTERM', true],
    ]);

    const restarted = r.next(r.is('spawned', 'web.1'));
    supervisor.restart(['web']);
    await restarted;
    expect(supervisor.snapshot()[0]).toMatchObject({ name: 'web.1', state: 'ready', restarts: 1, port: 5000 });

    cleanup = undefined;
    // Restarted and scaled runs read FIFOs too: no fallback warning.
    expect(r.events.filter((e) => e.kind === 'warning')).toEqual([]);
    supervisor.signal('SIGTERM');
    expect(await done).toBe(143);
    await expectAllDead(r.pids());
  }, 15_000);

  it("tells the watchdog the directory of every batch of FIFOs, a restart's too, before names are made in it", async () => {
    const r = recorder();
    const told: { dir: string; fresh: boolean }[] = [];
    const watchdog = {
      ...noWatchdog,
      fifoDirectory: (dir: string, inode: number) => told.push({ dir, fresh: statSync(dir).ino === inode && readdirSync(dir).length === 0 }),
    };
    const supervisor = new Supervisor([make('web', 1, 'echo up; exec sleep 30'), make('web', 2, 'echo up; exec sleep 30')], { timeoutMs: 2000 }, r.emit, {
      watchdog,
    });
    const up = r.next(r.is('spawned', 'web.2'));
    const done = supervisor.run();
    cleanup = async () => {
      supervisor.signal('SIGKILL');
      await done;
      await expectAllDead(r.pids());
    };
    await up;
    expect(told).toHaveLength(1);
    const restarted = r.next(r.is('spawned', 'web.1'));
    supervisor.restart(['web.1']);
    await restarted;
    expect(told).toHaveLength(2);
    expect(told.every((t) => t.fresh)).toBe(true);
    // Every name was opened and unlinked, and each directory removed.
    expect(told.filter((t) => existsSync(t.dir))).toEqual([]);
  }, 15_000);
});
