import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { type Readable, Transform } from 'node:stream';
import { StoreError } from './errors.js';
import { pidAlive } from './lock.js';
import type { ObjectClient } from './object-client.js';
import {
  type ByteRange,
  COMMIT_ORDER,
  type CommitPhase,
  heldLease,
  type LockHandle,
  type LockOptions,
  type ModelSource,
  type PlacedFiles,
  type RepositoryStorage,
  type StagedTree,
  type StagingArea,
  type StorageEntry,
  type WriteCondition,
  type WrittenFile,
} from './storage.js';
import { pausePoint } from './testhooks.js';
import { OBJECT_NAME } from './uri.js';

/** A lease any process on any machine can take (Redis), for servers that ignore conditional writes. */
export interface LeaseProvider {
  acquire(name: string, options: LockOptions): Promise<LockHandle>;
  close?(): Promise<void>;
}

export interface ObjectStorageOptions {
  /** Repository prefix inside the bucket, without a trailing `/`; never empty (see `metaPrefix`). */
  prefix: string;
  /** Where msb keeps claims, locks and its probe result, outside the repository. Default: `<prefix>.msb`. */
  metaPrefix?: string;
  /** Leases through Redis: used for locks when the server ignores conditional writes. */
  leases?: LeaseProvider;
  /** A version claim (or multipart upload) older than this whose writer cannot be checked is stale. Default 1 h. */
  staleMs?: number;
  /** Told once when concurrent writers cannot be coordinated. Default: a line on stderr. */
  warn?: (message: string) => void;
}

interface Claim {
  key: string;
  host: string;
  pid: number;
  startedAt: string;
}

interface Item {
  rel: string;
  phase: CommitPhase;
  data?: string | Uint8Array | ((placed: PlacedFiles) => string);
  source?: ModelSource;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A repository under a prefix of an object store (S3, an S3-compatible server, GCS's XML API, or the in-memory test
 * backend). There are no directories and no rename, so (docs/storage.md):
 * - a tree is committed object by object in {@link COMMIT_ORDER}: a version's dependencies, then the file the
 *   backend opens (a single PUT or a completed multipart upload: it appears whole or not at all), then msb's record;
 *   a new model's config last;
 * - a key is claimed before anything is written under it, by a create-only write of `<meta>/claims/<key>.json`
 *   (S3 `If-None-Match: *`); the claim is dropped once the last object is written, so a claim that stays is a crashed
 *   writer's, and the next `prepare` removes what it wrote and aborts its multipart uploads;
 * - locks are create-only lock objects with a lease where the server enforces conditional writes, Redis leases where
 *   it does not (a probe finds out once per store and records it in `<meta>/store.json`), else nothing, with a
 *   warning that concurrent writers are not coordinated.
 * msb's own objects live under `<prefix>.msb/`, a sibling prefix: Triton takes every "directory" under the
 * repository prefix as a model.
 */
export class ObjectStorage implements RepositoryStorage {
  readonly location: string;
  private readonly root: string;
  private readonly meta: string;
  private enforced: boolean | undefined;
  private warned = false;

  constructor(
    private readonly client: ObjectClient,
    private readonly options: ObjectStorageOptions,
  ) {
    if (!options.prefix) {
      throw new StoreError(
        'MSB_STORE_URI',
        `${client.uri}: a store needs a prefix inside the bucket (s3://bucket/models): msb keeps its claims and locks beside it, and at the bucket root Triton would take them for models`,
      );
    }
    this.root = `${options.prefix}/`;
    this.meta = `${options.metaPrefix ?? `${options.prefix}.msb`}/`;
    this.location = `${client.uri}/${options.prefix}`;
  }

  private k(key: string): string {
    return `${this.root}${key}`;
  }

  /** Refuses, before anything is written, a key Triton's S3 path parser could not hold (see `OBJECT_NAME`). */
  private checkKey(key: string): void {
    for (const part of key.split('/')) {
      if (!OBJECT_NAME.test(part)) {
        throw new StoreError(
          'MSB_STORE_INVALID_NAME',
          `${key}: ${JSON.stringify(part)} cannot be stored in ${this.location}: Triton's S3 path parser only reads names of [0-9a-zA-Z._-]`,
          { name: part },
        );
      }
    }
  }

