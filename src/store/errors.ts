import { MsbError } from '../errors.js';

/**
 * A model-store operation was refused or failed. Stable codes:
 * - `MSB_STORE_INVALID_NAME`: a model, file or label name that is unsafe or that Triton would misread.
 * - `MSB_STORE_NOT_FOUND`: the store, model, version or source does not exist.
 * - `MSB_STORE_EXISTS`: the model or version already exists (pass `force` where offered).
 * - `MSB_STORE_SYMLINK`: a source is (or contains) a symbolic link that leaves its own tree, or a write would pass
 *   through a link leading out of the repository.
 * - `MSB_STORE_BAD_SOURCE`: a source of the wrong kind (a directory where a file is needed, a device, ...).
 * - `MSB_STORE_CONFIG`: the model's config.pbtxt cannot be read, parsed or is invalid.
 * - `MSB_STORE_LOCK_TIMEOUT`: another live writer held the model's lock for longer than the wait allowed.
 * - `MSB_STORE_STAGING`: the staging directory cannot be used (another filesystem, not writable).
 * - `MSB_STORE_NOT_A_STORE`: the root is not a directory.
 * - `MSB_STORE_CONFLICT`: the config changed in the store since it was read (a concurrent writer).
 * - `MSB_STORE_MODEL_MISMATCH`: a version would be added to a model served by another platform or backend.
 * - `MSB_STORE_URI`: a store URI that msb cannot use (unknown scheme, no bucket, a name Triton cannot parse).
 * - `MSB_STORE_BACKEND`: the object store answered with an error (permissions, network, a missing bucket).
 * `details.path` names the file or directory concerned where there is one.
 */
export class StoreError extends MsbError {}
