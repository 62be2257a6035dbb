import assert from 'node:assert/strict';
import { appendFile, link, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parseModelConfig } from '../../src/config/index.js';
import { isMsbError } from '../../src/errors.js';
import { type CreateModelOptions, ModelStore, VERSION_RECORD } from '../../src/store/index.js';
import { writeOnnxWithSignature } from '../fixtures/onnx-signature.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';

const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_resnet50.onnx');
const onnx2 = testdata('onnx', 'onnx-backend', 'light', 'light_inception_v1.onnx');

async function freshStore() {
  const dir = await tempDir();
  const root = path.join(dir, 'repo');
  return { dir, root, store: await ModelStore.open(root, { create: true }) };
}

const code = (c: string) => (err: unknown) => isMsbError(err, c);

test('the example from the issue: create, force → _0, edit, save, add a version placed as 1/model.onnx', {
  skip: skipWithout(onnx),
}, async () => {
  const { root, store } = await freshStore();
  const model = await store.createModel('my_nn', { platform: 'onnxruntime_onnx' });
  await assert.rejects(store.createModel('my_nn', { platform: 'onnxruntime_onnx' }), code('MSB_STORE_EXISTS'));
  const again = await store.createModel('my_nn', { platform: 'onnxruntime_onnx', force: true });
  assert.equal(again.name, 'my_nn_0');
  assert.equal((await store.createModel('my_nn', { platform: 'onnxruntime_onnx', force: true })).name, 'my_nn_1');
  model.config.maxBatchSize = 64;
  model.addInstanceGroup('gpu', { count: 4 });
  await model.save();
  const v = await model.addVersion(onnx);
  assert.equal(v, 1);
  assert.deepEqual(await readFile(path.join(root, 'my_nn', '1', 'model.onnx')), await readFile(onnx));
  const onDisk = parseModelConfig(await readFile(path.join(root, 'my_nn', 'config.pbtxt'), 'utf8'));
  assert.equal(onDisk.name, 'my_nn');
  assert.equal(onDisk.maxBatchSize, 64);
  assert.deepEqual(onDisk.instanceGroup, [{ kind: 'KIND_GPU', count: 4 }]);
  assert.deepEqual(await store.listModels(), ['my_nn', 'my_nn_0', 'my_nn_1']);
  // my_nn_0/1 have no versions yet: validate says so, with the path. ResNet-50's shapes are fixed ([1, 3, 224,
  // 224]): batching it is refused by onnxruntime's backend once auto-complete has listed its tensors.
  const problems = await store.validate();
  assert.deepEqual(
    problems.map((p) => [p.path, p.rule, p.tensor]),
    [
      ['my_nn/config.pbtxt:max_batch_size', 'model-batch-dim', 'gpu_0/data_0'],
      ['my_nn/config.pbtxt:max_batch_size', 'model-batch-dim', 'gpu_0/softmax_1'],
      ['my_nn_0', 'no-versions', undefined],
      ['my_nn_1', 'no-versions', undefined],
    ],
  );
});

test('versions: next free, given, taken, idempotent publishKey, remove, describe', {
  skip: skipWithout(onnx, onnx2),
}, async () => {
  const { store } = await freshStore();
  const m = await store.createModel('m', { platform: 'onnxruntime_onnx', version: { source: onnx } });
  assert.deepEqual(await m.listVersions(), [1]);
  assert.equal(await m.addVersion(onnx2, { version: 1337 }), 1337);
  assert.equal(await m.addVersion(onnx), 1338);
  await assert.rejects(m.addVersion(onnx, { version: 1337 }), code('MSB_STORE_EXISTS'));
  assert.equal(await m.addVersion(onnx, { publishKey: 'job-7' }), 1339);
  assert.equal(await m.addVersion(onnx2, { publishKey: 'job-7' }), 1339, 'a retried job gets its first version back');
  assert.deepEqual(await m.listVersions(), [1, 1337, 1338, 1339]);
  await m.removeVersion(1338);
  await assert.rejects(m.removeVersion(1338), code('MSB_STORE_NOT_FOUND'));
  const info = await m.describe();
  assert.deepEqual(
    info.versions.map((v) => [v.version, v.files, v.publishKey]),
    [
      [1, [{ path: 'model.onnx', size: (await stat(onnx)).size }], undefined],
      [1337, [{ path: 'model.onnx', size: (await stat(onnx2)).size }], undefined],
      [1339, [{ path: 'model.onnx', size: (await stat(onnx)).size }], 'job-7'],
    ],
  );
  await assert.rejects(m.addVersion(onnx, { version: 0 }), code('MSB_STORE_INVALID_NAME'));
  await store.removeModel('m');
  assert.deepEqual(await store.listModels(), []);
  // A writer holding a model object that another one removed gets a typed error, and nothing is recreated.
  await assert.rejects(m.addVersion(onnx), code('MSB_STORE_NOT_FOUND'));
  await assert.rejects(
    m.update((c) => c),
    code('MSB_STORE_NOT_FOUND'),
  );
  assert.deepEqual(await store.listModels(), []);
  await assert.rejects(store.getModel('m'), code('MSB_STORE_NOT_FOUND'));
});

