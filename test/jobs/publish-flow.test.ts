/**
 * The worker publishes through the one publish flow `msb add` uses, on a real Redis: an import job of an Ultralytics
 * TensorRT engine stores the bare plan (what TensorRT can deserialize), not the wrapped file, and the store then
 * validates clean; an import of a version the stored config contradicts fails without writing it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConversionClient, ConversionWorker } from '../../src/jobs/index.js';
import type { RedisLink } from '../../src/redis/index.js';
import { ModelStore, VERSION_RECORD } from '../../src/store/index.js';
import { writeSignatureRecord } from '../fixtures/plan-signature.js';
import { closedAfterEach } from '../helpers/closing.js';
import { adminRedis, flushAll, startTestRedis, type TestTopology } from '../helpers/redis.js';
import { FakeBuilder } from './fake-builder.js';

let redis: TestTopology;
let admin: RedisLink;
let dir: string;
const track = closedAfterEach();

before(async () => {
  redis = await startTestRedis();
  admin = await adminRedis(redis.url);
  dir = await mkdtemp(path.join(os.tmpdir(), 'msb-publish-flow-'));
});
after(async () => {
  await admin.close();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A plan stand-in: "ftrt", a serialization version, TensorRT 10.3.0 at bytes 24..26, then bytes. */
function planBytes(): Buffer {
  const head = Buffer.alloc(32);
  head.write('ftrt', 0, 'latin1');
  head[8] = 239;
  head[24] = 10;
  head[25] = 3;
  return Buffer.concat([head, randomBytes(3228 - 32)]);
}

/** Ultralytics' exporter layout: `len(meta).to_bytes(4, "little", signed=True) + meta.encode() + engine`. */
function ultralyticsEngine(plan: Buffer): Buffer {
  const meta = Buffer.from(JSON.stringify({ author: 'Ultralytics', task: 'detect', batch: 1, names: { 0: 'person' } }));
  const length = Buffer.alloc(4);
  length.writeInt32LE(meta.length);
  return Buffer.concat([length, meta, plan]);
}

test('an import job of an Ultralytics engine publishes the bare plan, as msb add does', async () => {
  await flushAll(admin.connection);
  const store = path.join(dir, 'store');
  track(
    await ConversionWorker.start({
      redis: redis.url,
      store,
      builder: new FakeBuilder({ identity: { reason: 'no TensorRT here' } }),
      graceMs: 1000,
      heartbeatMs: 500,
    }),
  );
  const plan = planBytes();
  const engine = path.join(dir, 'yolo.engine');
  await writeFile(engine, ultralyticsEngine(plan));
  const io = (name: string, dims: number[]) => [{ name, dataType: 'TYPE_FP32' as const, dims }];
  await writeSignatureRecord(engine, io('images', [1, 3, 640, 640]), io('output0', [1, 84, 8400]));
  const c = track(new ConversionClient({ redis: redis.url, backoffMs: 100 }));
  const h = await c.enqueue({ kind: 'import', source: engine, output: { model: 'yolo' } });
  assert.deepEqual(await h.result(20_000), { kind: 'import', model: 'yolo', version: 1 });
  const stored = await readFile(path.join(store, 'yolo', '1', 'model.plan'));
  assert.equal(stored.length, plan.length, 'the metadata prefix was taken off');
  assert.ok(stored.equals(plan));
  const record = JSON.parse(await readFile(path.join(store, 'yolo', '1', VERSION_RECORD), 'utf8'));
  assert.equal(record.container.kind, 'ultralytics');
  assert.ok(existsSync(path.join(store, 'yolo', '1', 'model.plan.msb.json')), 'the signature record travels');
  assert.deepEqual(await (await ModelStore.open(store)).validate(), []);

  // A second import into the same model whose tensors contradict its config fails and writes nothing.
  const other = path.join(dir, 'other.engine');
  await writeFile(other, ultralyticsEngine(planBytes()));
  await writeSignatureRecord(other, io('x', [1, 3]), io('y', [1, 2]));
  const bad = await c.enqueue({ kind: 'import', source: other, output: { model: 'yolo' } });
  await assert.rejects(bad.result(20_000), /MSB_STORE_MODEL_MISMATCH/);
  assert.equal((await c.get(bad.id))?.attemptsMade, 1, 'unrecoverable: not retried');
  assert.equal(existsSync(path.join(store, 'yolo', '2')), false);
});
