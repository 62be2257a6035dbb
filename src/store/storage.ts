import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StoreError } from './errors.js';
import {
  fsyncPath,
  placeSource,
  removeTree,
  renameNoReplace,
  resolveSource,
  type SourceEntry,
  type Transfer,
  writeNewFile,
} from './fsutil.js';
import { acquireLock, type LockHandle, type LockOptions, leftoverOfDeadProcess } from './lock.js';
import { pausePoint } from './testhooks.js';

/** One entry of a listed directory. */
export interface StorageEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  size: number;
}

/** A source resolved for publishing (see {@link RepositoryStorage.resolve}). */
export interface ResolvedSource {
  path: string;
  kind: 'file' | 'dir';
  entries: SourceEntry[];
}

/** A private tree being assembled; it becomes visible only through {@link RepositoryStorage.publish}. */
export interface StagingArea {
  writeFile(rel: string, data: string | Uint8Array): Promise<void>;
  putSource(rel: string, source: ResolvedSource, transfer: Transfer): Promise<void>;
}

/** A staged tree waiting to appear in the repository. */
export interface StagedTree {
  commit(key: string): Promise<boolean>;
  discard(): Promise<void>;
}

/**
 * What the store needs from where a repository lives. Keys are `/`-separated paths relative to the repository root
 * built only from checked names. The local directory is the one implementation today; an object store can implement
 * the same contract later (publish = upload under a temporary prefix then a manifest/marker write).
 */
export interface RepositoryStorage {
  readonly location: string;
  /** Makes sure the repository exists (creating it when asked) and removes what crashed writers left in staging. */
  prepare(create: boolean): Promise<void>;
  /** Directory listing; `undefined` when the directory does not exist. */
  list(key: string): Promise<StorageEntry[] | undefined>;
  readFile(key: string): Promise<Buffer | undefined>;
  /** Replaces (or creates) a file so that a reader sees either the old or the new content, durably. */
  writeFile(key: string, data: string | Uint8Array): Promise<void>;
  deleteFile(key: string): Promise<void>;
  resolve(sourcePath: string): Promise<ResolvedSource>;
  /**
   * Assembles a tree privately with `build` (no lock needed: nothing is visible yet); `pauseStep` names the
   * crash-test step after staging. `commit(key)` then makes it appear at `key` at once, or returns false when `key`
   * exists (never replacing anything); `discard()` removes whatever was not committed.
   */
  stage(build: (stage: StagingArea) => Promise<void>, pauseStep: string): Promise<StagedTree>;
  /** `stage`, `commit(key)` and `discard` in one. */
  publish(key: string, build: (stage: StagingArea) => Promise<void>, pauseStep: string): Promise<boolean>;
  /** Makes `key` disappear at once, then deletes its content. False when it did not exist. */
  removeTree(key: string): Promise<boolean>;
  lock(name: string, options?: LockOptions): Promise<LockHandle>;
}

/** Tag of this process in staging entry names, so cleanup can tell a dead writer's leftovers from a live one's. */
const tag = () => `${process.pid}.${randomBytes(6).toString('hex')}`;

