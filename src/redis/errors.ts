import { MsbError } from '../errors.js';

/**
 * Stable codes of msb's Redis connections:
 * - `MSB_REDIS_URL`: a Redis URL msb cannot use (unknown scheme, missing host or port, bad master name or db).
 * - `MSB_REDIS_UNREACHABLE`: Redis did not answer within the connect timeout (CLI commands, `connected()`), or a
 *   command-mode connection lost Redis for longer than that.
 * - `MSB_REDIS_NOT_REPLICATED`: a write was not confirmed by as many replicas as asked for (`WAIT`).
 * - `MSB_REDIS_START`: a private redis-server (demo, tests) did not start.
 */
export type RedisErrorCode = 'MSB_REDIS_URL' | 'MSB_REDIS_UNREACHABLE' | 'MSB_REDIS_NOT_REPLICATED' | 'MSB_REDIS_START';

export class RedisError extends MsbError {
  declare readonly code: RedisErrorCode;
  constructor(
    code: RedisErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
  }
}
