import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { parseModelConfig } from '../../src/config/index.js';
import { ModelStore, tritonVersionOf } from '../../src/store/index.js';
import { ObjectStorage } from '../../src/store/object-storage.js';
import { writeBigOnnx } from '../fixtures/big-onnx.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { useS3WithRedis } from '../helpers/s3.js';
import { tempDir } from '../helpers/tmp.js';
import { type Child, killHard, startChild, waitForPause } from './helpers.js';
import { MemoryClient } from './memory-client.js';

const childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 's3-child.ts');
const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_shufflenet.onnx');
/** Without the corpora (a clone without ../shared) these tests skip, and say so. */
const skip = skipWithout(onnx);
// The model's own interface: validate checks the stored files against the config.
const io = {
  input: [{ name: 'gpu_0/data_0', dataType: 'TYPE_FP32' as const, dims: [1, 3, 224, 224] }],
  output: [{ name: 'gpu_0/softmax_1', dataType: 'TYPE_FP32' as const, dims: [1, 1000] }],
};

const servers = useS3WithRedis();

function startWriter(task: unknown, env: NodeJS.ProcessEnv = {}): Child {
  return startChild(task, { REDIS_URL: servers.redis().url, ...env }, childScript);
}

/**
 * Lists the repository the way Triton's S3 filesystem does (ListObjectsV2 by prefix without a delimiter, keys cut at
 * '/') and reports what Triton could trip on: a version directory without its complete model file, a config naming a
 * labels file that is not there. The config is read before the listing: labels are written before the config that
 * names them, so a named file must be in any later listing.
 */
async function poll(client: S3Client, prefix: string, modelSize: number): Promise<string[]> {
  const problems: string[] = [];
  const cfg = await client
    .send(
      new (await import('@aws-sdk/client-s3')).GetObjectCommand({
        Bucket: servers.s3().bucket,
        Key: `${prefix}/m/config.pbtxt`,
      }),
    )
    .then(async (r) => r.Body?.transformToString())
    .catch(() => undefined);
  const keys = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: servers.s3().bucket,
        Prefix: `${prefix}/`,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const o of page.Contents ?? []) keys.set((o.Key ?? '').slice(prefix.length + 1), o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const versions = new Set<string>();
  for (const k of keys.keys()) {
    const [model, dir] = k.split('/');
    if (model === 'm' && dir !== undefined && k.split('/').length > 2 && tritonVersionOf(dir).kind === 'version') {
      versions.add(dir);
    }
  }
  for (const v of versions) {
    const size = keys.get(`m/${v}/model.onnx`);
    if (size !== modelSize) problems.push(`m/${v}: model.onnx is ${size === undefined ? 'missing' : `${size} bytes`}`);
  }
  if (cfg !== undefined) {
    // The test server's PUTs are atomic as S3's are (test/helpers/s3.ts), but its GET looks the path up twice (size,
    // then body), so a GET racing a PUT of the same key can return a cut body, which S3 never does: such a read says
    // nothing about msb's order and is skipped.
    let outputs: ReturnType<typeof parseModelConfig>['output'] = [];
    try {
      outputs = parseModelConfig(cfg).output ?? [];
    } catch {
      return problems;
    }
    for (const o of outputs) {
      if (o.labelFilename && !keys.has(`m/${o.labelFilename}`))
        problems.push(`config names missing ${o.labelFilename}`);
    }
  }
  return problems;
}

