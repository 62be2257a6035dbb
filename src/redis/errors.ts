import { defineErrors, retryableOf } from '../errors.js';

/** A Redis URL was refused, or Redis could not be reached, did not start or did not confirm a write. */
export class RedisError extends defineErrors('MSB_REDIS_', {
  /** A Redis URL msb cannot use (unknown scheme, missing host or port, bad master name or db). */
  MSB_REDIS_URL: { retryable: false },
  /**
   * Redis did not answer within the connect timeout (CLI commands, `connected()`), or a command-mode connection lost
   * Redis for longer than that: it may be back later.
   */
  MSB_REDIS_UNREACHABLE: { retryable: true },
  /** A write was not confirmed by as many replicas as asked for (`WAIT`): a replica may catch up. */
  MSB_REDIS_NOT_REPLICATED: { retryable: true },
  /** The private redis-server of the demo or the tests did not start. */
  MSB_REDIS_START: { retryable: true },
}) {}

export type RedisErrorCode = keyof typeof RedisError.codes;

/** Code → whether retrying can help (the shape of 0.1; the table with statuses is `RedisError.codes`). */
export const REDIS_ERROR_RETRYABLE = retryableOf(RedisError.codes);
