import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3RVER_ENV, TestS3 } from '../helpers/s3.js';

// The S3 server the store suites and the real-Triton poll test run against (s3rver, made to keep S3's promises in
// test/helpers/s3.ts). Those suites trust it to serve each GET from one whole version of an object, as S3 does; a
// server that does not fails them at random (a config.pbtxt cut mid-message, a 500), so that promise is tested here.

let s3: TestS3;
let client: S3Client;
before(async () => {
  s3 = await TestS3.start();
  client = new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: S3RVER_ENV.AWS_REGION,
    credentials: { accessKeyId: S3RVER_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: S3RVER_ENV.AWS_SECRET_ACCESS_KEY },
  });
});
after(async () => {
  client.destroy();
  await s3.stop();
});

test('a GET racing PUTs of the same key gets one whole version, never a cut or mixed body nor an error', async () => {
  // Different lengths: s3rver's own GET took the length from one version and the bytes from the next.
  const versions = ['short', 'a longer body than the short one; '.repeat(30)];
  const put = (body: string) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'k', Body: body }));
  await put(versions[0] as string);
  const deadline = Date.now() + 3000;
  let gets = 0;
  const bad: string[] = [];
  const writer = (async () => {
    for (let i = 1; Date.now() < deadline; i++) await put(versions[i % 2] as string);
  })();
  const readers = Array.from({ length: 4 }, async () => {
    while (Date.now() < deadline) {
      const body = await (
        await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'k' }))
      ).Body?.transformToString();
      gets++;
      if (!versions.includes(body ?? '')) bad.push(`${body?.length} bytes`);
    }
  });
  await Promise.all([writer, ...readers]);
  assert.ok(gets > 100, `only ${gets} GETs raced the PUTs`);
  assert.deepEqual(bad, [], `${bad.length} of ${gets} GETs`);
});
