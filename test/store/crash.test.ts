import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ModelStore } from '../../src/store/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { killHard, startChild, waitForPause } from './helpers.js';

const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_shufflenet.onnx');

// Every step at which a writer can be SIGKILLed (see src/store/testhooks.ts).
const steps = [
  'lock-acquired',
  'version-staged',
  'version-renamed',
  'model-staged',
  'model-renamed',
  'config-temp-written',
  'labels-written',
  'tree-moved-out',
];

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

// Steps at which the killed writer has something in staging (so cleanup has work to do).
const leftStaged = new Set(['version-staged', 'model-staged', 'config-temp-written', 'tree-moved-out']);

for (const step of steps) {
  test(`kill -9 at ${step}: the repository stays valid, the next open cleans up, the lock is recovered`, {
    skip: skipWithout(onnx),
  }, async () => {
    const dir = await tempDir();
    const root = path.join(dir, 'repo');
    const staging = path.join(dir, '.repo.msb-staging');
    const store = await ModelStore.open(root, { create: true });
    await store.createModel('base', {
      platform: 'onnxruntime_onnx',
      config: {
        output: [{ name: 'out', dataType: 'TYPE_FP32', dims: [1000] }],
        input: [{ name: 'in', dataType: 'TYPE_FP32', dims: [3] }],
      },
      version: { source: onnx },
    });
    await (await store.getModel('base')).addVersion(onnx);
    const child = startChild({ op: 'crash', root, step, source: onnx }, { MSB_STORE_TEST_PAUSE: step });
    await waitForPause(child, step);
    await killHard(child);
    const leftovers = (await listTree(staging)).filter((p) => !p.startsWith('locks'));
    if (leftStaged.has(step)) assert.notDeepEqual(leftovers, [], 'the kill left something in staging');

    const reopened = await ModelStore.open(root);
    const problems = (await reopened.validate()).filter((p) => p.severity === 'error');
    assert.deepEqual(problems, []);
    // Whatever the writer had staged or moved aside is gone; only the (stale) lock may remain.
    assert.deepEqual(
      (await listTree(staging)).filter((p) => !p.startsWith('locks')),
      [],
    );
    // The dead writer's lock does not block the next writer, and leaves nothing behind after it.
    const model = await reopened.getModel('base');
    const started = Date.now();
    const v = await model.addVersion(onnx);
    assert.ok(Date.now() - started < 5_000, 'stale lock recovered at once (dead pid), not after the lease');
    assert.ok((await model.listVersions()).includes(v));
    assert.deepEqual(await listTree(path.join(staging, 'locks')), []);
    assert.deepEqual(
      (await reopened.validate()).filter((p) => p.severity === 'error'),
      [],
    );
  });
}
