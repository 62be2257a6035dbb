import { randomBytes } from 'node:crypto';
import { connectRedis, mask, type RedisConnection, type RedisLink, RedisScript } from '../redis/index.js';
import { StoreError } from './errors.js';
import type { LeaseProvider } from './object-storage.js';
import { heldLease, type LockHandle, type LockOptions } from './storage.js';

const RENEW = new RedisScript(
  `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`,
  1,
);
const RELEASE = new RedisScript(
  `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`,
  1,
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Leases in Redis for stores whose server ignores conditional writes: `SET key nonce NX PX lease`, renewed every
 * third of the lease while held, released only by its holder (compare-and-delete in one script). A holder that dies
 * loses the lease when it expires. Each lease is one key, so any topology works; the connection comes from msb's
 * one factory (`openRedis`), which reads every URL form (`redis+cluster://`, `redis+sentinel://`) and reconnects on
 * its own. This module is loaded (with ioredis) only by a store that needs leases; the link opens on the first lease.
 */
export class RedisLeases implements LeaseProvider {
  private link: Promise<RedisLink> | undefined;

  constructor(private readonly url: string) {}

  /** `MSB_STORE_BACKEND` with the link's "cannot reach Redis at URL (why)" (password masked). */
  private unreachable(err: { message: string }): StoreError {
    return new StoreError('MSB_STORE_BACKEND', err.message, { url: mask(this.url) }, { cause: err });
  }

  /**
   * The connection, ready now. A command-mode link: a lease never waits long on a Redis that is down (its commands
   * fail once Redis was unreachable for `MSB_REDIS_TIMEOUT_MS`, and the caller retries or fails); a link that gave
   * up is opened again by the next lease.
   */
  private async connect(): Promise<RedisConnection> {
    const current = await this.link?.catch(() => undefined);
    if (current?.state === 'closed') this.link = undefined;
    this.link ??= connectRedis(this.url, { name: 'msb-store-lease' }).catch((err: Error) => {
      this.link = undefined; // the next lease tries again
      throw this.unreachable(err);
    });
    const link = await this.link;
    if (!link.ready) throw this.unreachable(link.unreachable());
    return link.connection;
  }

  async acquire(name: string, options: LockOptions): Promise<LockHandle> {
    const redis = await this.connect();
    const key = `msb:store-lease:${name}`;
    const nonce = randomBytes(12).toString('hex');
    const leaseMs = options.leaseMs ?? 30_000;
    const deadline = Date.now() + (options.waitMs ?? 60_000);
    let delay = 5;
    while ((await redis.set(key, nonce, 'PX', leaseMs, 'NX')) !== 'OK') {
      if (Date.now() > deadline) {
        throw new StoreError('MSB_STORE_LOCK_TIMEOUT', `lease ${name} is held by another writer`, { lease: key });
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 100);
    }
    return heldLease(
      leaseMs,
      () => RENEW.run(redis, key, nonce, leaseMs),
      () => RELEASE.run(redis, key, nonce),
    );
  }

  async close(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    await (await link?.catch(() => undefined))?.close();
  }
}
