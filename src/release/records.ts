import { nodeCrypto } from '../host/crypto.js';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../config/env-edit.js';
import { EXPORT_MANIFEST, LEGACY_EXPORT_MANIFEST, type Procfile } from '../domain.js';
import { TfError } from '../errors.js';
import { git } from '../host/git.js';
import { RELEASES_DIR, compareFingerprints, procfileDigest, type ConfigChanges, type Fingerprint } from './fingerprint.js';

/**
 * The release records of an app: `.tf/releases/<env>/vN.json`, one file per release, written
 * once and never edited. A record holds digests only: the commit, the Procfile's digest and
 * the config's keyed fingerprint, never a value.
 */

/** The code a release was made from: the commit and whether the tree had uncommitted changes. */
export type CodeState =
  | { readonly kind: 'git'; readonly commit: string; readonly dirty: false }
  /** `changes` digests the uncommitted changes, so a second run of the same dirty tree still matches. */
  | { readonly kind: 'git'; readonly commit: string; readonly dirty: true; readonly changes: string }
  /** Not a git work tree, or no git: the code cannot be told apart. */
  | { readonly kind: 'none' };

/** What a release is made of, and what a run compares with the latest release. */
export interface ReleaseState {
  readonly code: CodeState;
  readonly procfile: string;
  readonly config: Fingerprint;
}

export interface ReleaseRecord {
  /** `v12` */
  readonly id: string;
  readonly number: number;
  readonly env: string;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
  /** The commit, or null without git. */
  readonly git: { readonly commit: string; readonly dirty: boolean; readonly changes?: string } | null;
  readonly procfile: string;
  readonly config: Fingerprint;
  /** Whether a release phase ran (the Procfile has a `release` entry). */
  readonly releasePhase: boolean;
}

const RECORD = /^v([1-9]\d*)\.json$/;

export const releasesDir = (root: string, envName: string): string => path.join(root, RELEASES_DIR, envName);

/**
 * `git rev-parse HEAD` and `git status --porcelain` at the app root. Uncommitted changes are
 * digested with the app's fingerprint key: a tracked .env's diff must not be open to guessing.
 */
export function codeState(root: string, key: Buffer): CodeState {
  // Not a work tree, a repository without a commit, or no git: nothing to tell the code by.
  const commit = git(root, ['rev-parse', '--verify', '--quiet', 'HEAD'])?.trim();
  if (commit === undefined || commit === '') return { kind: 'none' };
  // The whole work tree, but never tf's own records: writing one must not make the next run look changed.
  const paths = ['--', ':/', `:(exclude)${RELEASES_DIR}`];
  let status = git(root, ['status', '--porcelain', '--untracked-files=all', ...paths]);
  if (status === undefined) return { kind: 'none' };
  // Nor what tf export wrote: derived from the Procfile and config, which the state holds already.
  const exported = exportedFiles(root, status);
  if (exported.length > 0) {
    paths.push(...exported.map((file) => `:(top,literal,exclude)${file}`));
    status = git(root, ['status', '--porcelain', '--untracked-files=all', ...paths]) ?? '';
  }
  if (status === '') return { kind: 'git', commit, dirty: false };
  const diff = git(root, ['diff', 'HEAD', '--binary', '--no-ext-diff', '--no-color', ...paths]) ?? '';
  const changes = `hmac-sha256:${nodeCrypto().createHmac('sha256', key).update(status).update('\0').update(diff).digest('base64url')}`;
  return { kind: 'git', commit, dirty: true, changes };
}

/**
 * The files `tf export` wrote, with its manifests, in the directories whose manifest `status` (git's
 * porcelain, paths from the top of the work tree) shows as new, changed or deleted: a re-export changes
 * the manifest too. Both the manifest on disk and the committed one count, so a file a re-export
 * removed is left out as well. A manifest that cannot be read leaves its directory counted.
 */
function exportedFiles(root: string, status: string): string[] {
  const manifests = status
    .split('\n')
    .map((line) => porcelainPath(line.slice(3)))
    .filter((file) => [EXPORT_MANIFEST, LEGACY_EXPORT_MANIFEST].includes(path.posix.basename(file)));
  if (manifests.length === 0) return [];
  const top = git(root, ['rev-parse', '--show-toplevel'])?.trim();
  if (top === undefined) return [];
  return manifests.flatMap((manifest) => {
    const dir = path.posix.dirname(manifest);
    const listed = [readFileQuietly(path.join(top, manifest)), git(top, ['show', `HEAD:${manifest}`])].flatMap(manifestFiles);
    return [manifest, ...new Set(listed.map((file) => (dir === '.' ? file : `${dir}/${file}`)))];
  });
}

