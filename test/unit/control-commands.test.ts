import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { duration } from '../../src/commands/ps.js';
import { parseScale } from '../../src/commands/scale.js';
import { appPaths } from '../../src/config/paths.js';
import { TfError } from '../../src/errors.js';

describe('appPaths: where an app is, from -f and -d alone', () => {
  it('defaults to ./Procfile in the current directory', () => {
    expect(appPaths({ procfile: undefined, root: undefined }, '/app')).toEqual({ root: '/app', procfile: '/app/Procfile', rootGiven: false });
  });
  it('takes the root from -f when -d is not given, and ROOT/Procfile for -d alone', () => {
    expect(appPaths({ procfile: 'conf/Procfile.dev', root: undefined }, '/app')).toEqual({
      root: '/app/conf',
      procfile: '/app/conf/Procfile.dev',
      rootGiven: false,
    });
    expect(appPaths({ procfile: undefined, root: '../other' }, '/app')).toEqual({ root: path.resolve('/other'), procfile: '/other/Procfile', rootGiven: true });
  });
  it('keeps -f and -d apart when both are given', () => {
    expect(appPaths({ procfile: '/etc/Procfile', root: 'srv' }, '/app')).toEqual({ root: '/app/srv', procfile: '/etc/Procfile', rootGiven: true });
  });
});

describe('parseScale', () => {
  it('reads counts and changes', () => {
    expect(parseScale(['web=3', 'worker=+2', 'clock=-1', 'db=0'])).toEqual([
      { type: 'web', count: 3 },
      { type: 'worker', count: { delta: 2 } },
      { type: 'clock', count: { delta: -1 } },
      { type: 'db', count: 0 },
    ]);
  });
  it.each([['web'], ['web='], ['=3'], ['web=x'], ['web=1.5'], ['web=1001']])('refuses %s as a usage error', (word) => {
    expect(() => parseScale([word])).toThrow(TfError);
    try {
      parseScale([word]);
    } catch (error) {
      expect((error as TfError).exitCode).toBe(2);
    }
  });
  it('names the limit for any count over it, however many digits', () => {
    expect(() => parseScale(['web=100000'])).toThrow('bad scale "web=100000": at most 1000 instances');
  });
  it('needs at least one', () => {
    expect(() => parseScale([])).toThrow('tf scale needs TYPE=N');
  });
  it('refuses a type named twice, as -m does', () => {
    expect(() => parseScale(['web=2', 'worker=1', 'web=+3'])).toThrow('web is named twice in tf scale');
  });
});

describe('duration, the UPTIME column', () => {
  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [65_000, '1m05s'],
    [3_600_000 + 7 * 60_000, '1h07m'],
    [2 * 86_400_000 + 5 * 3_600_000, '2d05h'],
  ])('%i ms is %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});
