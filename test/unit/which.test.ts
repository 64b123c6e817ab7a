import { describe, expect, it } from 'vitest';
import { programOf } from '../../src/host/which.js';

describe('programOf', () => {
  const env = { PATH: '/usr/bin:/bin', HOME: '/home/u' };
  it.each([
    ['node server.js', 'node', '/usr/bin:/bin'],
    ['FOO=1 node x', 'node', '/usr/bin:/bin'],
    ['nice -n 5 node x', 'node', '/usr/bin:/bin'],
    ['nice -5 node x', 'node', '/usr/bin:/bin'],
    ['exec -a name node x', 'node', '/usr/bin:/bin'],
    ['env -u HOME -i node x', 'node', '/usr/bin:/bin'],
    ['timeout 5 node x', 'node', '/usr/bin:/bin'],
    ['timeout -s KILL -k 2 5 node x', 'node', '/usr/bin:/bin'],
    ['nohup stdbuf -o L node x', 'node', '/usr/bin:/bin'],
    ['PATH=./bin:$PATH x', 'x', './bin:/usr/bin:/bin'],
    ['env PATH=${HOME}/bin x', 'x', '/home/u/bin'],
  ])('finds the program of %j', (command, program, pathVar) => {
    expect(programOf(command, env)).toEqual({ program, pathVar });
  });

  it.each(['nice -n 5 echo hi', 'exec -a name echo', 'cd x && y', '$CMD', 'if true; then x; fi', 'timeout 5'])(
    'gives up on %j (a builtin, a variable or shell syntax)',
    (command) => {
      expect(programOf(command, env)).toBeUndefined();
    },
  );
});
