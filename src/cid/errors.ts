import { defineErrors, retryableOf } from '../errors.js';

/** A correlation-ID request was refused or failed. Each code says whether retrying can help and its HTTP status. */
export class CidError extends defineErrors('MSB_CID_', {
  /** The model name is not one a Triton repository can hold. */
  MSB_CID_MODEL_NAME: { retryable: false, status: 400 },
  /** A ttl (or renewal interval) that is not a positive integer number of milliseconds. */
  MSB_CID_TTL: { retryable: false, status: 400 },
  /** An ID kind other than `uint64` / `string`. */
  MSB_CID_KIND: { retryable: false, status: 400 },
  /** Another option out of range (`maxId`, `cap`, `reuseDelay`). */
  MSB_CID_OPTION: { retryable: false, status: 400 },
  /** An ID that is not a decimal integer in 1..2^64-1. */
  MSB_CID_ID: { retryable: false, status: 400 },
  /** The model already has `cap` live leases: one may end soon. */
  MSB_CID_CAP_REACHED: { retryable: true, status: 429 },
  /** Every ID of the model's range is live or still quarantined: leases end, quarantines pass. */
  MSB_CID_EXHAUSTED: { retryable: true, status: 429 },
  /** renew/release of an ID this token does not hold (never acquired, someone else's, released). */
  MSB_CID_NOT_HELD: { retryable: false, status: 409 },
  /** renew/release of a lease whose ttl ran out; its ID is no longer protected. */
  MSB_CID_EXPIRED: { retryable: false, status: 409 },
  /** (CLI) Redis could not be reached or failed the command. */
  MSB_CID_REDIS: { retryable: true },
  /** `withSequence` could not renew in time; the callback's signal is aborted with this. A new lease may work. */
  MSB_CID_LEASE_LOST: { retryable: true },
}) {}

export type CidErrorCode = keyof typeof CidError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `CidError.codes`). */
export const CID_ERROR_RETRYABLE = retryableOf(CidError.codes);
