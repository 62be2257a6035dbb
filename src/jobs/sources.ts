import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseStoreUri, s3ClientConfig } from '../store/index.js';
import { JobError } from './errors.js';
import { fileDigest } from './spec.js';

/** `s3://…`, `gs://…` (objects, read with the store's credentials) and `https://…` sources any worker can reach. */
export function isRemoteSource(source: string): boolean {
  return /^(s3|gs|https):\/\//i.test(source);
}

const HEX64 = /^[0-9a-f]{64}$/;

function sourceError(source: string, why: string, cause?: unknown): JobError {
  return new JobError('MSB_JOB_SOURCE', `source ${source}: ${why}`, { path: source }, cause ? { cause } : undefined);
}

/** Opens a remote source for reading, with its SHA-256 when the server states one (S3 `x-amz-checksum-sha256`). */
async function openRemote(source: string, wantChecksum = false): Promise<{ body: Readable; sha256?: string }> {
  if (/^https:\/\//i.test(source)) {
    const res = await fetch(source).catch((err: unknown) => {
      throw sourceError(source, (err as Error).message, err);
    });
    if (!res.ok || !res.body) throw sourceError(source, `HTTP ${res.status}`);
    return { body: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) };
  }
  const loc = parseStoreUri(source);
  if (loc.kind === 'local' || !loc.prefix) throw sourceError(source, 'not an object URI (s3://bucket/key)');
  const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client(await s3ClientConfig(loc));
  try {
    const out = await client.send(
      new GetObjectCommand({
        Bucket: loc.bucket,
        Key: loc.prefix,
        ...(wantChecksum ? { ChecksumMode: 'ENABLED' as const } : {}),
      }),
    );
    const body = out.Body as Readable;
    body.once('close', () => client.destroy());
    // A full-object SHA-256 (base64); a multipart object's composite checksum (`…-N`) is not a digest of the bytes.
    const c = out.ChecksumSHA256;
    const sha256 =
      c && !c.includes('-') && out.ChecksumType !== 'COMPOSITE' ? Buffer.from(c, 'base64').toString('hex') : undefined;
    return { body, ...(sha256 ? { sha256 } : {}) };
  } catch (err) {
    client.destroy();
    throw sourceError(source, (err as Error).message, err);
  }
}

/**
 * The content digest (hex SHA-256) a job is keyed and checked by: `given` when the caller states it (`sourceDigest`),
 * else computed from a local file, else the object's own SHA-256 checksum when the store has one, else by reading the
 * remote source once (streamed, bounded memory).
 */
export async function sourceDigestOf(source: string, given?: string): Promise<string> {
  if (given !== undefined) {
    if (!HEX64.test(given)) throw sourceError(source, `sourceDigest must be 64 hex digits of SHA-256, not ${given}`);
    return given;
  }
  if (!isRemoteSource(source)) return fileDigest(source);
  const { body, sha256 } = await openRemote(source, true);
  if (sha256) {
    body.destroy();
    return sha256;
  }
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface SourceCacheOptions {
  /** Default: `$MSB_CACHE_DIR/sources`, else `~/.cache/msb/sources`. */
  dir?: string;
  /** Least recently used entries are removed beyond this. Default 20 GiB. */
  maxBytes?: number;
}

/**
 * Where a worker keeps remote sources: one file per content digest (`<dir>/<sha256>`), written by download to a temp
 * name, verified against the digest the job was enqueued with, then renamed into place; used entries are touched and
 * the least recently used are evicted beyond `maxBytes`. Local sources are checked in place (never copied).
 */
export class SourceCache {
  readonly dir: string;
  private readonly maxBytes: number;

  constructor(options: SourceCacheOptions = {}) {
    this.dir =
      options.dir ?? path.join(process.env.MSB_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'msb'), 'sources');
    this.maxBytes = options.maxBytes ?? 20 * 2 ** 30;
  }

  /** A local path holding exactly the bytes with `digest`; `MSB_JOB_SOURCE_CHANGED` when the source no longer has them. */
  async localize(source: string, digest: string): Promise<string> {
    if (!isRemoteSource(source)) {
      if ((await fileDigest(source)) !== digest) throw changed(source);
      return source;
    }
    if (!HEX64.test(digest)) throw sourceError(source, `bad digest ${digest}`);
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, digest);
    if (await stat(file).catch(() => undefined)) {
      const now = new Date();
      await utimes(file, now, now);
      return file;
    }
    const temp = path.join(this.dir, `.${digest}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
    const hash = createHash('sha256');
    try {
      const { body } = await openRemote(source);
      await pipeline(
        body,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(temp, { flags: 'wx' }),
      );
      if (hash.digest('hex') !== digest) throw changed(source);
      await rename(temp, file);
    } finally {
      await rm(temp, { force: true });
    }
    await this.evict(digest);
    return file;
  }

  /** Removes least recently used entries (and stale partial downloads) until the cache fits, keeping `keep`. */
  private async evict(keep: string): Promise<void> {
    const entries: { name: string; size: number; used: number }[] = [];
    for (const name of await readdir(this.dir)) {
      const st = await stat(path.join(this.dir, name)).catch(() => undefined);
      if (!st) continue;
      if (name.endsWith('.part')) {
        if (Date.now() - st.mtimeMs > 24 * 3600_000) await rm(path.join(this.dir, name), { force: true });
        continue;
      }
      entries.push({ name, size: st.size, used: st.mtimeMs });
    }
    let total = entries.reduce((n, e) => n + e.size, 0);
    for (const e of entries.sort((a, b) => a.used - b.used)) {
      if (total <= this.maxBytes) break;
      if (e.name === keep) continue;
      await rm(path.join(this.dir, e.name), { force: true });
      total -= e.size;
    }
  }
}

function changed(source: string): JobError {
  return new JobError('MSB_JOB_SOURCE_CHANGED', `${source} changed since the job was enqueued`, { path: source });
}
