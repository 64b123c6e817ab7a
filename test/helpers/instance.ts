import { defaultPolicy, type Instance } from '../../src/domain.js';

/** An instance for tests that never spawn it: `web.1` on port 5000, its type's default policy, then `change`. */
export function testInstance(name: string, change: Partial<Instance> = {}): Instance {
  const type = name.split('.')[0] as string;
  return {
    name,
    type,
    number: 1,
    command: 'x',
    launch: { file: '/bin/sh', args: [] },
    env: {},
    port: 5000,
    cwd: '/',
    color: 0,
    policy: defaultPolicy(type),
    ...change,
  };
}
