import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ModelStore } from '../../src/store/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { startChild, waitForStderr } from './helpers.js';

const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_resnet50.onnx');

test('8 processes adding versions to one model at once: distinct contiguous numbers, no lost config update', {
  skip: skipWithout(onnx),
}, async () => {
  const root = path.join(await tempDir(), 'repo');
  const store = await ModelStore.open(root, { create: true });
  await store.createModel('shared', { platform: 'onnxruntime_onnx' });
  const writers = Array.from({ length: 8 }, (_, i) =>
    startChild({ op: 'add-versions', root, model: 'shared', source: onnx, count: 3, id: `w${i}` }),
  );
  const results = (await Promise.all(writers.map((w) => w.output))).map((o) => JSON.parse(o) as number[]);
  const all = results.flat().sort((a, b) => a - b);
  assert.deepEqual(
    all,
    Array.from({ length: 24 }, (_, i) => i + 1),
  );
  const model = await store.getModel('shared');
  assert.deepEqual(await model.listVersions(), all);
  assert.equal(model.config.parameters?.counter?.stringValue, '24');
  assert.deepEqual(await store.validate(), []);
});

test('a poller in another process never sees a partial version or config while versions are published', {
  skip: skipWithout(onnx),
}, async () => {
  const dir = await tempDir();
  const root = path.join(dir, 'repo');
  const store = await ModelStore.open(root, { create: true });
  const sources: string[] = [];
  const hashes: Record<string, string> = {};
  for (let i = 0; i < 6; i++) {
    const data = randomBytes(12 * 1024 * 1024);
    const p = path.join(dir, `src${i}.onnx`);
    await writeFile(p, data);
    sources.push(p);
    hashes[p] = createHash('sha256').update(data).digest('hex');
  }
  const stopFile = path.join(dir, 'stop');
  const poller = startChild({ op: 'poll', root, stopFile, hashes, fileName: 'model.onnx' });
  await waitForStderr(poller, 'msb-poller-ready');
  const first = sources[0] as string;
  const model = await store.createModel('polled', { platform: 'onnxruntime_onnx', version: { source: first } });
  for (const [i, s] of sources.entries()) {
    await model.addVersion(s);
    await model.update((c) => ({ ...c, maxBatchSize: i + 1 }));
  }
  await writeFile(stopFile, '');
  const report = JSON.parse(await poller.output) as { polls: number; versionsSeen: number; problems: string[] };
  assert.deepEqual(report.problems, []);
  assert.ok(report.polls > 1, `poller ran ${report.polls} times`);
  assert.ok(report.versionsSeen >= 1);
});

test('the poller does catch a version written in place (the check can fail)', { skip: skipWithout(onnx) }, async () => {
  const dir = await tempDir();
  const root = path.join(dir, 'repo');
  const store = await ModelStore.open(root, { create: true });
  const data = randomBytes(4 * 1024 * 1024);
  const src = path.join(dir, 'src.onnx');
  await writeFile(src, data);
  await store.createModel('naive', { platform: 'onnxruntime_onnx', version: { source: src } });
  const stopFile = path.join(dir, 'stop');
  const poller = startChild({
    op: 'poll',
    root,
    stopFile,
    hashes: { src: createHash('sha256').update(data).digest('hex') },
    fileName: 'model.onnx',
  });
  await waitForStderr(poller, 'msb-poller-ready');
  // What msb never does: create the version directory in the repository and write the file in two halves.
  await mkdir(path.join(root, 'naive', '2'));
  await writeFile(path.join(root, 'naive', '2', 'model.onnx'), data.subarray(0, data.length / 2));
  await waitForStderr(poller, 'msb-poller-saw-problem');
  await appendFile(path.join(root, 'naive', '2', 'model.onnx'), data.subarray(data.length / 2));
  await writeFile(stopFile, '');
  const report = JSON.parse(await poller.output) as { problems: string[] };
  assert.ok(
    report.problems.some((p) => p.startsWith('naive/2')),
    JSON.stringify(report.problems.slice(0, 3)),
  );
});
