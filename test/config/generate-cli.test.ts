import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseModelConfig } from '../../src/config/index.js';
import { encodeTf } from '../fixtures/tf/encode.js';
import { runCli } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { protocCanonical } from '../helpers/protoc.js';
import { runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const ALEXNET = testdata('onnx', 'onnx-backend', 'light', 'light_bvlc_alexnet.onnx');

/** The reference library's reading of an ONNX file's graph inputs (minus initializers) and outputs. */
function onnxReference(file: string): {
  inputs: { name: string; dims: number[] }[];
  outputs: { name: string; dims: number[] }[];
} {
  const out = runPython(
    `import json, sys, onnx
m = onnx.load(sys.argv[1], load_external_data=False)
inits = {i.name for i in m.graph.initializer}
def t(v):
    return {"name": v.name, "dims": [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]}
print(json.dumps({"inputs": [t(v) for v in m.graph.input if v.name not in inits], "outputs": [t(v) for v in m.graph.output]}))`,
    [file],
  );
  return JSON.parse(out);
}

describe('msb inspect', () => {
  test('a real ONNX model: the human table names format, platform and every tensor', {
    skip: skipWithout(ALEXNET),
  }, async () => {
    const r = await runCli(['inspect', ALEXNET]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.ok(lines.includes('format\tonnx'), r.stdout);
    assert.ok(lines.includes('platform\tonnxruntime_onnx'), r.stdout);
    const ref = onnxReference(ALEXNET);
    for (const t of ref.inputs)
      assert.ok(lines.includes(`input\t${t.name}\tTYPE_FP32\t[${t.dims.join(', ')}]`), r.stdout);
    for (const t of ref.outputs)
      assert.ok(lines.includes(`output\t${t.name}\tTYPE_FP32\t[${t.dims.join(', ')}]`), r.stdout);
  });

  test('--json on a SavedModel, --signature picks another SignatureDef', async () => {
    const dir = path.join(await tempDir(), 'model.savedmodel');
    await mkdir(dir);
    await writeFile(
      path.join(dir, 'saved_model.pb'),
      encodeTf(
        'SavedModel',
        `meta_graphs { meta_info_def { tags: "serve" }
           signature_def { key: "serving_default" value {
             inputs { key: "x" value { name: "x:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 8 } } } }
             outputs { key: "y" value { name: "y:0" dtype: DT_INT64 tensor_shape { dim { size: -1 } } } } } }
           signature_def { key: "other" value {
             inputs { key: "a" value { name: "a:0" dtype: DT_STRING tensor_shape { dim { size: 2 } } } }
             outputs { key: "b" value { name: "b:0" dtype: DT_BOOL tensor_shape { dim { size: 2 } } } } } } }`,
      ),
    );
    const r = await runCli(['inspect', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const sig = JSON.parse(r.stdout);
    assert.equal(sig.format, 'tf_savedmodel');
    assert.deepEqual(sig.inputs, [{ name: 'x', dataType: 'TYPE_FP32', dims: [-1, 8] }]);
    assert.equal(sig.batchDim, true);
    const other = JSON.parse((await runCli(['inspect', dir, '--json', '--signature', 'other'])).stdout);
    assert.deepEqual(other.outputs, [{ name: 'b', dataType: 'TYPE_BOOL', dims: [2] }]);
  });

  test('a plan with no record: inspect shows what the file says and what to do; --input/--output supply the signature', async () => {
    const plan = path.join(await tempDir(), 'model.plan');
    const bytes = Buffer.concat([Buffer.from('ftrt'), Buffer.alloc(60)]);
    bytes[8] = 240; // serialization version
    bytes.set([10, 3, 0], 24); // TensorRT 10.3.0
    await writeFile(plan, bytes);
    // Before: exit 2 and nothing about the file.
    const r = await runCli(['inspect', plan]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^format\ttensorrt_plan$/m);
    assert.match(r.stdout, /^tensorrtVersion\t10\.3\.0$/m);
    assert.match(r.stdout, /^serializationVersion\t240$/m);
    assert.match(r.stdout, /^tensors: .*without TensorRT.*--input NAME:TYPE:DIMS/m);
    const json = JSON.parse((await runCli(['inspect', plan, '--json'])).stdout);
    assert.equal(json.format, 'tensorrt_plan');
    assert.equal(json.metadata.tensorrtVersion, '10.3.0');
    assert.equal(json.inputs, null);
    // What needs the tensors still refuses without them.
    const gen = await runCli(['config', 'generate', plan]);
    assert.equal(gen.code, 2);
    assert.match(gen.stderr, /^msb: MSB_INSPECT_SIGNATURE_REQUIRED: .*--input NAME:TYPE:DIMS/);
    const ok = await runCli(['inspect', plan, '--json', '--input', 'in:FP16:-1,3', '--output', 'out:FP16:-1,3']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).batchDim, true);
    const bad = await runCli(['inspect', plan, '--input', 'in:FP99:3']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /MSB_INSPECT_BAD_TENSOR_OPTION.*unknown type 'FP99'/);
  });
});

describe('msb config generate', () => {
  test('a real ONNX model → config.pbtxt protoc accepts, tensors as the reference library reads them', {
    skip: skipWithout(ALEXNET),
  }, async () => {
    const r = await runCli([
      'config',
      'generate',
      ALEXNET,
      '--name',
      'alexnet',
      '--concurrency',
      '10',
      '--labels',
      'labels.txt',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const ref = protocCanonical(r.stdout);
    assert.ok(ref.ok, ref.ok ? '' : ref.error);
    assert.equal(ref.text, r.stdout, 'printed canonically');
    const config = parseModelConfig(r.stdout);
    assert.equal(config.name, 'alexnet');
    assert.equal(config.platform, 'onnxruntime_onnx');
    const reference = onnxReference(ALEXNET);
    // Exported with fixed shapes: no batch dimension, so dims are the full shapes.
    assert.equal(config.maxBatchSize, undefined);
    assert.deepEqual(
      config.input?.map((t) => ({ name: t.name, dims: t.dims })),
      reference.inputs,
    );
    assert.deepEqual(
      config.output?.map((t) => ({ name: t.name, dims: t.dims })),
      reference.outputs,
    );
    assert.equal(config.output?.[0]?.labelFilename, 'labels.txt');
    assert.deepEqual(config.instanceGroup, [{ count: 10 }]);
  });

  test('--partial is completed; a contradiction exits 2 naming both values', {
    skip: skipWithout(ALEXNET),
  }, async () => {
    const dir = await tempDir();
    const ref = onnxReference(ALEXNET);
    const input = ref.inputs[0];
    assert.ok(input);
    const partial = path.join(dir, 'config.pbtxt');
    await writeFile(partial, `name: "alex"\ninstance_group [{ kind: KIND_CPU }]\n`);
    const r = await runCli(['config', 'generate', ALEXNET, '--partial', partial]);
    assert.equal(r.code, 0, r.stderr);
    const config = parseModelConfig(r.stdout);
    assert.equal(config.name, 'alex');
    assert.deepEqual(config.instanceGroup, [{ kind: 'KIND_CPU' }]);
    assert.equal(config.input?.length, ref.inputs.length);

    const wrong = input.dims.map((d, i) => (i === input.dims.length - 1 ? d + 1 : d));
    await writeFile(partial, `input [{ name: "${input.name}" dims: [${wrong.join(', ')}] }]\n`);
    const bad = await runCli(['config', 'generate', ALEXNET, '--partial', partial]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /MSB_CONFIG_CONFLICT/);
    assert.ok(bad.stderr.includes(`[${wrong.join(', ')}]`), bad.stderr);
    assert.ok(bad.stderr.includes(`[${input.dims.join(', ')}]`), bad.stderr);

    const mbs = await runCli(['config', 'generate', ALEXNET, '--max-batch-size', '8']);
    assert.equal(mbs.code, 2);
    assert.match(mbs.stderr, /no batch dimension/);
  });

  test('a Python model from options: backend only, batching from a leading -1, --no-dynamic-batching', async () => {
    const file = path.join(await tempDir(), 'model.py');
    await writeFile(file, 'import triton_python_backend_utils as pb_utils\n');
    const args = ['config', 'generate', file, '--name', 'py', '--input', 'IN:FP32:-1,4', '--output', 'OUT:FP32:-1,4'];
    const on = parseModelConfig((await runCli(args)).stdout);
    assert.equal(on.backend, 'python');
    assert.equal(on.maxBatchSize, 4);
    assert.deepEqual(on.dynamicBatching, {});
    const off = await runCli([...args, '--no-dynamic-batching', '--kind', 'KIND_CPU', '--concurrency', '2']);
    assert.equal(off.code, 0, off.stderr);
    const config = parseModelConfig(off.stdout);
    assert.equal(config.dynamicBatching, undefined);
    assert.deepEqual(config.instanceGroup, [{ count: 2, kind: 'KIND_CPU' }]);
  });
});

test('msb config generate without a model: an ensemble from its partial config', async () => {
  const partial = path.join(await tempDir(), 'config.pbtxt');
  await writeFile(
    partial,
    `name: "ens"
platform: "ensemble"
max_batch_size: 2
ensemble_scheduling { step [{ model_name: "a" model_version: -1 input_map { key: "X" value: "in" } output_map { key: "Y" value: "out" } }] }
input [{ name: "in" data_type: TYPE_FP32 dims: [16] }]
output [{ name: "out" data_type: TYPE_FP32 dims: [16] }]
`,
  );
  const r = await runCli(['config', 'generate', '--partial', partial]);
  assert.equal(r.code, 0, r.stderr);
  const config = parseModelConfig(r.stdout);
  assert.equal(config.platform, 'ensemble');
  assert.equal(config.dynamicBatching, undefined, 'ensembles are scheduled by their steps, not a batcher');
  const none = await runCli(['config', 'generate']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /MSB_CLI_USAGE/);
});
