import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseStopSignal } from '../../src/config/policies.js';
import { toSignalName } from '../../src/control/protocol.js';
import { exitCodeForSignal, parseSignal, signalNumber } from '../../src/host/signals.js';
import { exitCodeFor } from '../../src/supervisor/events.js';

describe('the signals module', () => {
  it.each([
    ['usr2', 'SIGUSR2'],
    [' SigHup ', 'SIGHUP'],
    [String(constants.signals.SIGKILL), 'SIGKILL'],
  ] as const)('reads %j as %s', (text, name) => {
    expect(parseSignal(text)).toBe(name);
  });

  it.each(['NOPE', '0', '999', '', 'SIG'])('names the problem with %j and how to write a signal', (text) => {
    expect(parseSignal(text)).toMatchObject({ problem: `unknown signal ${JSON.stringify(text)}`, hint: expect.stringMatching(/TERM, INT, QUIT/) });
  });

  it('is the one parser behind stop signals and control', () => {
    for (const text of ['term', 'USR1', '2', 'NOPE']) {
      const parsed = parseSignal(text);
      expect(toSignalName(text)).toBe(typeof parsed === 'string' ? parsed : undefined);
      expect(parseStopSignal(text)).toEqual(parsed);
    }
    // Only the stop signal refuses those that cannot stop a process gracefully.
    expect(toSignalName('KILL')).toBe('SIGKILL');
    expect(parseStopSignal('KILL')).toMatchObject({ problem: 'SIGKILL cannot be a stop signal' });
  });

  it('gives 128+n as the exit code of signal n, as the stop reasons use it', () => {
    expect(signalNumber('SIGTERM')).toBe(constants.signals.SIGTERM);
    expect(exitCodeForSignal('SIGINT')).toBe(128 + constants.signals.SIGINT);
    expect(exitCodeFor({ kind: 'signal', signal: 'SIGTERM' })).toBe(128 + constants.signals.SIGTERM);
    expect(exitCodeFor({ kind: 'output-closed' })).toBe(128 + constants.signals.SIGPIPE);
  });
});
