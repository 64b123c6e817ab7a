import type { EnvPart, LateSetting, TypePolicy, UndecidedDefault } from '../domain.js';

/**
 * What every export format reads: the same plan `tf start` runs, reduced to what a unit or a
 * manifest may carry. Values come from the env files only (never the developer's shell), each
 * marked secret when it was encrypted in its file or its name looks secret.
 */
export interface ExportInput {
  /** `--app`, else the app root's directory name; safe for file and unit names. */
  readonly app: string;
  /** The app root: every process's working directory (systemd); ignored by container formats. */
  readonly root: string;
  /** Process types in Procfile order, without the release phase. */
  readonly types: readonly ExportType[];
  /** The Procfile's `release` entry, run to completion before the others start. */
  readonly release: { readonly command: string } | undefined;
  /** The release id when the code and config are those of a recorded release (`v12`). */
  readonly releaseId: string | undefined;
  /** From the env files, in layering order; the shell's environment never reaches an export. */
  readonly env: ReadonlyMap<string, ExportValue>;
  /**
   * Values that extend the target's own (`PATH=./bin:$PATH`), not in `env`: each process applies
   * them as it starts, on top of what its host or image gives it, as `tf start` applies them on
   * top of the shell's.
   */
  readonly extensions: readonly EnvExtension[];
  /** Values built on variables only the developer's shell has: in no format, each named in a warning. */
  readonly omitted: readonly OmittedValue[];
  /** `-t`: the grace period between the stop signal and SIGKILL. */
  readonly timeoutSeconds: number;
}

export interface ExportValue {
  readonly value: string;
  readonly secret: boolean;
}

export interface EnvExtension {
  readonly key: string;
  /** Text, and the places of the target's own value of `key` (every variable part is `key`). */
  readonly parts: readonly Exclude<EnvPart, UndecidedDefault>[];
}

export interface OmittedValue {
  readonly key: string;
  /** The env file line that set it, as the user knows it. */
  readonly file: string;
  readonly line: number;
  /** The variables it is built on that no env file sets before it, each once. */
  readonly variables: readonly string[];
  /** The NAMEs of its `${NAME:-default}` whose default applies only where the target leaves `variables` empty. */
  readonly undecidedDefaults: readonly string[];
  /** Those of `variables` that an env file sets after all, only too late for this value. */
  readonly setLate: readonly (LateSetting & { readonly variable: string })[];
}

export interface ExportType {
  readonly name: string;
  readonly command: string;
  /** Instances in the formation (`-m`); 0 is exported too, scaled to zero. */
  readonly count: number;
  /** One PORT per instance, foreman's formula: `ports[i]` is instance i+1's. */
  readonly ports: readonly number[];
  /** The PORT of its first instance by that formula, also for a type scaled to zero (whose `ports` is empty). */
  readonly firstPort: number;
  readonly policy: TypePolicy;
}

/** One file an export writes: a path relative to the export directory. */
export interface ExportFile {
  readonly path: string;
  readonly content: string;
  /** 0o600 for files holding secrets. */
  readonly mode: number;
}

/** Options some formats take: systemd `--user` and `--run-as`, kubernetes `--image` and `--no-secrets`. */
export interface ExportOptions {
  readonly user: boolean;
  /** systemd system units: `User=` of every service; undefined: root, systemd's default. */
  readonly runAs?: string | undefined;
  readonly image: string | undefined;
  readonly noSecrets: boolean;
  /** The directory the files go to (absolute), for paths written relative to it; absent, paths are absolute. */
  readonly dir?: string;
}

/** One export format: a pure function from the plan to files; no format knows about another. */
export type Render = (input: ExportInput, options: ExportOptions) => readonly ExportFile[];
