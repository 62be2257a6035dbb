import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, fstat } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../../src/jobs/redis-server.js';
import { startTestRedis, type TestTopology } from './redis.js';

interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}
/** The part of s3rver's filesystem store that {@link atomicPuts} replaces. */
interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  getObject(
    bucket: string,
    key: string,
    options?: { start?: number; end?: number },
  ): Promise<{ content: Readable | null; metadata: Record<string, string | number> } | null>;
}
interface S3rverInstance {
  store: S3rverStore;
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}

/**
 * S3 PUTs are atomic: a listing shows an object only once all of it is there, and msb's commit order relies on that
 * (a version appears with its complete model file). s3rver writes an object at its final path while the body
 * arrives, so a listing racing a PUT shows a partial object that S3 never would. The test server is made to behave
 * as S3 does: each object (a plain PUT, or a completed multipart upload, which s3rver stores through the same call)
 * is written under a name its listing skips, then renamed into place.
 */
function atomicPuts(store: S3rverStore): void {
  // s3rver rewrites an object's metadata (its JSON and MD5 files) in place too: a GET racing that parses half a JSON
  // and answers 500. Written under a name no GET or listing reads, then renamed into place.
  const putMetadata = store.putMetadata.bind(store);
  store.putMetadata = async (bucket, key, metadata, md5) => {
    const staged = `${key}.${randomUUID()}.partial`;
    await putMetadata(bucket, staged, metadata, md5);
    for (const file of ['object.md5', 'metadata.json']) {
      await rename(store.getResourcePath(bucket, staged, file), store.getResourcePath(bucket, key, file)).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err; // no MD5 given: no MD5 file written
        },
      );
    }
  };
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(path.dirname(objectPath), { recursive: true });
    const partial = `${objectPath}.${randomUUID()}.partial`;
    const md5 = createHash('md5');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const body = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    await pipeline(body, count, createWriteStream(partial));
    const hex = md5.digest('hex');
    // Metadata first: the object is listed (and its metadata read) from the moment the rename lands.
    await store.putMetadata(object.bucket, object.key, object.metadata, hex);
    await rename(partial, objectPath);
    return { size, md5: hex };
  };
}

/**
 * S3 serves each GET from one version of the object. s3rver takes the size from a `stat` of the object's path and
 * then opens the path again for the body: a PUT renamed into place between the two serves the new object's bytes cut
 * to the old one's length (seen as a config.pbtxt ending mid-message in the poll test with four writers). Here a GET
 * whose opened file is not the size its headers say is served again, so every answer is one whole version.
 */
function consistentGets(store: S3rverStore): void {
  const get = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    for (;;) {
      const object = await get(bucket, key, options);
      const fd = (object?.content as (Readable & { fd?: number }) | null | undefined)?.fd;
      if (!object || typeof fd !== 'number') return object;
      const { size } = await promisify(fstat)(fd);
      if (size === Number(object.metadata['content-length'])) return object;
      object.content?.destroy();
    }
  };
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

/** s3rver's default credentials (it checks signatures against them). */
export const S3RVER_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

/**
 * A real S3 server (s3rver, a dev dependency) over HTTP on a free loopback port, with its own temp directory and one
 * bucket. It ignores conditional writes (If-None-Match / If-Match) and does not implement ListMultipartUploads, as
 * the store's probe and docs say.
 */
export class TestS3 {
  private constructor(
    private readonly server: S3rverInstance,
    readonly port: number,
    readonly dir: string,
    readonly bucket: string,
  ) {}

  static async start(bucket = 'msb-test'): Promise<TestS3> {
    const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-s3rver-'));
    const port = await freePort();
    const server = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory: dir,
      vhostBuckets: false,
      configureBuckets: [{ name: bucket }],
    });
    atomicPuts(server.store);
    consistentGets(server.store);
    await server.run();
    for (const [k, v] of Object.entries(S3RVER_ENV)) process.env[k] = v;
    return new TestS3(server, port, dir, bucket);
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Triton's form for an S3-compatible server: `s3://http://host:port/bucket/prefix`. */
  uri(prefix: string): string {
    return `s3://${this.endpoint}/${this.bucket}/${prefix}`;
  }

  async stop(): Promise<void> {
    await this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts an s3rver and a redis-server for the current test file (before/after hooks) and returns getters: object
 * stores on s3rver ignore conditional writes, so the store coordinates writers through Redis leases there.
 */
export function useS3WithRedis(): { s3: () => TestS3; redis: () => TestTopology } {
  let s3: TestS3 | undefined;
  let redis: TestTopology | undefined;
  before(async () => {
    s3 = await TestS3.start();
    redis = await startTestRedis();
  });
  after(async () => {
    await s3?.stop();
    await redis?.stop();
  });
  const need = <T>(x: T | undefined): T => {
    if (x === undefined)
      throw new Error('useS3WithRedis: servers not started (call it at the top level of a test file)');
    return x;
  };
  return { s3: () => need(s3), redis: () => need(redis) };
}
