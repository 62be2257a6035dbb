import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ObjectClient, ObjectMeta } from '../../src/store/object-client.js';
import type { ByteRange, WriteCondition } from '../../src/store/storage.js';

interface Stored {
  data: Buffer;
  etag: string;
  lastModified: Date;
}

/**
 * An object store in memory with S3's semantics where msb depends on them: keys are flat (a "directory" is a
 * prefix), ListObjectsV2 cuts at a delimiter into common prefixes, multipart uploads are invisible until completed,
 * and conditional PUTs are enforced as S3 documents them (PutObject, "Conditional requests": `If-None-Match: *` fails
 * with 412 when the key exists, `If-Match` with 412 when the ETag differs and 404 when the key is missing). With
 * `enforceConditions: false` it ignores them, as s3rver does, so the fallback paths can be exercised too.
 */
export class MemoryClient implements ObjectClient {
  readonly uri = 'memory://bucket';
  readonly objects = new Map<string, Stored>();
  readonly uploads = new Map<string, { key: string; parts: Buffer[]; initiated: Date }>();
  /** Bytes served by GET, to check that readers use ranges. */
  bytesRead = 0;

  constructor(private readonly options: { enforceConditions?: boolean } = {}) {}

  private set(key: string, data: Buffer): void {
    this.objects.set(key, {
      data,
      etag: `"${createHash('md5').update(data).digest('hex')}-${randomBytes(2).toString('hex')}"`,
      lastModified: new Date(),
    });
  }

  async list(prefix: string, delimiter?: '/'): Promise<{ objects: ObjectMeta[]; prefixes: string[] }> {
    const objects: ObjectMeta[] = [];
    const prefixes = new Set<string>();
    for (const [key, o] of [...this.objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const cut = delimiter ? rest.indexOf(delimiter) : -1;
      if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + 1));
      else objects.push({ key, size: o.data.length, etag: o.etag, lastModified: o.lastModified });
    }
    return { objects, prefixes: [...prefixes] };
  }

  async get(key: string, range?: ByteRange) {
    const o = this.objects.get(key);
    if (!o) return undefined;
    const data = range ? o.data.subarray(range.start, range.end) : o.data;
    this.bytesRead += data.length;
    return { data: Buffer.from(data), etag: o.etag, size: o.data.length };
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    const o = this.objects.get(key);
    return o && { key, size: o.data.length, etag: o.etag, lastModified: o.lastModified };
  }

  async put(key: string, body: Uint8Array, condition: WriteCondition = {}): Promise<boolean> {
    if (this.options.enforceConditions !== false) {
      const have = this.objects.get(key);
      if (condition.ifNoneMatch === '*' && have) return false;
      if (condition.ifMatch !== undefined && have?.etag !== condition.ifMatch) return false;
    }
    this.set(key, Buffer.from(body));
    return true;
  }

  async upload(key: string, body: Readable): Promise<void> {
    const id = randomBytes(8).toString('hex');
    const upload = { key, parts: [] as Buffer[], initiated: new Date() };
    this.uploads.set(id, upload);
    try {
      for await (const chunk of body) upload.parts.push(Buffer.from(chunk as Buffer));
    } catch (err) {
      this.uploads.delete(id);
      throw err;
    }
    if (!this.uploads.has(id)) throw new Error(`upload ${id} of ${key} was aborted`);
    this.uploads.delete(id);
    this.set(key, Buffer.concat(upload.parts));
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async listUploads(prefix: string) {
    return [...this.uploads]
      .filter(([, u]) => u.key.startsWith(prefix))
      .map(([uploadId, u]) => ({ key: u.key, uploadId, initiated: u.initiated }));
  }

  async abortUpload(_key: string, uploadId: string): Promise<void> {
    this.uploads.delete(uploadId);
  }
}
