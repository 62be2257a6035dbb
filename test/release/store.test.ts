/**
 * The release checks as the store and the publish flow apply them (src/release/check.ts through validate and
 * publish): real ONNX models made with Debian's python3-onnx, plan stand-ins with a real header (the "ftrt" magic,
 * TensorRT's version at bytes 24..26) and msb's record of the build beside them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { publish } from '../../src/publish/index.js';
import { resolveRelease, type TritonRelease } from '../../src/release/index.js';
import { ModelStore } from '../../src/store/index.js';
import { pythonHasOnnx } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';
import { makeOnnx, makePlan } from './fixtures.js';

const hasOnnx = pythonHasOnnx();
const noOnnx = hasOnnx ? false : 'needs python3-onnx (/usr/bin/python3, or MSB_PYTHON)';

/** 25.01's row with a TensorRT version set here: the table gives none yet, the rules for a known one are tested. */
const r25 = (tensorrt: string): TritonRelease => ({ ...resolveRelease('25.01'), tensorrt });
const rules = (ps: { rule: string; severity: string }[]) => ps.map((p) => `${p.severity}:${p.rule}`).sort();

const dir = await tempDir('msb-release-');
const onnx = hasOnnx ? makeOnnx(dir) : { opset13: '', opset22: '' };

test('validate with a release: an opset above its ONNX Runtime is an error, an unknown one a warning', {
  skip: noOnnx,
}, async () => {
  const root = path.join(dir, 'onnx-store');
  await publish({ store: root, model: 'old', source: onnx.opset13, mode: 'create' });
  await publish({ store: root, model: 'new', source: onnx.opset22, mode: 'create' });
  const store = await ModelStore.open(root);
  assert.deepEqual(rules(await store.validate()), []);
  const at2410 = await store.validate({ release: resolveRelease('24.10') });
  assert.deepEqual(rules(at2410), ['error:release-onnx-opset']);
  assert.equal(at2410[0]?.path, 'new/1/model.onnx');
  assert.equal(at2410[0]?.version, 1);
  assert.deepEqual(rules(await store.validate({ release: resolveRelease('25.11') })), [
    'warning:release-onnx-opset-unknown',
    'warning:release-onnx-opset-unknown',
  ]);
});

test('validate with a release: a plan whose header names another TensorRT is an error', async () => {
  const root = path.join(dir, 'plan-store');
  const src = await makePlan(path.join(dir, 'p103.plan'), [10, 3, 0], { computeCapability: '8.6' });
  await publish({ store: root, model: 'det', source: src, mode: 'create' });
  const vc = await makePlan(path.join(dir, 'vc.plan'), [10, 3, 0], {
    computeCapability: '8.6',
    buildOptions: { versionCompatible: true },
  });
  await publish({ store: root, model: 'vc', source: vc, mode: 'create' });
  const store = await ModelStore.open(root);
  const problems = await store.validate({ release: r25('10.8.0.43') });
  assert.deepEqual(
    problems.map((p) => `${p.path} ${p.severity}:${p.rule}`),
    ['det/1/model.plan error:release-tensorrt'],
  );
  assert.deepEqual(rules(await store.validate({ release: r25('10.3.0.26') })), []);
  // the version-compatible plan cannot go back to an earlier TensorRT
  assert.deepEqual(rules(await store.validate({ release: r25('10.2.0.1') })), [
    'error:release-tensorrt',
    'error:release-tensorrt',
  ]);
  // the real table does not know 25.01's TensorRT: a warning, never an error
  assert.deepEqual(rules(await store.validate({ release: resolveRelease('25.01') })), [
    'warning:release-tensorrt-unknown',
    'warning:release-tensorrt-unknown',
  ]);
});

