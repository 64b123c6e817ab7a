import { afterEach, describe, expect, it } from 'vitest';
import { importPackage } from '../../src/cli/packages.js';

const LENT = Symbol.for('tf.importPackage');
const slot = globalThis as Record<symbol, unknown>;

describe('importPackage', () => {
  afterEach(() => {
    delete slot[LENT];
  });

  it("uses the launcher's import when it lent one", async () => {
    const asked: string[] = [];
    slot[LENT] = (specifier: string) => (asked.push(specifier), Promise.resolve({ lent: true }));
    await expect(importPackage('execa')).resolves.toEqual({ lent: true });
    expect(asked).toEqual(['execa']);
  });

  it('imports by itself without a launcher', async () => {
    const { execa } = await importPackage<typeof import('execa')>('execa');
    expect(typeof execa).toBe('function');
  });
});
