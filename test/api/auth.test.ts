/**
 * The auth matrix: every route that needs a scope, with no token (401), a token without that scope (403), and one
 * with it (neither). Public routes answer without a token. The dashboard's session cookie needs the CSRF header for
 * state changes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addToken, listTokens, removeToken } from '../../src/api/index.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(() => h.close());

const JOB = 'a'.repeat(64);
const ART = `artifact:sha256:${'b'.repeat(64)}`;
const json = { 'content-type': 'application/json' };

/** [method, route, scope, body] — the body is valid, so only authentication decides the outcome. */
const ROUTES: [string, string, 'read' | 'enqueue' | 'admin', string?][] = [
  ['PUT', '/v1/artifacts', 'enqueue', 'bytes'],
  ['HEAD', `/v1/artifacts/${ART}`, 'read'],
  ['GET', `/v1/artifacts/${ART}`, 'read'],
  ['POST', '/v1/jobs', 'enqueue', JSON.stringify({ kind: 'import', source: ART, output: { model: 'm' } })],
  ['GET', '/v1/jobs', 'read'],
  ['GET', `/v1/jobs/${JOB}`, 'read'],
  ['GET', `/v1/jobs/${JOB}/events`, 'read'],
  ['POST', `/v1/jobs/${JOB}/cancel`, 'enqueue'],
  ['POST', `/v1/jobs/${JOB}/retry`, 'enqueue'],
  ['GET', '/v1/workers', 'read'],
  ['GET', '/v1/queues', 'read'],
  ['GET', '/v1/models', 'read'],
  ['GET', '/v1/models/m', 'read'],
  ['POST', '/v1/sequences/m', 'enqueue', '{}'],
  ['POST', '/v1/sequences/m/1/renew', 'enqueue', JSON.stringify({ token: 't' })],
  ['DELETE', '/v1/sequences/m/1', 'enqueue', JSON.stringify({ token: 't' })],
  ['GET', '/queues/api/queues', 'read'],
  ['PUT', '/queues/api/queues/msb-import/pause', 'admin'],
];

function wrongToken(scope: string): string {
  return scope === 'read' ? h.tokens.enqueue : h.tokens.read;
}
function rightToken(scope: string): string {
  return scope === 'read' ? h.tokens.read : scope === 'enqueue' ? h.tokens.enqueue : h.tokens.admin;
}

for (const [method, route, scope, body] of ROUTES) {
  test(`${method} ${route} needs ${scope}`, async () => {
    const init = { method, ...(body ? { body, headers: json } : {}) };
    const none = await h.call(route, init);
    assert.equal(none.status, 401, 'no token');
    const bad = await h.call(route, { ...init, token: 'msb_not-a-token' });
    assert.equal(bad.status, 401, 'unknown token');
    const wrong = await h.call(route, { ...init, token: wrongToken(scope) });
    assert.equal(wrong.status, 403, 'wrong scope');
    if (method !== 'HEAD') assert.equal(((await wrong.json()) as { code: string }).code, 'MSB_API_FORBIDDEN');
    const right = await h.call(route, { ...init, token: rightToken(scope) });
    assert.ok(![401, 403].includes(right.status), `right scope: got ${right.status}`);
    await right.body?.cancel();
    // admin may use every route
    const admin = await h.call(route, { ...init, token: h.tokens.admin });
    assert.ok(![401, 403].includes(admin.status), `admin: got ${admin.status}`);
    await admin.body?.cancel();
  });
}

test('public routes: health, readiness, metrics, the OpenAPI document and the login form', async () => {
  for (const route of ['/healthz', '/readyz', '/metrics', '/v1/openapi.json', '/login']) {
    const r = await h.call(route);
    assert.equal(r.status, 200, route);
    await r.body?.cancel();
  }
});

