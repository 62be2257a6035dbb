import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { ModelStore, putVersion } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';

const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_shufflenet.onnx');
/** Without the corpora (a clone without ../shared) these tests skip, and say so. */
const skip = skipWithout(onnx);
/** ShuffleNet's own tensors: a version added to a model with this config passes the publish flow's model checks. */
const config = {
  platform: 'onnxruntime_onnx',
  input: [{ name: 'gpu_0/data_0', dataType: 'TYPE_FP32' as const, dims: [1, 3, 224, 224] }],
  output: [{ name: 'gpu_0/softmax_1', dataType: 'TYPE_FP32' as const, dims: [1, 1000] }],
};

test('msb version add refuses to write through a model directory linked out of the store; validate warns naming the target', {
  skip,
}, async () => {
  const dir = await tempDir();
  const root = path.join(dir, 'repo');
  const outside = path.join(dir, 'elsewhere');
  await mkdir(outside);
  const store = await ModelStore.open(root, { create: true });
  await store.createModel('real', { platform: config.platform, config, version: { source: onnx } });
  // `linked` is a copy of `real` reached through a link that leaves the repository.
  await writeFile(path.join(outside, 'config.pbtxt'), await readFile(path.join(root, 'real', 'config.pbtxt')));
  await writeFile(
    path.join(outside, 'config.pbtxt'),
    (await readFile(path.join(outside, 'config.pbtxt'), 'utf8')).replace('name: "real"', 'name: "linked"'),
  );
  await symlink(outside, path.join(root, 'linked'));

  const r = await runCli(['version', 'add', root, 'linked', onnx]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /MSB_STORE_SYMLINK/);
  assert.match(r.stderr, new RegExp(outside.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.deepEqual(await readdir(outside), ['config.pbtxt'], 'nothing was written outside the repository');
  const linked = await store.getModel('linked');
  await assert.rejects(
    linked.update((c) => ({ ...c, maxBatchSize: 0 })),
    (err) => isMsbError(err, 'MSB_STORE_SYMLINK'),
  );
  await assert.rejects(linked.setLabels('gpu_0/softmax_1', ['a'], { fileName: 'labels.txt' }), (err) =>
    isMsbError(err, 'MSB_STORE_SYMLINK'),
  );
  await assert.rejects(
    store.removeModel('real').then(() => linked.removeVersion(1)),
    (err) => isMsbError(err, 'MSB_STORE_NOT_FOUND'),
  );

  const problems = await store.validate();
  const warning = problems.find((p) => p.rule === 'link-outside-repository');
  assert.ok(warning, JSON.stringify(problems));
  assert.equal(warning.severity, 'warning');
  assert.equal(warning.path, 'linked');
  assert.match(warning.message, new RegExp(outside.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  const v = await runCli(['validate', root, '--json']);
  assert.ok(
    (JSON.parse(v.stdout) as { rule: string }[]).some((p) => p.rule === 'link-outside-repository'),
    v.stdout,
  );
});

test('one publish flow: concurrent creates of one model both succeed with distinct versions, each reported as made', {
  skip,
}, async () => {
  const dir = await tempDir();
  const store = await ModelStore.open(path.join(dir, 'repo'), { create: true });
  const results = await Promise.all(
    [1, 2, 3, 4].map((i) =>
      putVersion(store, { model: 'm', config, source: onnx, publishKey: `k${i}`, existing: 'add' }),
    ),
  );
  assert.deepEqual(results.map((r) => r.version).sort(), [1, 2, 3, 4]);
  assert.equal(results.filter((r) => r.created).length, 1);
  assert.deepEqual(await (await store.getModel('m')).listVersions(), [1, 2, 3, 4]);
  // A retry with a key finds its version.
  const again = await putVersion(store, { model: 'm', config, source: onnx, publishKey: 'k3', existing: 'add' });
  assert.equal(again.version, results.find((_, i) => i === 2)?.version);
  // A model served by another platform is refused.
  await assert.rejects(
    putVersion(store, {
      model: 'm',
      config: { ...config, platform: 'tensorrt_plan' },
      source: onnx,
      existing: 'add',
    }),
    (err) => isMsbError(err, 'MSB_STORE_MODEL_MISMATCH'),
  );
});

test('msb add --force on an existing model reports the version it made, not 1', { skip }, async () => {
  const dir = await tempDir();
  const root = path.join(dir, 'repo');
  const add = (...extra: string[]) =>
    runCli(['add', `--store-path=${root}`, `--onnx=${onnx}`, '--name=net', '--json', ...extra]);
  const first = await add();
  assert.equal(first.code, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout).version, 1);
  const refused = await add();
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /MSB_STORE_EXISTS/);
  const second = await add('--force');
  assert.equal(second.code, 0, second.stderr);
  assert.equal(JSON.parse(second.stdout).version, 2);
});
