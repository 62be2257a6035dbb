import type { Readable } from 'node:stream';
import { pausePoint } from './testhooks.js';

/**
 * What the store needs from where a repository lives, with nothing of the local filesystem in it: the local directory
 * (`LocalStorage`) and object stores (`ObjectStorage` over S3, GCS's XML API or the in-memory test backend) implement
 * it, and one contract suite (test/store/contract.ts) runs unchanged against each.
 *
 * Keys are `/`-separated paths relative to the repository root, built only from checked names (`names.ts`).
 */
export interface RepositoryStorage {
  /** Where the repository is, for messages: a directory path or a URI. */
  readonly location: string;
  /**
   * The path on this machine of the file at `key` where the repository is a local directory (readers that need a
   * path, such as TensorFlow's SavedModel inspection, use it), else `undefined`: read it through `read`.
   */
  localPath(key: string): string | undefined;
  /** Releases what the storage holds (object-store clients, a Redis lease connection); it is not used after. */
  close(): Promise<void>;
  /**
   * Makes sure the repository exists (creating it when asked) and removes what crashed writers left behind (staged
   * trees, orphaned multipart uploads, unfinished version claims). With `readOnly` (msb's read commands) it only
   * checks that the repository is there: it creates, cleans and writes nothing.
   */
  prepare(create: boolean, options?: { readOnly?: boolean }): Promise<void>;
  /**
   * The entries directly under `key` (`''` is the root), cut at the next `/` the way Triton's S3/GCS filesystems
   * cut object keys; `undefined` when nothing exists under `key`. Sorted by name.
   */
  list(key: string): Promise<StorageEntry[] | undefined>;
  /** A file's content (`range`: bytes `start` to `end` exclusive), or `undefined` when there is no such file. */
  read(key: string, range?: ByteRange): Promise<Buffer | undefined>;
  /** A file's content with the tag a conditional write compares (`ifMatch`), or `undefined`. */
  readTagged(key: string): Promise<{ data: Buffer; etag: string } | undefined>;
  /** A file's size and tag, or `undefined`. */
  head(key: string): Promise<{ size: number; etag: string } | undefined>;
  /**
   * Replaces (or creates) a file so that a reader sees the old or the new content, never a mix. With `condition`,
   * `ifNoneMatch: '*'` writes only when the file does not exist and `ifMatch` only when its tag is still that one;
   * a failed condition returns `false` and changes nothing. Whether a backend enforces conditions across machines is
   * {@link conditionalWrites}.
   */
  write(key: string, data: string | Uint8Array, condition?: WriteCondition): Promise<boolean>;
  /** Writes a stream of unknown length (multipart on object stores); returns its size and SHA-256. */
  writeStream(key: string, body: Readable): Promise<WrittenFile>;
  /** Deletes a file; a missing one is not an error. */
  delete(key: string): Promise<void>;
  /**
   * `true` when `write` conditions hold against writers on other machines (the local filesystem, S3, GCS), `false`
   * when the server ignores them (found by a probe, cached per store): callers then need a lease (Redis) to be safe.
   */
  conditionalWrites(): Promise<boolean>;
  /**
   * Assembles a tree privately with `build` (no lock needed: nothing is visible yet). `commit(key)` is the commit
   * step: it makes the tree appear at `key` — at once on a filesystem (rename), object by object in commit order on
   * an object store (see docs/storage.md) — or returns `false` when `key` exists or is claimed, never replacing
   * anything. `discard()` removes whatever was not committed.
   */
  stage(build: (stage: StagingArea) => Promise<void>): Promise<StagedTree>;
  /** Makes `key` and everything under it disappear (removal in reverse commit order). `false` when it did not exist. */
  removeTree(key: string): Promise<boolean>;
  /** A cross-process (and, where the backend can, cross-machine) exclusive lock on `name`. */
  lock(name: string, options?: LockOptions): Promise<LockHandle>;
  /** Problems of the storage itself (links out of the repository, ...) for `validate`. */
  storageProblems?(): Promise<{ key: string; rule: string; severity: 'error' | 'warning'; message: string }[]>;
}

