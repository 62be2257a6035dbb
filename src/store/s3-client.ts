import type { Readable } from 'node:stream';
import type { S3Client as AwsS3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { StoreError } from './errors.js';
import type { ObjectClient, ObjectMeta } from './object-client.js';
import type { ByteRange, WriteCondition } from './storage.js';
import { type S3Credential, type StoreLocation, tritonCredential } from './uri.js';

type ObjectLocation = Extract<StoreLocation, { kind: 's3' | 'gs' }>;

/** Where GCS's S3-compatible XML API answers (https://cloud.google.com/storage/docs/interoperability). */
const GCS_XML_ENDPOINT = 'https://storage.googleapis.com';

/** Multipart part size: S3's minimum is 5 MiB; 8 MiB parts keep 10 000 parts ≥ 78 GiB. */
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight per upload (bounded memory: queueSize × PART_SIZE). */
export const QUEUE_SIZE = 4;

/**
 * The SDK client for a location. S3: credentials from Triton's credential file when it has an entry for the URI
 * (`key_id`/`secret_key`/`session_token`/`region`, or `profile`), else the AWS SDK's default chain (environment,
 * shared profile, SSO, container and instance roles). S3-compatible servers are addressed path-style at the URI's
 * `http(s)://host:port`, as Triton does. GCS goes through its XML API with HMAC keys (`MSB_GCS_HMAC_ACCESS_ID`,
 * `MSB_GCS_HMAC_SECRET`; `MSB_GCS_ENDPOINT` overrides the endpoint), the interface msb can test against a local
 * server; Application Default Credentials would need the JSON API client.
 */
export async function s3ClientConfig(
  loc: ObjectLocation,
  env: NodeJS.ProcessEnv = process.env,
): Promise<S3ClientConfig> {
  const common: S3ClientConfig = {
    // Checksum trailers (aws-chunked bodies) are not understood by every S3-compatible server; msb records its own
    // SHA-256 per object.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (loc.kind === 'gs') {
    const id = env.MSB_GCS_HMAC_ACCESS_ID;
    const secret = env.MSB_GCS_HMAC_SECRET;
    if (!id || !secret) {
      throw new StoreError(
        'MSB_STORE_URI',
        `${loc.uri}: msb reaches GCS through its S3-compatible XML API; set MSB_GCS_HMAC_ACCESS_ID and MSB_GCS_HMAC_SECRET to an HMAC key of a service account`,
      );
    }
    return {
      ...common,
      endpoint: env.MSB_GCS_ENDPOINT ?? GCS_XML_ENDPOINT,
      region: 'auto',
      forcePathStyle: true,
      credentials: { accessKeyId: id, secretAccessKey: secret },
    };
  }
  const cred = tritonCredential('s3', loc.uri, env) as S3Credential | undefined;
  const region = cred?.region || env.AWS_DEFAULT_REGION || env.AWS_REGION || 'us-east-1';
  const config: S3ClientConfig = { ...common, region };
  if (loc.endpoint) {
    config.endpoint = loc.endpoint;
    config.forcePathStyle = true;
  }
  if (cred?.key_id && cred.secret_key) {
    config.credentials = {
      accessKeyId: cred.key_id,
      secretAccessKey: cred.secret_key,
      ...(cred.session_token ? { sessionToken: cred.session_token } : {}),
    };
  } else if (cred?.profile) {
    config.profile = cred.profile;
  }
  return config;
}

const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const errName = (err: unknown) => (err as { name?: string }).name ?? '';

/** An object store over `@aws-sdk/client-s3` (and `@aws-sdk/lib-storage` for multipart uploads). */
export class S3ObjectClient implements ObjectClient {
  readonly uri: string;

  private constructor(
    private readonly sdk: typeof import('@aws-sdk/client-s3'),
    private readonly client: AwsS3Client,
    private readonly bucket: string,
    private readonly gcs: boolean,
    uri: string,
  ) {
    this.uri = uri;
  }

  /** The SDK is loaded here, not at module top level: `msb --help` never pays for it. */
  static async create(loc: ObjectLocation, env: NodeJS.ProcessEnv = process.env): Promise<S3ObjectClient> {
    const sdk = await import('@aws-sdk/client-s3');
    const client = new sdk.S3Client(await s3ClientConfig(loc, env));
    if (loc.kind === 'gs') {
      // GCS's XML API spells S3's create-only precondition as a generation match on 0.
      client.middlewareStack.add(
        (next) => async (args) => {
          const req = args.request as { headers?: Record<string, string> };
          if (req.headers?.['if-none-match'] === '*') {
            delete req.headers['if-none-match'];
            req.headers['x-goog-if-generation-match'] = '0';
          }
          return next(args);
        },
        { step: 'build', name: 'msbGcsPreconditions' },
      );
    }
    // The bucket's URI as the user spelled the server (`s3://host:port/bucket`, `s3://https://host:port/bucket`).
    const base = loc.prefix ? loc.uri.slice(0, -(loc.prefix.length + 1)) : loc.uri;
    return new S3ObjectClient(sdk, client, loc.bucket, loc.kind === 'gs', base);
  }

  private fail(op: string, key: string, err: unknown): StoreError {
    return new StoreError(
      'MSB_STORE_BACKEND',
      `${op} ${this.uri}/${key}: ${errName(err) || 'error'}: ${(err as Error).message}`,
      { key, status: status(err) },
      { cause: err },
    );
  }

  async list(prefix: string, delimiter?: '/'): Promise<{ objects: ObjectMeta[]; prefixes: string[] }> {
    const objects: ObjectMeta[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(delimiter ? { Delimiter: delimiter } : {}),
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        for (const o of page.Contents ?? []) {
          objects.push({
            key: o.Key ?? '',
            size: o.Size ?? 0,
            etag: o.ETag ?? '',
            lastModified: o.LastModified ?? new Date(0),
          });
        }
        for (const p of page.CommonPrefixes ?? []) if (p.Prefix) prefixes.push(p.Prefix);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.fail('list', prefix, err);
    }
    return { objects, prefixes };
  }

  async get(key: string, range?: ByteRange) {
    if (range && range.end <= range.start) {
      const h = await this.head(key);
      return h && { data: Buffer.alloc(0), etag: h.etag, size: h.size };
    }
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }),
      );
      const data = Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
      const total = out.ContentRange ? Number(out.ContentRange.split('/')[1]) : (out.ContentLength ?? data.length);
      return { data, etag: out.ETag ?? '', size: total };
    } catch (err) {
      if (errName(err) === 'NoSuchKey' || status(err) === 404) return undefined;
      if (errName(err) === 'InvalidRange' || status(err) === 416) {
        const h = await this.head(key);
        return h && { data: Buffer.alloc(0), etag: h.etag, size: h.size };
      }
      throw this.fail('get', key, err);
    }
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    try {
      const out = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: out.ETag ?? '',
        lastModified: out.LastModified ?? new Date(0),
      };
    } catch (err) {
      if (errName(err) === 'NotFound' || status(err) === 404) return undefined;
      throw this.fail('head', key, err);
    }
  }

  async put(key: string, body: Uint8Array, condition: WriteCondition = {}): Promise<boolean> {
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ...(condition.ifNoneMatch ? { IfNoneMatch: condition.ifNoneMatch } : {}),
          ...(condition.ifMatch !== undefined && !this.gcs ? { IfMatch: condition.ifMatch } : {}),
        }),
      );
      return true;
    } catch (err) {
      const s = status(err);
      // 412 PreconditionFailed; 409 ConditionalRequestConflict (a concurrent conditional write won); 404 on If-Match
      // of a missing key (S3 PutObject docs, "Conditional requests").
      if (s === 412 || s === 409 || (s === 404 && condition.ifMatch !== undefined)) return false;
      throw this.fail('put', key, err);
    }
  }

  async upload(key: string, body: Readable): Promise<void> {
    const { Upload } = await import('@aws-sdk/lib-storage');
    try {
      await new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: body },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
      }).done();
    } catch (err) {
      throw this.fail('upload', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (status(err) === 404) return;
      throw this.fail('delete', key, err);
    }
  }

  async listUploads(prefix: string) {
    const out: { key: string; uploadId: string; initiated: Date }[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(idMarker ? { UploadIdMarker: idMarker } : {}),
          }),
        );
        for (const u of page.Uploads ?? []) {
          if (u.Key && u.UploadId)
            out.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (err) {
      // s3rver does not implement ListMultipartUploads; its incomplete parts are never visible anyway.
      if (errName(err) === 'NotImplemented' || status(err) === 501) return [];
      throw this.fail('list uploads', prefix, err);
    }
    return out;
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new this.sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (err) {
      if (status(err) === 404) return;
      throw this.fail('abort upload', key, err);
    }
  }

  close(): void {
    this.client.destroy();
  }
}
