/**
 * Hostile input: every refusal is the right 4xx with a problem+json body, and nothing is written (no artifact, no
 * temp file, no job, no model).
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { runCli } from '../helpers/cli.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
const LIMIT = 64 * 1024;
before(async () => {
  h = await startHarness({ idleTimeoutMs: 1000, maxArtifactBytes: LIMIT });
});
after(() => h.close());

const json = { 'content-type': 'application/json' };

async function nothingWritten(): Promise<void> {
  assert.deepEqual(await readdir(path.join(h.artifacts, '.tmp')), [], 'no temp file');
  assert.deepEqual(await readdir(h.artifacts).then((d) => d.filter((x) => x !== '.tmp')), [], 'no artifact');
  const redis = new Redis(h.redis.url);
  try {
    assert.equal(await redis.hlen('msb:job-queue'), 0, 'no job');
  } finally {
    redis.disconnect();
  }
  assert.deepEqual(await readdir(h.store), [], 'no model');
}

/** Sends raw bytes on a socket and returns what the server answered before closing (or after `waitMs`). */
function raw(bytes: string | Buffer, options: { end?: boolean; waitMs?: number } = {}): Promise<string> {
  const { port } = new URL(h.server.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
    });
    s.on('error', (e) => (got ? resolve(got) : reject(e)));
    s.on('close', () => resolve(got));
    s.write(bytes);
    if (options.end) s.end();
    if (options.waitMs) setTimeout(() => s.destroy(), options.waitMs);
  });
}

async function expectProblem(r: Response, status: number, code: string): Promise<void> {
  assert.equal(r.status, status);
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(((await r.json()) as { code: string }).code, code);
}

test('malformed JSON, unknown fields, wrong types: 400 with every problem and its path', async () => {
  await expectProblem(
    await h.call('/v1/jobs', { method: 'POST', body: '{"kind":', token: h.tokens.admin, headers: json }),
    400,
    'MSB_API_INVALID_REQUEST',
  );
  const r = await h.call('/v1/jobs', {
    method: 'POST',
    body: JSON.stringify({ kind: 'import', source: 'x', output: { model: 'm', version: -1 }, sneaky: true }),
    token: h.tokens.admin,
    headers: json,
  });
  assert.equal(r.status, 400);
  const p = (await r.json()) as { errors: { path: string }[] };
  assert.deepEqual(p.errors.map((e) => e.path).sort(), ['body', 'body.output.version']);
  await expectProblem(
    await h.call('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ kind: 'nope' }),
      token: h.tokens.admin,
      headers: json,
    }),
    400,
    'MSB_API_INVALID_REQUEST',
  );
  await expectProblem(
    await h.call('/v1/jobs', {
      method: 'POST',
      body: '<job/>',
      token: h.tokens.admin,
      headers: { 'content-type': 'application/xml' },
    }),
    415,
    'MSB_API_MEDIA_TYPE',
  );
  await expectProblem(await h.call('/v1/jobs?state=bogus', { token: h.tokens.admin }), 400, 'MSB_API_INVALID_REQUEST');
  await expectProblem(await h.call('/v1/jobs/not-a-job-id', { token: h.tokens.admin }), 400, 'MSB_API_INVALID_REQUEST');
  await nothingWritten();
});

test('traversal in model names, artifact ids and sources is refused before any filesystem call', async () => {
  for (const model of ['../escape', '..', '.hidden', 'a/b', 'a\\b', 'x\u0000y']) {
    const r = await h.call('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ kind: 'import', source: '/etc/passwd', output: { model } }),
      token: h.tokens.admin,
      headers: json,
    });
    await expectProblem(r, 400, 'MSB_API_INVALID_REQUEST');
  }
  for (const id of ['artifact:sha256:..%2F..%2Fetc%2Fpasswd', 'artifact:sha256:ABC', '..%2F..%2Fetc%2Fpasswd']) {
    await expectProblem(await h.call(`/v1/artifacts/${id}`, { token: h.tokens.admin }), 404, 'MSB_API_NOT_FOUND');
  }
  await nothingWritten();
});

