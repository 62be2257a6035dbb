import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { inspectOnnx } from '../../src/inspect/index.js';
import { runDemo, writeSampleModels } from '../../src/jobs/index.js';
import { ModelStore } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { python } from '../helpers/python.js';
import { startTestRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';

test('the sample models are valid ONNX by the reference checker, and msb reads the same signature', async () => {
  const dir = await tempDir();
  const samples = await writeSampleModels(dir);
  const script = `
import json, sys, onnx
out = {}
for f in sys.argv[1:]:
    m = onnx.load(f)
    onnx.checker.check_model(m, full_check=True)
    out[f] = [i.name for i in m.graph.input] + [o.name for o in m.graph.output]
print(json.dumps(out))`;
  const names = JSON.parse(execFileSync(python, ['-c', script, ...samples.map((s) => s.file)]).toString());
  for (const s of samples) {
    const sig = (await inspectOnnx(s.file)).signature;
    assert.deepEqual(
      [...sig.inputs, ...sig.outputs].map((t) => t.name),
      names[s.file],
    );
    assert.equal(sig.batchDim, true);
  }
});

test('msb demo: starts Redis, a worker, publishes the samples, leaves the TensorRT build waiting, stops everything', async () => {
  const dir = await tempDir();
  let printed = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      printed += chunk.toString();
      cb();
    },
  });
  const result = await runDemo({ store: path.join(dir, 'model-store'), out });
  assert.deepEqual(result.published.map((p) => [p.model, p.version]).sort(), [
    ['identity', 1],
    ['linear_classifier', 1],
  ]);
  assert.equal(result.waiting.length, 1);
  assert.match(result.waiting[0]?.reason ?? '', /no live worker serves msb-trt/);
  assert.equal(result.repositoryProblems, 0);
  assert.match(printed, /published linear_classifier version 1/);
  assert.match(printed, /waiting {3}linear_classifier_trt/);
  assert.deepEqual(await (await ModelStore.open(path.join(dir, 'model-store'))).validate(), []);
  assert.deepEqual((await readdir(path.join(dir, 'model-store'))).sort(), ['identity', 'linear_classifier']);
});

test('the CLI: msb enqueue, msb jobs ls/show against a real Redis, and msb demo as a user runs it', async () => {
  const redis = await startTestRedis();
  try {
    const dir = await tempDir();
    const [sample] = await writeSampleModels(dir);
    const env = { REDIS_URL: redis.url };
    const enq = await runCli(
      ['enqueue', 'build', sample?.file as string, '--model', 'm', '--target', '10.8/8.6', '--json'],
      { env },
    );
    assert.equal(enq.code, 0, enq.stderr);
    const job = JSON.parse(enq.stdout);
    assert.equal(job.queue, 'msb-trt10.8-sm86');
    assert.match(job.waiting, /no live worker serves msb-trt10\.8-sm86 \(no live workers\)/);
    const ls = await runCli(['jobs', 'ls', '--json'], { env });
    assert.deepEqual(
      JSON.parse(ls.stdout).map((j: { id: string }) => j.id),
      [job.id],
    );
    const bad = await runCli(['enqueue', 'build', sample?.file as string, '--model', 'm', '--target', '10.8'], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--target takes TENSORRT\/GPU/);
    const cancel = await runCli(['jobs', 'cancel', job.id], { env });
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal((await runCli(['jobs', 'show', job.id], { env })).code, 2);
  } finally {
    await redis.stop();
  }
  const dir = await tempDir();
  const demo = await runCli(['demo', '--store', path.join(dir, 'store'), '--port', '0'], {
    env: { REDIS_URL: '' },
    timeoutMs: 60_000,
  });
  assert.equal(demo.code, 0, demo.stderr);
  assert.match(demo.stdout, /repository .*: valid, as Triton would load it/);
  assert.match(demo.stdout, /^serve: {3}dashboard and API at http:\/\/127\.0\.0\.1:\d+\/ while the demo runs$/m);
  // Before: the URL was the last word about a server already gone when the demo returned.
  assert.match(
    demo.stdout,
    /^serve: {3}stopped with the demo; msb demo --keep leaves the dashboard and the worker running$/m,
  );
});
