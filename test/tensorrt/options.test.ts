/**
 * Argument checks of buildEngine, all before TensorRT: option types, profile consistency, profiles against the
 * model's inputs (read by the reference `onnx` package from real models), options a TensorRT major does not honour.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import {
  type BuildEngineOptions,
  buildEngine,
  checkProfilesAgainstModel,
  type ModelInputShape,
  type OptimizationProfile,
} from '../../src/tensorrt/index.js';
import { capabilitiesOf, checkCapabilities } from '../../src/tensorrt/options.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const alexnet = testdata('onnx', 'onnx-backend', 'light', 'light_bvlc_alexnet.onnx');

/** Graph inputs that are not initializers, as the reference library reads them (-1 for a symbolic/unknown dim). */
function referenceInputs(model: string): ModelInputShape[] {
  const script = `
import json, sys, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
inits = {i.name for i in m.graph.initializer}
print(json.dumps([{"name": i.name, "dims": [d.dim_value if d.HasField("dim_value") else -1
                  for d in i.type.tensor_type.shape.dim]} for i in m.graph.input if i.name not in inits]))`;
  return JSON.parse(runPython(script, [model])) as ModelInputShape[];
}

/** A real model with its batch dimension made symbolic ('N') by the reference library. */
async function dynamicBatchCopy(model: string): Promise<string> {
  const out = path.join(await tempDir(), 'dynamic.onnx');
  runPython(
    `
import sys, onnx
m = onnx.load(sys.argv[1])
inits = {i.name for i in m.graph.initializer}
for v in list(m.graph.input) + list(m.graph.output):
    if v.name not in inits:
        v.type.tensor_type.shape.dim[0].dim_param = "N"
onnx.save(m, sys.argv[2])`,
    [model, out],
  );
  return out;
}

const invalidArgument = (pattern: RegExp) => (err: unknown) => {
  assert.ok(isMsbError(err, 'MSB_TENSORRT_INVALID_ARGUMENT'), String((err as Error)?.stack ?? err));
  assert.match((err as Error).message, pattern);
  return true;
};

describe('buildEngine option types', { skip: skipWithout(alexnet) }, () => {
  const cases: [string, unknown, RegExp][] = [
    ['onnx missing', {}, /onnx/],
    ['onnx a number', { onnx: 3 }, /onnx/],
    ['onnx empty bytes', { onnx: new Uint8Array(0) }, /onnx: is empty/],
    ['unknown option', { onnx: alexnet, workspace: 1 }, /workspace/],
    ['negative dim', { onnx: alexnet, profiles: [{ x: { min: [-1], opt: [1], max: [1] } }] }, /profiles\.0\.x\.min\.0/],
    ['fractional dim', { onnx: alexnet, profiles: [{ x: { min: [1.5], opt: [2], max: [2] } }] }, /min\.0/],
    ['profile without max', { onnx: alexnet, profiles: [{ x: { min: [1], opt: [1] } }] }, /profiles\.0\.x\.max/],
    ['precision fp32', { onnx: alexnet, precision: ['fp32'] }, /precision\.0/],
    ['negative pool', { onnx: alexnet, memoryPools: { workspace: -1 } }, /memoryPools\.workspace/],
    ['unknown pool', { onnx: alexnet, memoryPools: { l2: 1 } }, /memoryPools/],
    ['optimization level 6', { onnx: alexnet, optimizationLevel: 6 }, /optimizationLevel/],
    ['hardware level', { onnx: alexnet, hardwareCompatibility: 'hopper+' }, /hardwareCompatibility/],
    ['aux streams', { onnx: alexnet, maxAuxStreams: -1 }, /maxAuxStreams/],
    ['timing cache text', { onnx: alexnet, timingCache: 'abc' }, /timingCache/],
    ['signal not a signal', { onnx: alexnet, signal: {} }, /signal/],
    ['versionCompatible string', { onnx: alexnet, versionCompatible: 'yes' }, /versionCompatible/],
    ['onLog not a function', { onnx: alexnet, onLog: 'console' }, /onLog/],
    ['profiles not an array', { onnx: alexnet, profiles: { x: {} } }, /profiles/],
  ];
  for (const [name, options, pattern] of cases) {
    it(`rejects ${name}`, async () => {
      await assert.rejects(buildEngine(options as BuildEngineOptions), invalidArgument(pattern));
    });
  }

  it('rejects a missing model file and a directory', async () => {
    await assert.rejects(buildEngine({ onnx: '/nonexistent/m.onnx' }), invalidArgument(/m\.onnx: no such file/));
    await assert.rejects(buildEngine({ onnx: testdata('onnx') }), invalidArgument(/is not a regular file/));
  });
});

