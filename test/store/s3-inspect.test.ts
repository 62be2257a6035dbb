import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { inspectOnnx } from '../../src/inspect/index.js';
import { ModelStore, storedSignature } from '../../src/store/index.js';
import { inspectObject } from '../../src/store/remote.js';
import { writeBigOnnx } from '../fixtures/big-onnx.js';
import { runCli } from '../helpers/cli.js';
import { useS3WithRedis } from '../helpers/s3.js';
import { tempDir } from '../helpers/tmp.js';

const servers = useS3WithRedis();

test('an ONNX model in an object store is inspected by ranged GETs: its interface, not its weights', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'big.onnx');
  writeBigOnnx(file, 48 * 1024 * 1024);
  const size = (await stat(file)).size;
  const store = await ModelStore.open(servers.s3().uri(`ins-${randomBytes(3).toString('hex')}`), {
    create: true,
    redis: servers.redis().url,
  });
  try {
    await store.createModel('big', {
      platform: 'onnxruntime_onnx',
      config: {
        input: [{ name: 'x', dataType: 'TYPE_FP32', dims: [-1, 12 * 1024 * 1024] }],
        output: [{ name: 'y', dataType: 'TYPE_FP32', dims: [-1, 12 * 1024 * 1024] }],
      },
      version: { source: file },
    });
    const local = (await inspectOnnx(file)).signature;
    assert.deepEqual(await storedSignature(store.repository, 'big/1/model.onnx'), local);
    const uri = `${store.repository.location}/big/1/model.onnx`;
    const { signature, bytesFetched } = await inspectObject(uri);
    assert.deepEqual(signature, local);
    assert.ok(bytesFetched < 1024 * 1024, `fetched ${bytesFetched} of ${size} bytes`);
    const cli = await runCli(['inspect', '--json', uri]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout).inputs, JSON.parse(JSON.stringify(local.inputs)));
  } finally {
    await store.close();
  }
});