  async prepare(create: boolean, options: { readOnly?: boolean } = {}): Promise<void> {
    const marker = await this.client.get(`${this.meta}store.json`);
    if (!marker) {
      const top = await this.client.list(this.root, '/');
      const any = top.objects.length > 0 || top.prefixes.length > 0;
      if (!any && (!create || options.readOnly)) {
        throw new StoreError('MSB_STORE_NOT_FOUND', `model store ${this.location} does not exist`, {
          path: this.location,
        });
      }
      // A read writes nothing: no marker, no probe (reads need neither).
      if (options.readOnly) return;
      this.enforced = await this.probe();
      await this.client.put(
        `${this.meta}store.json`,
        Buffer.from(`${JSON.stringify({ msb: 1, conditionalWrites: this.enforced }, null, 2)}\n`),
      );
    } else {
      try {
        this.enforced = (JSON.parse(marker.data.toString('utf8')) as { conditionalWrites?: boolean }).conditionalWrites;
      } catch {
        this.enforced = undefined;
      }
      if (options.readOnly) return;
      this.enforced ??= await this.probe();
    }
    await this.cleanLeftovers();
  }

  /** Does the server refuse a second create-only write of one key? s3rver, for one, ignores the header. */
  private async probe(): Promise<boolean> {
    const key = `${this.meta}probe/${process.pid}.${randomBytes(6).toString('hex')}`;
    try {
      await this.client.put(key, Buffer.from('1'), { ifNoneMatch: '*' });
      return !(await this.client.put(key, Buffer.from('2'), { ifNoneMatch: '*' }));
    } finally {
      await this.client.delete(key).catch(() => {});
    }
  }

  /** A claim whose writer died (this host, dead pid) or that is older than `staleMs` marks a crashed commit. */
  private isStale(claim: Claim | undefined, lastModified: Date): boolean {
    if (claim && claim.host === os.hostname()) return !pidAlive(claim.pid);
    return Date.now() - lastModified.getTime() > (this.options.staleMs ?? 3_600_000);
  }

  private async cleanLeftovers(): Promise<void> {
    const claims = (await this.client.list(`${this.meta}claims/`)).objects;
    const live = new Set<string>();
    for (const o of claims) {
      const got = await this.client.get(o.key);
      let claim: Claim | undefined;
      try {
        claim = got ? (JSON.parse(got.data.toString('utf8')) as Claim) : undefined;
      } catch {
        claim = undefined;
      }
      const key = claim?.key ?? o.key.slice(`${this.meta}claims/`.length).replace(/\.json$/, '');
      if (!this.isStale(claim, o.lastModified)) {
        live.add(key);
        continue;
      }
      // A commit that finished before its claim was dropped is complete: a model has its config, a version its record.
      const done = key.includes('/') ? `${key}/.msb-version.json` : `${key}/config.pbtxt`;
      if (!(await this.client.head(this.k(done)))) await this.removeTree(key);
      await this.client.delete(o.key);
    }
    for (const u of await this.client.listUploads(this.root)) {
      const key = u.key.slice(this.root.length);
      const claimed = [...live].some((c) => key.startsWith(`${c}/`));
      if (!claimed) await this.client.abortUpload(u.key, u.uploadId);
    }
  }

  /** Keys claimed by commits that have not finished (in progress, or crashed and not yet cleaned). */
  async pendingClaims(): Promise<string[]> {
    const prefix = `${this.meta}claims/`;
    return (await this.client.list(prefix)).objects.map((o) => o.key.slice(prefix.length).replace(/\.json$/, ''));
  }

