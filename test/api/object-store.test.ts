import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { ModelStore, openStorage } from '../../src/store/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { TestS3 } from '../helpers/s3.js';
import { type Harness, startHarness } from './harness.js';

// Object-store sources and an object-store artifact store, on a real S3 server (s3rver over loopback).
const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');
/** Without the corpora (a clone without ../shared) these tests skip, and say so. */
const skip = skipWithout(conv);
const json = { 'content-type': 'application/json' };

let s3: TestS3;
let h: Harness;
before(async () => {
  s3 = await TestS3.start();
  h = await startHarness();
});
after(async () => {
  await h?.close();
  await s3?.stop();
});

async function enqueue(spec: unknown) {
  const r = await h.call('/v1/jobs', {
    method: 'POST',
    token: h.tokens.enqueue,
    headers: json,
    body: JSON.stringify(spec),
  });
  return { status: r.status, body: (await r.json()) as { id: string; code?: string } };
}

async function finished(id: string, timeoutMs = 60_000): Promise<{ state: string; failedReason?: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = (await (await h.call(`/v1/jobs/${id}`, { token: h.tokens.read })).json()) as {
      state: string;
      failedReason?: string;
    };
    if (j.state === 'completed' || j.state === 'failed' || Date.now() > deadline) return j;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('an import job from an s3:// source: the worker reads the object and the model appears in the store', {
  skip,
}, async () => {
  const bucket = await openStorage(s3.uri('inputs'));
  await bucket.writeStream('conv.onnx', createReadStream(conv));
  const e = await enqueue({ kind: 'import', source: s3.uri('inputs/conv.onnx'), output: { model: 'conv_s3' } });
  assert.equal(e.status, 202, JSON.stringify(e.body));
  const j = await finished(e.body.id);
  assert.equal(j.state, 'completed', j.failedReason);
  const store = await ModelStore.open(h.store);
  assert.equal(await store.hasModel('conv_s3'), true);
});

test('an object that does not exist is a 422 problem naming the source, and nothing is stored', { skip }, async () => {
  const e = await enqueue({ kind: 'import', source: s3.uri('inputs/missing.onnx'), output: { model: 'missing_s3' } });
  assert.equal(e.status, 422);
  assert.equal(e.body.code, 'MSB_JOB_SOURCE');
  assert.equal(await (await ModelStore.open(h.store)).hasModel('missing_s3'), false);
});

test('--artifacts on s3rver: upload (201), the same bytes again (200, one object), HEAD/GET, and an import from it', {
  skip,
}, async () => {
  const o = await startHarness({ artifacts: s3.uri('artifacts') });
  try {
    const bytes = await readFile(conv);
    const put = () =>
      o.call('/v1/artifacts', {
        method: 'PUT',
        token: o.tokens.enqueue,
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      });
    const first = await put();
    assert.equal(first.status, 201);
    const a = (await first.json()) as { id: string; digest: string; size: number };
    const hex = createHash('sha256').update(bytes).digest('hex');
    assert.deepEqual(a, { id: `artifact:sha256:${hex}`, digest: `sha256:${hex}`, size: bytes.length });
    const second = await put();
    assert.equal(second.status, 200);
    assert.deepEqual(await second.json(), a);
    const objects = await (await openStorage(s3.uri('artifacts'))).list('sha256');
    assert.deepEqual(
      objects?.map((e) => [e.name, e.size]),
      [[hex, bytes.length]],
    );

    const head = await o.call(`/v1/artifacts/${a.id}`, { method: 'HEAD', token: o.tokens.read });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(bytes.length));
    const get = await o.call(`/v1/artifacts/${a.id}`, { token: o.tokens.read });
    assert.equal(get.status, 200);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(bytes));
    const missing = await o.call(`/v1/artifacts/artifact:sha256:${'0'.repeat(64)}`, { token: o.tokens.read });
    assert.equal(missing.status, 404);

    const e = await o.call('/v1/jobs', {
      method: 'POST',
      token: o.tokens.enqueue,
      headers: json,
      body: JSON.stringify({ kind: 'import', source: a.id, output: { model: 'conv_artifact_s3' } }),
    });
    assert.equal(e.status, 202);
    const id = ((await e.json()) as { id: string }).id;
    const deadline = Date.now() + 60_000;
    let j: { state: string; failedReason?: string };
    do {
      await new Promise((r) => setTimeout(r, 200));
      j = (await (await o.call(`/v1/jobs/${id}`, { token: o.tokens.read })).json()) as typeof j;
    } while (j.state !== 'completed' && j.state !== 'failed' && Date.now() < deadline);
    assert.equal(j.state, 'completed', j.failedReason);
    assert.equal(await (await ModelStore.open(o.store)).hasModel('conv_artifact_s3'), true);
  } finally {
    await o.close();
  }
});
