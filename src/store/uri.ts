import { readFileSync } from 'node:fs';
import path from 'node:path';
import { StoreError } from './errors.js';

/** Where a store lives, parsed from what the user typed. */
export type StoreLocation =
  | { kind: 'local'; path: string }
  | {
      kind: 's3' | 'gs';
      /** The URI as given, normalised (no trailing `/`): also the key into Triton's credential file. */
      uri: string;
      bucket: string;
      /** Repository prefix inside the bucket, no leading or trailing `/`. */
      prefix: string;
      /** `http://host:port` for S3-compatible servers (Triton's `s3://http://host:port/bucket/...` form). */
      endpoint?: string;
    };

/**
 * Object key components Triton's S3 path parser can hold: its regex for the endpoint form is
 * `s3://(http://|https://|)([0-9a-zA-Z\-.]+):([0-9]+)/([0-9a-z.\-]+)(((/[0-9a-zA-Z.\-_]+)*)?)` (core
 * `src/filesystem/implementations/s3.h`, S3FileSystem constructor); a key with another character does not match, and
 * Triton then silently takes the host for the bucket. msb applies the rule to every object store, so one repository
 * serves through either URI form and moves between S3 and GCS.
 */
export const OBJECT_NAME = /^[0-9a-zA-Z._-]+$/;
/** Bucket names in the same regex: lower case, digits, `.` and `-`. */
const BUCKET = /^[0-9a-z.-]+$/;
/** The same regex's server: `([0-9a-zA-Z\-.]+):([0-9]+)`. */
const HOST_PORT = /^[0-9a-zA-Z.-]+:[0-9]+$/;

function bad(uri: string, why: string): StoreError {
  return new StoreError('MSB_STORE_URI', `store ${uri}: ${why}`, { uri });
}

/**
 * Parses a store argument: a path, `file://…`, `s3://bucket/prefix`, Triton's forms for S3-compatible servers
 * `s3://host:port/bucket/prefix` (HTTP), `s3://http://host:port/bucket/prefix` or `s3://https://host:port/…` (the
 * port is required, as in Triton), or `gs://bucket/prefix`. This is the one parser of store and source URIs.
 * Any other `scheme://` is refused rather than taken for a relative directory named `s3:`.
 */
export function parseStoreUri(input: string): StoreLocation {
  if (input.startsWith('file://')) return { kind: 'local', path: decodeURIComponent(new URL(input).pathname) };
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(input)?.[1];
  if (scheme === undefined) {
    // A bare `s3:bucket` or `gs:/x` is a typo for a URI far more often than a directory name.
    if (/^(s3|gs|as|gcs|http|https):/i.test(input)) throw bad(input, 'looks like a URI but is not scheme://…');
    return { kind: 'local', path: path.resolve(input) };
  }
  const lower = scheme.toLowerCase();
  if (lower !== 's3' && lower !== 'gs') {
    throw bad(
      input,
      `unsupported scheme ${scheme}:// (use a path, file://, s3://bucket/prefix, s3://[http://|https://]host:port/bucket/prefix or gs://bucket/prefix)`,
    );
  }
  let rest = input.slice(scheme.length + 3).replace(/\/+$/, '');
  let endpoint: string | undefined;
  /** The endpoint was given without a scheme (`s3://host:port/…`): the normalised URI keeps that spelling. */
  let bare = false;
  if (lower === 's3') {
    const m = /^(https?):\/\/([^/]*)(?:\/(.*))?$/i.exec(rest);
    if (m) {
      if (!HOST_PORT.test(m[2] ?? '')) {
        throw bad(input, `the server ${m[2]} needs host:port (Triton's S3 path parser requires the port)`);
      }
      endpoint = `${(m[1] ?? '').toLowerCase()}://${m[2]}`;
      rest = m[3] ?? '';
    } else {
      // Triton's scheme group is `(http://|https://|)`: `s3://host:port/bucket/…` is an S3-compatible server over
      // HTTP. A bucket name cannot hold `:`, so a first segment `host:port` is never a bucket.
      const first = rest.split('/', 1)[0] ?? '';
      if (first.includes(':')) {
        if (!HOST_PORT.test(first)) {
          throw bad(input, `the server ${first} needs host:port with a numeric port (Triton's S3 path parser)`);
        }
        endpoint = `http://${first}`;
        bare = true;
        rest = rest.slice(first.length + 1);
      }
    }
  }
  const [bucket = '', ...parts] = rest.split('/').filter((p) => p !== '');
  if (!bucket) throw bad(input, 'no bucket');
  if (!BUCKET.test(bucket)) throw bad(input, `bucket ${bucket} has characters Triton's S3 path parser cannot hold`);
  for (const p of parts) {
    if (!OBJECT_NAME.test(p)) {
      throw bad(input, `${p} has characters Triton's S3 path parser cannot hold (only [0-9a-zA-Z._-])`);
    }
  }
  const server = endpoint ? `${bare ? endpoint.slice('http://'.length) : endpoint}/` : '';
  const uri = `${lower}://${server}${[bucket, ...parts].join('/')}`;
  return { kind: lower, uri, bucket, prefix: parts.join('/'), ...(endpoint ? { endpoint } : {}) };
}

/** S3 credentials from Triton's credential file entry (`TRITON_CLOUD_CREDENTIAL_PATH`, "s3" section). */
export interface S3Credential {
  secret_key?: string;
  key_id?: string;
  region?: string;
  session_token?: string;
  profile?: string;
}

/**
 * The entry of Triton's credential file for `uri`: the JSON file `TRITON_CLOUD_CREDENTIAL_PATH` names maps path
 * prefixes to credentials per scheme (`{"s3": {"": {...}, "s3://bucket-2": {...}}, "gs": {...}}`); the longest
 * prefix of the path wins, `""` matching every path (Triton's `FileSystemManager::LoadCredentials` and its docs,
 * "Cloud Storage with Credential file"). `undefined` when the variable is unset or no prefix matches.
 */
export function tritonCredential(
  section: 's3' | 'gs',
  uri: string,
  env: NodeJS.ProcessEnv = process.env,
): unknown | undefined {
  const file = env.TRITON_CLOUD_CREDENTIAL_PATH;
  if (!file) return undefined;
  let json: Record<string, Record<string, unknown>>;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  } catch (err) {
    throw new StoreError(
      'MSB_STORE_URI',
      `TRITON_CLOUD_CREDENTIAL_PATH ${file} cannot be read as JSON: ${(err as Error).message}`,
      { path: file },
    );
  }
  const entries = Object.entries(json[section] ?? {}).filter(([prefix]) => uri.startsWith(prefix));
  entries.sort((a, b) => b[0].length - a[0].length);
  return entries[0]?.[1];
}