/** One entry of a listing. */
export interface StorageEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  size: number;
}

export interface ByteRange {
  start: number;
  /** Exclusive. */
  end: number;
}

export interface WriteCondition {
  /** `'*'`: only create (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`). */
  ifNoneMatch?: '*';
  /** Only replace this version of the file (S3 `If-Match`, GCS `ifGenerationMatch`). */
  ifMatch?: string;
}

export interface WrittenFile {
  size: number;
  /** Hex SHA-256 of the bytes written, when the backend computed it on the way (object stores do). */
  sha256?: string;
}

/**
 * Commit order of the objects of a tree, lowest first (docs/storage.md has the reasoning from Triton's S3/GCS
 * filesystem code). A filesystem commits a tree by one rename and ignores it; an object store writes in this order,
 * and removes in the reverse.
 */
export const COMMIT_ORDER = {
  /** Files the model file needs (OpenVINO's `.bin`, a SavedModel's variables, labels in the model directory). */
  dependency: 0,
  /** The file the backend opens (`model.onnx`, `model.plan`). */
  model: 1,
  /** msb's own records (`.msb-version.json`, plan sidecars): nothing Triton opens. */
  record: 2,
  /** `config.pbtxt` of a new model: it appears last, so Triton never reads a config naming what is not there. */
  config: 3,
} as const;
export type CommitPhase = keyof typeof COMMIT_ORDER;

/** Sizes (and SHA-256 where computed) of what a tree's sources became, by path in the tree. */
export type PlacedFiles = Record<string, WrittenFile>;

/** A private tree being assembled; it becomes visible only through {@link StagedTree.commit}. */
export interface StagingArea {
  /**
   * A file with `data`; a function is called once every source of the tree is placed (at commit on object stores),
   * so a record can state what was written.
   */
  writeFile(
    rel: string,
    data: string | Uint8Array | ((placed: PlacedFiles) => string),
    phase: CommitPhase,
  ): Promise<void>;
  /** A source file or directory at `rel`. */
  putSource(rel: string, source: ModelSource, phase: CommitPhase, transfer?: Transfer): Promise<void>;
}

/** A staged tree waiting to appear in the repository. */
export interface StagedTree {
  commit(key: string): Promise<boolean>;
  discard(): Promise<void>;
}

/** How a local file is brought into a local store (object stores always upload). */
export type Transfer = 'copy' | 'link';

/**
 * A model file or directory to publish, wherever it comes from. `open` streams one file's bytes; `localPath` is only
 * an optimisation a local store may use (reflink, hard link), never needed.
 */
export interface ModelSource {
  /** For messages and records: a path or URI. */
  readonly display: string;
  readonly kind: 'file' | 'dir';
  /** `rel` `''` is the file itself for a file source; directories list every file and subdirectory. */
  readonly entries: SourceFile[];
}

export interface SourceFile {
  rel: string;
  kind: 'file' | 'dir';
  size: number;
  open(): Readable;
  localPath?: string;
}

export interface LockOptions {
  /** How long to wait for a live holder before failing with `MSB_STORE_LOCK_TIMEOUT`. Default 60 000 ms. */
  waitMs?: number;
  /**
   * A holder renews its lock every third of this; a lock not renewed for this long is stale even when its holder
   * looks alive (pid reuse, another host, a frozen process). Default 30 000 ms.
   */
  leaseMs?: number;
}

/** A held lock; `release()` is idempotent. */
export interface LockHandle {
  release(): Promise<void>;
}

/**
 * A lease held until released: `renew` runs every third of `leaseMs` (failures are left to the lease's expiry),
 * `release` once; the crash-test pause point `lock-acquired` is reached here for every kind of lock.
 */
export async function heldLease(
  leaseMs: number,
  renew: () => Promise<unknown>,
  release: () => Promise<unknown>,
): Promise<LockHandle> {
  const timer = setInterval(() => void renew().catch(() => {}), leaseMs / 3);
  timer.unref();
  await pausePoint('lock-acquired');
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      await release();
    },
  };
}

/** Reads a whole stream (small files only: labels, records). */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}
