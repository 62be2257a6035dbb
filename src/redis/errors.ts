import { MsbError, type MsbErrorOptions } from '../errors.js';

/**
 * Stable codes of {@link RedisError}, each with whether retrying can help (the compiler checks every code is
 * classified).
 */
export const REDIS_ERROR_RETRYABLE = {
  /** A Redis URL msb cannot use (unknown scheme, missing host or port, bad master name or db). */
  MSB_REDIS_URL: false,
  /**
   * Redis did not answer within the connect timeout (CLI commands, `connected()`), or a command-mode connection lost
   * Redis for longer than that: it may be back later.
   */
  MSB_REDIS_UNREACHABLE: true,
  /** A write was not confirmed by as many replicas as asked for (`WAIT`): a replica may catch up. */
  MSB_REDIS_NOT_REPLICATED: true,
} as const satisfies Record<`MSB_REDIS_${string}`, boolean>;

export type RedisErrorCode = keyof typeof REDIS_ERROR_RETRYABLE;

/** A Redis URL was refused, or Redis could not be reached or did not confirm a write. */
export class RedisError extends MsbError {
  declare readonly code: RedisErrorCode;

  constructor(code: RedisErrorCode, message: string, details: Record<string, unknown> = {}, options?: MsbErrorOptions) {
    super(code, message, details, { retryable: REDIS_ERROR_RETRYABLE[code], ...options });
  }
}
