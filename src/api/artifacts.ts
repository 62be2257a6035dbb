/**
 * The artifact store: model files uploaded over HTTP, content-addressed by SHA-256. The digest is computed while the
 * body streams to a temp file (never held whole in memory); the file is fsynced and renamed to its digest's name,
 * so a reader sees a whole artifact or none, and equal bytes are stored once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { type FileHandle, link, mkdir, mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { syncDir } from '../atomic-file.js';
import { openStorage, parseStoreUri, type RepositoryStorage } from '../store/index.js';
import { ApiError } from './errors.js';

/** `artifact:sha256:<64 hex>`: the only artifact id form (anything else never reaches the filesystem). */
const ID = /^artifact:sha256:([0-9a-f]{64})$/;

/** Flush written upload data to disk every this many bytes. */
const SYNC_EVERY = 32 * 1024 * 1024;

/**
 * Buffering of the upload stages (the meter and the file). With Node's default (16 KiB) every 64 KiB socket chunk
 * is over the mark, so the socket is paused for each single write(2) to finish; with 1 MiB the chunks that arrive
 * while one write is in flight go out together in the next writev(2), and the socket keeps flowing. Measured on
 * loopback (bench/api.ts): about 0.85x of a plain server with fsync at 16 KiB, at or above it with 1 MiB. The cost
 * is at most this many bytes held per stage per upload.
 */
const UPLOAD_BUFFER = 1024 * 1024;

/**
 * An upload runs a young-generation GC after every this many body bytes. Node's HTTP parser hands each body chunk
 * over in a fresh Buffer (a copy of its one socket read buffer), which V8 counts as external memory and, left to
 * itself, frees only when some 64 MiB of it has piled up (its external-memory trigger): a 1 GiB upload held about
 * 40 MiB more than the server at rest. A scavenge frees the chunks already passed on (they are young and dead) in
 * about a millisecond; every 8 MiB it halves that growth at no measurable cost to throughput (bench/api.ts).
 */
const SCAVENGE_EVERY = 8 * 1024 * 1024;

let scavenger: (() => void) | null | undefined;
/**
 * V8's own `gc({ type: 'minor' })`, reached without starting Node with --expose-gc: the flag is set only while one
 * fresh context is made (its global `gc` is kept), then unset again. Null where that is not available.
 */
function scavenge(): (() => void) | null {
  if (scavenger === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as ((options: { type: 'minor' | 'major' }) => void) | undefined;
      scavenger = typeof gc === 'function' ? () => gc({ type: 'minor' }) : null;
    } catch {
      scavenger = null;
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
  }
  return scavenger;
}

export function artifactId(hex: string): string {
  return `artifact:sha256:${hex}`;
}

/** The hex digest of an artifact id, or undefined when `id` is not one. */
export function parseArtifactId(id: string): string | undefined {
  return ID.exec(id)?.[1];
}

export interface StoredArtifact {
  id: string;
  digest: string;
  size: number;
  /** False when these bytes were already stored (no second copy was made). */
  created: boolean;
}

export interface PutOptions {
  /** Largest body accepted; more bytes fail with `MSB_API_BODY_TOO_LARGE` and nothing is stored. */
  limit: number;
  /** The declared length: a body that ends short of it (or runs past it) is refused and nothing is stored. */
  expectedLength?: number;
  /** A body that sends no byte for this long fails with `MSB_API_TIMEOUT`. Default: no limit. */
  idleMs?: number;
}

/** Where uploaded artifacts live. A directory today; an object store behind the same contract later. */
export interface ArtifactStore {
  /** For messages and `/readyz`. */
  readonly location: string;
  /** Checks the store can be used (creates a directory store's root). */
  prepare(): Promise<void>;
  put(body: Readable, options: PutOptions): Promise<StoredArtifact>;
  /** Size of the artifact with this hex digest, undefined when absent. */
  stat(hex: string): Promise<{ size: number } | undefined>;
  read(hex: string): Readable;
  /** The job source workers read for this artifact: a path on storage they share with the server, or a URI. */
  source(hex: string): string;
}

