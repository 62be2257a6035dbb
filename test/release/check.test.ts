import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseJobSpec } from '../../src/jobs/index.js';
import {
  checkBuildTarget,
  checkOnnxForRelease,
  checkPlanForRelease,
  checkPlansForGpus,
  chooseRelease,
  onnxOpsetOf,
  parseComputeCapabilities,
  planFacts,
  planRecordFacts,
  releaseTensorrt,
  resolveRelease,
  type TritonRelease,
  tritonRelease,
} from '../../src/release/index.js';

/**
 * The table gives no release's TensorRT yet (no source read does), so the rules for a known one are checked on a row
 * made here: 25.01's, with a TensorRT version set by the test, not a claim about the real container.
 */
const withTensorrt = (tensorrt: string): TritonRelease => ({
  ...(tritonRelease('25.01') as TritonRelease),
  tensorrt,
});
const r25 = withTensorrt('10.8.0.43');
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
};

test('resolveRelease: a known name, or MSB_RELEASE_UNKNOWN listing the known ones', () => {
  assert.equal(resolveRelease('24.10').triton, '2.51.0');
  assert.throws(
    () => resolveRelease('99.01'),
    (err: Error & { code: string }) =>
      err.code === 'MSB_RELEASE_UNKNOWN' && /"99\.01".*known: 24\.10, 24\.11, .*26\.07$/.test(err.message),
  );
});

test('chooseRelease: flag over environment over the store default; none named, none chosen', () => {
  assert.deepEqual(chooseRelease({ flag: '25.01', env: '24.10', store: '24.12' })?.from, 'flag');
  assert.equal(chooseRelease({ flag: '25.01', env: '24.10', store: '24.12' })?.release.release, '25.01');
  assert.equal(chooseRelease({ env: '24.10', store: '24.12' })?.release.release, '24.10');
  assert.equal(chooseRelease({ env: '', store: '24.12' })?.from, 'store');
  assert.equal(chooseRelease({}), undefined);
  // the environment's name is checked even when the store has a good one
  assert.throws(() => chooseRelease({ env: 'x', store: '24.12' }), /MSB_TRITON_RELEASE "x"/);
});

test('parseComputeCapabilities: sorted, deduplicated; anything else is MSB_RELEASE_BAD_GPUS', () => {
  assert.deepEqual(parseComputeCapabilities('8.9, 8.0,8.6,8.0'), ['8.0', '8.6', '8.9']);
  for (const bad of ['', '8', '8.6,', 'sm86', '0,1'])
    assert.equal(
      codeOf(() => parseComputeCapabilities(bad)),
      'MSB_RELEASE_BAD_GPUS',
      bad,
    );
});

test("planRecordFacts: msb's record of a build gives the compute capability and the compatibility flags", () => {
  assert.deepEqual(planRecordFacts({ tensorrt: '10.3.0', computeCapability: '8.6' }), { computeCapability: '8.6' });
  assert.deepEqual(planRecordFacts({ computeCapability: '8.6', buildOptions: { versionCompatible: true } }), {
    computeCapability: '8.6',
    versionCompatible: true,
    hardwareCompatible: false,
  });
  // a job's build for ampere+ records the worker's GPU, which says nothing of where the plan runs
  assert.deepEqual(planRecordFacts({ computeCapability: '8.9', buildOptions: { target: { gpu: 'ampere+' } } }), {
    hardwareCompatible: true,
    versionCompatible: false,
  });
  assert.equal(planRecordFacts({ buildOptions: { hardwareCompatibility: 'ampere+' } }).hardwareCompatible, true);
  assert.deepEqual(planRecordFacts(undefined), {});
  assert.deepEqual(planRecordFacts('not a record'), {});
});

test('checkPlanForRelease: same TensorRT passes, another is release-tensorrt, unknowns are warnings', () => {
  assert.deepEqual(checkPlanForRelease(r25, { tensorrt: '10.8.0' }), []);
  const other = checkPlanForRelease(r25, { tensorrt: '10.3.0' });
  assert.equal(other.length, 1);
  assert.equal(other[0]?.rule, 'release-tensorrt');
  assert.equal(other[0]?.severity, 'error');
  assert.match(other[0]?.message ?? '', /built by TensorRT 10\.3\.0, but Triton 25\.01 ships TensorRT 10\.8\.0\.43/);
  // a patch release apart is another version to the standard runtime
  assert.equal(checkPlanForRelease(r25, { tensorrt: '10.8.1' })[0]?.rule, 'release-tensorrt');
  assert.deepEqual(
    checkPlanForRelease(tritonRelease('25.01') as TritonRelease, { tensorrt: '10.8.0' }).map((p) => [
      p.rule,
      p.severity,
    ]),
    [['release-tensorrt-unknown', 'warning']],
  );
  assert.deepEqual(
    checkPlanForRelease(r25, {}).map((p) => [p.rule, p.severity]),
    [['release-tensorrt-unknown', 'warning']],
  );
});

test('checkPlanForRelease: a version-compatible plan loads in the same or a later TensorRT, never an earlier one', () => {
  assert.deepEqual(checkPlanForRelease(r25, { tensorrt: '10.3.0', versionCompatible: true }), []);
  const earlier = checkPlanForRelease(r25, { tensorrt: '10.9.0', versionCompatible: true });
  assert.deepEqual(
    earlier.map((p) => [p.rule, p.severity]),
    [['release-tensorrt', 'error']],
  );
  assert.match(earlier[0]?.message ?? '', /cannot be loaded by an earlier TensorRT/);
  assert.deepEqual(
    checkPlanForRelease(withTensorrt('11.1.0.106'), { tensorrt: '10.8.0', versionCompatible: true }).map((p) => [
      p.rule,
      p.severity,
    ]),
    [['release-tensorrt-major', 'warning']],
  );
});

