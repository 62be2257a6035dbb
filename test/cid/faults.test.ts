import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorrelationIds } from '../../src/cid/index.js';
import { isMsbError } from '../../src/errors.js';
import { startTestRedis } from '../helpers/redis.js';
import { conflicts, records, startWorker } from './procs.js';
import type { LeaseRecord, WorkerConfig } from './worker.js';

test('a client killed with SIGKILL: its IDs come back after ttl + reuseDelay, not before', {
  timeout: 30_000,
}, async () => {
  const redis = await startTestRedis({ aof: true });
  // maxId 3 and three held leases: while they live, no ID of the model is free at all
  const config: WorkerConfig = {
    url: redis.url,
    mode: 'hold',
    models: ['killed'],
    sequences: 3,
    concurrency: 1,
    ttl: 3000,
    maxId: 3,
    reuseDelay: 300,
    holdMs: 0,
  };
  const worker = startWorker(config);
  const ids = new CorrelationIds(redis.url, { maxId: config.maxId, reuseDelay: config.reuseDelay, ttl: 10_000 });
  try {
    await worker.ready;
    const held = worker.lines
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LeaseRecord & { expiresAt: number });
    assert.deepEqual(held.map((l) => l.id).sort(), ['1', '2', '3']);
    worker.proc.kill('SIGKILL');
    assert.equal(await worker.exited, 'SIGKILL');

    assert.deepEqual(
      (await ids.list('killed')).map((l) => String(l.id)),
      ['1', '2', '3'],
    );
    const freeAt = new Map(held.map((l) => [l.id, l.expiresAt + config.reuseDelay]));
    const got: { id: string; at: number }[] = [];
    let refusedBeforeExpiry = 0;
    const deadline = Date.now() + 20_000;
    while (got.length < 3 && Date.now() < deadline) {
      try {
        const lease = await ids.acquire('killed');
        got.push({ id: String(lease.id), at: lease.acquiredAt });
      } catch (err) {
        assert.ok(isMsbError(err, 'MSB_CID_EXHAUSTED'), String(err));
        refusedBeforeExpiry++;
        await sleep(25);
      }
    }
    assert.ok(refusedBeforeExpiry > 0, 'acquire was refused while the killed leases could still be live');
    assert.deepEqual(got.map((g) => g.id).sort(), ['1', '2', '3'], 'every ID of the killed client came back');
    for (const g of got) {
      const at = freeAt.get(g.id) ?? Number.POSITIVE_INFINITY;
      assert.ok(g.at >= at, `ID ${g.id} handed out at ${g.at}, before its quarantine ended at ${at}`);
    }
  } finally {
    if (worker.proc.exitCode === null) worker.proc.kill('SIGKILL');
    await ids.close();
    await redis.stop();
  }
});

test('Redis killed (-9) and restarted with AOF during a run: no live ID handed out twice', {
  timeout: 60_000,
}, async () => {
  const redis = await startTestRedis({ aof: true });
  const config: WorkerConfig = {
    url: redis.url,
    mode: 'sequences',
    models: ['restarted'],
    sequences: 60,
    concurrency: 3,
    ttl: 3000,
    maxId: 100,
    reuseDelay: 50,
    holdMs: 25,
  };
  const workers = Array.from({ length: 10 }, () => startWorker(config));
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.proc.stdin?.end('go\n');
    const done = () => workers.reduce((n, w) => n + records(w).length, 0);
    for (let i = 0; i < 2000 && done() < 150; i++) await sleep(10);
    const before = done();
    await redis.restart();
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(
      codes.map((c, i) => (c === 0 ? 0 : `${c}: ${workers[i]?.stderr()}`)),
      workers.map(() => 0),
    );
    const all = workers.flatMap(records);
    assert.ok(before > 0 && before < all.length, `the restart came mid-run (${before} of ${all.length} leases done)`);
    assert.equal(all.length, 10 * 60);
    assert.deepEqual(conflicts(all, config.reuseDelay), []);
  } finally {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    await redis.stop();
  }
});

test('withSequence aborts fn with MSB_CID_LEASE_LOST when Redis is unreachable until the lease could expire', {
  timeout: 30_000,
}, async () => {
  const redis = await startTestRedis({ aof: true });
  const ids = new CorrelationIds(redis.url, { reuseDelay: 0 });
  try {
    let abortedAfter = Number.NaN;
    await assert.rejects(
      ids.withSequence(
        'unreachable',
        async (_id, { signal }) => {
          await redis.kill();
          const t0 = performance.now();
          await Promise.race([
            new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })),
            sleep(10_000),
          ]);
          abortedAfter = performance.now() - t0;
          await redis.start();
        },
        { ttl: 600 },
      ),
      (err) => isMsbError(err, 'MSB_CID_LEASE_LOST'),
    );
    assert.ok(abortedAfter <= 1500, `aborted ${abortedAfter.toFixed(0)} ms after Redis went away (ttl 600 ms)`);
    assert.deepEqual(await ids.list('unreachable'), []);
  } finally {
    await ids.close();
    await redis.stop();
  }
});
