import { MsbError } from '../errors.js';

/**
 * Stable codes of the correlation-ID service:
 * - `MSB_CID_MODEL_NAME`: the model name is not one a Triton repository can hold.
 * - `MSB_CID_TTL`: a ttl (or renewal interval) that is not a positive integer number of milliseconds.
 * - `MSB_CID_KIND`: an ID kind other than `uint64` / `string`.
 * - `MSB_CID_OPTION`: another option out of range (`maxId`, `cap`, `reuseDelay`).
 * - `MSB_CID_ID`: an ID that is not a decimal integer in 1..2^64-1.
 * - `MSB_CID_CAP_REACHED`: the model already has `cap` live leases.
 * - `MSB_CID_EXHAUSTED`: every ID of the model's range is live or still quarantined.
 * - `MSB_CID_NOT_HELD`: renew/release of an ID this token does not hold (never acquired, someone else's, released).
 * - `MSB_CID_EXPIRED`: renew/release of a lease whose ttl ran out; its ID is no longer protected.
 * - `MSB_CID_LEASE_LOST`: `withSequence` could not renew in time; the callback's signal is aborted with this.
 *
 * Redis that cannot be reached is `MSB_REDIS_UNREACHABLE`, a lease not confirmed by the replicas asked for
 * `MSB_REDIS_NOT_REPLICATED` (both from src/redis).
 */
export class CidError extends MsbError {}