/**
 * Counts bytes and hashes them as they pass, failing once more than `limit` went through, or when no byte came for
 * `idleMs`. One stage does all three, so the upload path has one hop between the socket and the file.
 */
function meter(limit: number, idleMs: number | undefined) {
  const hash = createHash('sha256');
  const gc = scavenge();
  let size = 0;
  let scavengedAt = 0;
  const timer = idleMs
    ? setTimeout(() => t.destroy(new ApiError('MSB_API_TIMEOUT', `no body bytes for ${idleMs} ms`, { idleMs })), idleMs)
    : undefined;
  const t: Transform = new Transform({
    highWaterMark: UPLOAD_BUFFER,
    flush(done) {
      clearTimeout(timer);
      done();
    },
    transform(chunk: Buffer, _enc, done) {
      timer?.refresh();
      size += chunk.length;
      if (size > limit) {
        done(new ApiError('MSB_API_BODY_TOO_LARGE', `the body is larger than the limit of ${limit} bytes`, { limit }));
        return;
      }
      hash.update(chunk);
      if (gc && size - scavengedAt >= SCAVENGE_EVERY) {
        scavengedAt = size;
        gc();
      }
      done(null, chunk);
    },
  });
  t.once('close', () => clearTimeout(timer));
  return { stream: t, result: () => ({ hex: hash.digest('hex'), size }) };
}

/**
 * Artifacts as files `<root>/sha256/<first two hex>/<hex>`, temp files in `<root>/.tmp` (same filesystem, so the
 * final rename is atomic). Workers read them by path: the root must be storage the workers share.
 */
export class DirectoryArtifactStore implements ArtifactStore {
  readonly location: string;
  private readonly tmp: string;

  constructor(root: string) {
    this.location = path.resolve(root);
    this.tmp = path.join(this.location, '.tmp');
  }

  async prepare(): Promise<void> {
    await mkdir(this.tmp, { recursive: true });
    // Temp files of uploads a crash interrupted; an upload in flight in another replica is at most minutes old.
    const now = Date.now();
    for (const name of await readdir(this.tmp)) {
      const p = path.join(this.tmp, name);
      const s = await stat(p).catch(() => undefined);
      if (s && now - s.mtimeMs > 24 * 3600_000) await rm(p, { force: true });
    }
  }

  private file(hex: string): string {
    return path.join(this.location, 'sha256', hex.slice(0, 2), hex);
  }

