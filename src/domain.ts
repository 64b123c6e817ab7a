/** The domain of tf: what a Procfile describes and what the supervisor runs. */

/** One `name: command` entry of a Procfile. */
export interface ProcessType {
  readonly name: string;
  readonly command: string;
  /** 1-based line in the Procfile, for error messages. */
  readonly line: number;
  /** 0-based position among the Procfile's entries; drives the port formula. */
  readonly position: number;
}

export interface Procfile {
  readonly path: string;
  readonly types: readonly ProcessType[];
}

/** How many instances of each type to run, by type name. */
export type Formation = ReadonlyMap<string, number>;

export type Env = Readonly<Record<string, string>>;

/** Something the user should know that does not stop tf. */
export interface Warning {
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
}

/** Where a variable of the environment came from: the shell tf was started in, or a line of an env file. */
export type EnvOrigin = { readonly kind: 'shell' } | { readonly kind: 'file'; readonly file: string; readonly line: number };

/** A piece of an env-file value that the files alone leave incomplete: text, or the place of a variable no file sets. */
export type EnvPart = { readonly text: string } | { readonly variable: string } | UndecidedDefault;

/** A place in an env file. */
export interface FileLine {
  readonly file: string;
  readonly line: number;
}

/** A variable that a line needed before any line set it, and the line that sets it after all. */
export interface LateSetting {
  /** The first line that used it while no line had set it. */
  readonly neededAt: FileLine;
  /** The first line after that which sets it (to a value of its own, not on top of itself). */
  readonly setAt: FileLine;
}

/**
 * The place of `${NAME:-default}` where NAME's value is made only of variables no file sets: it is
 * empty, and the default applies, only where the target leaves all of them empty. No export can
 * write that as a value (nor apply it on top of one), so it only says what the value hangs on.
 */
export interface UndecidedDefault {
  /** NAME, as the line wrote it. */
  readonly defaultOf: string;
  /** The variables no file sets that decide it, NAME's and the default's own, each once. */
  readonly variables: readonly string[];
}

/** Everything `config/` resolved from argv, TF_* variables and files. */
export interface Config {
  readonly root: string;
  readonly procfile: Procfile;
  /** The environment every instance starts from (shell + env files, layered). */
  readonly env: Env;
  readonly envFiles: readonly string[];
  /** Where each variable of `env` came from. */
  readonly envOrigins: ReadonlyMap<string, EnvOrigin>;
  /** Keys whose value is secret (encrypted in its file, or built on such a value): always masked in what tf prints. */
  readonly secretKeys: ReadonlySet<string>;
  /** Keys an env file sets that the shell's value replaces (names only; values are never shown). */
  readonly shadowed: readonly string[];
  /**
   * Every env-file assignment of each key, in layering order, for provenance (`tf env`).
   * Absent from configs built by hand, which then show no overridden chain.
   */
  readonly envDefinitions?: ReadonlyMap<string, readonly EnvOrigin[]>;
  /**
   * Keys whose env-file value the files alone leave incomplete, in parts: `PATH=./bin:$PATH` is the
   * text `./bin:` and the place of PATH, which only a shell fills. Whatever the shell holds, so that
   * an export (which never takes the developer's shell) knows them. Absent from configs built by hand.
   */
  readonly envGaps?: ReadonlyMap<string, readonly EnvPart[]>;
  /** The variables of envGaps' parts that an env file does set, only too late (see lateSettings). Absent from configs built by hand. */
  readonly envSetLate?: ReadonlyMap<string, LateSetting>;
  readonly formation: Formation;
  readonly basePort: number;
  readonly portStep: number;
  /** Per process type: restart policy, can-die, stop signal, readiness (flags, TF_*, tf.yaml, defaults). */
  readonly policies: ReadonlyMap<string, TypePolicy>;
  /** The tf.yaml that was read, as shown to the user; undefined when there is none. */
  readonly tfYaml: string | undefined;
  readonly warnings: readonly Warning[];
}

