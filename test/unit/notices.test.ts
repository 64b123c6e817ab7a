import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../src/domain.js';
import { noticeFor } from '../../src/output/notices.js';
import { testInstance } from '../helpers/instance.js';

const web = testInstance('web.1', { policy: defaultPolicy('web') });

describe('notices', () => {
  it('says why tf stops everything, and just that it ends once nothing runs', () => {
    expect(noticeFor({ kind: 'stopping', reason: { kind: 'signal', signal: 'SIGINT' } }).text).toBe('stopping all processes (received SIGINT)');
    expect(noticeFor({ kind: 'stopping', reason: { kind: 'finished', failed: 0 } }).text).toBe('nothing left running; tf exits');
    expect(noticeFor({ kind: 'stopping', reason: { kind: 'finished', failed: 2 } }).text).toBe('nothing left running; 2 failed; tf exits');
  });

  it('tells a SIGKILL after the grace period from one asked for by a signal during the stop', () => {
    const killing = (why: 'grace-over' | 'signal-while-stopping') => noticeFor({ kind: 'killing', instance: web, pid: 42, graceMs: 5000, why }).text;
    expect(killing('grace-over')).toBe('web.1 did not stop within 5s; sending SIGKILL to its process tree');
    expect(killing('signal-while-stopping')).toBe('web.1: tf got a signal while stopping; sending SIGKILL to its process tree without waiting');
  });
});
