import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link StoreError}, each with whether retrying can help (the compiler checks every code is
 * classified). `details.path` names the file or directory concerned where there is one.
 */
export const STORE_ERROR_RETRYABLE = {
  /** A model, file or label name that is unsafe or that Triton would misread. */
  MSB_STORE_INVALID_NAME: false,
  /** The store, model, version or source does not exist. */
  MSB_STORE_NOT_FOUND: false,
  /** The model or version already exists (pass `force` where offered). */
  MSB_STORE_EXISTS: false,
  /** A source is (or contains) a symbolic link that leaves its own tree, or a write would pass through a link out of the repository. */
  MSB_STORE_SYMLINK: false,
  /** A source of the wrong kind (a directory where a file is needed, a device, ...). */
  MSB_STORE_BAD_SOURCE: false,
  /** The model's config.pbtxt cannot be read, parsed or is invalid. */
  MSB_STORE_CONFIG: false,
  /** A config edit names the model otherwise: the name is the directory's. */
  MSB_STORE_RENAME: false,
  /** The config changed on disk since it was read (a concurrent writer): a retry reads the new one. */
  MSB_STORE_CONFLICT: true,
  /** Another live writer held the model's lock for longer than the wait allowed: it will let go. */
  MSB_STORE_LOCK_TIMEOUT: true,
  /** The staging directory cannot be used (another filesystem, not writable). */
  MSB_STORE_STAGING: false,
  /** The root is not a directory. */
  MSB_STORE_NOT_A_STORE: false,
  /** A version would be added to a model served by another platform or backend. */
  MSB_STORE_MODEL_MISMATCH: false,
  /** A store URI msb cannot use (unknown scheme, no bucket or prefix, a name Triton's parser cannot hold). */
  MSB_STORE_URI: false,
  /** The object store or Redis answered with an error or could not be reached (network, throttling, permissions). */
  MSB_STORE_BACKEND: true,
} as const satisfies Record<`MSB_STORE_${string}`, boolean>;

export type StoreErrorCode = keyof typeof STORE_ERROR_RETRYABLE;

/** A model-store operation was refused or failed. */
export class StoreError extends MsbError {
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, details: Record<string, unknown> = {}, options?: MsbErrorOptions) {
    super(code, message, details, { retryable: STORE_ERROR_RETRYABLE[code], ...options });
  }
}
