/** One colour per process type, in Procfile order; system notices are bold. */
const PALETTE = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91];

export const RESET = '\x1b[0m';
export const SYSTEM_STYLE = '\x1b[1m';

export const styleFor = (color: number): string => `\x1b[${PALETTE[color % PALETTE.length]}m`;

export interface ColorInputs {
  /** --color / --no-color / TF_COLOR, when given. */
  readonly requested: boolean | undefined;
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** tf's flag first, then the NO_COLOR and FORCE_COLOR conventions, then the terminal. */
export function useColor({ requested, isTTY, env }: ColorInputs): boolean {
  if (requested !== undefined) return requested;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.toLowerCase());
  return isTTY && env.TERM !== 'dumb';
}