/** How an instance's command is started. */
export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
}

/** What happens when an instance exits on its own, without tf asking it to. */
export type RestartPolicy =
  /** Never restarted (the default): unless the type may die, tf stops everything. */
  | 'no'
  /** Restarted after a non-zero exit or a signal; an exit with code 0 leaves it stopped. */
  | 'on-failure'
  /** Restarted after every exit. */
  | 'always';

/** When an instance counts as ready. A probe only reports: it never kills or restarts. */
export type ReadySpec =
  /** Ready once started. */
  | { readonly kind: 'none' }
  /** A TCP connect to its PORT succeeds. */
  | { readonly kind: 'port' }
  /** An HTTP GET of `path` on its PORT answers with a status below 500. */
  | { readonly kind: 'http'; readonly path: string }
  /** It printed a line containing `text`. */
  | { readonly kind: 'log'; readonly text: string };

/** How tf treats the instances of one process type: from flags, TF_* variables and tf.yaml. */
export interface TypePolicy {
  readonly restart: RestartPolicy;
  /** It may exit, with any code, without stopping the rest (overmind's can-die). */
  readonly canDie: boolean;
  /** Sent on stop, restart and scale-down; SIGKILL still follows after the grace period. */
  readonly stopSignal: NodeJS.Signals;
  readonly ready: ReadySpec;
}

/** foreman's behaviour: any exit stops everything; `web` is probed on its port (Heroku's convention). */
export const defaultPolicy = (type: string): TypePolicy => ({
  restart: 'no',
  canDie: false,
  stopSignal: 'SIGTERM',
  ready: type === 'web' ? { kind: 'port' } : { kind: 'none' },
});

/** One running copy of a process type: all the supervisor ever needs. */
export interface Instance {
  /** `web.1` */
  readonly name: string;
  readonly type: string;
  /** 1-based instance number within its type: the N of `web.N`. */
  readonly number: number;
  readonly command: string;
  readonly launch: Launch;
  readonly env: Env;
  readonly port: number;
  readonly cwd: string;
  /** Index into the output palette; one per process type. */
  readonly color: number;
  readonly policy: TypePolicy;
}

/** The Procfile's `release` entry (Heroku's convention): run to completion before a release, never as an instance. */
export interface ReleasePhase {
  readonly command: string;
  readonly launch: Launch;
  readonly env: Env;
  readonly cwd: string;
  /** 1-based line in the Procfile, for messages. */
  readonly line: number;
}

/** The Procfile entry that is the release phase, never an instance of the formation. */
export const RELEASE_TYPE = 'release';

/**
 * The file in which `tf export` lists what it wrote in a directory: the export writer keeps it,
 * and the release's code state leaves those files out (they are derived from the Procfile and config).
 * JSON, but named without .json: `kubectl apply -f DIR` reads every .json, .yaml and .yml file in
 * DIR, hidden ones too, and fails on one that is no Kubernetes object.
 */
export const EXPORT_MANIFEST = '.tf-export';
/** The manifest's name in earlier versions of tf: still read, and replaced by the new one on the next export. */
export const LEGACY_EXPORT_MANIFEST = '.tf-export.json';

export interface Plan {
  readonly instances: readonly Instance[];
  /** The release phase, when the Procfile has a `release` entry. */
  readonly release: ReleasePhase | undefined;
  readonly warnings: readonly Warning[];
}

/** Which of an instance's pipes some output came through. */
export type OutputStream =
  /**
   * stdout and stderr together, through one pipe that the process has as both (the default):
   * the kernel keeps the order in which it wrote them, as foreman and hivemind show it.
   */
  | 'output'
  /** stdout alone (split mode, `--split-stderr`): its order against stderr is not kept. */
  | 'stdout'
  /** stderr alone (split mode): a line can show before stdout lines written earlier, or after later ones. */
  | 'stderr';