test('checkPlansForGpus: cc_model_filenames, hardware-compatible plans, the built-for compute capability', () => {
  const plan86 = { tensorrt: '10.8.0', computeCapability: '8.6', hardwareCompatible: false };
  const plan80 = { tensorrt: '10.8.0', computeCapability: '8.0', hardwareCompatible: false };
  const files: Record<string, typeof plan86> = { 'model.plan': plan86, 'a100.plan': plan80 };
  const facts = (f: string) => files[f];
  assert.deepEqual(checkPlansForGpus(['8.6'], 'model.plan', {}, facts), []);
  // 8.0 opens its cc_model_filenames entry, 8.6 the default file
  assert.deepEqual(checkPlansForGpus(['8.0', '8.6'], 'model.plan', { '8.0': 'a100.plan' }, facts), []);
  const missing = checkPlansForGpus(['8.0', '8.6', '8.9'], 'model.plan', {}, facts);
  assert.deepEqual(
    missing.map((p) => [p.rule, p.severity]),
    [
      ['gpu-plan', 'error'],
      ['gpu-plan', 'error'],
    ],
  );
  assert.match(
    missing[0]?.message ?? '',
    /model\.plan was built for compute capability 8\.6; GPUs of compute capability 8\.0/,
  );
  // a cc entry naming a file the version lacks
  assert.match(
    checkPlansForGpus(['8.9'], 'model.plan', { '8.9': 'l4.plan' }, facts)[0]?.message ?? '',
    /l4\.plan is not there/,
  );
  const ampere = () => ({ hardwareCompatible: true });
  assert.deepEqual(checkPlansForGpus(['8.0', '8.6', '8.9', '9.0'], 'model.plan', {}, ampere), []);
  assert.deepEqual(
    checkPlansForGpus(['7.5'], 'model.plan', {}, ampere).map((p) => p.rule),
    ['gpu-plan'],
  );
  assert.deepEqual(
    checkPlansForGpus(['8.6'], 'model.plan', {}, () => ({ tensorrt: '10.8.0' })).map((p) => [p.rule, p.severity]),
    [['gpu-plan-unknown', 'warning']],
  );
  // an inspect job's record: the GPU that read it, not whether it was built hardware-compatible
  const inspected = () => planRecordFacts({ tensorrt: '10.8.0', computeCapability: '8.6' });
  assert.deepEqual(checkPlansForGpus(['8.6'], 'model.plan', {}, inspected), []);
  assert.deepEqual(
    checkPlansForGpus(['8.0'], 'model.plan', {}, inspected).map((p) => [p.rule, p.severity]),
    [['gpu-plan-unknown', 'warning']],
  );
});

test('checkOnnxForRelease and onnxOpsetOf: the ai.onnx opset against the release ONNX Runtime', () => {
  assert.equal(onnxOpsetOf('ai.onnx:17,com.microsoft:1'), 17);
  assert.equal(onnxOpsetOf('com.microsoft:1'), undefined);
  const r2410 = resolveRelease('24.10');
  assert.deepEqual(checkOnnxForRelease(r2410, 21), []);
  assert.deepEqual(
    checkOnnxForRelease(r2410, 22).map((p) => [p.rule, p.severity]),
    [['release-onnx-opset', 'error']],
  );
  assert.deepEqual(
    checkOnnxForRelease(resolveRelease('25.11'), 13).map((p) => [p.rule, p.severity]),
    [['release-onnx-opset-unknown', 'warning']],
  );
  assert.deepEqual(checkOnnxForRelease(r2410, undefined), []);
});

test('build targets: the release TensorRT major.minor; another is MSB_RELEASE_TARGET_MISMATCH; unknown warns', () => {
  assert.equal(releaseTensorrt(r25), '10.8');
  assert.deepEqual(checkBuildTarget(r25, '10.8'), []);
  assert.equal(
    codeOf(() => checkBuildTarget(r25, '10.3')),
    'MSB_RELEASE_TARGET_MISMATCH',
  );
  const unknown = resolveRelease('25.01');
  assert.equal(
    codeOf(() => releaseTensorrt(unknown)),
    'MSB_RELEASE_TENSORRT_UNKNOWN',
  );
  assert.deepEqual(
    checkBuildTarget(unknown, '10.3').map((p) => [p.rule, p.severity]),
    [['release-tensorrt-unknown', 'warning']],
  );
});

test('a job spec target may name a Triton release; one whose TensorRT is unknown, or an unknown one, is refused', () => {
  const spec = (target: unknown) => ({ kind: 'build', source: '/m.onnx', output: { model: 'm' }, target });
  assert.deepEqual((parseJobSpec(spec({ tensorrt: '10.8', gpu: '8.6' })) as { target: unknown }).target, {
    tensorrt: '10.8',
    gpu: '8.6',
  });
  assert.throws(
    () => parseJobSpec(spec({ triton: '25.01', gpu: '8.6' })),
    (err: Error & { code: string }) =>
      err.code === 'MSB_JOB_INVALID_SPEC' && /target: MSB_RELEASE_TENSORRT_UNKNOWN: .*Triton 25\.01/.test(err.message),
  );
  assert.throws(() => parseJobSpec(spec({ triton: '99.01', gpu: '8.6' })), /MSB_RELEASE_UNKNOWN/);
  assert.throws(() => parseJobSpec(spec({ gpu: '8.6' })), /name the TensorRT version/);
});

test('planFacts joins the header version and the record', () => {
  assert.deepEqual(planFacts('10.8.0', { computeCapability: '8.6' }), { tensorrt: '10.8.0', computeCapability: '8.6' });
  assert.deepEqual(planFacts(undefined, undefined), {});
});
