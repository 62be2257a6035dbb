import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { parseModelConfig } from '../../src/config/index.js';
import { isMsbError } from '../../src/errors.js';
import { ConversionClient, ConversionWorker, IMPORT_QUEUE, type JobSpecInput } from '../../src/jobs/index.js';
import type { RedisLink } from '../../src/redis/index.js';
import { ModelStore } from '../../src/store/index.js';
import { closedAfterEach } from '../helpers/closing.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { adminRedis, flushAll, startTestRedis, type TestTopology } from '../helpers/redis.js';
import { FakeBuilder } from './fake-builder.js';

const squeezenet = testdata('onnx', 'onnx-backend', 'light', 'light_squeezenet.onnx');
const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');
const target = { tensorrt: '10.8', gpu: '8.6' };

let redis: TestTopology;
let admin: RedisLink;
let store: string;
const track = closedAfterEach();

before(async () => {
  redis = await startTestRedis({ aof: true });
  admin = await adminRedis(redis.url);
});
after(async () => {
  await admin.close();
  await redis.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const dirs: string[] = [];
beforeEach(async () => {
  await flushAll(admin.connection);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-jobs-'));
  dirs.push(dir);
  store = path.join(dir, 'store');
});

const client = () => track(new ConversionClient({ redis: redis.url, backoffMs: 100 }));
const worker = (builder = new FakeBuilder(), extra: object = {}) =>
  ConversionWorker.start({ redis: redis.url, store, builder, graceMs: 1000, heartbeatMs: 500, ...extra }).then(track);

async function versionsOf(model: string): Promise<number[]> {
  return (await (await ModelStore.open(store)).getModel(model)).listVersions();
}

describe('import jobs', () => {
  test('an ONNX model is published with a generated config, into a repository Triton would load', {
    skip: skipWithout(squeezenet),
  }, async () => {
    await worker(new FakeBuilder({ identity: { reason: 'no TensorRT here' } }));
    const handle = await client().enqueue({ kind: 'import', source: squeezenet, output: { model: 'squeezenet' } });
    const progress: unknown[] = [];
    handle.on('progress', (p) => progress.push(p));
    const result = await handle.result(20_000);
    assert.deepEqual(result, { kind: 'import', model: 'squeezenet', version: 1 });
    const config = parseModelConfig(await readFile(path.join(store, 'squeezenet', 'config.pbtxt'), 'utf8'));
    assert.equal(config.platform, 'onnxruntime_onnx');
    assert.deepEqual(
      config.input?.map((i) => i.name),
      ['data_0'],
    );
    assert.deepEqual(await readFile(path.join(store, 'squeezenet', '1', 'model.onnx')), await readFile(squeezenet));
    assert.deepEqual(await (await ModelStore.open(store)).validate(), []);
    assert.ok(progress.length > 0, 'progress events reach the client');
  });

  test('an identical request returns the first job and its result; nothing is published twice', {
    skip: skipWithout(squeezenet),
  }, async () => {
    await worker();
    const c = client();
    const spec: JobSpecInput = { kind: 'import', source: squeezenet, output: { model: 'sq' } };
    const first = await c.enqueue(spec);
    await first.result(20_000);
    const again = await c.enqueue(spec);
    assert.equal(again.id, first.id);
    assert.equal(again.deduplicated, true);
    assert.deepEqual(await again.result(5000), { kind: 'import', model: 'sq', version: 1 });
    assert.deepEqual(await versionsOf('sq'), [1]);
  });

  test('50 concurrent producers: identical requests become one job, distinct ones all complete', {
    skip: skipWithout(conv),
  }, async () => {
    await worker();
    const producers = Array.from({ length: 50 }, () => client());
    const same = await Promise.all(
      producers.map((c) => c.enqueue({ kind: 'import', source: conv, output: { model: 'shared' } })),
    );
    assert.equal(new Set(same.map((h) => h.id)).size, 1);
    const distinct = await Promise.all(
      producers.map((c, i) => c.enqueue({ kind: 'import', source: conv, output: { model: `m${i}` } })),
    );
    const results = await Promise.all([...distinct, same[0]].map((h) => h?.result(60_000)));
    assert.equal(results.length, 51);
    assert.deepEqual(await versionsOf('shared'), [1]);
    assert.deepEqual((await (await ModelStore.open(store)).listModels()).length, 51);
  });

  test('bad input fails at once with the reason; an invalid spec is refused before enqueueing', async () => {
    await worker();
    const dir = path.dirname(store);
    const junk = path.join(dir, 'junk.onnx');
    await writeFile(junk, 'not a model');
    const c = client();
    const h = await c.enqueue({ kind: 'import', source: junk, output: { model: 'junk' } });
    await assert.rejects(h.result(20_000), /MSB_INSPECT_CORRUPT/);
    const info = await c.get(h.id);
    assert.equal(info?.state, 'failed');
    assert.equal(info?.attemptsMade, 1, 'unrecoverable: not retried');
    await assert.rejects(
      c.enqueue({ kind: 'import', source: junk, output: { model: 'x' }, colour: 'red' } as unknown as JobSpecInput),
      (e: unknown) => isMsbError(e, 'MSB_JOB_INVALID_SPEC') && /colour/.test((e as Error).message),
    );
    await assert.rejects(c.enqueue({ kind: 'import', source: junk, output: { model: '../escape' } }), (e: unknown) =>
      isMsbError(e, 'MSB_JOB_INVALID_SPEC'),
    );
    assert.equal(existsSync(path.join(store, 'junk')), false);
  });

  test('a store error retrying cannot fix (a broken config.pbtxt) fails at once; the model is left as it was', {
    skip: skipWithout(conv),
  }, async () => {
    // MSB_STORE_CONFIG was missing from the worker's old list of unrecoverable codes: the job was retried for nothing.
    await worker();
    await mkdir(path.join(store, 'broken'), { recursive: true });
    await writeFile(path.join(store, 'broken', 'config.pbtxt'), 'name: "broken"\nmax_batch_size: "many"\n');
    const c = client();
    const h = await c.enqueue({ kind: 'import', source: conv, output: { model: 'broken' } });
    await assert.rejects(h.result(20_000), /MSB_STORE_CONFIG/);
    assert.equal((await c.get(h.id))?.attemptsMade, 1, 'not retried');
    assert.equal(
      await readFile(path.join(store, 'broken', 'config.pbtxt'), 'utf8'),
      'name: "broken"\nmax_batch_size: "many"\n',
    );
  });
});

describe('build jobs through the builder boundary', () => {
  test('a build for a target no worker serves waits and says so; a worker for it builds and publishes plan + record', {
    skip: skipWithout(conv),
  }, async () => {
    await worker(new FakeBuilder({ identity: { reason: 'no TensorRT here' } }));
    const c = client();
    const h = await c.enqueue({ kind: 'build', source: conv, target, output: { model: 'conv_trt' } });
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await c.get(h.id);
    assert.equal(waiting?.state, 'waiting');
    assert.match(waiting?.unserved ?? '', /no live worker serves msb-trt10\.8-sm86 \(live workers serve: msb-import\)/);

    const builder = new FakeBuilder();
    await worker(builder);
    const result = await h.result(20_000);
    assert.equal(result.model, 'conv_trt');
    assert.equal(result.reusedPlan, false);
    const versionDir = path.join(store, 'conv_trt', '1');
    assert.match(await readFile(path.join(versionDir, 'model.plan'), 'utf8'), /^ftrt fake plan/);
    const record = JSON.parse(await readFile(path.join(versionDir, 'model.plan.msb.json'), 'utf8'));
    assert.equal(record.tensorrt, '10.8.0');
    const config = parseModelConfig(await readFile(path.join(store, 'conv_trt', 'config.pbtxt'), 'utf8'));
    assert.equal(config.platform, 'tensorrt_plan');
    assert.deepEqual(await (await ModelStore.open(store)).validate(), []);
  });

  test('a plan built once is published again without rebuilding; the timing cache is shared per target', {
    skip: skipWithout(squeezenet, conv),
  }, async () => {
    const builder = new FakeBuilder();
    await worker(builder);
    const c = client();
    const a = await (await c.enqueue({ kind: 'build', source: conv, target, output: { model: 'a' } })).result(20_000);
    const b = await (await c.enqueue({ kind: 'build', source: conv, target, output: { model: 'b' } })).result(20_000);
    assert.equal(a.reusedPlan, false);
    assert.equal(b.reusedPlan, true);
    assert.equal(builder.builds, 1);
    await (await c.enqueue({ kind: 'build', source: squeezenet, target, output: { model: 'c' } })).result(20_000);
    assert.equal(builder.builds, 2);
    assert.equal(builder.timingCaches[0], undefined);
    assert.equal(new TextDecoder().decode(builder.timingCaches[1]), 'timing cache after 1 builds');
  });

  test('cancelling a running build stops it; nothing is published', { skip: skipWithout(conv) }, async () => {
    await worker(new FakeBuilder({ steps: 200 }));
    const c = client();
    const h = await c.enqueue({ kind: 'build', source: conv, target, output: { model: 'cancelled' } });
    await waitForState(c, h.id, 'active');
    await c.cancel(h.id);
    await assert.rejects(h.result(10_000), /cancelled/);
    assert.equal((await c.get(h.id))?.attemptsMade, 1);
    assert.equal(existsSync(path.join(store, 'cancelled')), false);
  });

  test('a job over its time limit is stopped', { skip: skipWithout(conv) }, async () => {
    await worker(new FakeBuilder({ steps: 200 }));
    const h = await client().enqueue({
      kind: 'build',
      source: conv,
      target,
      output: { model: 'slow' },
      timeoutSeconds: 1,
    });
    await assert.rejects(h.result(10_000), /timed out after 1 s/);
  });

  test('a transient failure is retried with backoff and publishes once', { skip: skipWithout(conv) }, async () => {
    const builder = new FakeBuilder({ failFirst: 1 });
    await worker(builder);
    const c = client();
    const h = await c.enqueue({ kind: 'build', source: conv, target, output: { model: 'retried' } });
    const r = await h.result(20_000);
    assert.equal(r.version, 1);
    assert.equal((await c.get(h.id))?.attemptsMade, 2);
    assert.equal(builder.builds, 2);
    assert.deepEqual(await versionsOf('retried'), [1]);
  });

  test('an inspect job records the plan’s signature beside it', { skip: skipWithout(conv) }, async () => {
    const builder = new FakeBuilder();
    await worker(builder);
    const c = client();
    await (await c.enqueue({ kind: 'build', source: conv, target, output: { model: 'p' } })).result(20_000);
    const plan = path.join(path.dirname(store), 'copy.plan');
    await writeFile(plan, await readFile(path.join(store, 'p', '1', 'model.plan')));
    const r = await (await c.enqueue({ kind: 'inspect', source: plan, target })).result(20_000);
    assert.equal(r.record, `${plan}.msb.json`);
    assert.equal(JSON.parse(await readFile(`${plan}.msb.json`, 'utf8')).signature.platform, 'tensorrt_plan');
  });
});

describe('faults', () => {
  test('Redis restarted (AOF) mid-queue: no job is lost', { skip: skipWithout(conv) }, async () => {
    const c = client();
    const handles = await Promise.all(
      Array.from({ length: 20 }, (_, i) => c.enqueue({ kind: 'import', source: conv, output: { model: `r${i}` } })),
    );
    await redis.restart();
    await worker();
    const results = await Promise.all(handles.map((h) => h.result(60_000)));
    assert.equal(results.length, 20);
    assert.equal((await (await ModelStore.open(store)).listModels()).length, 20);
  });

  test('graceful close lets the running job finish', { skip: skipWithout(conv) }, async () => {
    const w = await worker(new FakeBuilder({ steps: 10 }));
    const c = client();
    const h = await c.enqueue({ kind: 'build', source: conv, target, output: { model: 'graceful' } });
    await waitForState(c, h.id, 'active');
    await w.close();
    assert.equal((await h.result(5000)).version, 1);
    assert.deepEqual(await (await c.workers()).filter((x) => x.id === w.id), [], 'left the registry');
  });
});

test('the import queue is the one a CPU-only worker serves', async () => {
  const w = await worker(new FakeBuilder({ identity: { reason: 'none' } }));
  assert.deepEqual(w.queues, [IMPORT_QUEUE]);
  const gpu = await worker(
    new FakeBuilder({ identity: { tensorrt: '11.1', tensorrtVersion: '11.1.0', computeCapability: '9.0' } }),
  );
  assert.deepEqual(gpu.queues, [IMPORT_QUEUE, 'msb-trt11.1-sm90', 'msb-trt11.1-ampere-plus']);
});

async function waitForState(c: ConversionClient, id: string, state: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await c.get(id))?.state !== state) {
    if (Date.now() > deadline) throw new Error(`job ${id} never became ${state}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
