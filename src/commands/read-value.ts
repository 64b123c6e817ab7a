import type { Readable } from 'node:stream';
import { TfError } from '../errors.js';
import type { CommandContext } from './context.js';

/**
 * A value tf must not take on the command line, where shell history and `ps` keep it: read
 * from stdin, or from a terminal without echo.
 */
export interface ValueContext extends CommandContext {
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
}

const MAX_VALUE_BYTES = 1024 * 1024;

async function readAll(stdin: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    length += buffer.length;
    if (length > MAX_VALUE_BYTES) throw new TfError('usage', 'the value on stdin is larger than 1 MiB', { hint: 'a value, not a file' });
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads a line from a terminal without echoing it. */
function promptHidden(context: ValueContext, question: string): Promise<string> {
  const { stdin, stderr } = context;
  stderr.write(question);
  stdin.setRawMode?.(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish();
          resolve(value);
          return;
        }
        if (char === '\u0003') {
          finish();
          reject(new TfError('usage', 'cancelled; nothing was written', { exitCode: 130 }));
          return;
        }
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
        else value += char;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * The value of `name`: stdin when it is not a terminal (one trailing newline dropped), else a
 * prompt that does not echo. `command` is how to pipe it in, for the hint when stdin is empty.
 */
export async function readValue(context: ValueContext, name: string, command: string): Promise<string> {
  let value: string;
  if (context.stdin.isTTY === true) {
    value = await promptHidden(context, `value for ${name} (not shown): `);
  } else {
    const bytes = await readAll(context.stdin);
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').compare(bytes) !== 0)
      throw new TfError('usage', 'the value on stdin is not UTF-8 text', { hint: 'an environment holds text; base64-encode binary values' });
    value = text.replace(/\r?\n$/, '');
  }
  if (value === '')
    throw new TfError('usage', `no value for ${name}: stdin was empty`, {
      hint: `pipe it in (printf %s "$VALUE" | ${command}) or run in a terminal to be prompted`,
    });
  if (value.includes('\0')) throw new TfError('usage', `the value for ${name} contains a NUL byte, which no process environment can hold`);
  return value;
}
