import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderCompose } from '../../src/export/compose.js';
import { containerCommand, literalDollars } from '../../src/export/container-command.js';
import { extensionPrelude } from '../../src/export/extensions.js';
import { renderKubernetes } from '../../src/export/kubernetes.js';
import { renderSystemd } from '../../src/export/systemd.js';
import type { EnvExtension, ExportInput } from '../../src/export/types.js';
import { CASES, OPTIONS } from '../helpers/export-cases.js';
import { execArgv, unitSettings } from '../helpers/systemd.js';

/** Text around the target's own value, with everything a shell, systemd or a manifest treats specially. */
const TEXTS = ['./bin:', "~/it's $lib:", 'a "b" \\ c `d` $(e) ${f}', '100% %n %%', 'tab\there\nnewline', '*', ''];

const extension = (key: string, before: string, after = ''): EnvExtension => ({
  key,
  parts: [...(before === '' ? [] : [{ text: before }]), { variable: key }, ...(after === '' ? [] : [{ text: after }])],
});

/** Prints the value of each key, one per line, as the started process sees it. */
const PRINT = `printf '%s\\n' "$K1" "$K2"`;

function run(argv: readonly string[], env: Record<string, string>): string {
  const [file, ...args] = argv;
  const child = spawnSync(file ?? '', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8', timeout: 10_000 });
  expect(child.stderr).toBe('');
  return child.stdout;
}

describe('values that extend the target’s own', () => {
  it.each(TEXTS)('apply %j on top of the value the process is given, in sh', { timeout: 10_000 }, (text) => {
    const prelude = extensionPrelude([extension('K1', text, text), extension('K2', text)]);
    expect(run(['/bin/sh', '-c', prelude + PRINT], { K1: 'base 1', K2: 'base 2' })).toBe(`${text}base 1${text}\n${text}base 2\n`);
    // Unset on the target, the value is its text alone, as tf start would make it without the shell's.
    expect(run(['/bin/sh', '-c', prelude + PRINT], {})).toBe(`${text}${text}\n${text}\n`);
  });

  it('reach the process through systemd ExecStart=, compose and kubernetes unchanged', { timeout: 30_000 }, () => {
    const extensions = [extension('K1', TEXTS.join('|'), TEXTS.join('|')), extension('K2', "~/it's:")];
    const input: ExportInput = {
      ...(CASES['web-worker'] as ExportInput),
      types: [{ ...(CASES['web-worker'] as ExportInput).types[0]!, command: PRINT }],
      extensions,
    };
    const expected = `${TEXTS.join('|')}base 1${TEXTS.join('|')}\n~/it's:base 2\n`;
    const env = { K1: 'base 1', K2: 'base 2' };

    const unit = renderSystemd(input, OPTIONS).find((f) => f.path === 'shop-web-1.service');
    expect(run(execArgv(unitSettings(unit?.content ?? '').get('ExecStart')?.[0] ?? ''), env)).toBe(expected);

    // Both read $$ as one $.
    const literal = (argv: readonly string[]): string[] => argv.map((a) => a.replaceAll('$$', '$'));
    const compose = parse(renderCompose(input, OPTIONS).find((f) => f.path === 'compose.yaml')?.content ?? '');
    expect(run(literal(compose.services.web.entrypoint), env)).toBe(expected);
    const deployment = parse(renderKubernetes(input, OPTIONS).find((f) => f.path === '20-deployment-web.yaml')?.content ?? '');
    expect(run(literal(deployment.spec.template.spec.containers[0].command), env)).toBe(expected);
  });

  it('make the shell exec a simple command, and keep one that needs the shell as it is', { timeout: 10_000 }, () => {
    const prelude = extensionPrelude([extension('PATH', './bin:')]);
    expect(prelude).toBe('PATH=./bin:"$PATH"; export PATH; ');
    expect(containerCommand('node server.js', prelude)).toEqual({ kind: 'shell-exec', argv: ['/bin/sh', '-c', `${prelude}exec node server.js`] });
    expect(containerCommand('a | b', prelude)).toEqual({ kind: 'shell', argv: ['/bin/sh', '-c', `${prelude}a | b`] });
    expect(containerCommand('node server.js')).toEqual({ kind: 'direct', argv: ['node', 'server.js'] });
    expect(literalDollars(prelude)).toBe('PATH=./bin:"$$PATH"; export PATH; ');
  });
});
