import assert from 'node:assert/strict';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelStore } from '../../src/store/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { type Harness, startHarness } from './harness.js';
import { readEvents } from './sse.js';

const squeezenet = testdata('onnx', 'onnx-backend', 'light', 'light_squeezenet.onnx');
const conv = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');
/** Without the corpora (a clone without ../shared) these tests skip, and say so. */
const skip = skipWithout(squeezenet, conv);
const json = { 'content-type': 'application/json' };

let h: Harness;
before(async () => {
  h = await startHarness({ builderSteps: 40 });
});
after(() => h.close());

async function upload(file: string): Promise<{ status: number; body: { id: string; digest: string; size: number } }> {
  const r = await h.call('/v1/artifacts', {
    method: 'PUT',
    body: await readFile(file),
    token: h.tokens.enqueue,
    headers: { 'content-type': 'application/octet-stream' },
  });
  return { status: r.status, body: (await r.json()) as { id: string; digest: string; size: number } };
}

async function enqueue(spec: object, base?: string) {
  const r = await h.call(
    '/v1/jobs',
    { method: 'POST', body: JSON.stringify(spec), token: h.tokens.readEnqueue, headers: json },
    base,
  );
  return {
    status: r.status,
    body: (await r.json()) as { id: string; queue: string; state: string; deduplicated: boolean; code?: string },
  };
}

async function job(id: string, base?: string) {
  const r = await h.call(`/v1/jobs/${id}`, { token: h.tokens.read }, base);
  assert.equal(r.status, 200);
  return (await r.json()) as {
    state: string;
    failedReason?: string;
    attemptsMade: number;
    logs: string[];
    result?: { model: string; version: number };
  };
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met in time; last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function rawGet(route: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(h.server.url);
    const req = http.get({ hostname, port, path: route, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function storedArtifacts(): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(path.join(h.artifacts, 'sha256')).catch(() => [] as string[]))
    for (const f of await readdir(path.join(h.artifacts, 'sha256', d))) out.push(f);
  return out;
}

describe('artifacts', { skip }, () => {
  test('an upload is stored by its SHA-256 once: 201, then 200 with no second copy; HEAD and GET serve it', {
    skip,
  }, async () => {
    const bytes = await readFile(conv);
    const first = await upload(conv);
    assert.equal(first.status, 201);
    const { createHash } = await import('node:crypto');
    const hex = createHash('sha256').update(bytes).digest('hex');
    assert.deepEqual(first.body, { id: `artifact:sha256:${hex}`, digest: `sha256:${hex}`, size: bytes.length });
    const again = await upload(conv);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    assert.equal((await storedArtifacts()).filter((f) => f === hex).length, 1);
    assert.deepEqual(await readdir(path.join(h.artifacts, '.tmp')), [], 'no temp file left');
    const head = await h.call(`/v1/artifacts/${first.body.id}`, { method: 'HEAD', token: h.tokens.read });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(bytes.length));
    const get = await h.call(`/v1/artifacts/${first.body.id}`, { token: h.tokens.read });
    assert.equal(get.status, 200);
    assert.deepEqual(Buffer.from(await get.arrayBuffer()), bytes);
    const missing = await h.call(`/v1/artifacts/artifact:sha256:${'0'.repeat(64)}`, { token: h.tokens.read });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { code: string }).code, 'MSB_API_NOT_FOUND');
  });
});