describe('profile consistency', { skip: skipWithout(alexnet) }, () => {
  const build = (profiles: OptimizationProfile[]) => buildEngine({ onnx: alexnet, profiles });
  it('needs min <= opt <= max in every dimension', async () => {
    await assert.rejects(
      build([{ x: { min: [1, 8], opt: [4, 4], max: [8, 8] } }]),
      invalidArgument(/profiles\[0\]\.x: dimension 1 needs min <= opt <= max \(got 8, 4, 8\)/),
    );
    await assert.rejects(build([{ x: { min: [1], opt: [9], max: [8] } }]), invalidArgument(/dimension 0/));
  });
  it('needs one rank per input within and across profiles', async () => {
    await assert.rejects(build([{ x: { min: [1], opt: [1, 2], max: [1] } }]), invalidArgument(/same rank/));
    await assert.rejects(
      build([{ x: { min: [1], opt: [1], max: [1] } }, { x: { min: [1, 1], opt: [1, 1], max: [1, 1] } }]),
      invalidArgument(/profiles\[1\]\.x: rank 2 differs from rank 1/),
    );
  });
  it('needs 1 to 8 dimensions', async () => {
    await assert.rejects(build([{ x: { min: [], opt: [], max: [] } }]), invalidArgument(/1 to 8 dimensions/));
    const nine = Array(9).fill(1);
    await assert.rejects(build([{ x: { min: nine, opt: nine, max: nine } }]), invalidArgument(/got 9/));
  });
});