function readFileQuietly(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The paths an export manifest lists; none for text that is not one. */
function manifestFiles(text: string | undefined): string[] {
  if (text === undefined) return [];
  try {
    const files = (JSON.parse(text) as { files?: unknown }).files;
    return typeof files === 'object' && files !== null ? Object.keys(files) : [];
  } catch {
    return [];
  }
}

const C_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/**
 * A path as git's porcelain status prints it: the new name of a rename, and C-quoted (octal bytes,
 * backslash escapes) when it holds a space, a quote, a control or a non-ASCII byte.
 */
function porcelainPath(field: string): string {
  const arrow = field.lastIndexOf(' -> ');
  const name = arrow === -1 ? field : field.slice(arrow + 4);
  if (!name.startsWith('"') || !name.endsWith('"')) return name;
  const bytes: number[] = [];
  for (let i = 1; i < name.length - 1; i++) {
    const c = name[i] as string;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c));
      continue;
    }
    const next = name[++i] ?? '';
    if (/[0-7]/.test(next)) {
      bytes.push(Number.parseInt(name.slice(i, i + 3), 8));
      i += 2;
    } else bytes.push(C_ESCAPES[next] ?? next.charCodeAt(0));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The process types and their commands, in order: comments and blank lines are not the release's. */
export const procfileDigestOf = (procfile: Pick<Procfile, 'types'>): string => procfileDigest(procfile.types.map((t) => `${t.name}\0${t.command}\n`).join(''));

const gitOf = (code: CodeState): ReleaseRecord['git'] =>
  code.kind === 'none' ? null : code.dirty ? { commit: code.commit, dirty: true, changes: code.changes } : { commit: code.commit, dirty: false };

const codeOf = (record: ReleaseRecord): CodeState =>
  record.git === null
    ? { kind: 'none' }
    : record.git.dirty
      ? { kind: 'git', commit: record.git.commit, dirty: true, changes: record.git.changes ?? '' }
      : { kind: 'git', commit: record.git.commit, dirty: false };

export const stateOf = (record: ReleaseRecord): ReleaseState => ({ code: codeOf(record), procfile: record.procfile, config: record.config });

function invalid(file: string): TfError {
  return new TfError('envfile', 'is not a tf release record', { file, hint: 'records are written by tf release and never edited: restore it or remove it' });
}

function parseRecord(file: string, number: number, text: string): ReleaseRecord {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw invalid(file);
  }
  const r = data as Partial<ReleaseRecord> | null;
  const ok =
    r !== null &&
    typeof r === 'object' &&
    r.id === `v${number}` &&
    r.number === number &&
    typeof r.env === 'string' &&
    typeof r.createdAt === 'string' &&
    typeof r.procfile === 'string' &&
    typeof r.config === 'object' &&
    r.config !== null &&
    Object.values(r.config).every((v) => typeof v === 'string') &&
    (r.git === null || (typeof r.git === 'object' && typeof r.git?.commit === 'string' && typeof r.git.dirty === 'boolean'));
  if (!ok) throw invalid(file);
  return r as ReleaseRecord;
}

