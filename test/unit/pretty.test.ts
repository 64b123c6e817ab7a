import { describe, expect, it } from 'vitest';
import { defaultPolicy, type Instance } from '../../src/domain.js';
import { SecondsClock } from '../../src/output/clock.js';
import { useColor } from '../../src/output/colors.js';
import { PrettyFormat } from '../../src/output/pretty.js';

const instance = (name: string, color = 0): Instance => ({
  name,
  type: name.split('.')[0] as string,
  number: 1,
  command: 'x',
  launch: { file: '/bin/sh', args: [] },
  env: {},
  port: 5000,
  cwd: '/',
  color,
  policy: defaultPolicy('x'),
});
const piece = (text: string | Buffer, continued = false) => ({ bytes: Buffer.isBuffer(text) ? text : Buffer.from(text), continued });

describe('PrettyFormat', () => {
  const noon = new Date(2026, 0, 2, 12, 34, 56).getTime();

  it('prefixes each piece with time, padded name and | or + for a continuation', () => {
    const format = new PrettyFormat({ color: false, timestamp: true, width: 8, clock: new SecondsClock(() => noon) });
    const out = format.lines(instance('web.1'), 'stdout', [piece('hello'), piece(''), piece('more', true)]);
    expect(out.toString()).toBe('12:34:56 web.1    | hello\n12:34:56 web.1    | \n12:34:56 web.1    + more\n');
  });

  it('updates the time when the second changes', () => {
    let now = noon;
    const format = new PrettyFormat({ color: false, timestamp: true, width: 5, clock: new SecondsClock(() => now) });
    expect(format.lines(instance('web.1'), 'stdout', [piece('a')]).toString()).toBe('12:34:56 web.1 | a\n');
    now += 1000;
    expect(format.lines(instance('web.1'), 'stdout', [piece('b')]).toString()).toBe('12:34:57 web.1 | b\n');
  });

  it('colours the prefix by type and resets after a line carrying escape codes', () => {
    const format = new PrettyFormat({ color: true, timestamp: false, width: 5 });
    const out = format.lines(instance('web.1', 1), 'stderr', [piece('\x1b[31mred'), piece('plain')]).toString();
    expect(out).toBe('\x1b[33mweb.1 | \x1b[0m\x1b[31mred\x1b[0m\n\x1b[33mweb.1 | \x1b[0mplain\n');
  });

  it('copies bytes as they are, invalid UTF-8 included', () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 1 });
    const out = format.lines(instance('a.1'), 'stdout', [piece(Buffer.from([0xff, 0x41]))]);
    expect([...out]).toEqual([...Buffer.from('a.1 | '), 0xff, 0x41, 0x0a]);
  });

  it('writes notices as system lines', () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 8 });
    expect(format.notice({ text: 'stopping', level: 'info', fields: {} }).toString()).toBe('system   | stopping\n');
  });
});

describe('useColor', () => {
  it.each([
    [true, false, {}, true], // --color wins
    [false, true, { FORCE_COLOR: '1' }, false], // --no-color wins
    [undefined, true, {}, true], // a terminal
    [undefined, false, {}, false], // a pipe
    [undefined, true, { NO_COLOR: '1' }, false],
    [undefined, false, { FORCE_COLOR: '1' }, true],
    [undefined, true, { FORCE_COLOR: '0' }, false],
    [undefined, true, { TERM: 'dumb' }, false],
  ] as const)('requested %s, tty %s, env %j -> %s', (requested, isTTY, env, expected) => {
    expect(useColor({ requested, isTTY, env })).toBe(expected);
  });
});
