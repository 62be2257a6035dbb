import type { Readable } from 'node:stream';
import type { ByteRange, WriteCondition } from './storage.js';

/**
 * The handful of object-store calls `ObjectStorage` is built on, with S3's semantics (ListObjectsV2, ranged GET,
 * conditional PUT, multipart upload). Implemented over `@aws-sdk/client-s3` (S3, S3-compatible servers, GCS's XML
 * API) and in memory for tests (`test/store/memory-client.ts`), which enforces conditions as S3 documents them.
 */
export interface ObjectClient {
  /** For messages: `s3://bucket`, `gs://bucket`, `memory://`. */
  readonly uri: string;
  /** Every object under `prefix` (all pages); with `delimiter`, keys are cut at it into `prefixes`. */
  list(prefix: string, delimiter?: '/'): Promise<{ objects: ObjectMeta[]; prefixes: string[] }>;
  get(key: string, range?: ByteRange): Promise<{ data: Buffer; etag: string; size: number } | undefined>;
  head(key: string): Promise<ObjectMeta | undefined>;
  /** `false` when a condition failed (HTTP 412, 409 ConditionalRequestConflict, 404 on If-Match). */
  put(key: string, body: Uint8Array, condition?: WriteCondition): Promise<boolean>;
  /** Multipart upload of a stream (bounded memory); invisible until it completes. */
  upload(key: string, body: Readable): Promise<void>;
  delete(key: string): Promise<void>;
  /** Multipart uploads started and neither completed nor aborted. */
  listUploads(prefix: string): Promise<{ key: string; uploadId: string; initiated: Date }[]>;
  abortUpload(key: string, uploadId: string): Promise<void>;
  close?(): void;
}

export interface ObjectMeta {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}
