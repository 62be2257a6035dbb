import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, realpath, rename, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StoreError } from './errors.js';
import { fsyncPath, placeSource, removeTree, renameNoReplace, streamToNewFile, writeNewFile } from './fsutil.js';
import { acquireLock, leftoverOfDeadProcess, pidAlive } from './lock.js';
import { isInside } from './sources.js';
import type {
  ByteRange,
  LockHandle,
  LockOptions,
  PlacedFiles,
  RepositoryStorage,
  StagedTree,
  StagingArea,
  StorageEntry,
  WriteCondition,
  WrittenFile,
} from './storage.js';
import { pausePoint } from './testhooks.js';

/** Tag of this process in staging entry names, so cleanup can tell a dead writer's leftovers from a live one's. */
const tag = () => `${process.pid}.${randomBytes(6).toString('hex')}`;

function pidOfEntry(name: string): number | undefined {
  const m = /^(\d+)\./.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

const notFound = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/** The tag a conditional write compares: a replaced file is a new inode (every write renames a new file in). */
function etagOf(st: { ino: bigint; mtimeNs: bigint; size: bigint }): string {
  return `${st.ino}-${st.mtimeNs}-${st.size}`;
}

/**
 * A repository on a local directory. Everything local lives here: staging, fsync, rename, hard links, the file locks
 * and the crash-test pause points.
 *
 * Staging lives beside the repository, in `<parent>/.<name>.msb-staging/` (or `stagingDir`), never inside it:
 * Triton takes every subdirectory of the repository root as a model (dot-directories included), so a staging
 * directory in the root would be loaded, fail, and (at startup, with `--exit-on-error`) stop the server. A sibling is
 * on the same filesystem in all but one case, the root being a mount point itself; `prepare` checks the device
 * numbers and refuses with `MSB_STORE_STAGING` (pass `stagingDir` on the repository's filesystem) rather than fall
 * back to copies that would not appear atomically. Locks live in `<staging>/locks/`, also outside the scanned tree.
 *
 * Writes never pass through a symbolic link that leads out of the repository (a model directory linked to
 * `/somewhere`): they are refused with `MSB_STORE_SYMLINK`, as sources with such links are. Triton follows such
 * links when it reads, so `validate` reports them as warnings naming the target.
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

  localPath(key: string): string {
    return this.abs(key);
  }

  /** A directory holds nothing open between calls. */
  async close(): Promise<void> {}

  /**
   * The path of `key` for a write, after checking that no existing component of it is a link leading out of the
   * repository (the deepest existing ancestor must resolve inside the repository's real path).
   */
  private async writable(key: string): Promise<string> {
    const p = this.abs(key);
    if (key === '') return p;
    const root = await realpath(this.location);
    // Replacing or removing `p` itself never writes through it (rename replaces a link, not its target): what
    // matters is where its directory really is. Its deepest existing ancestor must resolve inside the repository.
    for (let probe = path.dirname(p); ; probe = path.dirname(probe)) {
      const real = await realpath(probe).catch((err: unknown) => {
        if (notFound(err)) return undefined;
        throw err;
      });
      if (real === undefined) continue;
      if (!isInside(root, real)) {
        throw new StoreError(
          'MSB_STORE_SYMLINK',
          `${path.relative(this.location, probe)} in ${this.location} is a link to ${real}, outside the repository; msb does not write through it`,
          { path: probe, target: real },
        );
      }
      return p;
    }
  }

  async prepare(create: boolean, options: { readOnly?: boolean } = {}): Promise<void> {
    let st = await stat(this.location).catch(() => undefined);
    if (!st && create && !options.readOnly) {
      await makeDirectories(this.location);
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
    if (options.readOnly) return;
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
      if (pid !== undefined && !pidAlive(pid)) await removeTree(path.join(this.stagingDir, name));
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
      if (notFound(err)) return undefined;
      throw err;
    }
    const out: StorageEntry[] = [];
    for (const name of names.sort()) {
      // Triton follows links when it stats repository entries, so do we.
      const st = await stat(path.join(dir, name)).catch(() => undefined);
      const type = st?.isDirectory() ? 'dir' : st?.isFile() ? 'file' : 'other';
      out.push({ name, type, size: type === 'file' ? (st?.size ?? 0) : 0 });
    }
    return out;
  }

  async read(key: string, range?: ByteRange): Promise<Buffer | undefined> {
    return (await this.readWith(key, range))?.data;
  }

  async readTagged(key: string): Promise<{ data: Buffer; etag: string } | undefined> {
    return this.readWith(key);
  }

  private async readWith(key: string, range?: ByteRange): Promise<{ data: Buffer; etag: string } | undefined> {
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(this.abs(key), 'r');
    } catch (err) {
      if (notFound(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw err;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return undefined;
      const size = Number(st.size);
      const start = Math.min(range?.start ?? 0, size);
      const end = Math.min(range?.end ?? size, size);
      const data = Buffer.alloc(Math.max(0, end - start));
      let done = 0;
      while (done < data.length) {
        const { bytesRead } = await fh.read(data, done, data.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return { data: data.subarray(0, done), etag: etagOf(st) };
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<{ size: number; etag: string } | undefined> {
    const st = await stat(this.abs(key), { bigint: true }).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    return { size: Number(st.size), etag: etagOf(st) };
  }

  async write(key: string, data: string | Uint8Array, condition: WriteCondition = {}): Promise<boolean> {
    const dest = await this.writable(key);
    // Object stores have no directories to make first; neither has this contract.
    await mkdir(path.dirname(dest), { recursive: true });
    const temp = this.stagePath();
    await writeNewFile(temp, data);
    if (key.endsWith('/config.pbtxt')) await pausePoint('config-temp-written');
    try {
      if (condition.ifNoneMatch === '*') {
        // link(2) refuses an existing name: the create-only condition holds against every other writer.
        try {
          await link(temp, dest);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
          throw err;
        }
      } else {
        if (condition.ifMatch !== undefined && (await this.head(key))?.etag !== condition.ifMatch) return false;
        await rename(temp, dest);
      }
    } finally {
      await unlink(temp).catch(() => {});
    }
    await fsyncPath(path.dirname(dest));
    if (key.split('/').length === 2 && !key.endsWith('/config.pbtxt')) await pausePoint('labels-written');
    return true;
  }

  async writeStream(key: string, body: Readable): Promise<WrittenFile> {
    const dest = await this.writable(key);
    await mkdir(path.dirname(dest), { recursive: true });
    const temp = this.stagePath();
    const hash = createHash('sha256');
    let size: number;
    try {
      size = await streamToNewFile(body, temp, (chunk) => hash.update(chunk));
      await rename(temp, dest);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
    await fsyncPath(path.dirname(dest));
    return { size, sha256: hash.digest('hex') };
  }

  async delete(key: string): Promise<void> {
    const p = await this.writable(key);
    await unlink(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fsyncPath(path.dirname(p)).catch((err: unknown) => {
      if (!notFound(err)) throw err;
    });
  }

  async conditionalWrites(): Promise<boolean> {
    return true;
  }

  async stage(build: (stage: StagingArea) => Promise<void>): Promise<StagedTree> {
    const dir = this.stagePath();
    await mkdir(dir);
    const placed: PlacedFiles = {};
    const deferred: [string, (placed: PlacedFiles) => string][] = [];
    const at = async (rel: string) => {
      const p = path.join(dir, ...rel.split('/'));
      await mkdir(path.dirname(p), { recursive: true });
      return p;
    };
    try {
      await build({
        writeFile: async (rel, data) => {
          if (typeof data === 'function') deferred.push([rel, data]);
          else await writeNewFile(await at(rel), data);
        },
        putSource: async (rel, source, _phase, transfer) => {
          for (const [r, f] of Object.entries(await placeSource(source, await at(rel), transfer ?? 'copy'))) {
            placed[r ? `${rel}/${r}` : rel] = f;
          }
        },
      });
      for (const [rel, make] of deferred) await writeNewFile(await at(rel), make(placed));
      await fsyncDirs(dir);
    } catch (err) {
      await removeTree(dir);
      throw err;
    }
    return {
      commit: async (key) => {
        const kind = key.includes('/') ? 'version' : 'model';
        await pausePoint(`${kind}-staged`);
        const dest = await this.writable(key);
        if (!(await renameNoReplace(dir, dest))) return false;
        await pausePoint(`${kind}-renamed`);
        await fsyncPath(path.dirname(dest));
        return true;
      },
      discard: () => removeTree(dir),
    };
  }

  async removeTree(key: string): Promise<boolean> {
    const p = await this.writable(key);
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

  /** Model and version directories that are links leading out of the repository: Triton follows them. */
  async storageProblems() {
    const out: { key: string; rule: string; severity: 'error' | 'warning'; message: string }[] = [];
    const root = await realpath(this.location);
    const check = async (key: string) => {
      const p = this.abs(key);
      const st = await lstat(p).catch(() => undefined);
      if (!st?.isSymbolicLink()) return st?.isDirectory() ?? false;
      const target = await realpath(p).catch(() => undefined);
      if (target !== undefined && !isInside(root, target)) {
        out.push({
          key,
          rule: 'link-outside-repository',
          severity: 'warning',
          message: `${key} is a link to ${target}, outside the repository: Triton follows it, msb refuses to write through it`,
        });
        return false;
      }
      return true;
    };
    for (const model of (await readdir(this.location)).sort()) {
      if (!(await check(model))) continue;
      for (const v of (await readdir(this.abs(model)).catch(() => [] as string[])).sort()) await check(`${model}/${v}`);
    }
    return out;
  }
}

/** fsyncs every directory of a staged tree (files were fsynced as written), deepest first. */
async function fsyncDirs(dir: string): Promise<void> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.isDirectory()) await fsyncDirs(path.join(dir, d.name));
  }
  await fsyncPath(dir);
}

/**
 * `mkdir -p` one level at a time, each failure a coded error naming the path (`msb init file.txt/sub`, a dangling
 * link, `/sys/x`). Written by hand because Node's `mkdir(…, { recursive: true })` never returns where mkdir answers
 * ENOENT under a parent that exists (procfs: `msb init /proc/nope` spun at 100% CPU).
 */
async function makeDirectories(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let p = dir; !(await lstat(p).catch(() => undefined)); p = path.dirname(p)) {
    missing.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const d of missing) {
    const err = await mkdir(d).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    if (!err || err.code === 'EEXIST') continue;
    const parent = path.dirname(d);
    const pst = await lstat(parent).catch(() => undefined);
    const why = pst?.isSymbolicLink()
      ? `${parent} is a link to nothing`
      : pst && !pst.isDirectory()
        ? `${parent} is not a directory`
        : `${parent} does not take new directories`;
    throw new StoreError('MSB_STORE_NOT_A_STORE', `cannot create model store ${dir}: ${err.code ?? 'error'}: ${why}`, {
      path: dir,
      at: d,
      errno: err.code,
    });
  }
}
