import { chmodSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { locateSocket, prepareSocketDir, socketDir, socketName } from '../../src/control/socket-path.js';
import { TfError } from '../../src/errors.js';

const uid = process.getuid?.() ?? 0;
let base: string;

beforeEach(() => {
  base = realpathSync(mkdtempSync(path.join(tmpdir(), 'tf-sock-')));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('socketName', () => {
  it('is a short hash of root and Procfile: same app same name, another Procfile another name', () => {
    const a = socketName('/srv/app', '/srv/app/Procfile');
    expect(a).toMatch(/^tf-[0-9a-f]{16}\.sock$/);
    expect(socketName('/srv/app', '/srv/app/Procfile')).toBe(a);
    expect(socketName('/srv/app', '/srv/app/Procfile.dev')).not.toBe(a);
    expect(socketName('/srv/app2', '/srv/app/Procfile')).not.toBe(a);
  });
});

describe('socketDir', () => {
  it('uses $XDG_RUNTIME_DIR/tf when it is a 0700 directory of ours', () => {
    const runtime = path.join(base, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    expect(socketDir({ XDG_RUNTIME_DIR: runtime }, uid)).toBe(path.join(runtime, 'tf'));
  });

  it('falls back to ${TMPDIR:-/tmp}/tf-$UID when XDG_RUNTIME_DIR is unset, open to others, or missing', () => {
    const open = path.join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    expect(socketDir({ TMPDIR: base }, uid)).toBe(path.join(base, `tf-${uid}`));
    expect(socketDir({ XDG_RUNTIME_DIR: open, TMPDIR: base }, uid)).toBe(path.join(base, `tf-${uid}`));
    expect(socketDir({ XDG_RUNTIME_DIR: path.join(base, 'missing') }, uid)).toBe(`/tmp/tf-${uid}`);
  });

  it('does not follow an XDG_RUNTIME_DIR that is a symlink, even to a 0700 directory of ours (as fifos do not)', () => {
    const runtime = path.join(base, 'run');
    mkdirSync(runtime, { mode: 0o700 });
    symlinkSync(runtime, path.join(base, 'link'));
    expect(socketDir({ XDG_RUNTIME_DIR: path.join(base, 'link'), TMPDIR: base }, uid)).toBe(path.join(base, `tf-${uid}`));
    expect(socketDir({ XDG_RUNTIME_DIR: 'run', TMPDIR: base }, uid)).toBe(path.join(base, `tf-${uid}`));
  });
});

describe('locateSocket', () => {
  it('names the socket from the real paths: a symlinked root finds the same socket', () => {
    const app = path.join(base, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'Procfile'), 'web: x\n');
    symlinkSync(app, path.join(base, 'link'));
    const env = { TMPDIR: base };
    const direct = locateSocket({ root: app, procfile: path.join(app, 'Procfile'), env, uid });
    const linked = locateSocket({ root: path.join(base, 'link'), procfile: path.join(base, 'link', 'Procfile'), env, uid });
    expect(linked).toEqual(direct);
    expect(direct.dir).toBe(path.join(base, `tf-${uid}`));
  });

  it('--socket / TF_SOCKET wins, resolved, with no directory to manage', () => {
    expect(locateSocket({ root: '/a', procfile: '/a/Procfile', override: 'x.sock', env: {}, uid })).toEqual({ path: path.resolve('x.sock'), dir: undefined });
  });
});

describe('prepareSocketDir', () => {
  it('creates the directory mode 0700 whatever the umask', () => {
    const dir = path.join(base, 'tf-dir');
    const old = process.umask(0);
    try {
      prepareSocketDir(dir, uid);
    } finally {
      process.umask(old);
    }
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    prepareSocketDir(dir, uid); // an existing good one is fine
  });

  const refused = (dir: string, owner = uid): TfError => {
    try {
      prepareSocketDir(dir, owner);
    } catch (error) {
      if (error instanceof TfError) return error;
      throw error;
    }
    throw new Error('not refused');
  };

  it('refuses a directory open to others, naming it and the fix, and leaves it alone', () => {
    const dir = path.join(base, 'open');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const error = refused(dir);
    expect(error.describe()).toBe(`${dir}: socket directory has mode 0755, not 0700; chmod 700 ${dir}`);
    expect(lstatSync(dir).mode & 0o777).toBe(0o755);
  });

  it('refuses a symlink, even to a good directory', () => {
    const real = path.join(base, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, path.join(base, 'link'));
    expect(refused(path.join(base, 'link')).describe()).toContain('is a symlink');
  });

  it('refuses a directory of another owner and a file in the way', () => {
    const dir = path.join(base, 'mine');
    mkdirSync(dir, { mode: 0o700 });
    expect(refused(dir, uid + 1).describe()).toContain(`belongs to uid ${uid}, not to you (uid ${uid + 1})`);
    writeFileSync(path.join(base, 'file'), '');
    expect(refused(path.join(base, 'file')).describe()).toContain('is not a directory');
  });
});
