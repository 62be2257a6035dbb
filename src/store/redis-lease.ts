import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { StoreError } from './errors.js';
import type { LeaseProvider } from './object-storage.js';
import { heldLease, type LockHandle, type LockOptions } from './storage.js';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Leases in Redis for stores whose server ignores conditional writes: `SET key nonce NX PX lease`, renewed every
 * third of the lease while held, released only by its holder (compare-and-delete in one script). A holder that dies
 * loses the lease when it expires. ioredis is loaded when the first store needs it.
 */
export class RedisLeases implements LeaseProvider {
  private redis: Promise<Redis> | undefined;

  constructor(private readonly url: string) {}

  private connect(): Promise<Redis> {
    this.redis ??= (async () => {
      const { Redis } = await import('ioredis');
      const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });
      r.on('error', () => {}); // a failed command reports the error to its caller
      try {
        await r.connect();
      } catch (err) {
        r.disconnect();
        throw new StoreError('MSB_STORE_BACKEND', `cannot reach Redis at ${this.url}: ${(err as Error).message}`, {
          url: this.url,
        });
      }
      return r;
    })();
    return this.redis;
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
      () => redis.eval(RENEW, 1, key, nonce, leaseMs),
      () => redis.eval(RELEASE, 1, key, nonce),
    );
  }

  async close(): Promise<void> {
    if (this.redis) (await this.redis.catch(() => undefined))?.disconnect();
  }
}
