import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CorrelationIds } from '../../src/cid/index.js';
import { startTestRedis, type TestTopology } from '../helpers/redis.js';
import { conflicts, records, startWorker } from './procs.js';
import type { WorkerConfig } from './worker.js';

let redis: TestTopology;
before(async () => {
  redis = await startTestRedis({ aof: true });
});
after(async () => {
  await redis.stop();
});

test('50 client processes running sequences never share a live ID, and release every ID', {
  timeout: 300_000, // above the workers' watchdog (procs.ts): a loaded machine starts 50 processes slowly
}, async () => {
  // A small ID range (120 for up to 100 concurrent sequences) with a long quarantine makes the counter wrap many
  // times and come back to IDs released moments ago, so the quarantine between holders is what keeps them apart.
  const config: WorkerConfig = {
    url: redis.url,
    mode: 'sequences',
    models: ['seed-a', 'seed-b'],
    sequences: 20,
    concurrency: 2,
    ttl: 10_000,
    maxId: 120,
    reuseDelay: 500,
    holdMs: 10,
  };
  const workers = Array.from({ length: 50 }, () => startWorker(config));
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.proc.stdin?.end('go\n');
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(
      codes.map((c, i) => (c === 0 ? 0 : `${c}: ${workers[i]?.stderr()}`)),
      workers.map(() => 0),
    );
  } finally {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  }
  const all = workers.flatMap(records);
  assert.equal(all.length, 50 * 20);
  assert.ok(
    all.every((r) => r.released),
    'every lease was released by its holder',
  );
  for (const r of all) {
    const id = BigInt(r.id);
    assert.ok(id >= 1n && id <= 120n, `ID ${r.id} in 1..maxId`);
  }
  const distinct = new Set(all.map((r) => `${r.model}/${r.id}`)).size;
  assert.ok(distinct < all.length / 2, `IDs were reused (${distinct} distinct IDs for ${all.length} leases)`);
  assert.deepEqual(conflicts(all, config.reuseDelay), []);

  const ids = new CorrelationIds(redis.url);
  try {
    for (const model of config.models) assert.deepEqual(await ids.list(model), [], `no live lease of ${model} left`);
  } finally {
    await ids.close();
  }
});