/** The record numbers in an environment's directory, ascending; empty when there is none. */
export function recordNumbers(root: string, envName: string): number[] {
  let names: string[];
  try {
    names = readdirSync(releasesDir(root, envName));
  } catch {
    return [];
  }
  return names
    .map((name) => RECORD.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export function readRecord(root: string, envName: string, number: number): ReleaseRecord {
  const file = path.join(releasesDir(root, envName), `v${number}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new TfError('envfile', 'cannot be read', { file, hint: 'make it readable by you' });
  }
  return parseRecord(file, number, text);
}

/** Every release of an environment, oldest first. */
export const readRecords = (root: string, envName: string): ReleaseRecord[] => recordNumbers(root, envName).map((n) => readRecord(root, envName, n));

export function latestRecord(root: string, envName: string): ReleaseRecord | undefined {
  const numbers = recordNumbers(root, envName);
  const last = numbers[numbers.length - 1];
  return last === undefined ? undefined : readRecord(root, envName, last);
}

/** Deterministic bytes: keys in a fixed order. */
const recordText = (record: ReleaseRecord): string => `${JSON.stringify(record, null, 2)}\n`;

/**
 * Records a release under the next free id. The record is written whole to a temporary file,
 * then hard-linked to `vN.json`: a link fails if the name exists, so two releases at once
 * cannot both get vN (the loser takes the next number), and no reader ever sees half a record.
 */
export function writeRecord(root: string, envName: string, state: ReleaseState, facts: { readonly releasePhase: boolean; readonly now: Date }): ReleaseRecord {
  const dir = releasesDir(root, envName);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.tmp-${process.pid}-${nodeCrypto().randomBytes(6).toString('hex')}`);
  let number = (recordNumbers(root, envName).at(-1) ?? 0) + 1;
  try {
    for (;;) {
      const record: ReleaseRecord = {
        id: `v${number}`,
        number,
        env: envName,
        createdAt: facts.now.toISOString(),
        git: gitOf(state.code),
        procfile: state.procfile,
        config: state.config,
        releasePhase: facts.releasePhase,
      };
      writeFileSync(tmp, recordText(record), { mode: 0o600 });
      try {
        linkSync(tmp, path.join(dir, `v${number}.json`));
        return record;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new TfError('envfile', `cannot be written (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
            file: path.join(dir, `v${number}.json`),
            hint: 'check that the app root is writable',
          });
        }
        number = Math.max(number + 1, (recordNumbers(root, envName).at(-1) ?? 0) + 1);
        unlinkSync(tmp);
      }
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Keeps the records out of git with a `.gitignore` of their own (`*`) rather than a line in the
 * app's: editing the app's .gitignore would make the very tree being recorded dirty. True when
 * it wrote the file.
 */
export function ignoreReleasesDir(root: string): boolean {
  const dir = path.join(root, RELEASES_DIR);
  const file = path.join(dir, '.gitignore');
  if (existsSync(file)) return false;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, '*\n');
  return true;
}

/** What differs between a release and a later state (the next release, or the code and config of a run). */
export interface ReleaseChanges {
  /** The commit moved, or the uncommitted changes differ; undefined when the code is the same. */
  readonly code: { readonly from: CodeState; readonly to: CodeState } | undefined;
  readonly config: ConfigChanges;
  readonly procfile: boolean;
}

const sameCode = (a: CodeState, b: CodeState): boolean =>
  a.kind === 'none' || b.kind === 'none'
    ? a.kind === b.kind
    : a.commit === b.commit && a.dirty === b.dirty && (!a.dirty || (b.dirty && a.changes === b.changes));

export function compareStates(before: ReleaseState, after: ReleaseState): ReleaseChanges {
  return {
    code: sameCode(before.code, after.code) ? undefined : { from: before.code, to: after.code },
    config: compareFingerprints(before.config, after.config),
    procfile: before.procfile !== after.procfile,
  };
}

export const unchanged = (changes: ReleaseChanges): boolean =>
  changes.code === undefined && !changes.procfile && changes.config.added.length + changes.config.removed.length + changes.config.changed.length === 0;

const shortCode = (code: CodeState): string => (code.kind === 'none' ? 'no git' : `${code.commit.slice(0, 7)}${code.dirty ? ' with uncommitted changes' : ''}`);

/** The same commit with other uncommitted changes would read `abc -> abc`: say what differs. */
const codeChange = (from: CodeState, to: CodeState): string =>
  shortCode(from) === shortCode(to)
    ? `code: the uncommitted changes on ${shortCode(to).slice(0, 7)} differ (see git status)`
    : `code: ${shortCode(from)} -> ${shortCode(to)}`;

/** `DATABASE_URL changed, NEW_FLAG added; Procfile changed; code abc1234 -> def5678`: names only, never a value. */
export function describeChanges(changes: ReleaseChanges): string {
  const { added, removed, changed } = changes.config;
  const config = [
    ...(changed.length > 0 ? [`${changed.join(', ')} changed`] : []),
    ...(added.length > 0 ? [`${added.join(', ')} added`] : []),
    ...(removed.length > 0 ? [`${removed.join(', ')} removed`] : []),
  ];
  const parts = [
    ...(config.length > 0 ? [`config: ${config.join(', ')}`] : []),
    ...(changes.procfile ? ['Procfile changed'] : []),
    ...(changes.code === undefined ? [] : [codeChange(changes.code.from, changes.code.to)]),
  ];
  return parts.length === 0 ? 'nothing changed' : parts.join('; ');
}
