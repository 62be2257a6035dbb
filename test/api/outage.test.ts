/**
 * `msb serve` with Redis gone stays answerable: every route that needs Redis answers 503 with a problem document
 * naming it (the dashboard's pages: its "Redis unreachable" page) within its bound, `/readyz` says 503, and what
 * does not need Redis (health, metrics, the store, uploads) keeps working. A real redis-server, killed (SIGKILL: the
 * connection drops) and stopped (SIGSTOP: it holds the connection and answers nothing, a hung host).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Harness, startHarness } from './harness.js';

const REDIS_TIMEOUT_MS = 1500;
let h: Harness;
before(async () => {
  h = await startHarness({ redisTimeoutMs: REDIS_TIMEOUT_MS });
  const r = await h.call('/v1/artifacts', { method: 'PUT', body: 'an artifact', token: h.tokens.admin });
  artifact = ((await r.json()) as { id: string }).id;
});
/** An uploaded artifact: a job from it gets as far as Redis. */
let artifact = '';
after(async () => {
  // Each test brings Redis back itself; a failed one may have left it stopped.
  h.redis.resume();
  await h.close();
});

const JOB = 'a'.repeat(64);
const json = { 'content-type': 'application/json' };

/** [method, route, body]: routes that read Redis, answered with a problem document while it is gone. */
const API: [string, string, string?][] = [
  ['GET', '/v1/jobs'],
  ['GET', `/v1/jobs/${JOB}`],
  ['GET', `/v1/jobs/${JOB}/events`],
  ['POST', `/v1/jobs/${JOB}/cancel`],
  ['POST', `/v1/jobs/${JOB}/retry`],
  ['GET', '/v1/workers'],
  ['GET', '/v1/queues'],
  ['POST', '/v1/sequences/lstm', '{}'],
  ['POST', '/v1/sequences/lstm/1/renew', JSON.stringify({ token: 't' })],
  ['DELETE', '/v1/sequences/lstm/1', JSON.stringify({ token: 't' })],
  ['GET', '/queues/api/queues'],
];
/** The dashboard's pages that read Redis (the jobs list reads it from the browser, through GET /v1/jobs). */
const PAGES = ['/', `/jobs/${JOB}`];

async function timed(route: string, init: RequestInit = {}) {
  const started = Date.now();
  const r = await h.call(route, { ...init, token: h.tokens.admin, signal: AbortSignal.timeout(20_000) });
  const text = await r.text();
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, ms: Date.now() - started };
}

/** Every route at once; each within `bound` ms. */
async function checkAll(bound: number, reason: RegExp) {
  const enqueue = JSON.stringify({ kind: 'import', source: artifact, output: { model: 'm' } });
  const answers = await Promise.all([
    ...[...API, ['POST', '/v1/jobs', enqueue] as [string, string, string]].map(async ([method, route, body]) => ({
      what: `${method} ${route}`,
      page: false,
      ...(await timed(route, { method, ...(body ? { body, headers: json } : {}) })),
    })),
    ...PAGES.map(async (route) => ({ what: `GET ${route}`, page: true, ...(await timed(route)) })),
  ]);
  for (const a of answers) {
    assert.equal(a.status, 503, `${a.what}: ${a.text.slice(0, 300)}`);
    assert.ok(a.ms < bound, `${a.what} took ${a.ms} ms (bound ${bound} ms)`);
    if (a.page) {
      assert.match(a.type, /^text\/html/, a.what);
      assert.match(a.text, /<h1>Redis unreachable<\/h1>/, a.what);
      assert.match(a.text, reason, a.what);
    } else {
      assert.match(a.type, /^application\/problem\+json/, a.what);
      const p = JSON.parse(a.text) as { code: string; detail: string; status: number };
      assert.equal(p.code, 'MSB_REDIS_UNREACHABLE', a.what);
      assert.equal(p.status, 503, a.what);
      assert.match(p.detail, new RegExp(`cannot reach Redis at ${h.redis.url.replace(/[/.]/g, '\\$&')}`), a.what);
      assert.match(p.detail, reason, a.what);
    }
  }
  const ready = await timed('/readyz');
  assert.equal(ready.status, 503, ready.text);
  assert.ok(ready.ms < 3000, `/readyz took ${ready.ms} ms`);
  assert.notEqual((JSON.parse(ready.text) as { redis: string }).redis, 'ok');
  assert.equal(JSON.parse(ready.text).store, 'ok');
  // What does not need Redis keeps working.
  for (const route of ['/healthz', '/v1/models', '/v1/openapi.json', '/models', '/jobs']) {
    const r = await timed(route);
    assert.equal(r.status, 200, `${route}: ${r.text.slice(0, 200)}`);
    assert.ok(r.ms < 3000, `${route} took ${r.ms} ms`);
  }
  const metrics = await timed('/metrics');
  assert.equal(metrics.status, 200);
  assert.ok(metrics.ms < 3000, `/metrics took ${metrics.ms} ms`);
  const upload = await timed('/v1/artifacts', { method: 'PUT', body: `model bytes ${reason.source}` });
  assert.ok([200, 201].includes(upload.status), upload.text);
}

test('Redis killed: every route that needs it answers 503 naming Redis at once; /readyz 503; the rest works', async () => {
  assert.equal((await timed('/v1/jobs')).status, 200);
  await h.redis.kill();
  const metricsBefore = Date.now();
  await checkAll(2000, /cannot reach Redis/);
  assert.match((await timed('/metrics')).text, /^msb_redis_up 0$/m);
  assert.ok(Date.now() - metricsBefore < 30_000);
  // Back: the same routes answer again.
  await h.redis.start();
  const deadline = Date.now() + 20_000;
  while ((await timed('/v1/jobs')).status !== 200 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  assert.equal((await timed('/v1/jobs')).status, 200);
  assert.equal((await timed('/readyz')).status, 200);
});

test('Redis stopped (holds the connection, answers nothing): every route answers 503 within the Redis bound', async () => {
  assert.equal((await timed('/v1/queues')).status, 200);
  h.redis.pause();
  try {
    await checkAll(REDIS_TIMEOUT_MS + 1500, new RegExp(`no answer within ${REDIS_TIMEOUT_MS} ms`));
  } finally {
    h.redis.resume();
  }
  const deadline = Date.now() + 20_000;
  while ((await timed('/v1/jobs')).status !== 200 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  assert.equal((await timed('/v1/jobs')).status, 200);
});
