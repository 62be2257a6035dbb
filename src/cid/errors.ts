import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of the correlation-ID service, each with whether retrying can help (the compiler checks every code
 * is classified).
 */
export const CID_ERROR_RETRYABLE = {
  /** The model name is not one a Triton repository can hold. */
  MSB_CID_MODEL_NAME: false,
  /** A ttl (or renewal interval) that is not a positive integer number of milliseconds. */
  MSB_CID_TTL: false,
  /** An ID kind other than `uint64` / `string`. */
  MSB_CID_KIND: false,
  /** Another option out of range (`maxId`, `cap`, `reuseDelay`). */
  MSB_CID_OPTION: false,
  /** An ID that is not a decimal integer in 1..2^64-1. */
  MSB_CID_ID: false,
  /** The model already has `cap` live leases: one may end soon. */
  MSB_CID_CAP_REACHED: true,
  /** Every ID of the model's range is live or still quarantined: leases end, quarantines pass. */
  MSB_CID_EXHAUSTED: true,
  /** renew/release of an ID this token does not hold (never acquired, someone else's, released). */
  MSB_CID_NOT_HELD: false,
  /** renew/release of a lease whose ttl ran out; its ID is no longer protected. */
  MSB_CID_EXPIRED: false,
  /** (CLI) Redis could not be reached or failed the command. */
  MSB_CID_REDIS: true,
  /** `withSequence` could not renew in time; the callback's signal is aborted with this. A new lease may work. */
  MSB_CID_LEASE_LOST: true,
} as const satisfies Record<`MSB_CID_${string}`, boolean>;

export type CidErrorCode = keyof typeof CID_ERROR_RETRYABLE;

export class CidError extends MsbError {
  declare readonly code: CidErrorCode;

  constructor(code: CidErrorCode, message: string, details: Record<string, unknown> = {}, options?: MsbErrorOptions) {
    super(code, message, details, { retryable: CID_ERROR_RETRYABLE[code], ...options });
  }
}
