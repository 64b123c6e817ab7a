import { TfError } from '../../src/errors.js';

/** The TfError `fn` throws; anything else (or nothing) fails the test. */
export const errorOf = (fn: () => unknown): TfError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof TfError) return error;
    throw error;
  }
  throw new Error('expected a TfError');
};
