import { describe, expect, it } from 'vitest';
import { testConfig } from '../helpers/config.js';
import { shellLaunch } from '../../src/plan/launch.js';
import { buildPlan, runEnv } from '../../src/plan/plan.js';

const config = testConfig;

describe('the release phase in the plan', () => {
  it('is never an instance, takes no port slot, and is exposed on its own', { timeout: 10_000 }, () => {
    const withRelease = config('release: ./migrate\nweb: a\nworker: b\n');
    const plan = buildPlan(withRelease, { childColor: false });
    expect(plan.instances.map((i) => [i.name, i.port])).toEqual([
      ['web.1', 5000],
      ['worker.1', 5100],
    ]);
    expect(runEnv(withRelease, withRelease.procfile.types[2]).PORT).toBe('5100');
    expect(plan.release).toMatchObject({ command: './migrate', line: 1, cwd: '/app', launch: shellLaunch('./migrate') });
    expect(plan.release?.env.PORT).toBeUndefined();
  });

  it('is undefined without a release entry; one below the others moves no port', { timeout: 10_000 }, () => {
    expect(buildPlan(config('web: a\n'), { childColor: false }).release).toBeUndefined();
    const below = buildPlan(config('web: a\nworker: b\nrelease: ./migrate\n'), { childColor: false });
    expect(below.instances.map((i) => [i.name, i.port])).toEqual([
      ['web.1', 5000],
      ['worker.1', 5100],
    ]);
  });
});