function pidOfEntry(name: string): number | undefined {
  const m = /^(\d+)\./.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A repository on a local directory.
 *
 * Staging lives beside the repository, in `<parent>/.<name>.msb-staging/` (or `stagingDir`), never inside it:
 * Triton takes every subdirectory of the repository root as a model (dot-directories included), so a staging
 * directory in the root would be loaded, fail, and (at startup, with `--exit-on-error`) stop the server. A sibling is
 * on the same filesystem in all but one case, the root being a mount point itself; `prepare` checks the device
 * numbers and refuses with `MSB_STORE_STAGING` (pass `stagingDir` on the repository's filesystem) rather than fall
 * back to copies that would not appear atomically. Locks live in `<staging>/locks/`, also outside the scanned tree.
 */
export class LocalStorage implements RepositoryStorage {
  readonly location: string;
  readonly stagingDir: string;

  constructor(root: string, options: { stagingDir?: string } = {}) {
    this.location = path.resolve(root);
    this.stagingDir = path.resolve(
      options.stagingDir ?? path.join(path.dirname(this.location), `.${path.basename(this.location)}.msb-staging`),
    );
  }

  private abs(key: string): string {
    return key === '' ? this.location : path.join(this.location, ...key.split('/'));
  }

  async prepare(create: boolean): Promise<void> {
    let st = await stat(this.location).catch(() => undefined);
    if (!st && create) {
      await mkdir(this.location, { recursive: true });
      await fsyncPath(path.dirname(this.location));
      st = await stat(this.location);
    }
    if (!st)
      throw new StoreError('MSB_STORE_NOT_FOUND', `model store ${this.location} does not exist`, {
        path: this.location,
      });
    if (!st.isDirectory()) {
      throw new StoreError('MSB_STORE_NOT_A_STORE', `model store ${this.location} is not a directory`, {
        path: this.location,
      });
    }
    await mkdir(path.join(this.stagingDir, 'locks'), { recursive: true }).catch((err: unknown) => {
      throw new StoreError('MSB_STORE_STAGING', `cannot create staging directory ${this.stagingDir}: ${String(err)}`, {
        path: this.stagingDir,
      });
    });
    const sst = await stat(this.stagingDir);
    if (sst.dev !== st.dev) {
      throw new StoreError(
        'MSB_STORE_STAGING',
        `staging directory ${this.stagingDir} is on another filesystem than ${this.location}, so versions could not appear by an atomic rename; pass a staging directory on the repository's filesystem`,
        { path: this.stagingDir },
      );
    }
    await this.cleanLeftovers();
  }

  /** Staged trees, temp files and trash of dead writers (kill -9) are removed; a live writer's are left alone. */
  private async cleanLeftovers(): Promise<void> {
    const host = os.hostname();
    for (const name of await readdir(this.stagingDir)) {
      if (name === 'locks' || !name.endsWith(`@${host}`)) continue;
      const pid = pidOfEntry(name);
      if (pid !== undefined && !alive(pid)) await removeTree(path.join(this.stagingDir, name));
    }
    const locks = path.join(this.stagingDir, 'locks');
    for (const name of await readdir(locks)) {
      if (leftoverOfDeadProcess(name)) await unlink(path.join(locks, name)).catch(() => {});
    }
  }

  private stagePath(): string {
    return path.join(this.stagingDir, `${tag()}@${os.hostname()}`);
  }

  async list(key: string): Promise<StorageEntry[] | undefined> {
    const dir = this.abs(key);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    const out: StorageEntry[] = [];
    for (const name of names.sort()) {
      // Triton follows links when it stats repository entries, so do we.
      const st = await stat(path.join(dir, name)).catch(() => undefined);
      out.push({ name, type: st?.isDirectory() ? 'dir' : st?.isFile() ? 'file' : 'other', size: st?.size ?? 0 });
    }
    return out;
  }

  async readFile(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.abs(key));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
      throw err;
    }
  }

  async writeFile(key: string, data: string | Uint8Array): Promise<void> {
    const dest = this.abs(key);
    const temp = this.stagePath();
    await writeNewFile(temp, data);
    await pausePoint('config-temp-written');
    try {
      await rename(temp, dest);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
    await fsyncPath(path.dirname(dest));
  }

  async deleteFile(key: string): Promise<void> {
    const p = this.abs(key);
    await unlink(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fsyncPath(path.dirname(p));
  }

  async resolve(sourcePath: string): Promise<ResolvedSource> {
    const r = await resolveSource(sourcePath);
    return { path: path.resolve(sourcePath), ...r };
  }

  async stage(build: (stage: StagingArea) => Promise<void>, pauseStep: string): Promise<StagedTree> {
    const dir = this.stagePath();
    await mkdir(dir);
    try {
      await build({
        writeFile: async (rel, data) => {
          const p = path.join(dir, ...rel.split('/'));
          await mkdir(path.dirname(p), { recursive: true });
          await writeNewFile(p, data);
        },
        putSource: async (rel, source, transfer) => {
          const p = path.join(dir, ...rel.split('/'));
          await mkdir(path.dirname(p), { recursive: true });
          await placeSource(source, p, transfer);
        },
      });
      await fsyncDirs(dir);
    } catch (err) {
      await removeTree(dir);
      throw err;
    }
    await pausePoint(pauseStep);
    const renamedStep = `${pauseStep.split('-')[0]}-renamed`;
    return {
      commit: async (key) => {
        const dest = this.abs(key);
        if (!(await renameNoReplace(dir, dest))) return false;
        await pausePoint(renamedStep);
        await fsyncPath(path.dirname(dest));
        return true;
      },
      discard: () => removeTree(dir),
    };
  }

  async publish(key: string, build: (stage: StagingArea) => Promise<void>, pauseStep: string): Promise<boolean> {
    const staged = await this.stage(build, pauseStep);
    try {
      return await staged.commit(key);
    } finally {
      await staged.discard();
    }
  }

  async removeTree(key: string): Promise<boolean> {
    const p = this.abs(key);
    const trash = this.stagePath();
    try {
      await rename(p, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await fsyncPath(path.dirname(p));
    await pausePoint('tree-moved-out');
    await removeTree(trash);
    return true;
  }

  lock(name: string, options?: LockOptions): Promise<LockHandle> {
    return acquireLock(path.join(this.stagingDir, 'locks', `${name}.lock`), options);
  }
}

/** fsyncs every directory of a staged tree (files were fsynced as written), deepest first. */
async function fsyncDirs(dir: string): Promise<void> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.isDirectory()) await fsyncDirs(path.join(dir, d.name));
  }
  await fsyncPath(dir);
}
