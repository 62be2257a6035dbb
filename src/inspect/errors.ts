import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link InspectError}, each with whether retrying can help (the compiler checks every code is
 * classified). A model file says the same thing every time it is read: none is retryable.
 */
export const INSPECT_ERROR_RETRYABLE = {
  MSB_INSPECT_NOT_FOUND: false,
  /** The file cannot be read (permissions, not a regular file, an I/O error). */
  MSB_INSPECT_UNREADABLE: false,
  MSB_INSPECT_UNKNOWN_FORMAT: false,
  /** Truncated or malformed bytes. */
  MSB_INSPECT_CORRUPT: false,
  /** A tensor type Triton cannot serve. */
  MSB_INSPECT_UNSUPPORTED_TYPE: false,
  /** The format carries no I/O description: give --input/--output. */
  MSB_INSPECT_SIGNATURE_REQUIRED: false,
  /** The SavedModel has no SignatureDef of the name asked for. */
  MSB_INSPECT_SIGNATURE_NOT_FOUND: false,
  /** A tensor named by the user is not in the model. */
  MSB_INSPECT_TENSOR_NOT_FOUND: false,
  /** A tensor's rank cannot be told from the model. */
  MSB_INSPECT_UNKNOWN_RANK: false,
  /** A --input/--output option that is not NAME:TYPE:DIMS. */
  MSB_INSPECT_BAD_TENSOR_OPTION: false,
  /** What the user stated contradicts the model. */
  MSB_INSPECT_CONFLICT: false,
  /** A plan's msb sidecar is not valid JSON of the right shape. */
  MSB_INSPECT_SIDECAR_INVALID: false,
  /** A plan's sidecar records another plan size: the plan was replaced. */
  MSB_INSPECT_SIDECAR_STALE: false,
} as const satisfies Record<`MSB_INSPECT_${string}`, boolean>;

export type InspectErrorCode = keyof typeof INSPECT_ERROR_RETRYABLE;

/** A model file could not be inspected. `details.path` names the file. */
export class InspectError extends MsbError {
  declare readonly code: InspectErrorCode;

  constructor(
    code: InspectErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: MsbErrorOptions,
  ) {
    super(code, message, details, { retryable: INSPECT_ERROR_RETRYABLE[code], ...options });
  }
}