  async put(body: Readable, options: PutOptions): Promise<StoredArtifact> {
    const tmp = path.join(this.tmp, `${randomBytes(8).toString('hex')}.part`);
    const m = meter(options.limit, options.idleMs);
    try {
      const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: UPLOAD_BUFFER });
      // Written data goes to disk while the body still arrives (a flush per SYNC_EVERY bytes, one at a time, off
      // the event loop), so the fsync before the rename waits for the last stretch only, not the whole file.
      // fsync through a second descriptor flushes the file's pages all the same.
      let syncer: Promise<FileHandle> | undefined;
      let flushing: Promise<void> | undefined;
      let flushedAt = 0;
      m.stream.on('data', () => {
        if (flushing || out.bytesWritten - flushedAt < SYNC_EVERY) return;
        flushedAt = out.bytesWritten;
        syncer ??= open(tmp, 'r');
        flushing = syncer
          .then((fh) => fh.datasync())
          .finally(() => {
            flushing = undefined;
          });
        flushing.catch(() => {});
      });
      let hex: string;
      let size: number;
      try {
        await pipeline(body, m.stream, out);
        ({ hex, size } = m.result());
        if (options.expectedLength !== undefined && size !== options.expectedLength) {
          throw new ApiError(
            'MSB_API_BAD_LENGTH',
            `the body has ${size} bytes but content-length said ${options.expectedLength}`,
            { size, expected: options.expectedLength },
          );
        }
        await flushing;
        syncer ??= open(tmp, 'r');
        await (await syncer).sync();
      } finally {
        await syncer?.then(
          (fh) => fh.close(),
          () => {},
        );
      }
      const final = this.file(hex);
      await mkdir(path.dirname(final), { recursive: true });
      // link(2) refuses an existing target, so two uploads of the same bytes keep the first and report it.
      let created = true;
      try {
        await link(tmp, final);
        await syncDir(path.dirname(final));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        created = false;
      }
      return { id: artifactId(hex), digest: `sha256:${hex}`, size, created };
    } catch (err) {
      // A client that stops sending or drops the connection: the body stream errors; nothing is kept.
      if (
        (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' ||
        (err as Error).message === 'aborted'
      ) {
        throw new ApiError('MSB_API_BAD_LENGTH', 'the body ended before its content-length', {});
      }
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async stat(hex: string): Promise<{ size: number } | undefined> {
    const s = await stat(this.file(hex)).catch(() => undefined);
    return s?.isFile() ? { size: s.size } : undefined;
  }

  read(hex: string): Readable {
    return createReadStream(this.file(hex));
  }

  source(hex: string): string {
    return this.file(hex);
  }
}

/** Ranged reads of this size serve `GET` from an object store, so a download holds one range in memory at a time. */
const READ_RANGE = 8 * 1024 * 1024;

/**
 * Artifacts as objects `<prefix>/sha256/<hex>` on an object store (any URI `openStorage` takes). An upload streams to
 * a local temp file while it is hashed and checked (the directory store's path, in a private temp root), so the key
 * is known before anything reaches the bucket and a refused body leaves nothing there; the file is then streamed up
 * (multipart). Workers read the object through their source cache, keyed by the digest the server passes.
 */
export class ObjectArtifactStore implements ArtifactStore {
  readonly location: string;
  private storage?: RepositoryStorage;

  constructor(uri: string) {
    this.location = uri.replace(/\/+$/, '');
  }

  async prepare(): Promise<void> {
    this.storage = await openStorage(this.location);
  }

  private get store(): RepositoryStorage {
    if (!this.storage) throw new Error(`artifact store ${this.location}: prepare() was not called`);
    return this.storage;
  }

  private key(hex: string): string {
    return `sha256/${hex}`;
  }

  async put(body: Readable, options: PutOptions): Promise<StoredArtifact> {
    const root = await mkdtemp(path.join(os.tmpdir(), 'msb-upload-'));
    try {
      const staging = new DirectoryArtifactStore(root);
      await staging.prepare();
      const { digest, size } = await staging.put(body, options);
      const hex = digest.slice('sha256:'.length);
      const key = this.key(hex);
      // writeStream has no create-only condition (multipart uploads take none on s3rver and GCS's XML API), so the
      // check comes first. Two replicas racing on the same bytes both write the same content to the same key, which
      // leaves one whole object either way.
      if (await this.store.head(key)) return { id: artifactId(hex), digest: `sha256:${hex}`, size, created: false };
      await this.store.writeStream(key, createReadStream(staging.source(hex)));
      return { id: artifactId(hex), digest: `sha256:${hex}`, size, created: true };
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  async stat(hex: string): Promise<{ size: number } | undefined> {
    const h = await this.store.head(this.key(hex));
    return h ? { size: h.size } : undefined;
  }

  read(hex: string): Readable {
    const store = this.store;
    const key = this.key(hex);
    return Readable.from(
      (async function* () {
        const h = await store.head(key);
        if (!h) throw new ApiError('MSB_API_NOT_FOUND', `no artifact sha256:${hex}`, { digest: hex });
        for (let start = 0; start < h.size; start += READ_RANGE) {
          const chunk = await store.read(key, { start, end: Math.min(h.size, start + READ_RANGE) });
          if (!chunk) throw new ApiError('MSB_API_NOT_FOUND', `artifact sha256:${hex} disappeared`, { digest: hex });
          yield chunk;
        }
      })(),
    );
  }

  source(hex: string): string {
    return `${this.location}/${this.key(hex)}`;
  }
}

/** The artifact store for `--artifacts`: a directory, or an object-store URI (`s3://…`, `gs://…`, docs/storage.md). */
export function openArtifactStore(location: string): ArtifactStore {
  const loc = parseStoreUri(location);
  return loc.kind === 'local' ? new DirectoryArtifactStore(loc.path) : new ObjectArtifactStore(location);
}
