/** Build jobs asking for fp16 on TensorRT 11 convert the model first (issue 15); TensorRT 10 keeps its flags. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  ConversionClient,
  ConversionWorker,
  type EngineBuildRequest,
  type JobSpecInput,
} from '../../src/jobs/index.js';
import { readModel } from '../../src/onnx/model.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { startTestRedis, type TestTopology } from '../helpers/redis.js';
import { FakeBuilder } from './fake-builder.js';

const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');

class RecordingBuilder extends FakeBuilder {
  requests: Pick<EngineBuildRequest, 'onnx' | 'options'>[] = [];
  override build(request: EngineBuildRequest) {
    this.requests.push({ onnx: request.onnx, options: request.options });
    return super.build(request);
  }
}

let redis: TestTopology;
let dir: string;
const open: { close(): Promise<void> }[] = [];
before(async () => {
  redis = await startTestRedis();
  dir = await mkdtemp(path.join(os.tmpdir(), 'msb-precision-jobs-'));
});
after(async () => {
  for (const x of open.reverse()) await x.close();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

async function setup(store: string, tensorrt: string) {
  const builder = new RecordingBuilder({
    identity: { tensorrt, tensorrtVersion: `${tensorrt}.0`, computeCapability: '8.6' },
    steps: 1,
  });
  const worker = await ConversionWorker.start({ redis: redis.url, store, builder, graceMs: 1000, heartbeatMs: 500 });
  const client = new ConversionClient({ redis: redis.url, backoffMs: 100 });
  open.push(worker, client);
  return { builder, client };
}

test('TensorRT 11 + fp16: converted first (cached by digest and options), typed model built, compare kept', {
  timeout: 120_000,
  skip: skipWithout(conv),
}, async () => {
  const store = path.join(dir, 'store11');
  const { builder, client } = await setup(store, '11.0');
  const target = { tensorrt: '11.0', gpu: '8.6' };
  const spec: JobSpecInput = {
    kind: 'build',
    source: conv,
    target,
    build: { precision: ['fp16'] },
    output: { model: '' },
  };
  const a = await (await client.enqueue({ ...spec, output: { model: 'conv16' } })).result(60_000);
  assert.equal(a.conversion?.cached, false);
  assert.equal(a.conversion?.precision, 'fp16');
  assert.equal(a.conversion?.lowShare, 1);
  assert.ok(a.conversion && 'pass' in a.conversion.compare && a.conversion.compare.pass, JSON.stringify(a.conversion));
  assert.equal(builder.requests.length, 1);
  const req = builder.requests[0];
  assert.notEqual(req?.onnx, conv);
  assert.equal(req?.options.precision, undefined, 'no precision flags reach TensorRT 11');
  const converted = await readModel(req?.onnx as string);
  assert.ok(converted.graph.initializers.length > 0);
  // An initializer that is also a graph input (IR < 4) is an input: --keep-io-types keeps it FP32; the rest are FP16.
  const graphInputs = new Set(converted.graph.inputs.map((i) => i.name));
  for (const t of converted.graph.initializers) {
    assert.equal(
      t.dataType,
      graphInputs.has(t.name) ? 1 : 10,
      `${t.name} is ${graphInputs.has(t.name) ? 'FP32' : 'FP16'}`,
    );
  }

  // Same bytes, same options: the plan is reused and the conversion comes from the cache.
  const b = await (await client.enqueue({ ...spec, output: { model: 'conv16b' } })).result(60_000);
  assert.equal(b.reusedPlan, true);
  assert.equal(b.conversion?.cached, true);
  assert.equal(b.conversion?.key, a.conversion?.key);
  assert.equal(builder.builds, 1);
});

test('TensorRT 10 + fp16: the source is built as it is, with the precision flag', {
  timeout: 120_000,
  skip: skipWithout(conv),
}, async () => {
  const store = path.join(dir, 'store10');
  const { builder, client } = await setup(store, '10.8');
  const r = await (
    await client.enqueue({
      kind: 'build',
      source: conv,
      target: { tensorrt: '10.8', gpu: '8.6' },
      build: { precision: ['fp16'] },
      output: { model: 'conv10' },
    })
  ).result(60_000);
  assert.equal(r.conversion, undefined);
  assert.equal(builder.requests[0]?.onnx, conv);
  assert.deepEqual(builder.requests[0]?.options.precision, ['fp16']);
});
