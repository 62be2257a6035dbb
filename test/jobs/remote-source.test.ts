import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ConversionClient, ConversionWorker } from '../../src/jobs/index.js';
import { ModelStore } from '../../src/store/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { useS3WithRedis } from '../helpers/s3.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeBuilder } from './fake-builder.js';

const squeezenet = testdata('onnx', 'onnx-backend', 'light', 'light_squeezenet.onnx');
/** Without the corpora (a clone without ../shared) these tests skip, and say so. */
const skip = skipWithout(squeezenet);

const servers = useS3WithRedis();

test('a job whose source is an object URI is downloaded by the worker into its digest cache and published to an S3 store', {
  skip,
}, async () => {
  const bytes = await readFile(squeezenet);
  const digest = createHash('sha256').update(bytes).digest('hex');
  const sdk = new S3Client({ endpoint: servers.s3().endpoint, region: 'us-east-1', forcePathStyle: true });
  await sdk.send(new PutObjectCommand({ Bucket: servers.s3().bucket, Key: 'incoming/squeezenet.onnx', Body: bytes }));
  sdk.destroy();
  const source = servers.s3().uri('incoming/squeezenet.onnx');
  const storeUri = servers.s3().uri('served');
  const cacheDir = path.join(await tempDir(), 'cache');
  const worker = await ConversionWorker.start({
    redis: servers.redis().url,
    store: storeUri,
    builder: new FakeBuilder({ identity: { reason: 'no TensorRT here' } }),
    graceMs: 1000,
    heartbeatMs: 500,
    sourceCache: { dir: cacheDir, maxBytes: 64 * 2 ** 20 },
  });
  const client = new ConversionClient({ redis: servers.redis().url, backoffMs: 100 });
  try {
    const handle = await client.enqueue({ kind: 'import', source, output: { model: 'sq' } });
    assert.deepEqual(await handle.result(30_000), { kind: 'import', model: 'sq', version: 1 });
    assert.deepEqual(await readdir(cacheDir), [digest], 'cached by content digest');
    // Same bytes, same output: deduplicated by content, whatever the source's name.
    const again = await client.enqueue({ kind: 'import', source, output: { model: 'sq' } });
    assert.equal(again.id, handle.id);
    // A stated digest the object does not have: the worker's check refuses it, nothing is published.
    const wrong = await client.enqueue({
      kind: 'import',
      source,
      sourceDigest: '0'.repeat(64),
      output: { model: 'sq2' },
    });
    await assert.rejects(wrong.result(30_000), /MSB_JOB_SOURCE_CHANGED/);
    const store = await ModelStore.open(storeUri, { redis: servers.redis().url });
    assert.deepEqual(await store.listModels(), ['sq']);
    const stored = await store.repository.read('sq/1/model.onnx');
    assert.ok(stored?.equals(bytes));
    await store.close();
  } finally {
    await client.close();
    await worker.close();
  }
});