describe('jobs', { skip }, () => {
  test('upload, enqueue an import of the artifact, follow it over SSE to completion; the model is in the store', {
    skip,
  }, async () => {
    const a = await upload(squeezenet);
    const e = await enqueue({ kind: 'import', source: a.body.id, output: { model: 'squeezenet' } });
    assert.equal(e.status, 202);
    assert.equal(e.body.queue, 'msb-import');
    assert.equal(e.body.deduplicated, false);
    const res = await h.call(`/v1/jobs/${e.body.id}/events`, { token: h.tokens.read });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = await readEvents(res);
    const end = events.at(-1);
    assert.equal(end?.event, 'end');
    assert.deepEqual((end?.data as { result?: unknown } | undefined)?.result, {
      kind: 'import',
      model: 'squeezenet',
      version: 1,
    });
    assert.ok(events.some((x) => x.event === 'progress' && (x.data as { percent: number }).percent === 100));
    const model = await (await ModelStore.open(h.store)).getModel('squeezenet');
    assert.deepEqual(await model.listVersions(), [1]);
    const info = await job(e.body.id);
    assert.equal(info.state, 'completed');

    // dedup: the same request is the same job, and nothing is published twice
    const again = await enqueue({ kind: 'import', source: a.body.id, output: { model: 'squeezenet' } });
    assert.equal(again.status, 202);
    assert.equal(again.body.id, e.body.id);
    assert.equal(again.body.deduplicated, true);
    assert.deepEqual(await model.listVersions(), [1]);
  });

  test('a build on the builder double: log lines over SSE, and Last-Event-ID resumes without repeating them', {
    skip,
  }, async () => {
    const a = await upload(conv);
    const e = await enqueue({
      kind: 'build',
      source: a.body.id,
      target: { tensorrt: '10.8', gpu: '8.6' },
      output: { model: 'conv_trt' },
    });
    assert.equal(e.status, 202);
    assert.equal(e.body.queue, 'msb-trt10.8-sm86');
    const all = await readEvents(await h.call(`/v1/jobs/${e.body.id}/events`, { token: h.tokens.read }));
    const logs = all.filter((x) => x.event === 'log');
    assert.deepEqual(
      logs.map((x) => x.data),
      ['[info] fake build done'],
    );
    assert.equal(logs[0]?.id, '1');
    const progress = all.filter((x) => x.event === 'progress').map((x) => (x.data as { percent: number }).percent);
    assert.ok(progress.length >= 2, `several progress events, got ${progress}`);
    assert.equal(progress.at(-1), 100);
    const resumed = await readEvents(
      await h.call(`/v1/jobs/${e.body.id}/events`, { token: h.tokens.read, headers: { 'last-event-id': '1' } }),
    );
    assert.equal(resumed.filter((x) => x.event === 'log').length, 0, 'no log line twice');
    assert.equal(resumed.at(-1)?.event, 'end');
    const listed = await h.call('/v1/jobs?model=conv_trt', { token: h.tokens.read });
    const { jobs } = (await listed.json()) as { jobs: { id: string }[] };
    assert.deepEqual(
      jobs.map((j) => j.id),
      [e.body.id],
    );
  });

  test('cancel stops a running build; retry runs a failed job again; both refuse jobs in the wrong state', {
    skip,
  }, async () => {
    const a = await upload(conv);
    // Build options differ from the previous test's, so the plan cache cannot answer at once.
    const e = await enqueue({
      kind: 'build',
      source: a.body.id,
      target: { tensorrt: '10.8', gpu: '8.6' },
      build: { optimizationLevel: 1 },
      output: { model: 'conv_cancel' },
    });
    await until(
      () => job(e.body.id),
      (j) => j.state === 'active',
    );
    const c = await h.call(`/v1/jobs/${e.body.id}/cancel`, { method: 'POST', token: h.tokens.enqueue });
    assert.equal(c.status, 202);
    const cancelled = await until(
      () => job(e.body.id),
      (j) => j.state === 'failed',
    );
    assert.equal(cancelled.failedReason, 'cancelled');
    const again = await h.call(`/v1/jobs/${e.body.id}/cancel`, { method: 'POST', token: h.tokens.enqueue });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { code: string }).code, 'MSB_JOB_FINISHED');

    const r = await h.call(`/v1/jobs/${e.body.id}/retry`, { method: 'POST', token: h.tokens.enqueue });
    assert.equal(r.status, 202);
    const done = await until(
      () => job(e.body.id),
      (j) => j.state === 'completed',
    );
    assert.equal(done.result?.model, 'conv_cancel');
    const notFailed = await h.call(`/v1/jobs/${e.body.id}/retry`, { method: 'POST', token: h.tokens.enqueue });
    assert.equal(notFailed.status, 409);
    assert.equal(((await notFailed.json()) as { code: string }).code, 'MSB_JOB_NOT_FAILED');
    const unknown = await h.call(`/v1/jobs/${'a'.repeat(64)}/cancel`, { method: 'POST', token: h.tokens.enqueue });
    assert.equal(unknown.status, 404);
  });

  test('two replicas on one Redis show the same jobs, workers and queues', { skip }, async () => {
    const b = await h.replica();
    const a = await upload(squeezenet);
    const e = await enqueue({ kind: 'import', source: a.body.id, output: { model: 'squeezenet_b' } }, b.url);
    assert.equal(e.status, 202);
    const onA = await until(
      () => job(e.body.id),
      (j) => j.state === 'completed',
    );
    const onB = await job(e.body.id, b.url);
    assert.deepEqual(onB.result, onA.result);
    const wa = (await (await h.call('/v1/workers', { token: h.tokens.read })).json()) as { workers: { id: string }[] };
    const wb = (await (await h.call('/v1/workers', { token: h.tokens.read }, b.url)).json()) as {
      workers: { id: string }[];
    };
    assert.deepEqual(
      wa.workers.map((w) => w.id),
      [h.worker.id],
    );
    assert.deepEqual(
      wb.workers.map((w) => w.id),
      [h.worker.id],
    );
    const qb = (await (await h.call('/v1/queues', { token: h.tokens.read }, b.url)).json()) as {
      queues: { name: string; served: boolean; counts: { completed: number } }[];
    };
    const imp = qb.queues.find((q) => q.name === 'msb-import');
    assert.equal(imp?.served, true);
    assert.ok((imp?.counts.completed ?? 0) >= 1);
  });

  test('sources by path: only under a --source-root, after following .. and symbolic links', { skip }, async () => {
    const inside = path.join(h.sourceRoot, 'conv.onnx');
    await writeFile(inside, await readFile(conv));
    const ok = await enqueue({ kind: 'import', source: inside, output: { model: 'from_path' } });
    assert.equal(ok.status, 202);
    await until(
      () => job(ok.body.id),
      (j) => j.state === 'completed',
    );
    const outside = path.join(h.dir, 'outside.onnx');
    await writeFile(outside, await readFile(conv));
    await symlink(outside, path.join(h.sourceRoot, 'link.onnx'));
    for (const source of [
      outside,
      `${h.sourceRoot}/../outside.onnx`,
      path.join(h.sourceRoot, 'link.onnx'),
      'conv.onnx',
      '/etc/passwd',
    ]) {
      const r = await enqueue({ kind: 'import', source, output: { model: 'evil' } });
      assert.equal(r.status, 403, source);
      assert.equal(r.body.code, 'MSB_API_SOURCE_FORBIDDEN');
    }
    const ftp = await enqueue({ kind: 'import', source: 'ftp://host/model.onnx', output: { model: 'evil' } });
    assert.equal(ftp.status, 422);
    assert.equal(ftp.body.code, 'MSB_API_SOURCE_UNSUPPORTED');
    for (const source of [`artifact:sha256:${'0'.repeat(64)}`, 'artifact:sha256:../../etc/passwd', 'artifact:../x']) {
      const r = await enqueue({ kind: 'import', source, output: { model: 'evil' } });
      assert.equal(r.status, 404, source);
    }
    assert.equal(await (await ModelStore.open(h.store)).hasModel('evil'), false);
  });
});

