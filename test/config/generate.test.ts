import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  type GenerateOptions,
  generateModelConfig,
  type ModelConfig,
  parseModelConfig,
  printModelConfig,
  validateModelConfig,
} from '../../src/config/index.js';
import { isMsbError } from '../../src/errors.js';
import { inspectModel, type ModelSignature, parseTensorOption } from '../../src/inspect/index.js';
import { encodeTf } from '../fixtures/tf/encode.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { protocCanonical } from '../helpers/protoc.js';
import { tempDir } from '../helpers/tmp.js';

/** A signature read from a real SavedModel written by protoc (see test/fixtures/tf). */
async function savedModelSignature(inputs: string, outputs: string): Promise<ModelSignature> {
  const dir = path.join(await tempDir(), 'model.savedmodel');
  await mkdir(dir);
  const tensor = (key: string, dtype: string, dims: number[]) =>
    `{ key: "${key}" value { name: "${key}:0" dtype: ${dtype} tensor_shape { ${dims.map((d) => `dim { size: ${d} }`).join(' ')} } } }`;
  const list = (spec: string, field: string) =>
    spec
      .split(';')
      .filter(Boolean)
      .map((s) => {
        const [key = '', dtype = '', dims = ''] = s.split('|');
        return `${field} ${tensor(key, dtype, dims === '' ? [] : dims.split(',').map(Number))}`;
      })
      .join('\n');
  await writeFile(
    path.join(dir, 'saved_model.pb'),
    encodeTf(
      'SavedModel',
      `meta_graphs { meta_info_def { tags: "serve" } signature_def { key: "serving_default" value { ${list(inputs, 'inputs')} ${list(outputs, 'outputs')} } } }`,
    ),
  );
  return inspectModel(dir);
}

/** Generates, then checks what every generated config must satisfy: our validator, protoc, a print/parse round trip. */
function generate(sig: ModelSignature, options: GenerateOptions): ModelConfig {
  const config = generateModelConfig(sig, options);
  assert.deepEqual(validateModelConfig(config, { modelName: options.name }), []);
  const text = printModelConfig(config);
  const ref = protocCanonical(text);
  assert.ok(ref.ok, ref.ok ? '' : ref.error);
  assert.equal(ref.text, text);
  assert.deepEqual(parseModelConfig(text), config);
  return config;
}

function throwsCode(fn: () => unknown, code: string, ...messages: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isMsbError(e, code), `expected ${code}, got ${String(e)}`);
    for (const m of messages) assert.match((e as Error).message, m);
    return true;
  });
}

