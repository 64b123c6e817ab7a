/**
 * Every failure tf reports to the user is a TfError: one line, naming the place and the fix.
 * The CLI is the only place that prints one and turns it into an exit code.
 */
export type TfErrorKind =
  | 'usage' // bad command line: exit 2
  | 'procfile'
  | 'envfile'
  | 'formation'
  | 'option'
  | 'spawn'
  | 'service' // a backing service tf was asked to wait for did not come up: exit 1
  | 'unsupported' // a command this build names but does not have yet: exit 1
  | 'internal';

export interface TfErrorDetails {
  /** File the problem is in, as the user named it. */
  readonly file?: string;
  /** 1-based line in that file. */
  readonly line?: number;
  /** What to do about it, appended after the message. */
  readonly hint?: string;
  readonly cause?: unknown;
  /** Overrides the kind's exit code (e.g. 127 for a command that is not found, as a shell does). */
  readonly exitCode?: number;
}

/** Marks a TfError on its prototype, for TfError.is. */
const BRAND = Symbol.for('tf.TfError');

export class TfError extends Error {
  /**
   * Whether `error` is a TfError of any copy of this class: each command's bundle has its own
   * copy (see cli/main.ts), so an error thrown in a command is no instance of the CLI's.
   */
  static is(error: unknown): error is TfError {
    return error instanceof TfError || (error instanceof Error && (error as unknown as Record<symbol, unknown>)[BRAND] === true);
  }

  readonly kind: TfErrorKind;
  readonly file?: string;
  readonly line?: number;
  readonly hint?: string;
  private readonly code?: number;

  constructor(kind: TfErrorKind, message: string, details: TfErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TfError';
    this.kind = kind;
    if (details.file !== undefined) this.file = details.file;
    if (details.line !== undefined) this.line = details.line;
    if (details.hint !== undefined) this.hint = details.hint;
    if (details.exitCode !== undefined) this.code = details.exitCode;
  }

  get exitCode(): number {
    return this.code ?? (this.kind === 'usage' ? 2 : 1);
  }

  /** `Procfile:3: expected ... (hint)` without the `tf: ` prefix. */
  describe(): string {
    const place = this.file === undefined ? '' : this.line === undefined ? `${this.file}: ` : `${this.file}:${this.line}: `;
    const hint = this.hint === undefined ? '' : `; ${this.hint}`;
    return `${place}${this.message}${hint}`;
  }
}

Object.defineProperty(TfError.prototype, BRAND, { value: true });

export const usageError = (message: string, hint?: string): TfError => new TfError('usage', message, hint === undefined ? {} : { hint });

/** Formats a place + message the same way errors do, for warnings. */
export const describePlace = (file: string | undefined, line: number | undefined, message: string): string =>
  file === undefined ? message : line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`;
