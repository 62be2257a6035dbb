/**
 * msb's client of Triton's repository API against a server that speaks the documented protocol
 * (./repository-server.ts: triton-inference-server/server docs/protocol/extension_model_repository.md, with the
 * status codes and messages Triton sends). Real HTTP on loopback, a real repository directory.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { TritonError, TritonRepositoryClient, type TritonRetry } from '../../src/triton/index.js';
import { freePort } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { type RepositoryServerOptions, TritonRepositoryServer } from './repository-server.js';

const servers: TritonRepositoryServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** A repository with `models` published (a config and version 1 each), and a server over it. */
async function setup(models: string[] = ['resnet'], options: Omit<RepositoryServerOptions, 'repository'> = {}) {
  const repository = path.join(await tempDir(), 'store');
  for (const m of models) await publish(repository, m);
  const server = await TritonRepositoryServer.start({ repository, ...options });
  servers.push(server);
  return { repository, server };
}

async function publish(repository: string, model: string, version = 1): Promise<void> {
  await mkdir(path.join(repository, model, String(version)), { recursive: true });
  await writeFile(path.join(repository, model, 'config.pbtxt'), `name: "${model}"\nplatform: "onnxruntime_onnx"\n`);
}

const code = (c: string) => (e: unknown) => isMsbError(e, c);