describe('models, sequences, health', { skip }, () => {
  test('the store view: list, one model with config, pbtxt, versions and problems; bad names are 400', {
    skip,
  }, async () => {
    const a = await upload(squeezenet);
    const e = await enqueue({ kind: 'import', source: a.body.id, output: { model: 'sq_view' } });
    await until(
      () => job(e.body.id),
      (j) => j.state === 'completed',
    );
    const list = (await (await h.call('/v1/models', { token: h.tokens.read })).json()) as {
      models: { name: string; versions: number[] }[];
    };
    assert.deepEqual(list.models.find((m) => m.name === 'sq_view')?.versions, [1]);
    const one = (await (await h.call('/v1/models/sq_view', { token: h.tokens.read })).json()) as {
      pbtxt: string;
      config: { platform: string };
      versions: { version: number; publishKey: string }[];
      problems: unknown[];
    };
    assert.equal(one.config.platform, 'onnxruntime_onnx');
    assert.match(one.pbtxt, /^name: "sq_view"$/m);
    assert.equal(one.versions[0]?.publishKey, e.body.id);
    assert.deepEqual(one.problems, []);
    // Raw requests: fetch would resolve `..` in the URL before sending it.
    for (const name of ['..', '.hidden', '%2e%2e', '..%2f..%2fetc', 'a%5cb']) {
      const r = await rawGet(`/v1/models/${name}`, h.tokens.read);
      assert.equal(r.status, 400, name);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'MSB_STORE_INVALID_NAME', name);
    }
    assert.equal((await h.call('/v1/models/nope', { token: h.tokens.read })).status, 404);
  });

  test('correlation IDs: acquire (both kinds), renew, release with the token; the wrong token is refused', {
    skip,
  }, async () => {
    const acq = await h.call('/v1/sequences/seq_model', {
      method: 'POST',
      token: h.tokens.enqueue,
      body: '{}',
      headers: json,
    });
    assert.equal(acq.status, 201);
    const lease = (await acq.json()) as { id: string; token: string; expiresAt: number; kind: string };
    assert.equal(lease.kind, 'uint64');
    assert.equal(lease.id, '1');
    const str = (await (
      await h.call('/v1/sequences/seq_model', {
        method: 'POST',
        token: h.tokens.enqueue,
        body: JSON.stringify({ kind: 'string' }),
        headers: json,
      })
    ).json()) as { id: string; kind: string };
    assert.deepEqual([str.kind, str.id], ['string', '2']);
    const renew = await h.call(`/v1/sequences/seq_model/${lease.id}/renew`, {
      method: 'POST',
      token: h.tokens.enqueue,
      body: JSON.stringify({ token: lease.token, ttlMs: 60_000 }),
      headers: json,
    });
    assert.equal(renew.status, 200);
    assert.ok(((await renew.json()) as { expiresAt: number }).expiresAt >= lease.expiresAt);
    const wrong = await h.call(`/v1/sequences/seq_model/${lease.id}`, {
      method: 'DELETE',
      token: h.tokens.enqueue,
      body: JSON.stringify({ token: 'not-the-token' }),
      headers: json,
    });
    assert.equal(wrong.status, 409);
    assert.equal(((await wrong.json()) as { code: string }).code, 'MSB_CID_NOT_HELD');
    const del = await h.call(`/v1/sequences/seq_model/${lease.id}`, {
      method: 'DELETE',
      token: h.tokens.enqueue,
      body: JSON.stringify({ token: lease.token }),
      headers: json,
    });
    assert.equal(del.status, 200);
    const badModel = await h.call('/v1/sequences/.hidden', { method: 'POST', token: h.tokens.enqueue });
    assert.equal(badModel.status, 400);
  });

  test('healthz, readyz, metrics with request durations and queue gauges, and the OpenAPI document', {
    skip,
  }, async () => {
    assert.equal((await h.call('/healthz')).status, 200);
    const ready = await h.call('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true, redis: 'ok', store: 'ok' });
    const metrics = await (await h.call('/metrics')).text();
    assert.match(metrics, /^msb_http_request_duration_seconds_count\{method="GET",route="\/readyz",status="200"\} 1$/m);
    assert.match(metrics, /^msb_queue_jobs\{queue="msb-import",state="completed"\} \d+$/m);
    // the backlog KEDA scales on, from the same scrape's counts: waiting + prioritized + delayed
    const count = (state: string) =>
      Number(
        new RegExp(`^msb_queue_jobs\\{queue="msb-import",state="${state}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0,
      );
    assert.match(metrics, /^msb_queue_backlog\{queue="msb-import"\} \d+$/m);
    assert.equal(
      Number(/^msb_queue_backlog\{queue="msb-import"\} (\d+)$/m.exec(metrics)?.[1]),
      count('waiting') + count('prioritized') + count('delayed'),
    );
    const doc = (await (await h.call('/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    for (const p of [
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/events',
      '/v1/artifacts',
      '/v1/models/{name}',
      '/v1/sequences/{model}',
    ])
      assert.ok(doc.paths[p], `${p} documented`);
    // The job spec schema is the jobs module's: its kinds appear in the request body schema.
    const body = JSON.stringify(doc.paths['/v1/jobs']?.post?.requestBody);
    for (const kind of ['import', 'build', 'inspect']) assert.ok(body.includes(`"${kind}"`), kind);
    assert.equal((await h.call('/docs/')).status, 200);
  });
});
