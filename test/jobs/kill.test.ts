import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ConversionClient, ConversionWorker } from '../../src/jobs/index.js';
import { ModelStore } from '../../src/store/index.js';
import { repoRoot, skipWithout, testdata } from '../helpers/paths.js';
import { startTestRedis, type TestTopology } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeBuilder } from './fake-builder.js';

let redis: TestTopology;
before(async () => {
  redis = await startTestRedis({ aof: true });
});
after(() => redis.stop());

const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');

test('a worker killed with SIGKILL mid-build: the job is picked up again, completes, and publishes one version', {
  skip: skipWithout(conv),
}, async () => {
  const store = path.join(await tempDir(), 'store');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test', 'jobs', 'worker-process.ts')], {
    env: { ...process.env, REDIS_URL: redis.url, STORE: store },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`worker exited ${code}`)));
  });
  const client = new ConversionClient({ redis: redis.url });
  try {
    const source = conv;
    const h = await client.enqueue({
      kind: 'build',
      source,
      target: { tensorrt: '10.8', gpu: '8.6' },
      output: { model: 'survivor' },
    });
    const deadline = Date.now() + 10_000;
    while ((await client.get(h.id))?.state !== 'active') {
      assert.ok(Date.now() < deadline, 'never became active');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.equal(
      await readdir(store)
        .then((d) => d.includes('survivor'))
        .catch(() => false),
      false,
      'nothing published by the killed worker',
    );

    const rescuer = await ConversionWorker.start({ redis: redis.url, store, builder: new FakeBuilder(), lockMs: 1000 });
    try {
      const result = await h.result(30_000);
      assert.equal(result.version, 1);
      assert.deepEqual(await (await (await ModelStore.open(store)).getModel('survivor')).listVersions(), [1]);
      assert.deepEqual(await (await ModelStore.open(store)).validate(), []);
    } finally {
      await rescuer.close();
    }
  } finally {
    await client.close();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
