/**
 * The worker's `tritonLoad` hook end to end: real redis-server, real store on disk, msb's own sample ONNX models,
 * and a server speaking Triton's documented repository protocol (test/triton/repository-server.ts) over the same
 * store directory. After a publish the worker asks Triton to load the model; a failed load is recorded in the
 * job's result and does not fail the job (the version is published).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMsbError } from '../../src/errors.js';
import { ConversionClient, ConversionWorker, type SampleModel, writeSampleModels } from '../../src/jobs/index.js';
import type { RedisLink } from '../../src/redis/index.js';
import { ModelStore } from '../../src/store/index.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { closedAfterEach } from '../helpers/closing.js';
import { adminRedis, flushAll, freePort, startTestRedis, type TestTopology } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';
import { TritonRepositoryServer } from '../triton/repository-server.js';
import { FakeBuilder } from './fake-builder.js';

let redis: TestTopology;
let admin: RedisLink;
let samples: SampleModel[];
let sampleDir: string;
let store: string;
let triton: TritonRepositoryServer;
const track = closedAfterEach();

before(async () => {
  redis = await startTestRedis();
  admin = await adminRedis(redis.url);
  // tempDir() registers its cleanup with the current test; these outlive every test of the file
  sampleDir = await mkdtemp(path.join(os.tmpdir(), 'msb-triton-samples-'));
  samples = await writeSampleModels(sampleDir);
});
after(async () => {
  await admin.close();
  await redis.stop();
  await rm(sampleDir, { recursive: true, force: true });
});
beforeEach(async () => {
  await flushAll(admin.connection);
  store = path.join(await tempDir(), 'store');
  triton = track(await TritonRepositoryServer.start({ repository: store }));
});

const sample = (name: string) => (samples.find((s) => s.name === name) as SampleModel).file;
const client = () => track(new ConversionClient({ redis: redis.url, backoffMs: 100 }));
function worker(tritonLoad: Record<string, unknown> = { url: triton.url, backoffMs: 20 }, extra: object = {}) {
  const lines: string[] = [];
  return ConversionWorker.start({
    redis: redis.url,
    store,
    builder: new FakeBuilder(),
    graceMs: 1000,
    heartbeatMs: 500,
    log: (l) => lines.push(l),
    tritonLoad: tritonLoad as { url: string },
    ...extra,
  }).then((w) => ({ worker: track(w), lines }));
}

async function versionsOf(model: string): Promise<number[]> {
  return (await (await ModelStore.open(store)).getModel(model)).listVersions();
}

describe('tritonLoad', () => {
  test('an import job: published, then exactly one load call for the model, after the version was in place', async () => {
    const { lines } = await worker();
    const c = client();
    const h = await c.enqueue({ kind: 'import', source: sample('identity'), output: { model: 'ident' } });
    const result = await h.result(30_000);
    assert.deepEqual(result, {
      kind: 'import',
      model: 'ident',
      version: 1,
      tritonLoad: { url: triton.url, model: 'ident', loaded: true, attempts: 1 },
    });
    assert.equal(triton.loadCalls().length, 1);
    assert.equal(triton.loadCalls('ident').length, 1);
    // the server saw version 1 on disk when the load came: the load follows the publish
    assert.deepEqual(triton.loaded.get('ident'), ['1']);
    assert.deepEqual(await versionsOf('ident'), [1]);
    assert.ok(
      lines.some((l) => /Triton at http:\/\/127\.0\.0\.1:\d+ loaded ident \(version 1 published; 1 try\)/.test(l)),
      lines.join('\n'),
    );
    const log = await c.bullQueue(h.queue).getJobLogs(h.id);
    assert.ok(
      log.logs.some((l) => /loaded ident/.test(l)),
      'the job log says it too',
    );
  });

  test('a build job: the plan is published and loaded once; a second version is loaded again', async () => {
    await worker();
    const c = client();
    const target = { tensorrt: '10.8', gpu: '8.6' };
    const first = await (
      await c.enqueue({ kind: 'build', source: sample('linear_classifier'), target, output: { model: 'clf' } })
    ).result(30_000);
    assert.equal(first.version, 1);
    assert.deepEqual(first.tritonLoad, { url: triton.url, model: 'clf', loaded: true, attempts: 1 });
    const second = await (
      await c.enqueue({
        kind: 'build',
        source: sample('linear_classifier'),
        target,
        output: { model: 'clf', version: 2 },
      })
    ).result(30_000);
    assert.equal(second.version, 2);
    assert.equal(second.reusedPlan, true);
    assert.equal(triton.loadCalls('clf').length, 2);
    assert.deepEqual(triton.loaded.get('clf'), ['1', '2']);
  });

  test('Triton starting (503 twice): the job waits out the retries and records the tries', async () => {
    await worker();
    triton.failNext(2, 503, 'Server is not ready');
    const result = await (
      await client().enqueue({ kind: 'import', source: sample('identity'), output: { model: 'late' } })
    ).result(30_000);
    assert.deepEqual(result.tritonLoad, { url: triton.url, model: 'late', loaded: true, attempts: 3 });
    assert.equal(triton.loadCalls('late').length, 3);
  });

  test('Triton down: the job still completes, the version is published once, the failed load is recorded', async () => {
    await triton.close();
    const { lines } = await worker({ url: triton.url, attempts: 3, backoffMs: 20 });
    const c = client();
    const h = await c.enqueue({ kind: 'import', source: sample('identity'), output: { model: 'down' } });
    const result = await h.result(30_000);
    assert.equal(result.version, 1);
    assert.equal(result.tritonLoad?.loaded, false);
    assert.equal(result.tritonLoad?.code, 'MSB_TRITON_UNREACHABLE');
    assert.equal(result.tritonLoad?.attempts, 3);
    assert.match(result.tritonLoad?.error ?? '', /cannot reach Triton .*ECONNREFUSED.*after 3 tries/);
    const info = await c.get(h.id);
    assert.equal(info?.state, 'completed');
    assert.equal(info?.attemptsMade, 1, 'the job is not retried for a failed load');
    assert.deepEqual(await versionsOf('down'), [1]);
    assert.ok(lines.some((l) => /did not load down \(version 1 is published\): MSB_TRITON_UNREACHABLE/.test(l)));
  });

  test('a model Triton refuses (400): one load call, recorded as MSB_TRITON_LOAD_FAILED; the job completes', async () => {
    await worker();
    triton.refuseLoad('refused', 'unexpected datatype TYPE_FP32 for input INPUT0');
    const result = await (
      await client().enqueue({ kind: 'import', source: sample('identity'), output: { model: 'refused' } })
    ).result(30_000);
    assert.equal(result.tritonLoad?.code, 'MSB_TRITON_LOAD_FAILED');
    assert.match(result.tritonLoad?.error ?? '', /unexpected datatype/);
    assert.equal(triton.loadCalls('refused').length, 1);
    assert.deepEqual(await versionsOf('refused'), [1]);
  });

  test('close() during the load backoff stops the retries at once: the job completes with the last error', async () => {
    triton.failNext(100, 503, 'Server is not ready');
    const { worker: w } = await worker({ url: triton.url, attempts: 10, backoffMs: 60_000 }, { graceMs: 30_000 });
    const c = client();
    const h = await c.enqueue({ kind: 'import', source: sample('identity'), output: { model: 'closing' } });
    await until('the load call', () => triton.loadCalls('closing').length > 0, 30_000);
    const t0 = Date.now();
    await w.close();
    const took = Date.now() - t0;
    assert.ok(took < 10_000, `close took ${took} ms: neither the 30-60 s backoff nor the 30 s grace held it`);
    const result = await h.result(10_000);
    assert.equal(result.version, 1);
    assert.equal(result.tritonLoad?.loaded, false);
    assert.equal(result.tritonLoad?.code, 'MSB_TRITON_UNAVAILABLE');
    assert.match(result.tritonLoad?.error ?? '', /Server is not ready \(retries stopped: worker shutting down\)/);
    assert.equal(triton.loadCalls('closing').length, 1);
  });

  test('close() while a load is in flight lets that try finish within the grace period: loaded', async () => {
    triton.delayMs = 1500;
    const { worker: w } = await worker({ url: triton.url, backoffMs: 20 }, { graceMs: 30_000 });
    const c = client();
    const h = await c.enqueue({ kind: 'import', source: sample('identity'), output: { model: 'inflight' } });
    await until('the load call', () => triton.loadCalls('inflight').length > 0, 30_000);
    const t0 = Date.now();
    await w.close();
    assert.ok(Date.now() - t0 < 20_000, `close took ${Date.now() - t0} ms`);
    const result = await h.result(10_000);
    assert.deepEqual(result.tritonLoad, { url: triton.url, model: 'inflight', loaded: true, attempts: 1 });
    assert.ok(triton.loaded.has('inflight'));
  });

  test('a Triton URL msb cannot use is refused when the worker starts', async () => {
    await assert.rejects(
      ConversionWorker.start({
        redis: redis.url,
        store,
        builder: new FakeBuilder(),
        tritonLoad: { url: 'grpc://triton:8001' },
      }),
      (e: unknown) => isMsbError(e, 'MSB_TRITON_URL') && /gRPC is on port 8001/.test((e as Error).message),
    );
  });

  test('without tritonLoad nothing calls Triton and the result has no tritonLoad', async () => {
    await track(await ConversionWorker.start({ redis: redis.url, store, builder: new FakeBuilder(), graceMs: 1000 }));
    const result = await (
      await client().enqueue({ kind: 'import', source: sample('identity'), output: { model: 'off' } })
    ).result(30_000);
    assert.deepEqual(result, { kind: 'import', model: 'off', version: 1 });
    assert.equal(triton.requests.length, 0);
  });
});

describe('msb worker --triton-load', () => {
  test('MSB_TRITON_URL: the worker says where it loads, and loads what it publishes', async () => {
    const port = await freePort();
    const { proc, stderr, exited } = spawnCli(
      ['worker', '--store', store, '--grace', '2', '--metrics-port', String(port)],
      { env: { REDIS_URL: redis.url, MSB_TRITON_URL: triton.url } },
    );
    try {
      const deadline = Date.now() + 60_000;
      while (!/msb worker [0-9a-f-]+:/.test(stderr())) {
        assert.ok(Date.now() < deadline && proc.exitCode === null, `the worker started: ${stderr()}`);
        await sleep(50);
      }
      assert.match(stderr(), new RegExp(`loads into Triton at ${triton.url.replace(/\./g, '\\.')}`));
      const result = await (
        await client().enqueue({ kind: 'import', source: sample('identity'), output: { model: 'cli' } })
      ).result(30_000);
      assert.equal(result.tritonLoad?.loaded, true);
      assert.equal(triton.loadCalls('cli').length, 1);
      proc.kill('SIGTERM');
      assert.equal(await exited, 0, stderr());
      assert.match(stderr(), /Triton at http:\/\/127\.0\.0\.1:\d+ loaded cli/);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  });

  test('a bad --triton-load URL or header is one line naming the problem, exit 2', async () => {
    const bad = await runCli(['worker', '--store', store, '--redis', redis.url, '--triton-load', 'triton:8000']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /MSB_TRITON_URL: invalid Triton URL "triton:8000": .*scheme is http or https/);
    assert.doesNotMatch(bad.stderr, /^\s+at /m, 'no stack trace');
    const header = await runCli(['worker', '--store', store, '--triton-load', triton.url, '--triton-header', 'oops']);
    assert.equal(header.code, 2, header.stderr);
    assert.match(header.stderr, /--triton-header takes NAME=VALUE/);
  });
});
