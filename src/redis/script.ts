import { createHash } from 'node:crypto';
import type { RedisConnection } from './connection.js';

/**
 * A Lua script run by its SHA1 (`EVALSHA`), sent whole (`EVAL`, which also caches it) only when the server answers
 * `NOSCRIPT`: the first call on a server, after a restart or `SCRIPT FLUSH`, or on a Cluster node or promoted
 * replica that never saw it. Every script msb runs goes through here.
 *
 * Why not ioredis' `defineCommand`: each call of a defined command builds a command subclass instance, wraps its
 * reject and chains a NOSCRIPT catch; measured on 50 connections (bench/cid.ts's shape), a pair of defined-command
 * calls ran at 18-20k pairs/s against 29-32k/s for the same two scripts through plain `evalsha`. The fallback here
 * is the same protocol, once per NOSCRIPT instead of bookkeeping on every call.
 */
export class RedisScript {
  /** SHA1 of {@link lua}, as `SCRIPT LOAD` returns it. */
  readonly sha: string;

  /**
   * @param lua the script's source
   * @param numberOfKeys how many of a call's arguments are keys (they come first); Cluster routes by them
   */
  constructor(
    readonly lua: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Runs the script with `args` (its keys first); resolves to its reply (integers, bulk strings, arrays of them). */
  async run(redis: RedisConnection, ...args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, this.numberOfKeys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      // EVAL runs it and caches it, so the next call's EVALSHA finds it
      return await redis.eval(this.lua, this.numberOfKeys, ...args);
    }
  }
}
