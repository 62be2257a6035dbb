import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parseModelConfig } from '../../src/config/index.js';
import { ModelStore, parseStoreUri } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { useS3WithRedis } from '../helpers/s3.js';
import { tempDir } from '../helpers/tmp.js';

const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_resnet50.onnx');
// Another file with resnet50's interface, so that both versions agree with the one config.
const onnx2 = testdata('onnx', 'onnx-backend', 'light', 'light_zfnet512.onnx');
/** Without the corpora (a clone without ../shared) these tests skip, and say so. */
const skip = skipWithout(onnx, onnx2);

const servers = useS3WithRedis();

test('every msb store command works on an S3 store named by Triton URI, and nothing lands in a local s3: directory', {
  skip,
}, async () => {
  const cwd = await tempDir();
  const store = servers.s3().uri('repo');
  const env = { REDIS_URL: servers.redis().url };
  const msb = (...args: string[]) => runCli(args, { cwd, env });
  const labels = path.join(cwd, 'labels.txt');
  await writeFile(labels, 'cat\ndog\n');

  const init = await msb('init', store);
  assert.equal(init.code, 0, init.stderr);
  // The seed's `msb add` flags, onto the object store.
  const add = await msb(
    'add',
    `--store-path=${store}`,
    `--onnx=${onnx}`,
    '--name=resnet',
    '--version=1337',
    '--concurrency=2',
    `--labels=${labels}`,
    '--json',
  );
  assert.equal(add.code, 0, add.stderr);
  assert.equal(JSON.parse(add.stdout).version, 1337);
  const v = await msb('version', 'add', store, 'resnet', onnx2, '--json');
  assert.equal(v.code, 0, v.stderr);
  assert.equal(JSON.parse(v.stdout).version, 1338);
  const ls = await msb('ls', store, '--json');
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(JSON.parse(ls.stdout), [
    {
      model: 'resnet',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      versions: [1337, 1338],
      labels: ['labels.txt'],
    },
  ]);
  const set = await msb('config', 'set', store, 'resnet', '--set', 'max_batch_size=0');
  assert.equal(set.code, 0, set.stderr);
  const get = await msb('config', 'get', store, 'resnet');
  assert.equal(parseModelConfig(get.stdout).maxBatchSize ?? 0, 0);
  const show = await msb('show', store, 'resnet', '--json');
  const info = JSON.parse(show.stdout) as { versions: { version: number; files: { path: string; size: number }[] }[] };
  assert.deepEqual(
    info.versions.map((x) => x.files.map((f) => f.path)),
    [['model.onnx'], ['model.onnx']],
  );
  const validate = await msb('validate', store);
  assert.equal(validate.code, 0, validate.stdout + validate.stderr);
  assert.equal(validate.stdout, 'ok\n');
  // The publish record holds each object's SHA-256, computed while uploading.
  const opened = await ModelStore.open(store, { redis: servers.redis().url });
  const rec = JSON.parse((await opened.repository.read('resnet/1338/.msb-version.json'))?.toString() ?? '{}');
  assert.match(rec.files[0].sha256, /^[0-9a-f]{64}$/);
  await opened.close();
  const rmv = await msb('rm', store, 'resnet', '--version', '1337');
  assert.equal(rmv.code, 0, rmv.stderr);
  const rm = await msb('rm', store, 'resnet');
  assert.equal(rm.code, 0, rm.stderr);
  assert.deepEqual(JSON.parse((await msb('ls', store, '--json')).stdout), []);
  assert.equal(existsSync(path.join(cwd, 's3:')), false, 'no local directory named s3:');
});

