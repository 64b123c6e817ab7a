import { describe, expect, it } from 'vitest';
import { defaultPolicy, type Instance } from '../../src/domain.js';
import { SecondsClock } from '../../src/output/clock.js';
import { useColor } from '../../src/output/colors.js';
import { PrettyFormat } from '../../src/output/pretty.js';
import { testInstance } from '../helpers/instance.js';

const instance = (name: string, color = 0): Instance => testInstance(name, { color, policy: defaultPolicy('x') });
const piece = (text: string | Buffer, continued = false, more: { redraw?: boolean; open?: boolean } = {}) => ({
  bytes: Buffer.isBuffer(text) ? text : Buffer.from(text),
  continued,
  redraw: more.redraw ?? false,
  open: more.open ?? false,
});

describe('PrettyFormat', () => {
  const noon = new Date(2026, 0, 2, 12, 34, 56).getTime();

  it('prefixes each piece with time, padded name and | or + for a continuation', () => {
    const format = new PrettyFormat({ color: false, timestamp: true, width: 8, clock: new SecondsClock(() => noon) });
    const out = format.lines(instance('web.1'), 'stdout', [piece('hello'), piece(''), piece('more', true)], false);
    expect(out.toString()).toBe('12:34:56 web.1    | hello\n12:34:56 web.1    | \n12:34:56 web.1    + more\n');
  });

  it('widens the name column for a longer name (an instance added by scale) and keeps it wide', () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 8 });
    const line = (name: string): string => format.lines(instance(name), 'stdout', [piece('x')], false).toString();
    expect(line('worker.9')).toBe('worker.9 | x\n');
    expect(line('worker.10')).toBe('worker.10 | x\n');
    expect(line('worker.9')).toBe('worker.9  | x\n');
    expect(format.notice({ text: 'hi', level: 'info', fields: {} }).toString()).toBe('system    | hi\n');
  });

  it('updates the time when the second changes', () => {
    let now = noon;
    const format = new PrettyFormat({ color: false, timestamp: true, width: 5, clock: new SecondsClock(() => now) });
    expect(format.lines(instance('web.1'), 'stdout', [piece('a')], false).toString()).toBe('12:34:56 web.1 | a\n');
    now += 1000;
    expect(format.lines(instance('web.1'), 'stdout', [piece('b')], false).toString()).toBe('12:34:57 web.1 | b\n');
  });

  it('colours the prefix by type and resets after a line carrying escape codes', () => {
    const format = new PrettyFormat({ color: true, timestamp: false, width: 5 });
    const out = format.lines(instance('web.1', 1), 'stderr', [piece('\x1b[31mred'), piece('plain')], false).toString();
    expect(out).toBe('\x1b[33mweb.1 | \x1b[0m\x1b[31mred\x1b[0m\n\x1b[33mweb.1 | \x1b[0mplain\n');
  });

  it("adds no escape sequence of its own with colour off, not even after a child's colour", () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 5 });
    const out = format.lines(instance('web.1', 1), 'stdout', [piece('\x1b[31mred'), piece('plain')], false).toString();
    expect(out).toBe('web.1 | \x1b[31mred\nweb.1 | plain\n');
  });

  it('in a pipe, ends every piece with a newline, open or not, and shows a redrawn state as a whole line', () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 5 });
    const web = instance('web.1');
    expect(format.lines(web, 'stdout', [piece('10%', false, { open: true })], false).toString()).toBe('web.1 | 10%\n');
    expect(format.lines(web, 'stdout', [piece('100%', true, { redraw: true })], false).toString()).toBe('web.1 | 100%\n'); // the line's whole state
  });

  it('on a terminal, leaves a paused line open, appends to it, and redraws it after \\r with the prefix', () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 5 });
    const web = instance('web.1');
    const write = (p: ReturnType<typeof piece>): string => format.lines(web, 'stdout', [p], true).toString();
    expect(write(piece('prompt> ', false, { open: true }))).toBe('web.1 | prompt> ');
    expect(write(piece('yes', true))).toBe('yes\n');
    expect(write(piece('10%', false, { open: true }))).toBe('web.1 | 10%');
    expect(write(piece('20%', true, { redraw: true, open: true }))).toBe('\rweb.1 | 20%');
    expect(write(piece('30%', true, { open: true }))).toBe('30%');
    expect(write(piece('100%', true, { redraw: true }))).toBe('\rweb.1 | 100%\n');
    expect(write(piece('next'))).toBe('web.1 | next\n');
  });

  it('on a terminal, ends an open line before any other line or notice, and goes on with a new prefix', () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 6 });
    const web = instance('web.1');
    expect(format.lines(web, 'stdout', [piece('10%', false, { open: true })], true).toString()).toBe('web.1  | 10%');
    expect(format.lines(instance('api.1'), 'stdout', [piece('hello')], true).toString()).toBe('\napi.1  | hello\n');
    expect(format.lines(web, 'stdout', [piece(' more', true, { open: true })], true).toString()).toBe('web.1  +  more');
    expect(format.notice({ text: 'note', level: 'info', fields: {} }).toString()).toBe('\nsystem | note\n');
    expect(format.lines(web, 'stdout', [piece('50%', true, { redraw: true, open: true })], true).toString()).toBe('web.1  | 50%');
    const blocks: string[] = [];
    format.block(instance('api.1'), 'stdout', { head: undefined, body: Buffer.from('bulk\n') }, (bytes) => (blocks.push(bytes.toString()), false));
    format.flush((bytes) => (blocks.push(bytes.toString()), false));
    expect(blocks.join('')).toBe('\napi.1  | bulk\n');
  });

  it('copies bytes as they are, invalid UTF-8 included', () => {
    const format = new PrettyFormat({ color: false, timestamp: false, width: 1 });
    const out = format.lines(instance('a.1'), 'stdout', [piece(Buffer.from([0xff, 0x41]))], false);
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
