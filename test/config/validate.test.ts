import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CONFIG_RULES, parseModelConfig, validateModelConfig } from '../../src/config/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

function problems(text: string, options: Parameters<typeof validateModelConfig>[1] = {}) {
  return validateModelConfig(parseModelConfig(text), options).map((p) => `${p.rule} @ ${p.path}`);
}

const valid = `name: "m" platform: "onnxruntime_onnx" max_batch_size: 8
input { name: "x" data_type: TYPE_FP32 dims: [3, -1] }
output { name: "y" data_type: TYPE_FP32 dims: [10] label_filename: "labels.txt" }
instance_group { kind: KIND_GPU count: 2 gpus: [0] }
dynamic_batching { preferred_batch_size: [4, 8] }`;

describe('validateModelConfig', () => {
  test('a valid config has no problems', () => {
    assert.deepEqual(problems(valid, { modelName: 'm', gpus: [0] }), []);
  });

  test('a missing name is filled from the directory, as Triton does', () => {
    assert.deepEqual(problems('platform: "onnxruntime_onnx"', { modelName: 'm' }), []);
    assert.deepEqual(problems('platform: "onnxruntime_onnx"'), ['name-required @ name']);
  });

  test('reports every problem at once, each with its path', () => {
    const text = `name: "m" platform: "onnxruntime_onnx" max_batch_size: 2
input { name: "x" dims: [0, 3] }
input { name: "x" data_type: TYPE_FP32 dims: [] }
output { data_type: TYPE_FP32 dims: [1] reshape { shape: [2] } }
dynamic_batching { preferred_batch_size: [0, 4] }`;
    assert.deepEqual(problems(text, { modelName: 'other' }), [
      'name-matches-directory @ name',
      'io-data-type-required @ input[0].data_type',
      'io-dim-invalid @ input[0].dims[0]',
      'io-name-duplicate @ input[1].name',
      'io-dims-required @ input[1].dims',
      'io-name-required @ output[0].name',
      'io-reshape-size @ output[0].reshape',
      'dynamic-batching-preferred-size @ dynamic_batching.preferred_batch_size[0]',
      'dynamic-batching-preferred-size @ dynamic_batching.preferred_batch_size[1]',
    ]);
  });

  test('platform and backend', () => {
    // Neither: Triton takes the backend from the model file; a profile check waits for the platform too.
    assert.deepEqual(problems('name: "m" instance_group { profile: "0" }'), []);
    assert.deepEqual(problems('name: "m" backend: "onnxruntime" instance_group { profile: "0" }'), [
      'instance-group-profile @ instance_group[0].profile[0]',
    ]);
    assert.deepEqual(problems('name: "m" backend: "python" runtime: "../x/libtriton_python.so"'), [
      'runtime-escapes @ runtime',
    ]);
    assert.deepEqual(problems('name: "m" platform: "caffe2_netdef"'), ['platform-unknown @ platform']);
    assert.deepEqual(problems('name: "m" platform: "onnxruntime_onnx" backend: "tensorrt"'), [
      'platform-backend-mismatch @ backend',
    ]);
    assert.deepEqual(problems('name: "m" backend: "python"'), []);
    assert.deepEqual(problems('name: "m" platform: "tensorflow_savedmodel" backend: "tensorflow"'), []);
    assert.deepEqual(problems('name: "m" backend: "my_custom" platform: "anything"'), []);
  });

  test('reshape with variable-size dimensions compares trunk by trunk', () => {
    const base = (dims: string, shape: string) =>
      problems(
        `name: "m" backend: "python" max_batch_size: 1 input { name: "x" data_type: TYPE_FP32 dims: ${dims} reshape { shape: ${shape} } }`,
      );
    assert.deepEqual(base('[2, 4, -1, 6]', '[8, -1, 1, 6]'), []);
    assert.deepEqual(base('[2, 4, -1, 6]', '[8, -1, 2, 3, 2]'), ['io-reshape-size @ input[0].reshape']);
    assert.deepEqual(base('[-1, -1]', '[-1]'), ['io-reshape-variable @ input[0].reshape']);
    assert.deepEqual(base('[1]', '[]'), []);
  });

  test('sequence batching controls', () => {
    const text = `name: "m" backend: "python" max_batch_size: 4 sequence_batching {
      control_input { name: "S" control { kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] } }
      control_input { name: "R" control { kind: CONTROL_SEQUENCE_READY fp32_false_true: [0] } }
      control_input { name: "C" control { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_FP32 } }
      control_input { name: "S" control { kind: CONTROL_SEQUENCE_END bool_false_true: [false, true] int32_false_true: [0, 1] } }
      oldest { preferred_batch_size: [8] } }`;
    assert.deepEqual(problems(text), [
      'sequence-control @ sequence_batching.control_input[1].control[0]',
      'sequence-corrid-data-type @ sequence_batching.control_input[2].control[0].data_type',
      'sequence-control @ sequence_batching.control_input[3].name',
      'sequence-control @ sequence_batching.control_input[3].control[0]',
      'sequence-oldest-preferred-size @ sequence_batching.oldest.preferred_batch_size[0]',
    ]);
  });

  test('ensembles: steps and data flow', () => {
    const ok = `name: "e" platform: "ensemble" max_batch_size: 1
input { name: "IN" data_type: TYPE_FP32 dims: 1 } output { name: "OUT" data_type: TYPE_FP32 dims: 1 }
ensemble_scheduling {
  step { model_name: "a" model_version: -1 input_map { key: "x" value: "IN" } output_map { key: "y" value: "T" } }
  step { model_name: "b" model_version: -1 input_map { key: "x" value: "T" } output_map { key: "y" value: "OUT" } }
}`;
    assert.deepEqual(problems(ok), []);
    assert.deepEqual(problems(ok.replace('value: "T" } }\n  step', 'value: "U" } }\n  step')), [
      'ensemble-output-not-written @ output[0]',
      'ensemble-tensor-unused @ ensemble_scheduling',
      'ensemble-tensor-unused @ ensemble_scheduling',
    ]);
    assert.deepEqual(problems(ok.replace('model_name: "b" ', '')), [
      'ensemble-steps @ ensemble_scheduling.step[1].model_name',
    ]);
    assert.deepEqual(problems(`${ok} instance_group {}`), ['ensemble-not-allowed @ instance_group']);
  });

  test('instance groups against the GPUs of the serving machine', () => {
    const text =
      'name: "m" backend: "python" instance_group { kind: KIND_GPU gpus: [1, -1] } instance_group { kind: KIND_CPU gpus: 0 }';
    assert.deepEqual(problems(text), [
      'instance-group-gpus @ instance_group[0].gpus[1]',
      'instance-group-gpus @ instance_group[1].gpus',
    ]);
    assert.deepEqual(problems(text, { gpus: [0] }), [
      'instance-group-gpus @ instance_group[0].gpus[0]',
      'instance-group-gpus @ instance_group[0].gpus[1]',
      'instance-group-gpus @ instance_group[1].gpus',
    ]);
    assert.deepEqual(problems('name: "m" backend: "python" instance_group { kind: KIND_GPU }', { gpus: [] }), [
      'instance-group-gpus @ instance_group[0].kind',
    ]);
    assert.deepEqual(problems('name: "m" platform: "onnxruntime_onnx" instance_group { profile: "0" }'), [
      'instance-group-profile @ instance_group[0].profile[0]',
    ]);
  });

  test('every rule id in the table is documented and used', async () => {
    const source = await import('node:fs').then((fs) =>
      fs.readFileSync(new URL('../../src/config/validate.ts', import.meta.url), 'utf8'),
    );
    for (const rule of Object.keys(CONFIG_RULES)) {
      assert.ok(source.split(`'${rule}'`).length > 2, `rule ${rule} is declared but never reported`);
    }
  });
});

describe('msb config check', () => {
  test('exit 0 for a valid config, 1 with each problem and its rule, names the model from the directory', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'm'));
    const good = path.join(dir, 'm', 'config.pbtxt');
    await writeFile(good, valid);
    const ok = await runCli(['config', 'check', '--gpus', '0', good]);
    assert.equal(ok.code, 0, ok.stderr);

    await mkdir(path.join(dir, 'wrong'));
    const bad = path.join(dir, 'wrong', 'config.pbtxt');
    await writeFile(bad, valid.replace('dims: [10]', 'dims: [0]'));
    const r = await runCli(['config', 'check', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /: name: .*does not match its directory 'wrong' \[name-matches-directory\]/);
    assert.match(r.stderr, /: output\[0\]\.dims\[0\]: .* \[io-dim-invalid\]/);
  });

  test('a text-format error is reported with line and column', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'config.pbtxt');
    await writeFile(file, 'name: "m"\ninput { dims: [1,, 2] }\n');
    const r = await runCli(['config', 'check', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config\.pbtxt:2:18: /);
  });
});