test('copy makes a private copy; link shares the inode (only when asked)', { skip: skipWithout(onnx) }, async () => {
  const { dir, root, store } = await freshStore();
  const src = path.join(dir, 'built.onnx');
  await writeFile(src, await readFile(onnx));
  const m = await store.createModel('m', { platform: 'onnxruntime_onnx' });
  const copied = await m.addVersion(src);
  const linked = await m.addVersion(src, { transfer: 'link' });
  const s = await stat(src);
  assert.notEqual((await stat(path.join(root, 'm', String(copied), 'model.onnx'))).ino, s.ino);
  assert.equal((await stat(path.join(root, 'm', String(linked), 'model.onnx'))).ino, s.ino);
});

test('every platform and backend gets its files under Triton default names', { skip: skipWithout(onnx) }, async () => {
  const { dir, root, store } = await freshStore();
  const file = async (name: string, content = 'x') => {
    const p = path.join(dir, name);
    await writeFile(p, content);
    return p;
  };
  const savedmodel = path.join(dir, 'exported');
  await mkdir(path.join(savedmodel, 'variables'), { recursive: true });
  await writeFile(path.join(savedmodel, 'saved_model.pb'), 'pb');
  await writeFile(path.join(savedmodel, 'variables', 'variables.index'), 'idx');
  const ensemble = {
    input: [{ name: 'x', dataType: 'TYPE_FP32' as const, dims: [3] }],
    output: [{ name: 'y', dataType: 'TYPE_FP32' as const, dims: [3] }],
    ensembleScheduling: {
      step: [{ modelName: 'onnx', modelVersion: -1, inputMap: { in: 'x' }, outputMap: { out: 'y' } }],
    },
  };
  const cases: [string, CreateModelOptions, string | undefined, string[]][] = [
    ['plan', { platform: 'tensorrt_plan' }, await file('resnet.engine'), ['model.plan']],
    ['onnx', { platform: 'onnxruntime_onnx' }, onnx, ['model.onnx']],
    ['onnx_backend', { backend: 'onnxruntime' }, onnx, ['model.onnx']],
    [
      'torchscript',
      {
        platform: 'pytorch_libtorch',
        config: {
          input: [{ name: 'INPUT__0', dataType: 'TYPE_FP32', dims: [3] }],
          output: [{ name: 'OUTPUT__0', dataType: 'TYPE_FP32', dims: [3] }],
        },
      },
      await file('net.pt'),
      ['model.pt'],
    ],
    ['aoti', { platform: 'torch_aoti' }, await file('net.pt2'), ['model.pt2']],
    ['graphdef', { platform: 'tensorflow_graphdef' }, await file('frozen.pb'), ['model.graphdef']],
    [
      'savedmodel',
      { platform: 'tensorflow_savedmodel' },
      savedmodel,
      ['model.savedmodel/saved_model.pb', 'model.savedmodel/variables/variables.index'],
    ],
    ['openvino', { backend: 'openvino' }, await file('net.xml'), ['model.bin', 'model.xml']],
    ['python', { backend: 'python' }, await file('serve.py'), ['model.py']],
    ['ensemble', { platform: 'ensemble', config: ensemble }, undefined, []],
  ];
  await file('net.bin', 'weights');
  for (const [name, pb, source, files] of cases) {
    const m = await store.createModel(name, pb);
    assert.equal(await m.addVersion(source), 1, name);
    assert.deepEqual(
      (await m.describe()).versions[0]?.files.map((f) => f.path),
      files,
      name,
    );
  }
  assert.equal(await readFile(path.join(root, 'openvino', '1', 'model.bin'), 'utf8'), 'weights');
  // A custom backend: default_model_filename names the file; cc_model_filenames add per-GPU plans.
  const custom = await store.createModel('custom', {
    backend: 'mybackend',
    config: { defaultModelFilename: 'weights.bin', ccModelFilenames: { '8.0': 'a100.plan' } },
  });
  await custom.addVersion(await file('w'), { files: { 'a100.plan': await file('p') } });
  assert.deepEqual(
    (await custom.describe()).versions[0]?.files.map((f) => f.path),
    ['a100.plan', 'weights.bin'],
  );
  // A directory where a file belongs (and the other way round) is refused before anything is written.
  await assert.rejects((await store.getModel('onnx')).addVersion(savedmodel), code('MSB_STORE_BAD_SOURCE'));
  await assert.rejects((await store.getModel('savedmodel')).addVersion(onnx), code('MSB_STORE_BAD_SOURCE'));
  await assert.rejects((await store.getModel('onnx')).addVersion(undefined), code('MSB_STORE_BAD_SOURCE'));
  // The stand-in files are no models: only the formats msb reads say so (Triton would fail to load those too; a
  // "plan" without TensorRT's magic is refused since issue 20).
  const problems = await store.validate();
  assert.deepEqual(
    problems.map((p) => `${p.rule} ${p.path}`),
    [
      'model-unreadable graphdef/1/model.graphdef',
      'model-unreadable plan/1/model.plan',
      'model-unreadable savedmodel/1/model.savedmodel',
    ],
  );
});

