import { defineErrors, retryableOf } from '../errors.js';

/**
 * A model-store operation was refused or failed. `details.path` names the file or directory concerned where there
 * is one.
 */
export class StoreError extends defineErrors('MSB_STORE_', {
  /** A model, file or label name that is unsafe or that Triton would misread. */
  MSB_STORE_INVALID_NAME: { retryable: false, status: 400 },
  /** The store, model, version or source does not exist. */
  MSB_STORE_NOT_FOUND: { retryable: false, status: 404 },
  /** The model or version already exists (pass `force` where offered). */
  MSB_STORE_EXISTS: { retryable: false },
  /** A source is (or contains) a symbolic link that leaves its own tree, or a write would pass through a link out of the repository. */
  MSB_STORE_SYMLINK: { retryable: false },
  /** A source of the wrong kind (a directory where a file is needed, a device, ...). */
  MSB_STORE_BAD_SOURCE: { retryable: false },
  /** The model's config.pbtxt cannot be read, parsed or is invalid. */
  MSB_STORE_CONFIG: { retryable: false },
  /** A config edit names the model otherwise: the name is the directory's. */
  MSB_STORE_RENAME: { retryable: false },
  /** The config changed on disk since it was read (a concurrent writer): a retry reads the new one. */
  MSB_STORE_CONFLICT: { retryable: true },
  /** Another live writer held the model's lock for longer than the wait allowed: it will let go. */
  MSB_STORE_LOCK_TIMEOUT: { retryable: true },
  /** The staging directory cannot be used (another filesystem, not writable). */
  MSB_STORE_STAGING: { retryable: false },
  /** The root is not a directory. */
  MSB_STORE_NOT_A_STORE: { retryable: false },
  /** A version would be added to a model served by another platform or backend. */
  MSB_STORE_MODEL_MISMATCH: { retryable: false },
  /** A store URI msb cannot use (unknown scheme, no bucket or prefix, a name Triton's parser cannot hold). */
  MSB_STORE_URI: { retryable: false },
  /** The object store or Redis answered with an error or could not be reached (network, throttling, permissions). */
  MSB_STORE_BACKEND: { retryable: true },
}) {}

export type StoreErrorCode = keyof typeof StoreError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `StoreError.codes`). */
export const STORE_ERROR_RETRYABLE = retryableOf(StoreError.codes);
