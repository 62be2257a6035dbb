import { defineErrors, retryableOf } from '../errors.js';

/**
 * A model file could not be inspected. `details.path` names the file. A model file says the same thing every time
 * it is read: no code is retryable.
 */
export class InspectError extends defineErrors('MSB_INSPECT_', {
  MSB_INSPECT_NOT_FOUND: { retryable: false, status: 404 },
  /** A device, FIFO or socket where a model file was expected: never read (it may never end). */
  MSB_INSPECT_NOT_A_FILE: { retryable: false },
  /** The file cannot be read (permissions, not a regular file, an I/O error). */
  MSB_INSPECT_UNREADABLE: { retryable: false },
  MSB_INSPECT_UNKNOWN_FORMAT: { retryable: false },
  /** Truncated or malformed bytes. */
  MSB_INSPECT_CORRUPT: { retryable: false },
  /** A tensor type Triton cannot serve. */
  MSB_INSPECT_UNSUPPORTED_TYPE: { retryable: false },
  /** The format carries no I/O description: give --input/--output. */
  MSB_INSPECT_SIGNATURE_REQUIRED: { retryable: false },
  /** The SavedModel has no SignatureDef of the name asked for. */
  MSB_INSPECT_SIGNATURE_NOT_FOUND: { retryable: false, status: 404 },
  /** A tensor named by the user is not in the model. */
  MSB_INSPECT_TENSOR_NOT_FOUND: { retryable: false, status: 404 },
  /** A tensor's rank cannot be told from the model. */
  MSB_INSPECT_UNKNOWN_RANK: { retryable: false },
  /** A --input/--output option that is not NAME:TYPE:DIMS. */
  MSB_INSPECT_BAD_TENSOR_OPTION: { retryable: false },
  /** What the user stated contradicts the model. */
  MSB_INSPECT_CONFLICT: { retryable: false },
  /** A plan's msb sidecar is not valid JSON of the right shape. */
  MSB_INSPECT_SIDECAR_INVALID: { retryable: false },
  /** A plan's sidecar records another plan size: the plan was replaced. */
  MSB_INSPECT_SIDECAR_STALE: { retryable: false },
}) {}

export type InspectErrorCode = keyof typeof InspectError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `InspectError.codes`). */
export const INSPECT_ERROR_RETRYABLE = retryableOf(InspectError.codes);