test('config: update is read-modify-write, save refuses to overwrite a concurrent change, invalid configs refused', async () => {
  const { store } = await freshStore();
  const a = await store.createModel('m', { platform: 'onnxruntime_onnx' });
  const b = await store.getModel('m');
  await b.update((c) => ({ ...c, maxBatchSize: 8 }));
  a.setDynamicBatching({ preferredBatchSize: [4] }).setVersionPolicy({ latest: 2 });
  await assert.rejects(a.save(), code('MSB_STORE_CONFLICT'));
  await a.reload();
  assert.equal(a.config.maxBatchSize, 8);
  a.setDynamicBatching({ preferredBatchSize: [4] }).setVersionPolicy({ specific: [1, 3] });
  await a.save();
  const c = await store.getModel('m');
  assert.deepEqual(c.config.dynamicBatching, { preferredBatchSize: [4] });
  assert.deepEqual(c.config.versionPolicy, { specific: { versions: [1, 3] } });
  c.config.maxBatchSize = -1;
  await assert.rejects(
    c.save(),
    (err: unknown) => isMsbError(err, 'MSB_STORE_CONFIG') && /max_batch_size/.test(String(err)),
  );
  assert.equal((await store.getModel('m')).config.maxBatchSize, 8, 'nothing written');
});

test('labels: file and label_filename added, replaced and removed together', async () => {
  const { dir, root, store } = await freshStore();
  // A model whose tensors are those of the config (validate compares them).
  const cls = path.join(dir, 'cls.onnx');
  writeOnnxWithSignature(cls, {
    inputs: [{ name: 'x', type: 'FLOAT', shape: [3] }],
    outputs: [{ name: 'probs', type: 'FLOAT', shape: [2] }],
  });
  const m = await store.createModel('cls', {
    platform: 'onnxruntime_onnx',
    config: {
      input: [{ name: 'x', dataType: 'TYPE_FP32', dims: [3] }],
      output: [{ name: 'probs', dataType: 'TYPE_FP32', dims: [2] }],
    },
    version: { source: cls },
  });
  assert.equal(await m.setLabels('probs', ['cat', 'dog']), 'probs_labels.txt');
  assert.equal(await readFile(path.join(root, 'cls', 'probs_labels.txt'), 'utf8'), 'cat\ndog\n');
  assert.equal((await store.getModel('cls')).config.output?.[0]?.labelFilename, 'probs_labels.txt');
  const labels = path.join(dir, 'imagenet.txt');
  await writeFile(labels, 'a\nb\n');
  await m.setLabels('probs', { file: labels }, { fileName: 'imagenet.txt' });
  assert.equal(await readFile(path.join(root, 'cls', 'imagenet.txt'), 'utf8'), 'a\nb\n');
  // The replaced file stays: a Triton that read the previous config may still read it.
  assert.equal(await readFile(path.join(root, 'cls', 'probs_labels.txt'), 'utf8'), 'cat\ndog\n');
  assert.deepEqual((await m.describe()).labels, [{ output: 'probs', file: 'imagenet.txt', lines: 2 }]);
  await assert.rejects(m.setLabels('nope', ['x']), code('MSB_STORE_NOT_FOUND'));
  await assert.rejects(m.setLabels('probs', ['x'], { fileName: '../escape.txt' }), code('MSB_STORE_INVALID_NAME'));
  await m.removeLabels('probs');
  await assert.rejects(stat(path.join(root, 'cls', 'imagenet.txt')));
  assert.equal((await store.getModel('cls')).config.output?.[0]?.labelFilename, undefined);
  assert.deepEqual(await store.validate(), []);
});

