import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOnnxOpset, onnxSupport, releases, tritonRelease } from '../../src/release/index.js';

test('release table maps 24.10 and 25.01 to the versions their build.py names', () => {
  assert.deepEqual(
    { t: tritonRelease('24.10')?.triton, ort: tritonRelease('24.10')?.onnxruntime, vllm: tritonRelease('24.10')?.vllm },
    { t: '2.51.0', ort: '1.19.2', vllm: '0.5.5' },
  );
  // v2.54.0's build.py still said "25.01dev"; the table names the release without the suffix.
  assert.equal(tritonRelease('25.01')?.triton, '2.54.0');
  assert.equal(tritonRelease('99.99'), undefined);
});

test('release table is ordered, one row per release, unknowns are null', () => {
  const names = releases().map((r) => r.release);
  assert.deepEqual(names, [...names].sort());
  assert.equal(new Set(names).size, names.length);
  assert.equal(tritonRelease('24.10')?.tensorrt, null);
});

test('ONNX Runtime 1.19/1.20 read opset 21 IR 10; newer versions are unknown', () => {
  assert.deepEqual(onnxSupport('1.20.1'), { onnx: '1.16.1', maxOpset: 21, maxIr: 10 });
  assert.equal(onnxSupport('1.23.2'), null);
});

test('checkOnnxOpset: error above the release ORT opset, ok at it, warning when unknown', () => {
  const r2410 = tritonRelease('24.10');
  const r2511 = tritonRelease('25.11');
  assert.ok(r2410 && r2511);
  assert.equal(checkOnnxOpset(r2410, 21).level, 'ok');
  const high = checkOnnxOpset(r2410, 22);
  assert.equal(high.level, 'error');
  assert.match(high.message, /opset 22 is above 21.*ONNX Runtime 1\.19\.2/);
  assert.equal(checkOnnxOpset(r2511, 13).level, 'warning');
});