describe('profiles against the model', { skip: skipWithout(alexnet) }, () => {
  it('accepts profiles that fit a real dynamic-batch model, and buildEngine gets to TensorRT', async () => {
    const model = await dynamicBatchCopy(alexnet);
    const inputs = referenceInputs(model);
    assert.ok(inputs.length > 0 && inputs.every((i) => i.dims[0] === -1));
    const profile = (batch: [number, number, number]): OptimizationProfile =>
      Object.fromEntries(
        inputs.map((i) => [
          i.name,
          {
            min: [batch[0], ...i.dims.slice(1)],
            opt: [batch[1], ...i.dims.slice(1)],
            max: [batch[2], ...i.dims.slice(1)],
          },
        ]),
      );
    const profiles = [profile([1, 4, 8]), profile([8, 16, 32])];
    checkProfilesAgainstModel(profiles, inputs);
    const unavailable = (err: unknown) => isMsbError(err, 'MSB_TENSORRT_UNAVAILABLE');
    await assert.rejects(buildEngine({ onnx: model, profiles }), unavailable);
    await assert.rejects(buildEngine({ onnx: await readFile(model), profiles }), unavailable);
  });

  it('buildEngine checks profiles against the model it is given (path or bytes)', async () => {
    const model = await dynamicBatchCopy(alexnet);
    for (const onnx of [model, await readFile(model)]) {
      await assert.rejects(buildEngine({ onnx }), invalidArgument(/dynamic inputs \(data_0 \[-1,3,224,224\]\)/));
      const wrong = { data_0: { min: [1, 3, 224, 224], opt: [1, 3, 224, 224], max: [2, 3, 225, 224] } };
      await assert.rejects(buildEngine({ onnx, profiles: [wrong] }), invalidArgument(/dimension 2 is fixed at 224/));
    }
    await assert.rejects(
      buildEngine({
        onnx: alexnet,
        profiles: [{ data_0: { min: [2, 3, 224, 224], opt: [2, 3, 224, 224], max: [2, 3, 224, 224] } }],
      }),
      invalidArgument(/dimension 0 is fixed at 1 in the model, the profile gives 2\/2\/2/),
    );
  });

  it('buildEngine refuses a file that is not an ONNX model before TensorRT', async () => {
    const notOnnx = path.join(await tempDir(), 'model.onnx');
    await writeFile(notOnnx, 'definitely not a protobuf model\n');
    await assert.rejects(buildEngine({ onnx: notOnnx }), invalidArgument(/cannot be read/));
  });

  it('rejects dynamic inputs without profiles, unknown inputs, wrong ranks, changed fixed dims, gaps', async () => {
    const model = await dynamicBatchCopy(alexnet);
    const inputs = referenceInputs(model);
    const first = inputs[0];
    assert.ok(first);
    const rest = first.dims.slice(1);
    const ok = { min: [1, ...rest], opt: [2, ...rest], max: [4, ...rest] };
    assert.throws(() => checkProfilesAgainstModel([], inputs), invalidArgument(/dynamic inputs \(.*\[-1,3,224,224\]/));
    assert.throws(
      () => checkProfilesAgainstModel([{ [first.name]: ok, nope: ok }], inputs),
      invalidArgument(/no input 'nope'/),
    );
    assert.throws(
      () => checkProfilesAgainstModel([{ [first.name]: { min: [1], opt: [1], max: [1] } }], inputs),
      invalidArgument(/has rank 4 \[-1,3,224,224\], the profile gives rank 1/),
    );
    const wide = { min: [1, 3, 224, 224], opt: [1, 3, 256, 224], max: [1, 3, 256, 224] };
    assert.throws(
      () => checkProfilesAgainstModel([{ [first.name]: wide }], inputs),
      invalidArgument(/dimension 2 is fixed at 224 in the model, the profile gives 224\/256\/256/),
    );
    assert.throws(
      () => checkProfilesAgainstModel([{ [first.name]: ok }, {}], inputs),
      invalidArgument(/profiles\[1\]: no shapes for the dynamic input/),
    );
  });

  it('a static real model needs no profile, and a profile must repeat its fixed shape', () => {
    const inputs = referenceInputs(alexnet);
    assert.ok(inputs.every((i) => i.dims.every((d) => d > 0)));
    checkProfilesAgainstModel([], inputs);
    const first = inputs[0];
    assert.ok(first);
    checkProfilesAgainstModel([{ [first.name]: { min: first.dims, opt: first.dims, max: first.dims } }], inputs);
    const bigger = first.dims.map((d, i) => (i === 0 ? d + 1 : d));
    assert.throws(
      () => checkProfilesAgainstModel([{ [first.name]: { min: first.dims, opt: first.dims, max: bigger } }], inputs),
      invalidArgument(/dimension 0 is fixed/),
    );
  });
});

describe('options per TensorRT version', { skip: skipWithout(alexnet) }, () => {
  // The capabilities as the addon reports them for headers of each kind (see native/tensorrt/library.cc).
  const trt10_8 = capabilitiesOf({
    compiled: true,
    available: false,
    compiledVersion: [10, 8, 0],
    precisionFlags: true,
  });
  const trt10_16 = capabilitiesOf({
    compiled: true,
    available: false,
    compiledVersion: [10, 16, 0],
    precisionFlags: true,
    sameComputeCapability: true,
  });
  const trt11 = capabilitiesOf({
    compiled: true,
    available: false,
    compiledVersion: [11, 1, 0],
    precisionFlags: false,
    sameComputeCapability: true,
  });

  it('precision is honoured by TensorRT 10 and rejected on 11 with the reason', () => {
    assert.ok(trt10_16 && trt11);
    assert.equal(trt11.stronglyTyped, 'always');
    checkCapabilities({ onnx: alexnet, precision: ['fp16', 'int8'] }, trt10_16, '10.16.0');
    checkCapabilities({ onnx: alexnet }, trt11, '11.1.0');
    assert.throws(
      () => checkCapabilities({ onnx: alexnet, precision: ['fp16'] }, trt11, '11.1.0'),
      invalidArgument(/needs TensorRT 10; TensorRT 11\.1\.0 removed the precision flags/),
    );
  });

  it("'same-compute-capability' needs TensorRT 10.9+", () => {
    assert.ok(trt10_8 && trt11);
    checkCapabilities({ onnx: alexnet, hardwareCompatibility: 'ampere+' }, trt10_8, '10.8.0');
    checkCapabilities({ onnx: alexnet, hardwareCompatibility: 'same-compute-capability' }, trt11, '11.1.0');
    assert.throws(
      () => checkCapabilities({ onnx: alexnet, hardwareCompatibility: 'same-compute-capability' }, trt10_8, '10.8.0'),
      invalidArgument(/not available in TensorRT 10\.8\.0/),
    );
  });

  it('an addon built without TensorRT has no capabilities', () => {
    assert.equal(capabilitiesOf({ compiled: false, available: false }), undefined);
  });
});