test('names are refused before any filesystem call; symlinks out of the source tree are refused', {
  skip: skipWithout(onnx),
}, async () => {
  const { dir, root, store } = await freshStore();
  for (const bad of ['', '.', '..', '.hidden', 'a/b', 'a\\b', '../x', 'a\nb', 'nul\u0000', 'x'.repeat(256)]) {
    await assert.rejects(
      store.createModel(bad, { platform: 'onnxruntime_onnx' }),
      code('MSB_STORE_INVALID_NAME'),
      JSON.stringify(bad),
    );
    await assert.rejects(store.getModel(bad), code('MSB_STORE_INVALID_NAME'));
  }
  assert.deepEqual(await store.listModels(), []);
  const m = await store.createModel('m', { platform: 'onnxruntime_onnx' });
  await assert.rejects(m.addVersion(onnx, { fileName: '../../evil' }), code('MSB_STORE_INVALID_NAME'));
  const secret = path.join(dir, 'secret.txt');
  await writeFile(secret, 'secret');
  const inbox = path.join(dir, 'inbox');
  await mkdir(inbox);
  await symlink(secret, path.join(inbox, 'model.onnx'));
  await assert.rejects(m.addVersion(path.join(inbox, 'model.onnx')), code('MSB_STORE_SYMLINK'));
  const sm = await store.createModel('sm', { platform: 'tensorflow_savedmodel' });
  const exported = path.join(dir, 'exported');
  await mkdir(exported);
  await writeFile(path.join(exported, 'saved_model.pb'), 'pb');
  await symlink(secret, path.join(exported, 'variables'));
  await assert.rejects(sm.addVersion(exported), code('MSB_STORE_SYMLINK'));
  // A link inside the tree is fine (its content is copied).
  await link(onnx, path.join(inbox, 'hard.onnx')).catch(() => writeFile(path.join(inbox, 'hard.onnx'), 'x'));
  await symlink('hard.onnx', path.join(inbox, 'alias.onnx'));
  assert.equal(await m.addVersion(path.join(inbox, 'alias.onnx')), 1);
  assert.deepEqual((await stat(path.join(root, 'm', '1', 'model.onnx'))).isFile(), true);
  await assert.rejects(m.addVersion(path.join(dir, 'missing.onnx')), code('MSB_STORE_NOT_FOUND'));
});

