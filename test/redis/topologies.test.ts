/**
 * The job and correlation-ID paths on each Redis topology msb supports: one server, a 3-primary Redis Cluster and
 * a Sentinel-managed primary + replica, all real processes on loopback. Plus what a failover does: no acknowledged
 * job lost, and what replication lag can do to correlation IDs (and how `waitReplicas` prevents it).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { CorrelationIds } from '../../src/cid/index.js';
import { isMsbError } from '../../src/errors.js';
import { ConversionClient, ConversionWorker, registerQueueMetrics } from '../../src/jobs/index.js';
import { openRedis } from '../../src/redis/index.js';
import { ModelStore } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { TestRedis, type TestTopology } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { TestCluster, TestSentinel } from '../helpers/topologies.js';
import { FakeBuilder } from '../jobs/fake-builder.js';

const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');
const target = { tensorrt: '10.8', gpu: '8.6' };
const quiet = () => undefined;

const topologies: [string, () => Promise<TestTopology>][] = [
  ['single', () => TestRedis.start()],
  ['cluster', () => TestCluster.start()],
  ['sentinel', () => TestSentinel.start()],
];

for (const [name, start] of topologies) {
  describe(`on ${name} Redis`, { timeout: 180_000 }, () => {
    let topo: TestTopology;
    before(async () => {
      topo = await start();
    });
    after(() => topo.stop());

    test('jobs: enqueue, work, publish; the registry, the backlog gauge and cancel', {
      skip: skipWithout(conv),
    }, async () => {
      const store = path.join(await tempDir(), 'store');
      const worker = await ConversionWorker.start({
        redis: topo.url,
        store,
        builder: new FakeBuilder({ identity: { reason: 'no TensorRT here' } }),
        graceMs: 1000,
        heartbeatMs: 500,
        log: quiet,
      });
      const client = await ConversionClient.connect({ redis: topo.url, backoffMs: 100 });
      const registry = new Registry();
      const gauges = registerQueueMetrics(registry, client.redis, ['msb-import', 'msb-trt10.8-sm86']);
      try {
        const handles = await Promise.all(
          [0, 1, 2].map((i) => client.enqueue({ kind: 'import', source: conv, output: { model: `m${i}` } })),
        );
        const results = await Promise.all(handles.map((h) => h.result(30_000)));
        assert.deepEqual(
          results.map((r) => r.version),
          [1, 1, 1],
        );
        assert.equal((await (await ModelStore.open(store)).listModels()).length, 3);
        assert.deepEqual(
          (await client.workers()).map((w) => w.id),
          [worker.id],
        );
        // a build no live worker serves waits: the backlog counts it, cancel removes it
        const build = await client.enqueue({ kind: 'build', source: conv, target, output: { model: 'b' } });
        assert.match((await build.info())?.unserved ?? '', /no live worker serves msb-trt10\.8-sm86/);
        assert.match(await registry.metrics(), /^msb_queue_backlog\{queue="msb-trt10\.8-sm86"\} 1$/m);
        await build.cancel();
        assert.equal(await build.info(), undefined);
        assert.match(await registry.metrics(), /^msb_queue_backlog\{queue="msb-trt10\.8-sm86"\} 0$/m);
        assert.match(await registry.metrics(), /^msb_redis_up 1$/m);
      } finally {
        await gauges.close();
        await client.close();
        await worker.close();
      }
    });

    test('correlation IDs: concurrent clients get distinct IDs; renew, release, withSequence', async () => {
      const clients = Array.from({ length: 10 }, () => new CorrelationIds(topo.url));
      try {
        const leases = await Promise.all(clients.map((c) => c.acquire('topo-model', { ttl: 60_000 })));
        assert.equal(new Set(leases.map((l) => l.id)).size, 10);
        const first = clients[0] as CorrelationIds;
        assert.equal((await first.list('topo-model')).length, 10);
        await first.renew(leases[0] as (typeof leases)[0]);
        await Promise.all(leases.map((l, i) => clients[i]?.release(l)));
        assert.deepEqual(await first.list('topo-model'), []);
        assert.equal(await first.withSequence('other', async (id) => id > 0n), true);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
  });
}

describe('Redis Cluster: 50 msb processes at once', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start();
  });
  after(() => cluster.stop());

  test('msb cid acquire --redis redis+cluster://… from 50 processes gives 50 distinct IDs', async () => {
    const runs = await Promise.all(
      Array.from({ length: 50 }, () =>
        runCli(['cid', 'acquire', 'fleet-model', '--ttl', '600000', '--json', '--redis', cluster.url], {
          timeoutMs: 240_000,
          // 50 processes starting on a 2-core machine: give each more than the default 5 s to connect
          env: { MSB_REDIS_TIMEOUT_MS: '120000' },
        }),
      ),
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const ids = runs.map((r) => (JSON.parse(r.stdout) as { id: string }).id);
    assert.equal(new Set(ids).size, 50, ids.join(' '));
    const ls = await runCli(['cid', 'ls', 'fleet-model', '--json', '--redis', cluster.url]);
    assert.equal((JSON.parse(ls.stdout) as unknown[]).length, 50);
  });
});

describe('Sentinel failover', { timeout: 240_000 }, () => {
  test('primary killed mid-queue (replica promoted): every acknowledged job (waitReplicas: 1) completes, each published once', {
    skip: skipWithout(conv),
  }, async () => {
    const sentinel = await TestSentinel.start();
    const store = path.join(await tempDir(), 'store');
    const worker = await ConversionWorker.start({
      redis: sentinel.url,
      store,
      builder: new FakeBuilder({ steps: 6 }),
      graceMs: 1000,
      lockMs: 2000,
      log: quiet,
    });
    const client = new ConversionClient({ redis: sentinel.url, backoffMs: 200, waitReplicas: 1, log: quiet });
    try {
      const handles = [];
      for (let i = 0; i < 12; i++)
        handles.push(await client.enqueue({ kind: 'build', source: conv, target, output: { model: `f${i}` } }));
      // some done, one running, the rest waiting
      const deadline = Date.now() + 30_000;
      while ((await Promise.all(handles.map((h) => h.info()))).filter((i) => i?.state === 'completed').length < 2) {
        assert.ok(Date.now() < deadline, 'no job finished');
        await new Promise((r) => setTimeout(r, 50));
      }
      await sentinel.failover();
      const results = await Promise.all(handles.map((h) => h.result(120_000)));
      assert.equal(results.length, 12);
      const s = await ModelStore.open(store);
      for (let i = 0; i < 12; i++) assert.deepEqual(await (await s.getModel(`f${i}`)).listVersions(), [1]);
    } finally {
      await client.close();
      await worker.close();
      await sentinel.stop();
    }
  });

  test('jobs under replication lag: a plain enqueue the replica never got is lost in a failover; waitReplicas: 1 refuses to acknowledge one until a replica has it', {
    skip: skipWithout(conv),
  }, async () => {
    const sentinel = await TestSentinel.start({ relayReplication: true });
    const store = path.join(await tempDir(), 'store');
    const safe = new ConversionClient({ redis: sentinel.url, waitReplicas: 1, waitTimeoutMs: 2000, log: quiet });
    const plain = new ConversionClient({ redis: sentinel.url, log: quiet });
    const spec = (model: string) => ({ kind: 'import' as const, source: conv, output: { model } });
    let worker: ConversionWorker | undefined;
    try {
      const kept = await safe.enqueue(spec('kept'));
      sentinel.link?.hold();
      const lost = await plain.enqueue(spec('lost'));
      assert.equal((await lost.info())?.state, 'waiting', 'the primary acknowledged it');
      await assert.rejects(safe.enqueue(spec('refused')), (err: unknown) =>
        isMsbError(err, 'MSB_REDIS_NOT_REPLICATED'),
      );
      await sentinel.failover();
      // the promoted replica has `kept` and neither job it never heard of
      assert.equal((await kept.info())?.state, 'waiting');
      assert.equal(await lost.info(), undefined, 'the unconfirmed job went with the primary');
      // and no replica of its own: nothing is acknowledged until one is back, not even on a retry that finds the
      // job the refused call queued (the primary's word is not a replica's)
      for (let i = 0; i < 2; i++)
        await assert.rejects(safe.enqueue(spec('refused')), (err: unknown) =>
          isMsbError(err, 'MSB_REDIS_NOT_REPLICATED'),
        );
      await sentinel.rejoinOldPrimary();
      // MSB_REDIS_NOT_REPLICATED is retryable: the rejoined replica confirms once its acknowledgements flow again
      // (a loaded machine has taken longer than one WAIT for that), as a caller would retry
      const deadline = Date.now() + 30_000;
      let refused: Awaited<ReturnType<ConversionClient['enqueue']>> | undefined;
      while (!refused) {
        refused = await safe.enqueue(spec('refused')).catch((err: unknown) => {
          if (!isMsbError(err, 'MSB_REDIS_NOT_REPLICATED') || Date.now() > deadline) throw err;
          return undefined;
        });
      }
      assert.equal((await refused.info())?.state, 'waiting', 'the retry confirmed the job queued before');
      worker = await ConversionWorker.start({ redis: sentinel.url, store, builder: new FakeBuilder(), log: quiet });
      const results = await Promise.all([kept.result(60_000), refused.result(60_000)]);
      assert.deepEqual(
        results.map((r) => [r.model, r.version]),
        [
          ['kept', 1],
          ['refused', 1],
        ],
      );
      assert.deepEqual((await (await ModelStore.open(store)).listModels()).sort(), ['kept', 'refused']);
    } finally {
      await safe.close();
      await plain.close();
      await worker?.close();
      await sentinel.stop();
    }
  });

  test('correlation IDs under replication lag: a plain acquire the replica never got is lost in a failover and its ID handed out again; waitReplicas: 1 refuses to hand out such an ID', async () => {
    const sentinel = await TestSentinel.start({ relayReplication: true });
    const link = openRedis(sentinel.url, { log: quiet });
    try {
      await link.connected();
      const safe = new CorrelationIds(link.connection, { ttl: 600_000, waitReplicas: 1, waitTimeoutMs: 2000 });
      const plain = new CorrelationIds(link.connection, { ttl: 600_000 });
      const kept = await safe.acquire('lag');
      // the replica stops hearing from the primary: what follows is acknowledged by the primary alone
      sentinel.link?.hold();
      const lost = await plain.acquire('lag');
      await assert.rejects(safe.acquire('lag'), (err: unknown) => isMsbError(err, 'MSB_REDIS_NOT_REPLICATED'));
      await sentinel.failover();
      await link.connected(30_000);
      assert.deepEqual(
        (await plain.list('lag')).map((l) => l.id),
        [kept.id],
        'the replica-confirmed lease survived; the unconfirmed one went with the primary',
      );
      // the hazard waitReplicas exists for: the holder of `lost` still uses its ID, and it is handed out again
      const again = await plain.acquire('lag');
      assert.equal(again.id, lost.id);
      // the promoted replica has no replica of its own: a lease could be lost with it, so none is handed out
      await assert.rejects(safe.acquire('lag'), (err: unknown) => isMsbError(err, 'MSB_REDIS_NOT_REPLICATED'));
      assert.deepEqual(
        (await plain.list('lag')).map((l) => l.id),
        [kept.id, again.id],
        'the refused lease was released',
      );
    } finally {
      await link.close();
      await sentinel.stop();
    }
  });
});
