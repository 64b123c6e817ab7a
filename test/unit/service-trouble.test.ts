import { describe, expect, it } from 'vitest';
import { RecentLines } from '../../src/commands/recent-lines.js';
import { notReady, ServiceTrouble } from '../../src/commands/service-trouble.js';
import { defaultPolicy, type Instance } from '../../src/domain.js';
import type { ExitFacts, StopReason } from '../../src/supervisor/events.js';
import type { SlotView } from '../../src/supervisor/supervisor.js';
import { testInstance } from '../helpers/instance.js';

const instance = (name: string, ready: Instance['policy']['ready'] = { kind: 'port' }): Instance =>
  testInstance(name, { policy: { ...defaultPolicy(name.split('.')[0] as string), ready } });
const view = (name: string, state: SlotView['state']): SlotView => ({
  name,
  type: name.split('.')[0] as string,
  state,
  pid: 1,
  port: 5000,
  startedAt: 0,
  uptimeMs: 0,
  restarts: 0,
  lastExit: undefined,
  readyAfterMs: undefined,
  restartAt: undefined,
  reason: undefined,
});
const exit = (code: number | null, signal: NodeJS.Signals | null = null): ExitFacts => ({
  code,
  signal,
  signalDescription: undefined,
  forced: false,
  stoppedByTf: false,
  durationMs: 5,
});

describe('RecentLines', () => {
  it('keeps the last N lines across chunks, per stream, with an unfinished line last', () => {
    const lines = new RecentLines(3);
    lines.push('stdout', Buffer.from('one\ntw'));
    lines.push('stderr', Buffer.from('err\r\n'));
    lines.push('stdout', Buffer.from('o\nthree\nfou'));
    expect(lines.lines()).toEqual(['two', 'three', 'fou']);
    const many = new RecentLines(2);
    many.push('output', Buffer.from('a\nb\nc\nd\n'));
    expect(many.lines()).toEqual(['c', 'd']);
  });

  it('cuts a very long line', () => {
    const lines = new RecentLines(2);
    lines.push('output', Buffer.from(`${'x'.repeat(2000)}\n`));
    expect(lines.lines()[0]).toHaveLength(503);
  });
});

describe('ServiceTrouble', () => {
  const own: StopReason = { kind: 'requested' };

  it('names the instance whose exit stopped everything, with its code or signal, and keeps its output', () => {
    const web = instance('web.1');
    const watch = new ServiceTrouble(own);
    watch.handle({ kind: 'output', instance: web, stream: 'output', chunk: Buffer.from('boom\n') });
    watch.handle({ kind: 'exited', instance: web, pid: 1, exit: exit(3) });
    expect(watch.handle({ kind: 'stopping', reason: { kind: 'exited', instance: web, exitCode: 3 } })).toEqual({
      kind: 'down',
      instance: web,
      why: 'exited with code 3',
    });
    watch.handle({ kind: 'exited', instance: web, pid: 1, exit: exit(null, 'SIGSEGV') });
    expect(watch.handle({ kind: 'stopping', reason: { kind: 'exited', instance: web, exitCode: 139 } })).toMatchObject({ why: 'was killed by SIGSEGV' });
    expect(watch.lines('web.1')).toEqual(['boom']);
  });

  it('names an instance that exits on its own whatever its restart policy, but not one tf stopped or a can-die one', () => {
    const policy = (extra: Partial<Instance['policy']>): Instance => testInstance('web.1', { policy: { ...defaultPolicy('web'), ...extra } });
    const watch = new ServiceTrouble(own);
    for (const restart of ['on-failure', 'always'] as const) {
      expect(watch.handle({ kind: 'exited', instance: policy({ restart }), pid: 1, exit: exit(3) })).toMatchObject({ kind: 'down', why: 'exited with code 3' });
    }
    // on-failure keeps a clean exit down without stopping the rest; the command would still run without it.
    expect(watch.handle({ kind: 'exited', instance: policy({ restart: 'on-failure' }), pid: 1, exit: exit(0) })).toMatchObject({ why: 'exited with code 0' });
    expect(
      watch.handle({ kind: 'exited', instance: policy({ restart: 'always' }), pid: 1, exit: { ...exit(null, 'SIGTERM'), stoppedByTf: true } }),
    ).toBeUndefined();
    expect(watch.handle({ kind: 'exited', instance: policy({ canDie: true }), pid: 1, exit: exit(1) })).toBeUndefined();
  });

  it('knows whether the last run got ready: probe none once spawned, a probe once it passed, until the next run', () => {
    const web = instance('web.1');
    const worker = instance('worker.1', { kind: 'none' });
    const watch = new ServiceTrouble(own);
    watch.handle({ kind: 'spawned', instance: worker, pid: 2 });
    watch.handle({ kind: 'spawned', instance: web, pid: 1 });
    expect([watch.wasReady('worker.1'), watch.wasReady('web.1')]).toEqual([true, false]);
    watch.handle({ kind: 'ready', instance: web, pid: 1, afterMs: 5 });
    expect(watch.wasReady('web.1')).toBe(true);
    watch.handle({ kind: 'spawned', instance: web, pid: 3 });
    expect(watch.wasReady('web.1')).toBe(false);
  });

  it("ignores tf's own stop, a signal to tf, and a formation that finished cleanly", () => {
    const watch = new ServiceTrouble(own);
    expect(watch.handle({ kind: 'stopping', reason: own })).toBeUndefined();
    expect(watch.handle({ kind: 'stopping', reason: { kind: 'signal', signal: 'SIGINT' } })).toBeUndefined();
    expect(watch.handle({ kind: 'stopping', reason: { kind: 'finished', failed: 0 } })).toBeUndefined();
  });

  it('reports a start failure and a crash loop given up', () => {
    const web = instance('web.1');
    const watch = new ServiceTrouble(own);
    watch.handle({ kind: 'spawn-failed', instance: web, error: 'spawn /bin/sh EMFILE' });
    expect(watch.handle({ kind: 'stopping', reason: { kind: 'spawn-failed', instance: web } })).toMatchObject({ why: 'failed to start: spawn /bin/sh EMFILE' });
    expect(watch.handle({ kind: 'failed', instance: web, reason: 'exited 5 times in a row', quickExits: 5 })).toMatchObject({
      why: 'failed: exited 5 times in a row',
    });
  });
});

describe('notReady', () => {
  it('names the first instance not ready, with its probe as the user writes it', () => {
    const instances = [instance('web.1'), instance('api.1', { kind: 'http', path: '/up' }), instance('worker.1', { kind: 'log', text: 'READY' })];
    expect(notReady([view('web.1', 'running'), view('api.1', 'running')], instances, 60_000)).toMatchObject({ why: 'not ready after 60s (probe: port 5000)' });
    expect(notReady([view('web.1', 'ready'), view('api.1', 'backoff')], instances, 1500)).toMatchObject({
      why: 'not ready after 1.5s (probe: http:/up on port 5000; state: backoff)',
    });
    expect(notReady([view('web.1', 'ready'), view('worker.1', 'running')], instances, 1000)).toMatchObject({ why: 'not ready after 1s (probe: log:READY)' });
    expect(notReady([view('web.1', 'ready'), view('worker.1', 'exited')], instances, 1000)).toBeUndefined();
  });
});