test('oversized bodies: 413 from the declared length or from the bytes, and nothing is kept', async () => {
  await expectProblem(
    await h.call('/v1/jobs', {
      method: 'POST',
      body: JSON.stringify({ kind: 'import', source: 'x'.repeat(2 * 1024 * 1024), output: { model: 'm' } }),
      token: h.tokens.admin,
      headers: json,
    }),
    413,
    'MSB_API_BODY_TOO_LARGE',
  );
  await expectProblem(
    await h.call('/v1/artifacts', { method: 'PUT', body: Buffer.alloc(LIMIT + 1), token: h.tokens.admin }),
    413,
    'MSB_API_BODY_TOO_LARGE',
  );
  // Chunked: no declared length, the limit trips while streaming.
  const chunks = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(LIMIT / 2));
      c.close();
    },
  });
  const r = await h.call('/v1/artifacts', {
    method: 'PUT',
    body: chunks,
    token: h.tokens.admin,
    duplex: 'half',
  } as RequestInit);
  await expectProblem(r, 413, 'MSB_API_BODY_TOO_LARGE');
  await nothingWritten();
});

test('a body shorter than its content-length, and a client that stops sending: 4xx, nothing written', async () => {
  const head = (len: number) =>
    `PUT /v1/artifacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.tokens.admin}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${len}\r\n\r\n`;
  // Half-close after 10 of 1000 bytes.
  const short = await raw(`${head(1000)}0123456789`, { end: true });
  assert.match(short, /^HTTP\/1\.1 (400|408)/, short.slice(0, 80));
  // Stalls after 10 bytes and keeps the connection open: the idle timeout (1 s here) answers 408.
  const slow = await raw(`${head(1000)}0123456789`, { waitMs: 5000 });
  assert.match(slow, /^HTTP\/1\.1 408/, slow.slice(0, 80));
  assert.match(slow, /MSB_API_TIMEOUT/);
  // Same for a JSON body that never completes.
  const slowJson = await raw(
    `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.tokens.admin}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"kind":`,
    { waitMs: 5000 },
  );
  assert.match(slowJson, /^HTTP\/1\.1 408/, slowJson.slice(0, 80));
  // A content-length that is no number.
  const garbage = await raw(
    `PUT /v1/artifacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.tokens.admin}\r\nContent-Length: ten\r\n\r\n`,
    { end: true },
  );
  assert.match(garbage, /^HTTP\/1\.1 400/);
  await nothingWritten();
});

test('msb serve refuses a non-loopback address without --tokens', async () => {
  const r = await runCli([
    'serve',
    '--host',
    '0.0.0.0',
    '--port',
    '0',
    '--store',
    h.store,
    '--artifacts',
    path.join(h.dir, 'a2'),
    '--redis',
    h.redis.url,
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^msb: MSB_API_BIND: refusing to listen on 0\.0\.0\.0 without --tokens/);
});

test('msb token add prints the token once; ls shows names and scopes, never hashes; rm removes', async () => {
  const file = path.join(h.dir, 'cli-tokens.json');
  const add = await runCli(['token', 'add', 'ci', '--scopes', 'read,enqueue', '--tokens', file]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /^msb_[A-Za-z0-9_-]{43}\n$/);
  const ls = await runCli(['token', 'ls', '--tokens', file, '--json']);
  const list = JSON.parse(ls.stdout) as { name: string; scopes: string[]; hash?: string }[];
  assert.deepEqual(
    list.map((t) => [t.name, t.scopes, t.hash]),
    [['ci', ['read', 'enqueue'], undefined]],
  );
  const bad = await runCli(['token', 'add', 'x', '--scopes', 'root', '--tokens', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /MSB_API_TOKENS: invalid scopes/);
  assert.equal((await runCli(['token', 'rm', 'ci', '--tokens', file])).code, 0);
  assert.equal(JSON.parse((await runCli(['token', 'ls', '--tokens', file, '--json'])).stdout).length, 0);
});

test('msb --help does not load Fastify, Bull Board or the API', async () => {
  const r = await runCli(['--help'], {
    env: { NODE_OPTIONS: `--import ${new URL('./trace-imports.mjs', import.meta.url).pathname}` },
  });
  assert.equal(r.code, 0);
  assert.match(r.stderr, /loaded .*commander/, 'the import trace works');
  assert.doesNotMatch(r.stderr, /fastify|bull-board|src\/api\//);
});

test('found by schemathesis: an upload with no body and a QUERY without a content type are 400s, not 500s', async () => {
  const empty = await h.call('/v1/artifacts', { method: 'PUT', token: h.tokens.admin });
  assert.equal(empty.status, 400);
  assert.equal(((await empty.json()) as { code: string }).code, 'MSB_API_INVALID_REQUEST');
  const query = await h.call(`/v1/jobs/${'0'.repeat(64)}`, { method: 'QUERY', token: h.tokens.admin });
  assert.equal(query.status, 400);
  assert.equal(((await query.json()) as { code: string }).code, 'MSB_API_INVALID_REQUEST');
});