test('8 writer processes on s3rver get 8 distinct versions; a Triton-like poller never sees a partial version or a missing labels file', {
  skip,
}, async () => {
  const prefix = `w-${randomBytes(3).toString('hex')}`;
  const uri = servers.s3().uri(prefix);
  const store = await ModelStore.open(uri, { create: true, redis: servers.redis().url });
  // Closed whatever an assertion says: the store's Redis lease connection would keep this file's process alive.
  try {
    await store.createModel('m', { platform: 'onnxruntime_onnx', config: io, version: { source: onnx } });
    const size = (await stat(onnx)).size;
    const client = new S3Client({ endpoint: servers.s3().endpoint, region: 'us-east-1', forcePathStyle: true });
    let polls = 0;
    const problems: string[] = [];
    let stop = false;
    const poller = (async () => {
      while (!stop) {
        problems.push(...(await poll(client, prefix, size)));
        polls++;
      }
    })();
    const writers = Array.from({ length: 8 }, (_, i) =>
      startWriter({ op: 'add-version', uri, model: 'm', source: onnx, key: `w${i}` }),
    );
    const labeller = startWriter({ op: 'labels', uri, model: 'm', output: 'gpu_0/softmax_1', rounds: 4 });
    const versions = (await Promise.all(writers.map((w) => w.output))).map((o) => Number(o.trim()));
    await labeller.output;
    stop = true;
    await poller;
    client.destroy();
    assert.deepEqual(
      [...versions].sort((a, b) => a - b),
      [2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.deepEqual(problems, []);
    assert.ok(polls > 5, `the poller ran (${polls} polls)`);
    const m = await store.getModel('m');
    assert.deepEqual(await m.listVersions(), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(m.config.output?.[0]?.labelFilename, 'labels_3.txt');
    assert.deepEqual(
      (await store.validate()).filter((p) => p.severity === 'error'),
      [],
    );
  } finally {
    await store.close();
  }
});

test('kill -9 of a writer mid-upload on s3rver leaves no visible version; the next open drops its claim', {
  skip,
}, async () => {
  const dir = await tempDir();
  const big = path.join(dir, 'big.onnx');
  writeBigOnnx(big, 40 * 1024 * 1024);
  const prefix = `k-${randomBytes(3).toString('hex')}`;
  const uri = servers.s3().uri(prefix);
  const store = await ModelStore.open(uri, { create: true, redis: servers.redis().url });
  await store.createModel('m', { platform: 'onnxruntime_onnx', config: io, version: { source: onnx } });
  const writer = startWriter(
    { op: 'add-version', uri, model: 'm', source: big, key: 'crash' },
    { MSB_STORE_TEST_PAUSE: 'upload-started' },
  );
  await waitForPause(writer, 'upload-started');
  await killHard(writer);
  const m = await store.getModel('m');
  assert.deepEqual(await m.listVersions(), [1], 'the interrupted version is not visible');
  const claims = async () => await (store.repository as ObjectStorage).pendingClaims();
  assert.deepEqual(await claims(), ['m/2'], 'its claim is still there');
  await store.close();
  const reopened = await ModelStore.open(uri, { redis: servers.redis().url });
  assert.deepEqual(await (reopened.repository as ObjectStorage).pendingClaims(), [], 'the next open dropped it');
  assert.equal(await (await reopened.getModel('m')).addVersion(onnx), 2, 'and the number is free again');
  assert.deepEqual(
    (await reopened.validate()).filter((p) => p.severity === 'error'),
    [],
  );
  await reopened.close();
});

test("the next open aborts a crashed writer's multipart upload and removes what it had written (in-memory S3)", {
  skip,
}, async () => {
  const client = new MemoryClient();
  const storage = new ObjectStorage(client, { prefix: 'repo' });
  const store = await ModelStore.open('', { storage, create: true });
  await store.createModel('m', { platform: 'onnxruntime_onnx', config: io, version: { source: onnx } });
  // What a writer killed mid-upload leaves: its claim (a dead pid on this host), an object it had committed before the
  // model file (a dependency), and the model file's unfinished multipart upload.
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.on('exit', r));
  await client.put(
    'repo.msb/claims/m/2.json',
    Buffer.from(
      JSON.stringify({ key: 'm/2', host: (await import('node:os')).hostname(), pid: dead.pid, startedAt: '' }),
    ),
  );
  await client.put('repo/m/2/model.bin', Buffer.from('weights'));
  client.uploads.set('u1', { key: 'repo/m/2/model.onnx', parts: [Buffer.from('part')], initiated: new Date() });
  const reopened = await ModelStore.open('', { storage: new ObjectStorage(client, { prefix: 'repo' }) });
  assert.equal(client.uploads.size, 0, 'the orphaned multipart upload is aborted');
  assert.equal(await client.head('repo/m/2/model.bin'), undefined, 'the partial version is removed');
  assert.equal(await client.head('repo.msb/claims/m/2.json'), undefined);
  assert.deepEqual(await (await reopened.getModel('m')).listVersions(), [1]);
});