describe('load', () => {
  test('one POST to v2/repository/models/NAME/load with no body; 200 is success in one try', async () => {
    const { server } = await setup(['resnet']);
    const triton = new TritonRepositoryClient({ url: server.url });
    assert.deepEqual(await triton.load('resnet'), { attempts: 1 });
    assert.equal(server.requests.length, 1);
    const [req] = server.requests;
    assert.equal(req?.method, 'POST');
    assert.equal(req?.path, '/v2/repository/models/resnet/load');
    assert.equal(req?.body, '');
    assert.deepEqual(server.loaded.get('resnet'), ['1']);
    assert.deepEqual(await triton.index({ ready: true }), [{ name: 'resnet', version: '1', state: 'READY' }]);
  });

  test('503 twice (Triton still starting), then loaded: three tries, each retry announced with its wait', async () => {
    const { server } = await setup(['resnet']);
    server.failNext(2, 503, 'Server is not ready');
    const retries: TritonRetry[] = [];
    const triton = new TritonRepositoryClient({ url: server.url, backoffMs: 50, onRetry: (r) => retries.push(r) });
    assert.deepEqual(await triton.load('resnet'), { attempts: 3 });
    assert.equal(server.loadCalls('resnet').length, 3);
    assert.deepEqual(
      retries.map((r) => [r.attempt, r.error.code]),
      [
        [1, 'MSB_TRITON_UNAVAILABLE'],
        [2, 'MSB_TRITON_UNAVAILABLE'],
      ],
    );
    assert.match(retries[0]?.error.message ?? '', /HTTP 503: Server is not ready/);
    assert.ok(server.loaded.has('resnet'));
  });

  test('backoff doubles per try, with jitter between half and all of it, up to maxBackoffMs; the server sees the waits', async () => {
    const { server } = await setup(['resnet']);
    server.failNext(100, 503);
    const retries: TritonRetry[] = [];
    const triton = new TritonRepositoryClient({
      url: server.url,
      attempts: 6,
      backoffMs: 40,
      maxBackoffMs: 100,
      onRetry: (r) => retries.push(r),
    });
    const err = await triton.load('resnet').then(
      () => assert.fail('resolved'),
      (e: unknown) => e as TritonError,
    );
    assert.ok(err instanceof TritonError);
    assert.equal(err.code, 'MSB_TRITON_UNAVAILABLE');
    assert.equal(err.retryable, true, 'the job may try again later');
    assert.equal(err.details.attempts, 6);
    assert.match(err.message, /after 6 tries/);
    assert.equal(server.loadCalls().length, 6, 'exactly `attempts` tries');
    const bases = [40, 80, 100, 100, 100];
    assert.deepEqual(
      retries.map((r) => r.attempt),
      [1, 2, 3, 4, 5],
    );
    for (const [i, r] of retries.entries()) {
      const base = bases[i] as number;
      assert.ok(
        r.delayMs >= base / 2 && r.delayMs <= base,
        `retry ${i + 1}: ${r.delayMs} ms in [${base / 2}, ${base}]`,
      );
      const gap = (server.requests[i + 1]?.at ?? 0) - (server.requests[i]?.at ?? 0);
      // timers never fire early; 2 ms for the clock's rounding
      assert.ok(gap >= r.delayMs - 2, `gap ${gap} ms before try ${i + 2} >= its backoff ${r.delayMs} ms`);
    }
  });

  test('500 "failed to poll from model repository" (the model not visible yet) is retried until it appears', async () => {
    const { server, repository } = await setup([]);
    const triton = new TritonRepositoryClient({
      url: server.url,
      backoffMs: 20,
      // the store's listing catches up after the first try, as an eventually consistent object store may; written
      // synchronously, so it is there before the retry (an async write could lose the 20 ms race on a loaded machine)
      onRetry: () => {
        mkdirSync(path.join(repository, 'late', '1'), { recursive: true });
        writeFileSync(path.join(repository, 'late', 'config.pbtxt'), 'name: "late"\nplatform: "onnxruntime_onnx"\n');
      },
    });
    assert.deepEqual(await triton.load('late'), { attempts: 2 });
    assert.ok(server.loaded.has('late'));
  });

  test('a model whose backend refuses it (400 "load failed for model") fails at once, not retried', async () => {
    const { server } = await setup(['bad']);
    server.refuseLoad('bad', 'unable to load plan: incompatible TensorRT version');
    const triton = new TritonRepositoryClient({ url: server.url, backoffMs: 10 });
    await assert.rejects(triton.load('bad'), (e: unknown) => {
      assert.ok(e instanceof TritonError);
      assert.equal(e.code, 'MSB_TRITON_LOAD_FAILED');
      assert.equal(e.retryable, false);
      assert.equal(e.details.status, 400);
      assert.equal(e.details.attempts, 1);
      assert.match(
        e.message,
        /load of model 'bad'.*HTTP 400: load failed for model 'bad'.*incompatible TensorRT version/,
      );
      return true;
    });
    assert.equal(server.loadCalls().length, 1);
  });

  test('a Triton that polls its repository refuses load with 503: MSB_TRITON_NOT_EXPLICIT at once, not retried', async () => {
    const { server } = await setup(['resnet'], { mode: 'poll' });
    const triton = new TritonRepositoryClient({ url: server.url, backoffMs: 10 });
    await assert.rejects(triton.load('resnet'), (e: unknown) => {
      assert.ok(isMsbError(e, 'MSB_TRITON_NOT_EXPLICIT'));
      assert.equal(e.retryable, false);
      assert.match(e.message, /--model-control-mode=explicit/);
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  test('a restricted repository API: 403 without its header (not retried), loaded with it', async () => {
    const restricted = { header: 'triton-admin', value: 's3cret' };
    const { server } = await setup(['resnet'], { restricted });
    await assert.rejects(
      new TritonRepositoryClient({ url: server.url, backoffMs: 10 }).load('resnet'),
      (e: unknown) => isMsbError(e, 'MSB_TRITON_REFUSED') && /403: This API is restricted/.test((e as Error).message),
    );
    assert.equal(server.requests.length, 1);
    const triton = new TritonRepositoryClient({ url: server.url, headers: { 'triton-admin': 's3cret' } });
    assert.deepEqual(await triton.load('resnet'), { attempts: 1 });
  });

  test('each try has its own timeout: a Triton slower than timeoutMs gives MSB_TRITON_TIMEOUT after every try', async () => {
    const { server } = await setup(['resnet']);
    server.delayMs = 3000;
    const triton = new TritonRepositoryClient({ url: server.url, attempts: 2, backoffMs: 10, timeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(triton.load('resnet'), (e: unknown) => {
      assert.ok(isMsbError(e, 'MSB_TRITON_TIMEOUT'));
      assert.equal(e.retryable, true);
      assert.equal(e.details.attempts, 2);
      assert.match(e.message, /did not answer the load of model 'resnet' within 200 ms/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2500, `gave up after ${Date.now() - t0} ms, before the slow answers came`);
    assert.equal(server.loadCalls().length, 2);
  });

  test('connections refused at first (Triton not up yet): retried until it listens', async () => {
    const { server } = await setup(['resnet'], { deferListen: true });
    const retries: TritonRetry[] = [];
    const triton = new TritonRepositoryClient({
      url: server.url,
      attempts: 10,
      backoffMs: 50,
      onRetry: (r) => {
        retries.push(r);
        if (retries.length === 2) void server.listen();
      },
    });
    const { attempts } = await triton.load('resnet');
    assert.ok(attempts >= 3, `${attempts} tries`);
    assert.equal(retries[0]?.error.code, 'MSB_TRITON_UNREACHABLE');
    assert.match(retries[0]?.error.message ?? '', /cannot reach Triton at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/);
    assert.equal(server.loadCalls('resnet').length, 1, 'only the try after it listened reached it');
  });

  test('nothing listening: MSB_TRITON_UNREACHABLE after all tries; the password of the URL is never shown', async () => {
    const port = await freePort();
    const triton = new TritonRepositoryClient({
      url: `http://msb:hunter2@127.0.0.1:${port}`,
      attempts: 3,
      backoffMs: 5,
    });
    assert.equal(triton.url, `http://msb:***@127.0.0.1:${port}`);
    const report = await triton.tryLoad('resnet');
    assert.equal(report.loaded, false);
    assert.equal(report.code, 'MSB_TRITON_UNREACHABLE');
    assert.equal(report.attempts, 3);
    assert.doesNotMatch(JSON.stringify(report), /hunter2/);
  });

  test('basic auth from the URL is sent; a path in the URL is kept as a prefix', async () => {
    const { server } = await setup(['resnet']);
    const triton = new TritonRepositoryClient({ url: `http://msb:pw@127.0.0.1:${server.port}/gateway/triton` });
    await assert.rejects(triton.load('resnet'), code('MSB_TRITON_REFUSED'));
    assert.equal(server.requests[0]?.path, '/gateway/triton/v2/repository/models/resnet/load');
    assert.equal(server.requests[0]?.headers.authorization, `Basic ${Buffer.from('msb:pw').toString('base64')}`);
  });

  test('an abort stops the try in flight and the backoff: MSB_TRITON_ABORTED, quickly', async () => {
    const { server } = await setup(['resnet']);
    server.delayMs = 5000;
    const triton = new TritonRepositoryClient({ url: server.url });
    const ac = new AbortController();
    setTimeout(() => ac.abort('shutdown'), 100);
    const t0 = Date.now();
    await assert.rejects(triton.load('resnet', { signal: ac.signal }), (e: unknown) => {
      assert.ok(isMsbError(e, 'MSB_TRITON_ABORTED'));
      assert.equal(e.retryable, false);
      assert.match(e.message, /aborted \(shutdown\)/);
      return true;
    });
    assert.ok(Date.now() - t0 < 2000);

    server.delayMs = 0;
    server.failNext(1, 503);
    const waiting = new AbortController();
    const slow = new TritonRepositoryClient({
      url: server.url,
      backoffMs: 10_000,
      onRetry: () => waiting.abort('bye'),
    });
    const t1 = Date.now();
    await assert.rejects(slow.load('resnet', { signal: waiting.signal }), (e: unknown) => {
      assert.ok(isMsbError(e, 'MSB_TRITON_ABORTED'));
      assert.match((e as Error).message, /waiting to retry \(bye\); last try: .*503/);
      return true;
    });
    assert.ok(Date.now() - t1 < 2000, 'the 5-10 s backoff was cut short');
  });
});

describe('stopRetrying (a worker shutting down)', () => {
  test('ends a backoff at once with the last error; a try already started, or the first, still runs', async () => {
    const { server } = await setup(['resnet']);
    server.failNext(100, 503, 'Server is not ready');
    const stop = new AbortController();
    const triton = new TritonRepositoryClient({ url: server.url, backoffMs: 60_000, onRetry: () => stop.abort('bye') });
    const t0 = Date.now();
    await assert.rejects(triton.load('resnet', { stopRetrying: stop.signal }), (e: unknown) => {
      assert.ok(isMsbError(e, 'MSB_TRITON_UNAVAILABLE'), String(e));
      assert.equal(e.details.attempts, 1);
      assert.match(e.message, /HTTP 503: Server is not ready \(retries stopped: bye\)$/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000, 'the 30-60 s backoff was not waited out');
    assert.equal(server.loadCalls().length, 1);

    // stopped before the call: the one try runs (a job finishing during the grace period still asks Triton once)
    const { server: ok } = await setup(['resnet']);
    ok.delayMs = 300;
    assert.deepEqual(await new TritonRepositoryClient({ url: ok.url }).load('resnet', { stopRetrying: stop.signal }), {
      attempts: 1,
    });
    assert.ok(ok.loaded.has('resnet'));
  });
});

describe('unload and index', () => {
  test('unload (with unload_dependents) and the index, as documented', async () => {
    const { server } = await setup(['a', 'b']);
    const triton = new TritonRepositoryClient({ url: server.url });
    await triton.load('a');
    assert.deepEqual(await triton.index(), [{ name: 'a', version: '1', state: 'READY' }, { name: 'b' }]);
    assert.equal(server.requests.at(-1)?.body, '{}');
    assert.deepEqual(await triton.unload('a', { unloadDependents: true }), { attempts: 1 });
    assert.deepEqual(JSON.parse(server.requests.at(-1)?.body ?? ''), { parameters: { unload_dependents: true } });
    assert.deepEqual(await triton.index({ ready: true }), []);
    assert.deepEqual(JSON.parse(server.requests.at(-1)?.body ?? ''), { ready: true });
  });

  test('a 200 to the index that is not a list of models (not Triton behind the URL) is MSB_TRITON_PROTOCOL', async () => {
    const other = http.createServer((_req, res) => res.end('<html>hello</html>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = other.address() as AddressInfo;
      await assert.rejects(
        new TritonRepositoryClient({ url: `http://127.0.0.1:${port}` }).index(),
        (e: unknown) => isMsbError(e, 'MSB_TRITON_PROTOCOL') && /<html>hello<\/html>/.test((e as Error).message),
      );
    } finally {
      other.close();
    }
  });
});

describe('options', () => {
  for (const [url, why] of [
    ['', /empty/],
    ['triton:8000', /scheme is http or https, not triton/],
    ['grpc://triton:8001', /not grpc \(gRPC is on port 8001; HTTP is on 8000/],
    ['ftp://triton/', /not ftp/],
    ['http//triton', /not a URL/],
    ['http://triton:8000/?x=1', /no query or fragment/],
  ] as const) {
    test(`the URL ${JSON.stringify(url)} is refused with MSB_TRITON_URL naming the problem`, () => {
      assert.throws(
        () => new TritonRepositoryClient({ url }),
        (e: unknown) => isMsbError(e, 'MSB_TRITON_URL') && why.test((e as Error).message),
      );
    });
  }

  test('out-of-range numbers are MSB_TRITON_OPTIONS', () => {
    for (const bad of [
      { attempts: 0 },
      { attempts: 1.5 },
      { timeoutMs: 0 },
      { backoffMs: -1 },
      { maxBackoffMs: Number.NaN },
    ])
      assert.throws(
        () => new TritonRepositoryClient({ url: 'http://triton:8000', ...bad }),
        (e: unknown) => isMsbError(e, 'MSB_TRITON_OPTIONS') && e.details.option === Object.keys(bad)[0],
      );
  });
});