test('validate --gpus: each compute capability needs a plan it can load (cc_model_filenames, ampere+)', async () => {
  const root = path.join(dir, 'fleet-store');
  const p86 = await makePlan(path.join(dir, 'f86.plan'), [10, 3, 0], { computeCapability: '8.6' });
  const p80 = await makePlan(path.join(dir, 'f80.plan'), [10, 3, 0], { computeCapability: '8.0' });
  const hw = await makePlan(path.join(dir, 'hw.plan'), [10, 3, 0], {
    computeCapability: '8.9',
    buildOptions: { target: { tensorrt: '10.3', gpu: 'ampere+' } },
  });
  const bare = await makePlan(path.join(dir, 'bare.plan'), [10, 3, 0], false);
  await publish({ store: root, model: 'single', source: p86, mode: 'create' });
  await publish({ store: root, model: 'ampere', source: hw, mode: 'create' });
  const store = await ModelStore.open(root);
  const gpus = ['8.0', '8.6'];
  const found = await store.validate({ gpus });
  assert.deepEqual(
    found.map((p) => `${p.path} ${p.severity}:${p.rule}`),
    ['single/1 error:gpu-plan'],
  );
  assert.match(found[0]?.message ?? '', /built for compute capability 8\.6; GPUs of compute capability 8\.0/);
  assert.deepEqual(rules(await store.validate({ gpus: ['7.5'] })), ['error:gpu-plan', 'error:gpu-plan']);

  // the model gets an 8.0 plan through cc_model_filenames: every GPU is served
  const model = await store.getModel('single');
  await model.addVersion(p86, {
    files: { 'model.plan.msb.json': `${p86}.msb.json`, 'a100.plan': p80, 'a100.plan.msb.json': `${p80}.msb.json` },
  });
  await model.update((c) => ({ ...c, ccModelFilenames: { '8.0': 'a100.plan' } }));
  // version 1 (not loaded by the default policy: a warning) still lacks a100.plan; version 2 is whole
  const after = (await store.validate({ gpus })).filter((p) => p.version === 2);
  assert.deepEqual(rules(after), []);

  // a plan without msb's record: which GPU it was built for is unknown
  const vbare = await (await store.getModel('single')).addVersion(bare, {
    files: { 'a100.plan': p80, 'a100.plan.msb.json': `${p80}.msb.json` },
  });
  assert.deepEqual(rules((await store.validate({ gpus })).filter((p) => p.version === vbare)), [
    'warning:gpu-plan-unknown',
  ]);
});

test('publish with a release or a fleet: errors refuse it and write nothing; force publishes with the problems', async () => {
  const root = path.join(dir, 'refused');
  const p86 = await makePlan(path.join(dir, 'r86.plan'), [10, 3, 0], { computeCapability: '8.6' });
  await assert.rejects(
    publish({ store: root, model: 'm', source: p86, mode: 'create', gpus: ['8.0'] }),
    (
      err: Error & {
        code: string;
      },
    ) => err.code === 'MSB_RELEASE_INCOMPATIBLE' && /gpu-plan: .*8\.0/.test(err.message),
  );
  assert.equal(existsSync(root), false, 'a refused publish creates no store');
  await assert.rejects(
    publish({ store: root, model: 'm', source: p86, mode: 'create', triton: '99.01' }),
    /MSB_RELEASE_UNKNOWN|not a Triton release/,
  );
  assert.equal(existsSync(root), false);
  const forced = await publish({ store: root, model: 'm', source: p86, mode: 'create', gpus: ['8.0'], force: true });
  assert.equal(forced.version, 1);
  assert.deepEqual(rules(forced.problems), ['error:gpu-plan']);
  // unknowns are warnings: published, and returned
  const warned = await publish({ store: root, model: 'm', source: p86, mode: 'add', triton: '25.01' });
  assert.equal(warned.version, 2);
  assert.deepEqual(rules(warned.problems), ['warning:release-tensorrt-unknown']);
});

test("publish uses the store's default release unless the caller names one", { skip: noOnnx }, async () => {
  const root = path.join(dir, 'default-store');
  await publish({ store: root, model: 'm', source: onnx.opset13, mode: 'create' });
  const store = await ModelStore.open(root);
  await store.setSettings({ triton: '24.10' });
  assert.deepEqual(await store.settings(), { triton: '24.10' });
  await assert.rejects(
    publish({ store: root, model: 'm', source: onnx.opset22, mode: 'add' }),
    (err: Error & { code: string }) =>
      err.code === 'MSB_RELEASE_INCOMPATIBLE' && /opset 22 is above 21/.test(err.message),
  );
  assert.deepEqual(
    (await (await store.getModel('m')).describe()).versions.map((v) => v.version),
    [1],
    'nothing written',
  );
  // a release named by the caller wins over the store's
  const named = await publish({ store: root, model: 'm', source: onnx.opset22, mode: 'add', triton: '25.11' });
  assert.deepEqual(rules(named.problems), ['warning:release-onnx-opset-unknown']);
  // and validate's checks follow the same order
  assert.equal((await store.checksFor({})).release?.release, '24.10');
  assert.equal((await store.checksFor({ env: '25.11' })).release?.release, '25.11');
  assert.equal((await store.checksFor({ flag: '25.01', env: '25.11' })).release?.release, '25.01');
  // the settings file sits at the root, where Triton takes only directories as models
  assert.deepEqual(await store.listModels(), ['m']);
  assert.deepEqual(rules(await store.validate()), []);
});