test('store URIs: forms Triton reads are parsed, others refused up front with a clear error', async () => {
  assert.deepEqual(parseStoreUri('s3://bucket/models/prod/'), {
    kind: 's3',
    uri: 's3://bucket/models/prod',
    bucket: 'bucket',
    prefix: 'models/prod',
  });
  assert.deepEqual(parseStoreUri('s3://https://minio.local:9000/bucket/m'), {
    kind: 's3',
    uri: 's3://https://minio.local:9000/bucket/m',
    bucket: 'bucket',
    prefix: 'm',
    endpoint: 'https://minio.local:9000',
  });
  // Triton's scheme group is optional: `s3://host:port/bucket/…` is an S3-compatible server over HTTP.
  assert.deepEqual(parseStoreUri('s3://minio.local:9000/bucket/m/'), {
    kind: 's3',
    uri: 's3://minio.local:9000/bucket/m',
    bucket: 'bucket',
    prefix: 'm',
    endpoint: 'http://minio.local:9000',
  });
  assert.equal((parseStoreUri('s3://HTTP://10.0.0.1:80/b/p') as { endpoint?: string }).endpoint, 'http://10.0.0.1:80');
  assert.equal(parseStoreUri('gs://b/p').kind, 'gs');
  assert.deepEqual(parseStoreUri('file:///tmp/x'), { kind: 'local', path: '/tmp/x' });
  const cwd = await tempDir();
  for (const [uri, why] of [
    ['s3://http://minio.local/bucket/m', /needs host:port/],
    ['s3://minio.local:port/bucket/m', /numeric port/],
    ['gs://minio.local:9000/bucket/m', /bucket minio.local:9000/],
    ['s3://Bucket_Upper/m', /bucket Bucket_Upper/],
    ['s3://bucket/has space', /\[0-9a-zA-Z._-\]/],
    ['s3:bucket/m', /not scheme:\/\//],
    ['as://account/container', /unsupported scheme/],
    ['s3://bucket', /needs a prefix/],
  ] as const) {
    const r = await runCli(['ls', uri], { cwd });
    assert.equal(r.code, 2, `${uri}: ${r.stderr}`);
    assert.match(r.stderr, /^msb: MSB_STORE_URI: /, uri);
    assert.match(r.stderr, why, uri);
  }
  assert.equal(existsSync(path.join(cwd, 's3:')), false);
});

test("names Triton's S3 parser cannot hold are refused before anything is written", { skip }, async () => {
  const store = await ModelStore.open(servers.s3().uri('names'), { create: true, redis: servers.redis().url });
  try {
    await assert.rejects(
      store.createModel('bad+name', { platform: 'onnxruntime_onnx', version: { source: onnx } }),
      /MSB_STORE_INVALID_NAME|Triton's S3 path parser/,
    );
    assert.deepEqual(await store.listModels(), []);
  } finally {
    await store.close();
  }
});

test("each of Triton's forms for an S3-compatible server reaches the same s3rver store", { skip }, async () => {
  const cwd = await tempDir();
  const s3 = servers.s3();
  const env = { REDIS_URL: servers.redis().url };
  const host = `127.0.0.1:${s3.port}`;
  // Before this was accepted, `s3://host:port/bucket/…` was refused ("bucket 127.0.0.1:… has characters…").
  const bare = `s3://${host}/${s3.bucket}/forms`;
  const init = await runCli(['init', bare], { cwd, env });
  assert.equal(init.code, 0, init.stderr);
  const add = await runCli(['add', `--store-path=${bare}`, `--onnx=${onnx}`, '--name=m'], { cwd, env });
  assert.equal(add.code, 0, add.stderr);
  for (const uri of [bare, `s3://http://${host}/${s3.bucket}/forms/`, `s3://HTTP://${host}/${s3.bucket}/forms`]) {
    const ls = await runCli(['ls', uri, '--json'], { cwd, env });
    assert.equal(ls.code, 0, `${uri}: ${ls.stderr}`);
    assert.deepEqual(
      (JSON.parse(ls.stdout) as { model: string }[]).map((m) => m.model),
      ['m'],
      uri,
    );
  }
  // The plain form `s3://bucket/path` (AWS for Triton); here the SDK's own AWS_ENDPOINT_URL_S3 points it at s3rver.
  const plain = await runCli(['ls', `s3://${s3.bucket}/forms`, '--json'], {
    cwd,
    env: { ...env, AWS_ENDPOINT_URL_S3: s3.endpoint },
  });
  assert.equal(plain.code, 0, plain.stderr);
  assert.deepEqual(
    (JSON.parse(plain.stdout) as { model: string }[]).map((m) => m.model),
    ['m'],
  );
  // s3rver speaks HTTP only: the https form reaches it over TLS and fails as a backend error, not a parse error.
  const tls = await runCli(['ls', `s3://https://${host}/${s3.bucket}/forms`], { cwd, env });
  assert.equal(tls.code, 2, tls.stderr);
  assert.doesNotMatch(tls.stderr, /MSB_STORE_URI|MSB_INTERNAL/);
  assert.equal(existsSync(path.join(cwd, 's3:')), false);
});