test('401 carries WWW-Authenticate and a problem+json body with the stable code', async () => {
  const r = await h.call('/v1/jobs');
  assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="msb"');
  assert.equal(r.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const p = (await r.json()) as { status: number; code: string; title: string; type: string };
  assert.deepEqual([p.status, p.code, p.title, p.type], [401, 'MSB_API_UNAUTHORIZED', 'Unauthorized', 'about:blank']);
});

test('the session cookie: set by the login form (HttpOnly, SameSite=Strict); state changes need the CSRF header', async () => {
  const login = await fetch(`${h.server.url}/login`, {
    method: 'POST',
    body: new URLSearchParams({ token: h.tokens.readEnqueue }),
    redirect: 'manual',
  });
  assert.equal(login.status, 303);
  const cookie = login.headers.get('set-cookie') ?? '';
  assert.match(cookie, /^msb_session=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
  const session = cookie.split(';')[0] as string;
  const read = await fetch(`${h.server.url}/v1/workers`, { headers: { cookie: session } });
  assert.equal(read.status, 200);
  const noCsrf = await fetch(`${h.server.url}/v1/jobs/${JOB}/cancel`, { method: 'POST', headers: { cookie: session } });
  assert.equal(noCsrf.status, 403);
  const withCsrf = await fetch(`${h.server.url}/v1/jobs/${JOB}/cancel`, {
    method: 'POST',
    headers: { cookie: session, 'x-msb-csrf': '1' },
  });
  assert.equal(withCsrf.status, 404, 'authorised; the job just does not exist');
  const crossSite = await fetch(`${h.server.url}/login`, {
    method: 'POST',
    body: new URLSearchParams({ token: h.tokens.admin }),
    headers: { origin: 'https://evil.example' },
    redirect: 'manual',
  });
  assert.equal(crossSite.status, 403);
  const wrong = await fetch(`${h.server.url}/login`, {
    method: 'POST',
    body: new URLSearchParams({ token: 'nope' }),
    redirect: 'manual',
  });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get('set-cookie'), null);
  const page = await fetch(`${h.server.url}/`);
  assert.equal(page.status, 401);
  assert.match(await page.text(), /<form method="post" action="\/login">/);
});

test('tokens: stored only as hashes; removing one takes effect on the running server', async () => {
  const t = await addToken(h.tokensFile, 'temp', ['read']);
  assert.match(t, /^msb_[A-Za-z0-9_-]{43}$/);
  const { readFile } = await import('node:fs/promises');
  const file = await readFile(h.tokensFile, 'utf8');
  assert.ok(!file.includes(t), 'the token itself is not stored');
  assert.ok((await listTokens(h.tokensFile)).some((x) => x.name === 'temp'));
  assert.equal((await h.call('/v1/workers', { token: t })).status, 200);
  await removeToken(h.tokensFile, 'temp');
  assert.equal((await h.call('/v1/workers', { token: t })).status, 401);
  await assert.rejects(addToken(h.tokensFile, 'reader', ['read']), /exists already/);
  await assert.rejects(addToken(h.tokensFile, '../x', ['read']), /invalid token name/);
});

test('Bull Board at /queues: read-only (no actions) for tokens without admin, writable for admin', async () => {
  const page = await h.call('/queues', { token: h.tokens.read });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  await page.body?.cancel();
  // The queue list Bull Board's page reads: wait until the board knows the import queue (it refreshes every 5 s).
  type Queues = { queues: { name: string; readOnlyMode: boolean; allowRetries: boolean }[] };
  const list = async (token: string) => {
    const r = await h.call('/queues/api/queues?activeQueue=&status=latest&page=1&jobsPerPage=10', { token });
    assert.equal(r.status, 200);
    return ((await r.json()) as Queues).queues;
  };
  let asReader: Queues['queues'] = [];
  for (let i = 0; i < 100 && !asReader.some((q) => q.name === 'msb-import'); i++) {
    asReader = await list(h.tokens.read);
    if (!asReader.length) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(
    asReader.some((q) => q.name === 'msb-import'),
    JSON.stringify(asReader.map((q) => q.name)),
  );
  for (const q of asReader) assert.deepEqual([q.name, q.readOnlyMode, q.allowRetries], [q.name, true, false]);
  const asAdmin = await list(h.tokens.admin);
  assert.ok(asAdmin.length > 0);
  for (const q of asAdmin) assert.deepEqual([q.name, q.readOnlyMode, q.allowRetries], [q.name, false, true]);
});