describe('generateModelConfig', () => {
  test('a batchable model: default max_batch_size 4, batch dim removed, dynamic batching on', async () => {
    const sig = await savedModelSignature('images|DT_FLOAT|-1,3,224,224;ids|DT_INT64|-1,-1', 'probs|DT_FLOAT|-1,1000');
    assert.deepEqual(generate(sig, { name: 'resnet' }), {
      name: 'resnet',
      platform: 'tensorflow_savedmodel',
      backend: 'tensorflow',
      maxBatchSize: 4,
      input: [
        { name: 'images', dataType: 'TYPE_FP32', dims: [3, 224, 224] },
        { name: 'ids', dataType: 'TYPE_INT64', dims: [-1] },
      ],
      output: [{ name: 'probs', dataType: 'TYPE_FP32', dims: [1000] }],
      dynamicBatching: {},
    });
  });

  test('a model without a batch dimension: full dims, no batching, and max_batch_size > 0 refused', async () => {
    const sig = await savedModelSignature('x|DT_FLOAT|1,16', 'y|DT_INT8|1,16');
    const config = generate(sig, { name: 'fixed' });
    assert.equal(config.maxBatchSize, undefined);
    assert.deepEqual(config.input?.[0]?.dims, [1, 16]);
    assert.equal(config.dynamicBatching, undefined);
    throwsCode(
      () => generateModelConfig(sig, { name: 'fixed', maxBatchSize: 4 }),
      'MSB_CONFIG_CONFLICT',
      /max_batch_size: the config says 4/,
      /no batch dimension/,
    );
    throwsCode(() => generateModelConfig(sig, { name: 'fixed', dynamicBatching: true }), 'MSB_CONFIG_NOT_BATCHABLE');
  });

  test('scalars: dims [1] with an empty reshape when batching, plain [1] otherwise', async () => {
    const batched = await savedModelSignature('s|DT_FLOAT|-1', 'o|DT_FLOAT|-1,2');
    const c = generate(batched, { name: 'm' });
    assert.deepEqual(c.input?.[0], { name: 's', dataType: 'TYPE_FP32', dims: [1], reshape: {} });
    const plain = await savedModelSignature('s|DT_FLOAT|', 'o|DT_FLOAT|2');
    assert.deepEqual(generate(plain, { name: 'm' }).input?.[0], { name: 's', dataType: 'TYPE_FP32', dims: [1] });
  });

  test('TensorRT profiles bound max_batch_size; options set size, concurrency, kind, labels, batcher', async () => {
    const sig: ModelSignature = {
      format: 'tensorrt_plan',
      platform: 'tensorrt_plan',
      backend: 'tensorrt',
      inputs: [parseTensorOption('INPUT0:FP32:-1,16')],
      outputs: [parseTensorOption('OUTPUT0:FP32:-1,16')],
      batchDim: true,
      maxBatchSize: 8,
      metadata: { signatureSource: 'sidecar' },
    };
    assert.equal(generate(sig, { name: 'p' }).maxBatchSize, 8);
    throwsCode(
      () => generateModelConfig(sig, { name: 'p', maxBatchSize: 16 }),
      'MSB_CONFIG_CONFLICT',
      /says 16/,
      /largest batch of 8/,
    );
    const c = generate(sig, {
      name: 'p',
      maxBatchSize: 2,
      concurrency: 10,
      labels: 'labels.txt',
      dynamicBatching: false,
    });
    assert.equal(c.maxBatchSize, 2);
    assert.deepEqual(c.instanceGroup, [{ count: 10, kind: 'KIND_GPU' }]);
    assert.equal(c.output?.[0]?.labelFilename, 'labels.txt');
    assert.equal(c.dynamicBatching, undefined);
    const cpu = generate(
      { ...sig, format: 'onnx', platform: 'onnxruntime_onnx', backend: 'onnxruntime' },
      {
        name: 'p',
        concurrency: 2,
        instanceKind: 'KIND_CPU',
      },
    );
    assert.deepEqual(cpu.instanceGroup, [{ count: 2, kind: 'KIND_CPU' }]);
    // max_batch_size 1 batches nothing: Triton's auto-complete adds no batcher then.
    assert.equal(generate(sig, { name: 'p', maxBatchSize: 1 }).dynamicBatching, undefined);
  });

  test('a partial config is completed, never overridden', async () => {
    const sig = await savedModelSignature('images|DT_FLOAT|-1,3,-1,-1', 'probs|DT_FLOAT|-1,1000;aux|DT_INT32|-1');
    const partial = parseModelConfig(`
      max_batch_size: 32
      input [{ name: "images" dims: [3, 224, 224] }]
      output [{ name: "probs" data_type: TYPE_FP32 label_filename: "imagenet.txt" }]
      instance_group [{ kind: KIND_CPU }]
      dynamic_batching { max_queue_delay_microseconds: 100 }
    `);
    const c = generate(sig, { name: 'cls', partial, concurrency: 3 });
    assert.deepEqual(c, {
      name: 'cls',
      platform: 'tensorflow_savedmodel',
      backend: 'tensorflow',
      maxBatchSize: 32,
      input: [{ name: 'images', dataType: 'TYPE_FP32', dims: [3, 224, 224] }],
      output: [
        { name: 'probs', dataType: 'TYPE_FP32', dims: [1000], labelFilename: 'imagenet.txt' },
        { name: 'aux', dataType: 'TYPE_INT32', dims: [1], reshape: {} },
      ],
      instanceGroup: [{ kind: 'KIND_CPU', count: 3 }],
      dynamicBatching: { maxQueueDelayMicroseconds: 100 },
    });
    assert.equal(partial.name, undefined, 'the caller’s partial config is not modified');
  });

  test('contradictions name both values', async () => {
    const sig = await savedModelSignature('images|DT_FLOAT|-1,3,224,224', 'probs|DT_FLOAT|-1,1000');
    const gen =
      (text: string, extra: Partial<GenerateOptions> = {}) =>
      () =>
        generateModelConfig(sig, { name: 'm', partial: parseModelConfig(text), ...extra });
    throwsCode(
      gen('input [{ name: "images" dims: [3, 256, 256] }]'),
      'MSB_CONFIG_CONFLICT',
      /input\[0\] 'images'\.dims: the config says \[3, 256, 256\]/,
      /\[3, 224, 224\] \(file shape \[-1, 3, 224, 224\] less the batch dimension\)/,
    );
    throwsCode(gen('input [{ name: "images" data_type: TYPE_FP16 }]'), 'MSB_CONFIG_CONFLICT', /TYPE_FP16/, /TYPE_FP32/);
    throwsCode(
      gen('platform: "onnxruntime_onnx"'),
      'MSB_CONFIG_CONFLICT',
      /'onnxruntime_onnx'/,
      /tensorflow_savedmodel/,
    );
    throwsCode(gen('backend: "pytorch"'), 'MSB_CONFIG_CONFLICT', /'pytorch'/, /'tensorflow'/);
    throwsCode(gen('input [{ name: "pixels" }]'), 'MSB_CONFIG_CONFLICT', /'pixels'/, /'images'/);
    throwsCode(gen('name: "other"'), 'MSB_CONFIG_CONFLICT', /'other'/, /'m'/);
    throwsCode(gen('max_batch_size: 8', { maxBatchSize: 4 }), 'MSB_CONFIG_CONFLICT', /says 8/, /says 4/);
    throwsCode(gen('instance_group [{ count: 2 }]', { concurrency: 4 }), 'MSB_CONFIG_CONFLICT', /says 2/, /says 4/);
    throwsCode(
      gen('output [{ name: "probs" label_filename: "a.txt" }]', { labels: 'b.txt' }),
      'MSB_CONFIG_CONFLICT',
      /'a\.txt'/,
      /'b\.txt'/,
    );
    // reshape: the model sees reshape.shape, so that is what must agree with the file.
    const ok = generate(sig, {
      name: 'm',
      partial: parseModelConfig('input [{ name: "images" dims: [150528] reshape { shape: [3, 224, 224] } }]'),
    });
    assert.deepEqual(ok.input?.[0]?.dims, [150528]);
  });

  test('a config Triton would refuse is refused, naming each problem', async () => {
    const sig = await savedModelSignature('x|DT_FLOAT|-1,4', 'y|DT_FLOAT|-1,4');
    throwsCode(
      () =>
        generateModelConfig(sig, {
          name: 'm',
          partial: parseModelConfig('dynamic_batching { preferred_batch_size: [64] }'),
        }),
      'MSB_CONFIG_GENERATED_INVALID',
      /preferred/,
    );
  });

  test('signatures stated by the user (Python) keep config tensors the signature lacks', () => {
    const sig: ModelSignature = {
      format: 'python',
      backend: 'python',
      inputs: [parseTensorOption('INPUT0:FP32:4')],
      outputs: [parseTensorOption('OUTPUT0:FP32:4')],
      batchDim: false,
      metadata: { signatureSource: 'options' },
    };
    const c = generate(sig, {
      name: 'py',
      partial: parseModelConfig('input [{ name: "EXTRA" data_type: TYPE_INT32 dims: [2] }]'),
    });
    assert.deepEqual(
      c.input?.map((t) => t.name),
      ['EXTRA', 'INPUT0'],
    );
    assert.equal(c.platform, undefined);
    assert.equal(c.backend, 'python');
  });
});

const provenance = testdata('onnx', 'PROVENANCE.tsv');

test('every real ONNX model in the test data: the generated config passes our validator and protoc', {
  skip: skipWithout(provenance),
}, async () => {
  const { readFile: read } = await import('node:fs/promises');
  const rows = (await read(provenance, 'utf8')).trim().split('\n').slice(1);
  let generated = 0;
  const refused: string[] = [];
  for (const row of rows) {
    const rel = row.split('\t')[0] ?? '';
    let sig: ModelSignature;
    try {
      sig = await inspectModel(testdata('onnx', rel));
    } catch (err) {
      // Models Triton cannot serve (sequence/map types, ...) are refused by inspect with a typed error.
      assert.ok(isMsbError(err), `${rel}: ${String(err)}`);
      refused.push(rel);
      continue;
    }
    const name = path.basename(rel, '.onnx').replace(/[^A-Za-z0-9_-]/g, '_');
    generate(sig, { name, concurrency: 2, labels: 'labels.txt' });
    generated++;
  }
  // The corpus holds only models Triton can serve.
  assert.deepEqual(refused, []);
  assert.equal(generated, rows.length);
});