test('validate() reads the repository with Triton rules and reports every problem with its path', {
  skip: skipWithout(onnx),
}, async () => {
  const { root, store } = await freshStore();
  const good = await store.createModel('good', { platform: 'onnxruntime_onnx', version: { source: onnx } });
  await good.addVersion(onnx);
  const w = (p: string, s: string) => writeFile(path.join(root, p), s);
  const d = (p: string) => mkdir(path.join(root, p), { recursive: true });
  // A hidden directory is a model to Triton.
  await d('.staging/1');
  // Leading zeros, non-numeric, numeric prefix (shadowed by the exact name, or alone), beyond int64, reserved names.
  await d('odd/01');
  await d('odd/abc');
  await d('odd/2abc');
  await d('odd/2');
  await d('odd/3x');
  await d('odd/99999999999999999999');
  await d('odd/warmup');
  await d('odd/configs');
  await w('odd/config.pbtxt', 'name: "odd"\nplatform: "onnxruntime_onnx"\nversion_policy { all {} }\n');
  await w('odd/2/model.onnx', 'x');
  await w('odd/2abc/model.onnx', 'x');
  // Name mismatch, missing labels, missing model file in the latest version.
  await d('renamed/1');
  await w(
    'renamed/config.pbtxt',
    'name: "other"\nplatform: "tensorrt_plan"\noutput { name: "o" data_type: TYPE_FP32 dims: [1] label_filename: "l.txt" }\n',
  );
  // Syntax error with line:column; invalid config; no config.
  await d('broken/1');
  await w('broken/config.pbtxt', 'name: "broken"\nmax_batch_size: "x"\n');
  await d('invalid/1');
  await w('invalid/config.pbtxt', 'name: "invalid"\nplatform: "onnxruntime_onnx"\nmax_batch_size: -3\n');
  await w('invalid/1/model.onnx', 'x');
  await d('noconfig/1');
  // No config but a model file Triton's auto-complete recognises in the (lexically) first subdirectory: loads.
  await d('autofilled/1');
  await w('autofilled/1/model.onnx', 'x');
  // Version policy selecting nothing.
  await d('policy/4');
  await w('policy/4/model.onnx', 'x');
  await w(
    'policy/config.pbtxt',
    'name: "policy"\nplatform: "onnxruntime_onnx"\nversion_policy { specific { versions: [9] } }\n',
  );
  // No platform or backend: Triton tells the backend from a default model file, and fails without one.
  await d('guessed/1');
  await w('guessed/config.pbtxt', 'name: "guessed"\n');
  await w('guessed/1/model.onnx', 'x');
  await d('unguessable/1');
  await w('unguessable/config.pbtxt', 'name: "unguessable"\n');
  await w('unguessable/1/weights.bin', 'x');
  // A published file changed afterwards (what a rewritten hardlinked source would do).
  await appendFile(path.join(root, 'good', '2', 'model.onnx'), 'tampered');
  const problems = await store.validate();
  const got = problems.map((p) => `${p.severity} ${p.rule} ${p.path}`).sort();
  assert.deepEqual(
    got,
    [
      'error backend-unknown .staging/config.pbtxt',
      'error backend-unknown noconfig/config.pbtxt',
      'error backend-unknown unguessable/config.pbtxt',
      'error config-invalid:max-batch-size-negative invalid/config.pbtxt:max_batch_size',
      'error config-syntax broken/config.pbtxt:2:17',
      'error hidden-model .staging',
      'error labels-missing renamed/l.txt',
      // The stand-in model files ('x') are no ONNX models; the tampered one no longer parses either.
      'error model-unreadable good/2/model.onnx',
      'error model-unreadable guessed/1/model.onnx',
      'error model-unreadable invalid/1/model.onnx',
      'error model-unreadable odd/2/model.onnx',
      'error model-file-missing renamed/1/model.plan',
      'error name-mismatch renamed/config.pbtxt:name',
      'error policy-loads-nothing policy/config.pbtxt:version_policy',
      'error version-inexact odd/3x',
      'error version-out-of-range odd/99999999999999999999',
      'warning config-missing .staging/config.pbtxt',
      'warning config-missing autofilled/config.pbtxt',
      'warning config-missing noconfig/config.pbtxt',
      // Every version present is checked; one the policy does not load is a warning.
      'warning model-unreadable policy/4/model.onnx',
      'warning version-changed good/2/model.onnx',
      'warning version-inexact odd/2abc',
      'warning version-leading-zero odd/01',
      'warning version-not-numeric odd/abc',
    ].sort(),
  );
  // Reading a broken model gives a typed error.
  await assert.rejects(store.getModel('broken'), code('MSB_STORE_CONFIG'));
  // Remove works even on a model whose config does not parse.
  await store.removeModel('broken');
  const record = JSON.parse(await readFile(path.join(root, 'good', '2', VERSION_RECORD), 'utf8')) as {
    files: unknown[];
  };
  assert.equal(record.files.length, 1);
});

test('a staging directory on another filesystem is refused (versions could not appear by rename)', async (t) => {
  const shm = await stat('/dev/shm').catch(() => undefined);
  const tmp = await stat(await tempDir());
  if (!shm || shm.dev === tmp.dev) return t.skip('no second filesystem here');
  const { root } = await freshStore();
  const other = await mkdtemp('/dev/shm/msb-staging-');
  try {
    await assert.rejects(ModelStore.open(root, { stagingDir: other }), code('MSB_STORE_STAGING'));
  } finally {
    await rm(other, { recursive: true, force: true });
  }
});

test('link from another filesystem falls back to a copy', { skip: skipWithout(onnx) }, async (t) => {
  const shm = await stat('/dev/shm').catch(() => undefined);
  const { root, store } = await freshStore();
  if (!shm || shm.dev === (await stat(root)).dev) return t.skip('no second filesystem here');
  const dir = await mkdtemp('/dev/shm/msb-source-');
  try {
    const src = path.join(dir, 'model.onnx');
    await writeFile(src, await readFile(onnx));
    const m = await store.createModel('m', { platform: 'onnxruntime_onnx' });
    const v = await m.addVersion(src, { transfer: 'link' });
    const placed = path.join(root, 'm', String(v), 'model.onnx');
    assert.notEqual((await stat(placed)).dev, (await stat(src)).dev);
    assert.deepEqual(await readFile(placed), await readFile(onnx));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
