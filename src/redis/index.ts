/**
 * How msb connects to Redis: one URL form for a single server, Sentinel and Cluster (`parseRedisUrl`), one factory
 * for every connection (`openRedis` for services, `connectRedis`/`withRedis` for commands), connection state for
 * logs and `/healthz`.
 */
export {
  connectRedis,
  isConnectionError,
  type OpenRedisOptions,
  openRedis,
  type RedisConnection,
  RedisLink,
  type RedisMode,
  type RedisState,
  scanKeys,
  waitForReplicas,
  withRedis,
} from './connection.js';
export { REDIS_ERROR_RETRYABLE, RedisError, type RedisErrorCode } from './errors.js';
export { RedisScript } from './script.js';
export { defaultRedisUrl, mask, parseRedisUrl, type RedisNode, type RedisTarget, type RedisTopology } from './url.js';