  async list(key: string): Promise<StorageEntry[] | undefined> {
    const prefix = key === '' ? this.root : `${this.k(key)}/`;
    const { objects, prefixes } = await this.client.list(prefix, '/');
    if (key !== '' && objects.length === 0 && prefixes.length === 0) return undefined;
    const out: StorageEntry[] = [
      ...objects.map((o) => ({ name: o.key.slice(prefix.length), type: 'file' as const, size: o.size })),
      ...prefixes.map((p) => ({ name: p.slice(prefix.length, -1), type: 'dir' as const, size: 0 })),
    ].filter((e) => e.name !== '');
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async read(key: string, range?: ByteRange): Promise<Buffer | undefined> {
    return (await this.client.get(this.k(key), range))?.data;
  }

  async readTagged(key: string): Promise<{ data: Buffer; etag: string } | undefined> {
    const got = await this.client.get(this.k(key));
    return got && { data: got.data, etag: got.etag };
  }

  async head(key: string): Promise<{ size: number; etag: string } | undefined> {
    const h = await this.client.head(this.k(key));
    return h && { size: h.size, etag: h.etag };
  }

  async write(key: string, data: string | Uint8Array, condition?: WriteCondition): Promise<boolean> {
    this.checkKey(key);
    return this.client.put(this.k(key), typeof data === 'string' ? Buffer.from(data, 'utf8') : data, condition);
  }

  async writeStream(key: string, body: Readable): Promise<WrittenFile> {
    this.checkKey(key);
    const hash = createHash('sha256');
    let size = 0;
    let paused = false;
    const counted = body.pipe(
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          // Crash tests stop a writer with part of a multipart upload sent.
          if (!paused && size >= 8 * 1024 * 1024) {
            paused = true;
            void pausePoint('upload-started').then(() => cb(null, chunk));
            return;
          }
          cb(null, chunk);
        },
      }),
    );
    body.on('error', (err) => counted.destroy(err));
    await this.client.upload(this.k(key), counted);
    return { size, sha256: hash.digest('hex') };
  }

  delete(key: string): Promise<void> {
    return this.client.delete(this.k(key));
  }

  async conditionalWrites(): Promise<boolean> {
    this.enforced ??= await this.probe();
    return this.enforced;
  }

  async stage(build: (stage: StagingArea) => Promise<void>): Promise<StagedTree> {
    const items: Item[] = [];
    // Nothing is uploaded before the key is claimed: on an object store, whatever is written under a key is visible.
    await build({
      writeFile: async (rel, data, phase) => {
        items.push({ rel, phase, data });
      },
      putSource: async (rel, source, phase) => {
        items.push({ rel, phase, source });
      },
    });
    const ordered = items
      .map((item, i) => ({ item, i }))
      .sort((a, b) => COMMIT_ORDER[a.item.phase] - COMMIT_ORDER[b.item.phase] || a.i - b.i)
      .map((x) => x.item);
    return {
      commit: (key) => this.commit(key, ordered),
      discard: async () => {},
    };
  }

  private claimKey(key: string): string {
    return `${this.meta}claims/${key}.json`;
  }

  private async commit(key: string, items: Item[]): Promise<boolean> {
    for (const item of items) {
      this.checkKey(`${key}/${item.rel}`);
      for (const f of item.source?.entries ?? []) if (f.rel) this.checkKey(`${key}/${item.rel}/${f.rel}`);
    }
    const claim: Claim = { key, host: os.hostname(), pid: process.pid, startedAt: new Date().toISOString() };
    const claimKey = this.claimKey(key);
    if (!(await this.client.put(claimKey, Buffer.from(JSON.stringify(claim)), { ifNoneMatch: '*' }))) return false;
    // Claimed first, looked second: a writer that finished and dropped its claim in between is seen here.
    if ((await this.list(key)) !== undefined) {
      await this.client.delete(claimKey);
      return false;
    }
    await pausePoint(`${key.includes('/') ? 'version' : 'model'}-staged`);
    const placed: PlacedFiles = {};
    try {
      for (const item of items) {
        const at = `${key}/${item.rel}`;
        if (item.source) {
          for (const f of item.source.entries) {
            if (f.kind !== 'file') continue;
            const rel = f.rel ? `${item.rel}/${f.rel}` : item.rel;
            placed[rel] = await this.writeStream(`${key}/${rel}`, f.open());
          }
        } else if (typeof item.data === 'function') {
          await this.write(at, item.data(placed));
        } else if (item.data !== undefined) {
          await this.write(at, item.data);
        }
      }
    } catch (err) {
      // What was written is removed (in reverse) before the claim goes, so nothing half-made stays visible.
      await this.removeTree(key).catch(() => {});
      await this.client.delete(claimKey).catch(() => {});
      throw err;
    }
    await pausePoint(`${key.includes('/') ? 'version' : 'model'}-renamed`);
    await this.client.delete(claimKey);
    return true;
  }

  async removeTree(key: string): Promise<boolean> {
    const objects = (await this.client.list(`${this.k(key)}/`)).objects;
    if (objects.length === 0) return false;
    // Reverse commit order: the config first (Triton stops loading the model), then msb's records, then model files
    // deepest first, the model directory's own files (labels) last.
    const rank = (k: string) => {
      const rel = k.slice(this.k(key).length + 1);
      if (rel === 'config.pbtxt') return 0;
      const base = rel.split('/').at(-1) ?? '';
      if (base === '.msb-version.json' || base.endsWith('.msb.json')) return 1;
      return 2 + (10 - Math.min(rel.split('/').length, 10));
    };
    objects.sort((a, b) => rank(a.key) - rank(b.key));
    let first = true;
    for (const o of objects) {
      await this.client.delete(o.key);
      if (first) await pausePoint('tree-moved-out');
      first = false;
    }
    return true;
  }

  async lock(name: string, options: LockOptions = {}): Promise<LockHandle> {
    if (await this.conditionalWrites()) return this.objectLock(name, options);
    if (this.options.leases) return this.options.leases.acquire(`${this.location}:${name}`, options);
    if (!this.warned) {
      this.warned = true;
      (this.options.warn ?? ((m: string) => process.stderr.write(`msb: warning: ${m}\n`)))(
        `${this.location} ignores conditional writes and no Redis URL was given (--redis or REDIS_URL): concurrent writers to this store are not coordinated`,
      );
    }
    return { release: async () => {} };
  }

  /**
   * A lock object created only if absent (`If-None-Match: *`), holding its expiry; an expired one is taken over with
   * `If-Match` on the tag that was judged, so two waiters never both take it. The holder renews it every third of
   * the lease.
   */
  private async objectLock(name: string, options: LockOptions): Promise<LockHandle> {
    const key = `${this.meta}locks/${name}`;
    const leaseMs = options.leaseMs ?? 30_000;
    const deadline = Date.now() + (options.waitMs ?? 60_000);
    const nonce = randomBytes(8).toString('hex');
    const body = () =>
      Buffer.from(JSON.stringify({ nonce, host: os.hostname(), pid: process.pid, expires: Date.now() + leaseMs }));
    let delay = 5;
    for (;;) {
      if (await this.client.put(key, body(), { ifNoneMatch: '*' })) break;
      const held = await this.client.get(key);
      if (held) {
        let expires = 0;
        try {
          expires = (JSON.parse(held.data.toString('utf8')) as { expires: number }).expires;
        } catch {}
        if (expires < Date.now() && (await this.client.put(key, body(), { ifMatch: held.etag }))) break;
      }
      if (Date.now() > deadline) {
        throw new StoreError('MSB_STORE_LOCK_TIMEOUT', `lock ${name} in ${this.location} is held by another writer`, {
          path: key,
        });
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 200);
    }
    return heldLease(
      leaseMs,
      async () => {
        const held = await this.client.get(key);
        if (held?.data.toString('utf8').includes(nonce)) await this.client.put(key, body(), { ifMatch: held.etag });
      },
      async () => {
        const held = await this.client.get(key);
        if (held?.data.toString('utf8').includes(nonce)) await this.client.delete(key);
      },
    );
  }

  /** Objects have no path on this machine. */
  localPath(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    await this.options.leases?.close?.();
    this.client.close?.();
  }
}
