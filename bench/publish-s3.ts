/**
 * Publishing to an object store: `msb` publishing a 1 GiB ONNX model as a new model version on a local S3 server
 * (s3rver, loopback HTTP) against a raw `@aws-sdk/lib-storage` Upload of the same file with the same part size and
 * concurrency, alternated in the same run (target: msb ≥ 0.9× the raw upload's throughput). Then
 * `msb inspect`'s reader on the stored 1 GiB model, counting the bytes its ranged GETs fetch (target: < 1 MiB).
 * Usage: npm run bench:publish-s3 [-- --mib N] [--rounds N]
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ModelStore } from '../src/store/index.js';
import { inspectObject } from '../src/store/remote.js';
import { PART_SIZE, QUEUE_SIZE } from '../src/store/s3-client.js';
import { writeBigOnnx } from '../test/fixtures/big-onnx.js';
import { TestRedis } from '../test/helpers/redis.js';
import { S3RVER_ENV } from '../test/helpers/s3.js';

const arg = (name: string) => process.argv.indexOf(name);
const mib = Number(process.argv[arg('--mib') + 1]) || 1024;
const rounds = Number(process.argv[arg('--rounds') + 1]) || 3;

const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-bench-s3-'));
// The server runs in its own process (as a real one would), so its work does not share the client's event loop.
const server = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '-e',
    `import('${path.join(import.meta.dirname, '..', 'test', 'helpers', 's3.ts')}').then(async (m) => { const s = await m.TestS3.start(); process.stdout.write(JSON.stringify({ port: s.port, bucket: s.bucket }) + '\\n'); })`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const started = JSON.parse(
  await new Promise<string>((resolve) => server.stdout?.once('data', (d: Buffer) => resolve(d.toString()))),
) as { port: number; bucket: string };
for (const [k, v] of Object.entries(S3RVER_ENV)) process.env[k] = v;
const s3 = {
  bucket: started.bucket,
  endpoint: `http://127.0.0.1:${started.port}`,
  uri: (prefix: string) => `s3://http://127.0.0.1:${started.port}/${started.bucket}/${prefix}`,
  stop: async () => {
    server.kill('SIGKILL');
  },
};
const redis = await TestRedis.start();
const client = new S3Client({
  endpoint: s3.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
try {
  const file = path.join(dir, 'model.onnx');
  writeBigOnnx(file, mib * 1024 * 1024);
  const bytes = (await stat(file)).size;
  const emptyPrefix = async (prefix: string) => {
    const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
    for (const o of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: o.Key }));
  };
  const raw: number[] = [];
  const msb: number[] = [];
  const store = await ModelStore.open(s3.uri('bench'), { create: true, redis: redis.url });
  const config = {
    input: [{ name: 'x', dataType: 'TYPE_FP32' as const, dims: [-1, -1] }],
    output: [{ name: 'y', dataType: 'TYPE_FP32' as const, dims: [-1, -1] }],
  };
  await store.createModel('m', { platform: 'onnxruntime_onnx', config });
  const model = await store.getModel('m');
  let lastVersion = 0;
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    await new Upload({
      client,
      params: { Bucket: s3.bucket, Key: 'raw/model.onnx', Body: createReadStream(file) },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
    }).done();
    raw.push(bytes / ((performance.now() - t) / 1000));
    await emptyPrefix('raw/');
    t = performance.now();
    lastVersion = await model.addVersion(file);
    msb.push(bytes / ((performance.now() - t) / 1000));
    if (r < rounds - 1) await model.removeVersion(lastVersion);
    process.stderr.write(
      `round ${r + 1}: raw ${(raw.at(-1) ?? 0) / 2 ** 20} MiB/s, msb ${(msb.at(-1) ?? 0) / 2 ** 20} MiB/s\n`,
    );
  }
  const { bytesFetched } = await inspectObject(`${store.repository.location}/m/${lastVersion}/model.onnx`);
  await store.close();
  const result = {
    fileBytes: bytes,
    rounds,
    rawUploadMiBps: Number((median(raw) / 2 ** 20).toFixed(1)),
    msbPublishMiBps: Number((median(msb) / 2 ** 20).toFixed(1)),
    ratio: Number((median(msb) / median(raw)).toFixed(3)),
    target: '>= 0.9',
    inspectBytesFetched: bytesFetched,
    inspectTarget: '< 1048576',
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  client.destroy();
  await s3.stop();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}
