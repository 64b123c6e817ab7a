import { describe, expect, it, vi } from 'vitest';
import { ReadReclaimer } from '../../src/output/reclaim.js';

describe('ReadReclaimer', () => {
  it('collects only past the first threshold, then once per interval read', () => {
    const collect = vi.fn();
    const reclaimer = new ReadReclaimer(100, 250, collect);
    for (let i = 0; i < 10; i++) reclaimer.noteRead(60); // 60 .. 600 bytes read
    // 300 (first past 250), then 420 (>= 300 + 100), 540
    expect(collect).toHaveBeenCalledTimes(3);
    expect(collect).toHaveBeenCalledWith({ type: 'minor' });
  });

  it('frees dead buffers outside the heap with the real collector', async () => {
    const reclaimer = new ReadReclaimer(1, 1);
    let garbage: Buffer[] | undefined = Array.from({ length: 200 }, () => Buffer.alloc(64 * 1024, 1));
    const held = process.memoryUsage().arrayBuffers;
    garbage = undefined;
    expect(garbage).toBeUndefined();
    reclaimer.noteRead(2);
    // Swept after the collection, possibly off the main thread; V8 alone takes seconds here.
    await vi.waitFor(() => expect(process.memoryUsage().arrayBuffers).toBeLessThan(held - 10_000_000), { timeout: 1500, interval: 20 });
  }, 10_000);
});
