import { describe, expect, it } from 'vitest';
import { MAX_REQUEST_BYTES, encode, lineMessage, parseReply, parseRequest, toSignalName, type ErrorCode } from '../../src/control/protocol.js';

const parse = (value: unknown) => parseRequest(typeof value === 'string' ? value : JSON.stringify(value));

describe('parseRequest: valid requests', () => {
  it.each([
    // the probe a second tf start sends
    [
      { v: 1, cmd: 'hello' },
      { v: 1, cmd: 'hello' },
    ],
    // an id is echoed back, string or number
    [
      { v: 1, id: 7, cmd: 'ps' },
      { v: 1, id: 7, cmd: 'ps' },
    ],
    [
      { v: 1, id: 'a', cmd: 'restart', names: [] },
      { v: 1, id: 'a', cmd: 'restart', names: [] },
    ],
    [
      { v: 1, cmd: 'stop', names: ['web', 'worker.2'] },
      { v: 1, cmd: 'stop', names: ['web', 'worker.2'] },
    ],
    [
      { v: 1, cmd: 'signal', names: ['web'], signal: 'SIGUSR2' },
      { v: 1, cmd: 'signal', names: ['web'], signal: 'SIGUSR2' },
    ],
    // absolute and relative scale in one request
    [
      {
        v: 1,
        cmd: 'scale',
        scale: [
          { type: 'web', count: 3 },
          { type: 'worker', count: { delta: -1 } },
        ],
      },
      {
        v: 1,
        cmd: 'scale',
        scale: [
          { type: 'web', count: 3 },
          { type: 'worker', count: { delta: -1 } },
        ],
      },
    ],
    [
      { v: 1, cmd: 'logs', names: [], lines: 100, follow: true },
      { v: 1, cmd: 'logs', names: [], lines: 100, follow: true },
    ],
    [
      { v: 1, cmd: 'shutdown' },
      { v: 1, cmd: 'shutdown' },
    ],
  ])('%j', (input, expected) => {
    expect(parse(input)).toEqual({ ok: true, value: expected });
  });
});

describe('parseRequest: refused with a typed error, never a throw', () => {
  it.each<[string, unknown, ErrorCode]>([
    ['not JSON', '{"v":1,', 'bad-json'],
    ['an array', [1], 'bad-json'],
    ['a string', '"ps"', 'bad-json'],
    ['null', 'null', 'bad-json'],
    ['no v', { cmd: 'ps' }, 'bad-version'],
    ['a future version', { v: 2, cmd: 'ps' }, 'bad-version'],
    ['v as a string', { v: '1', cmd: 'ps' }, 'bad-version'],
    ['no cmd', { v: 1 }, 'bad-request'],
    ['an unknown cmd', { v: 1, cmd: 'launch' }, 'unknown-command'],
    ['a prototype key as cmd', { v: 1, cmd: 'toString' }, 'unknown-command'],
    ['an unknown field', { v: 1, cmd: 'ps', verbose: true }, 'bad-request'],
    ['names not an array', { v: 1, cmd: 'stop', names: 'web' }, 'bad-request'],
    ['an empty name', { v: 1, cmd: 'stop', names: [''] }, 'bad-request'],
    ['a number as a name', { v: 1, cmd: 'restart', names: [1] }, 'bad-request'],
    ['missing names', { v: 1, cmd: 'restart' }, 'bad-request'],
    ['a signal without SIG', { v: 1, cmd: 'signal', names: [], signal: 'USR2' }, 'bad-request'],
    ['an unknown signal', { v: 1, cmd: 'signal', names: [], signal: 'SIGNOPE' }, 'bad-request'],
    ['an empty scale', { v: 1, cmd: 'scale', scale: [] }, 'bad-request'],
    ['a negative count', { v: 1, cmd: 'scale', scale: [{ type: 'web', count: -1 }] }, 'bad-request'],
    ['a fractional count', { v: 1, cmd: 'scale', scale: [{ type: 'web', count: 1.5 }] }, 'bad-request'],
    ['a delta with extra keys', { v: 1, cmd: 'scale', scale: [{ type: 'web', count: { delta: 1, x: 1 } }] }, 'bad-request'],
    ['lines as a string', { v: 1, cmd: 'logs', names: [], lines: '10', follow: false }, 'bad-request'],
    ['follow missing', { v: 1, cmd: 'logs', names: [], lines: 10 }, 'bad-request'],
    ['an id object', { v: 1, id: {}, cmd: 'ps' }, 'bad-request'],
  ])('%s', (_what, input, code) => {
    const parsed = parse(input);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error.code).toBe(code);
  });

  it('refuses a line over the limit without parsing it', () => {
    const huge = JSON.stringify({ v: 1, cmd: 'stop', names: ['x'.repeat(MAX_REQUEST_BYTES)] });
    const parsed = parseRequest(Buffer.from(huge));
    expect(parsed).toMatchObject({ ok: false, error: { code: 'too-large' } });
  });

  it('keeps the id of a request it refuses, so the reply can carry it', () => {
    expect(parse({ v: 1, id: 3, cmd: 'nope' })).toMatchObject({ ok: false, id: 3 });
  });
});

describe('signal names from user input', () => {
  it.each([
    ['USR2', 'SIGUSR2'],
    ['sigterm', 'SIGTERM'],
    ['SIGHUP', 'SIGHUP'],
    ['9', 'SIGKILL'],
    ['NOPE', undefined],
    ['999', undefined],
  ])('%s -> %s', (input, expected) => {
    expect(toSignalName(input)).toBe(expected);
  });
});

describe('parseReply', () => {
  it('tells final replies from stream messages and rejects other shapes', () => {
    expect(parseReply('{"v":1,"ok":true,"instances":[]}')).toMatchObject({ ok: true });
    expect(parseReply('{"v":1,"ok":false,"error":{"code":"failed","message":"m"}}')).toMatchObject({ ok: true });
    expect(parseReply('{"v":1,"kind":"line","name":"web.1","stream":"stdout","time":1,"text":"x"}')).toMatchObject({ ok: true });
    expect(parseReply('{"v":1,"kind":"dropped","name":"web.1","count":3}')).toMatchObject({ ok: true });
    expect(parseReply('{"v":1,"ok":false}')).toMatchObject({ ok: false });
    expect(parseReply('{"v":2,"ok":true}')).toMatchObject({ ok: false, error: { code: 'bad-version' } });
    expect(parseReply('{"v":1}')).toMatchObject({ ok: false });
  });

  it('encodes one message per line', () => {
    expect(encode({ v: 1, cmd: 'ps' })).toBe('{"v":1,"cmd":"ps"}\n');
  });
});

describe('lineMessage', () => {
  it('carries UTF-8 text as is and the continued mark', () => {
    expect(lineMessage('web.1', { time: 5, stream: 'stderr', text: Buffer.from('héllo'), continued: true })).toEqual({
      kind: 'line',
      name: 'web.1',
      stream: 'stderr',
      time: 5,
      text: 'héllo',
      continued: true,
    });
  });

  it('adds the exact bytes when they are not UTF-8, so no client loses them', () => {
    const bytes = Buffer.from([0x61, 0xff, 0x62]);
    const message = lineMessage('web.1', { time: 1, stream: 'stdout', text: bytes });
    expect(message).toMatchObject({ text: 'a\ufffdb', raw: bytes.toString('base64') });
    expect(message).not.toHaveProperty('continued');
  });
});
