import { describe, expect, it } from 'vitest';
import { TfError } from '../../src/errors.js';

describe('TfError.is', () => {
  it("knows a TfError of another copy of the class (each command's bundle has its own)", () => {
    // What another bundle's copy of errors.ts makes: another class, with the same mark.
    class Other extends Error {}
    Object.defineProperty(Other.prototype, Symbol.for('tf.TfError'), { value: true });
    const foreign = new Other('x');
    expect(foreign instanceof TfError).toBe(false);
    expect(TfError.is(foreign)).toBe(true);
    expect(TfError.is(new TfError('usage', 'x'))).toBe(true);
    expect(TfError.is(new Error('x'))).toBe(false);
    expect(TfError.is({ message: 'x' })).toBe(false);
    expect(TfError.is(undefined)).toBe(false);
  });
});
