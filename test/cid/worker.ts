/**
 * A separate client process for the cid tests. argv[2] is a JSON {@link WorkerConfig}. Prints `ready`, waits for a
 * line on stdin (so all processes start together), then prints one JSON line per finished lease and `done`.
 * Mode `hold` acquires `sequences` leases, prints them and sleeps until killed.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorrelationIds } from '../../src/cid/index.js';
import { isMsbError } from '../../src/errors.js';

export interface WorkerConfig {
  url: string;
  mode: 'sequences' | 'hold';
  models: string[];
  sequences: number;
  concurrency: number;
  ttl: number;
  maxId: number;
  reuseDelay: number;
  /** Longest time a sequence holds its ID, in ms (uniformly random 0..holdMs). */
  holdMs: number;
}

/** One lease as the worker saw it; `end` is the release time, or the expiry when the release was not confirmed. */
export interface LeaseRecord {
  model: string;
  id: string;
  acquiredAt: number;
  end: number;
  released: boolean;
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
// msb's own connection (any topology the URL names): reconnects on its own; failed commands surface where sent
const ids = new CorrelationIds(config.url, { maxId: config.maxId, reuseDelay: config.reuseDelay, ttl: config.ttl });

const out = (line: string) => process.stdout.write(`${line}\n`);

if (config.mode === 'hold') {
  for (let i = 0; i < config.sequences; i++) {
    const lease = await ids.acquire(config.models[i % config.models.length] ?? 'm');
    out(JSON.stringify({ ...lease, id: String(lease.id) }));
  }
  out('ready');
  await sleep(600_000);
} else {
  out('ready');
  await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
  let next = 0;
  let retries = 0;
  const lane = async () => {
    for (let n = next++; n < config.sequences; n = next++) {
      const model = config.models[n % config.models.length] ?? 'm';
      let lease: Awaited<ReturnType<typeof ids.acquire>> | undefined;
      while (!lease) {
        lease = await ids.acquire(model).catch(async (err: unknown) => {
          // a full ID range is back-pressure, not a failure: wait for quarantines to end
          if (!isMsbError(err, 'MSB_CID_EXHAUSTED')) throw err;
          retries++;
          await sleep(5);
          return undefined;
        });
      }
      await sleep(Math.random() * config.holdMs);
      const record: LeaseRecord = {
        model,
        id: String(lease.id),
        acquiredAt: lease.acquiredAt,
        end: lease.expiresAt,
        released: false,
      };
      try {
        if (n % 3 === 0) {
          lease = await ids.renew(lease);
          record.end = lease.expiresAt;
        }
        await sleep(Math.random() * config.holdMs);
        record.end = (await ids.release(lease)).releasedAt;
        record.released = true;
      } catch (err) {
        // The lease may have run out while Redis was down (an outage longer than the ttl: a cluster restart takes
        // seconds): it then ended at its expiry, which the record keeps. Once expired, another client may hold the
        // ID (after the quarantine), so the answer is MSB_CID_EXPIRED or MSB_CID_NOT_HELD; before it, neither.
        const expired = isMsbError(err, 'MSB_CID_EXPIRED') || isMsbError(err, 'MSB_CID_NOT_HELD');
        if (!expired || Date.now() < record.end) throw err;
      }
      out(JSON.stringify(record));
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, lane));
  out(JSON.stringify({ retries }));
  out('done');
  await ids.close();
}
