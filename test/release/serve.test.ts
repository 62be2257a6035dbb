/**
 * `msb serve --triton/--gpus`: the API's model problems (`/v1/models/NAME`) are the store's validate with the
 * release and fleet checks, the release named by the server, else the store's default.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type RunningApiServer, startApiServer } from '../../src/api/index.js';
import { publish } from '../../src/publish/index.js';
import { ModelStore } from '../../src/store/index.js';
import { pythonHasOnnx } from '../helpers/python.js';
import { TestRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { makeOnnx, makePlan } from './fixtures.js';

const hasOnnx = pythonHasOnnx();
const dir = await tempDir('msb-release-serve-');
const store = path.join(dir, 'store');
let redis: TestRedis;
const servers: RunningApiServer[] = [];

before(async () => {
  redis = await TestRedis.start();
  if (hasOnnx) await publish({ store, model: 'new', source: makeOnnx(dir).opset22, mode: 'create' });
  const plan = await makePlan(path.join(dir, 'p86.plan'), [10, 3, 0], { computeCapability: '8.6' });
  await publish({ store, model: 'det', source: plan, mode: 'create' });
});
after(async () => {
  for (const s of servers) await s.close();
  await redis.stop();
});

async function serve(options: { triton?: string; gpus?: string[] } = {}): Promise<RunningApiServer> {
  const s = await startApiServer({
    redis: redis.url,
    store,
    artifacts: path.join(dir, 'artifacts'),
    port: 0,
    ...options,
  });
  servers.push(s);
  return s;
}
async function rules(server: RunningApiServer, model: string): Promise<string[]> {
  const res = await fetch(`${server.url}/v1/models/${model}`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { problems: { rule: string; severity: string }[] };
  return body.problems.map((p) => `${p.severity}:${p.rule}`).sort();
}

test('the model problems of the API follow --triton, else the store default', {
  skip: hasOnnx ? false : 'needs python3-onnx',
}, async () => {
  assert.deepEqual(await rules(await serve(), 'new'), []);
  assert.deepEqual(await rules(await serve({ triton: '24.10' }), 'new'), ['error:release-onnx-opset']);
  const s = await ModelStore.open(store);
  await s.setSettings({ triton: '24.10' });
  try {
    assert.deepEqual(await rules(await serve(), 'new'), ['error:release-onnx-opset']);
    assert.deepEqual(await rules(await serve({ triton: '25.11' }), 'new'), ['warning:release-onnx-opset-unknown']);
  } finally {
    await s.setSettings({});
  }
});

test('the model problems of the API name a GPU of the fleet without a plan', async () => {
  assert.deepEqual(await rules(await serve({ gpus: ['8.0', '8.6'] }), 'det'), ['error:gpu-plan']);
  assert.deepEqual(await rules(await serve({ gpus: ['8.6'] }), 'det'), []);
  await assert.rejects(serve({ triton: '99.01' }), /not a Triton release/);
  await assert.rejects(serve({ gpus: ['86'] }), /compute capabilities/);
});

test('POST /v1/jobs with a target naming a release whose TensorRT is unknown is a 400 naming why', async () => {
  const server = await serve();
  const res = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'build',
      source: path.join(dir, 'p86.plan'),
      output: { model: 'm' },
      target: { triton: '25.01', gpu: '8.6' },
    }),
  });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /MSB_RELEASE_TENSORRT_UNKNOWN: the TensorRT version of Triton 25\.01 is unknown/);
});
