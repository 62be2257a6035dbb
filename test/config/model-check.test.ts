/**
 * The rule set comparing a config with its model's signature, case by case against what Triton's backends do at load
 * time (the functions named in src/config/model-check.ts). Signatures are built as the inspect readers build them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkConfigAgainstModel,
  MODEL_RULES,
  type ModelConfig,
  type ModelMismatch,
  parseModelConfig,
} from '../../src/config/index.js';
import type { ModelSignature, TensorSignature } from '../../src/inspect/index.js';

const t = (name: string, dataType: string, dims: number[], extra: Partial<TensorSignature> = {}): TensorSignature => ({
  name,
  dataType: dataType as TensorSignature['dataType'],
  dims,
  ...extra,
});

function sig(format: ModelSignature['format'], inputs: TensorSignature[], outputs: TensorSignature[], more = {}) {
  const platform = {
    onnx: 'onnxruntime_onnx',
    tensorrt_plan: 'tensorrt_plan',
    tf_savedmodel: 'tensorflow_savedmodel',
    tf_graphdef: 'tensorflow_graphdef',
    torchscript: 'pytorch_libtorch',
  }[format as string];
  const backend = { onnx: 'onnxruntime', tensorrt_plan: 'tensorrt', torchscript: 'pytorch' }[format as string];
  return {
    format,
    ...(platform ? { platform } : {}),
    backend: backend ?? 'tensorflow',
    inputs,
    outputs,
    batchDim: false,
    metadata: {},
    ...more,
  } as ModelSignature;
}

const check = (text: string, s: ModelSignature, partial = false) =>
  checkConfigAgainstModel(parseModelConfig(text), s, { partial });
const rules = (ps: ModelMismatch[]) => ps.map((p) => `${p.severity} ${p.rule} ${p.path}`);

describe('onnxruntime backend rules', () => {
  const onnx = sig('onnx', [t('x', 'TYPE_FP32', [-1, 3])], [t('y', 'TYPE_FP32', [-1, -1])]);
  test('a config that agrees has no problem; model -1 matches a fixed input dim', () => {
    assert.deepEqual(
      check(
        'max_batch_size: 4 input [{name: "x" data_type: TYPE_FP32 dims: [3]}] output [{name: "y" data_type: TYPE_FP32 dims: [-1]}]',
        onnx,
      ),
      [],
    );
    assert.deepEqual(
      check(
        'input [{name: "x" data_type: TYPE_FP32 dims: [8, 3]}] output [{name: "y" data_type: TYPE_FP32 dims: [-1, -1]}]',
        onnx,
      ),
      [],
    );
  });
  test('outputs compare exactly (compare_exact): a fixed dim where the model has -1 is refused', () => {
    const p = check(
      'max_batch_size: 4 input [{name: "x" data_type: TYPE_FP32 dims: [3]}] output [{name: "y" data_type: TYPE_FP32 dims: [10]}]',
      onnx,
    );
    assert.deepEqual(rules(p), ['error model-dims output[0].dims']);
    assert.equal(p[0]?.tensor, 'y');
    assert.equal(p[0]?.config, '[10]');
    assert.match(p[0]?.model ?? '', /\[-1\] \(file shape \[-1, -1\]/);
  });
  test('every model input must be fed; an empty list is auto-completed', () => {
    const two = sig('onnx', [t('a', 'TYPE_INT32', [2]), t('b', 'TYPE_INT32', [2])], [t('o', 'TYPE_INT32', [2])]);
    assert.deepEqual(
      rules(
        check(
          'input [{name: "a" data_type: TYPE_INT32 dims: [2]}] output [{name: "o" data_type: TYPE_INT32 dims: [2]}]',
          two,
        ),
      ),
      ['error model-input-missing input'],
    );
    assert.deepEqual(check('output [{name: "o" data_type: TYPE_INT32 dims: [2]}]', two), []);
    assert.deepEqual(check('input [{name: "a" data_type: TYPE_INT32 dims: [2]}]', two, true), [], 'partial: filled in');
  });
  test('overridable initializers may be named (optional), not with batching; ragged inputs are [-1]', () => {
    const ragged = sig('onnx', [t('r', 'TYPE_FP32', [-1, 2])], [t('y', 'TYPE_FP32', [-1])]);
    assert.deepEqual(
      rules(
        check(
          'max_batch_size: 2 input [{name: "r" data_type: TYPE_FP32 dims: [2] allow_ragged_batch: true}] output [{name: "y" data_type: TYPE_FP32 dims: []}]',
          ragged,
        ),
      ),
      ['error model-ragged-shape input[0].allow_ragged_batch'],
    );
    const withInit = sig('onnx', [t('x', 'TYPE_FP32', [-1])], [t('y', 'TYPE_FP32', [-1])], {
      optionalInputs: [t('w', 'TYPE_FP32', [4])],
    });
    const io = 'output [{name: "y" data_type: TYPE_FP32 dims: [-1]}]';
    assert.deepEqual(
      check(
        `input [{name: "x" data_type: TYPE_FP32 dims: [-1]}, {name: "w" data_type: TYPE_FP32 dims: [4] optional: true}] ${io}`,
        withInit,
      ),
      [],
    );
    assert.deepEqual(
      rules(
        check(
          `max_batch_size: 2 input [{name: "x" data_type: TYPE_FP32 dims: [1] allow_ragged_batch: true}, {name: "w" data_type: TYPE_FP32 dims: [4] optional: true}] output [{name: "y" data_type: TYPE_FP32 dims: [1]}]`,
          withInit,
        ),
      ),
      [
        'error model-optional-batching input[1].optional',
        'error model-batch-dim max_batch_size',
        'error model-dims output[0].dims',
      ],
    );
  });
  test('scalars: config dims of 1 only; batching over a scalar loads but is warned about', () => {
    const scalar = sig('onnx', [t('s', 'TYPE_FP32', [])], [t('o', 'TYPE_FP32', [])]);
    assert.deepEqual(
      check(
        'input [{name: "s" data_type: TYPE_FP32 dims: [1]}] output [{name: "o" data_type: TYPE_FP32 dims: [1]}]',
        scalar,
      ),
      [],
    );
    assert.deepEqual(
      rules(
        check(
          'input [{name: "s" data_type: TYPE_FP32 dims: [2]}] output [{name: "o" data_type: TYPE_FP32 dims: [1]}]',
          scalar,
        ),
      ),
      ['error model-scalar-dims input[0].dims'],
    );
    assert.deepEqual(
      rules(
        check(
          'max_batch_size: 2 input [{name: "s" data_type: TYPE_FP32 dims: [1]}] output [{name: "o" data_type: TYPE_FP32 dims: [1]}]',
          scalar,
        ),
      ),
      ['warning model-batch-dim max_batch_size', 'warning model-batch-dim max_batch_size'],
    );
  });
  test('reshape: the model sees reshape.shape', () => {
    const m = sig('onnx', [t('x', 'TYPE_FP32', [3, 4])], [t('y', 'TYPE_FP32', [12])]);
    assert.deepEqual(
      check(
        'input [{name: "x" data_type: TYPE_FP32 dims: [12] reshape {shape: [3, 4]}}] output [{name: "y" data_type: TYPE_FP32 dims: [12]}]',
        m,
      ),
      [],
    );
    assert.deepEqual(
      rules(
        check(
          'input [{name: "x" data_type: TYPE_FP32 dims: [12] reshape {shape: [4, 3]}}] output [{name: "y" data_type: TYPE_FP32 dims: [12]}]',
          m,
        ),
      ),
      ['error model-dims input[0].reshape.shape'],
    );
  });
  test('platform and backend must be those of the file', () => {
    assert.deepEqual(rules(check('platform: "tensorrt_plan"', onnx)), ['error model-platform platform']);
  });
});

describe('tensorrt backend rules', () => {
  const engine = sig(
    'tensorrt_plan',
    [t('INPUT0', 'TYPE_FP32', [-1, 16]), t('SHAPE', 'TYPE_INT32', [2], { shapeTensor: true })],
    [t('OUTPUT0', 'TYPE_FP32', [-1, -1])],
    { batchDim: true, maxBatchSize: 8, metadata: { signatureSource: 'sidecar' } },
  );
  const io = (extra = '') =>
    `max_batch_size: 8 input [{name: "INPUT0" data_type: TYPE_FP32 dims: [16]}, {name: "SHAPE" data_type: TYPE_INT32 dims: [1] is_shape_tensor: true}] output [{name: "OUTPUT0" data_type: TYPE_FP32 dims: [-1]}] ${extra}`;
  test('agreeing config; -1 on either side is a wildcard; missing inputs are not checked at load', () => {
    assert.deepEqual(check(io(), engine), []);
    assert.deepEqual(check(io().replace('dims: [-1]', 'dims: [32]'), engine), []);
  });
  test('is_shape_tensor must mark exactly the engine shape tensors, 1-D with the batch in its length', () => {
    assert.deepEqual(rules(check(io().replace(' is_shape_tensor: true', ''), engine)), [
      'error model-shape-tensor input[1].is_shape_tensor',
    ]);
    assert.deepEqual(rules(check(io().replace('dims: [16]}', 'dims: [16] is_shape_tensor: true}'), engine)), [
      'error model-shape-tensor input[0].is_shape_tensor',
    ]);
    assert.deepEqual(rules(check(io().replace('dims: [1] is_shape_tensor', 'dims: [2] is_shape_tensor'), engine)), [
      'error model-shape-tensor input[1].dims',
    ]);
  });
  test('max_batch_size above the profiles is refused; fixed leading dims bound it too', () => {
    const p = check(io().replace('max_batch_size: 8', 'max_batch_size: 16'), engine);
    assert.deepEqual(rules(p), ['error model-max-batch-size max_batch_size']);
    assert.match(p[0]?.message ?? '', /the config says 16 but the model has a largest batch of 8/);
    const fixed = sig('tensorrt_plan', [t('x', 'TYPE_FP32', [1, 4])], [t('y', 'TYPE_FP32', [1, 4])]);
    assert.deepEqual(rules(check('max_batch_size: 4', fixed)), ['error model-max-batch-size max_batch_size']);
  });
});

describe('tensorflow and pytorch rules', () => {
  test('SavedModel: names, types, shapes as onnxruntime; GraphDef: names only', () => {
    const saved = sig('tf_savedmodel', [t('images', 'TYPE_FP32', [-1, 8])], [t('probs', 'TYPE_FP32', [-1, 2])]);
    assert.deepEqual(
      rules(
        check(
          'max_batch_size: 2 input [{name: "images" data_type: TYPE_FP16 dims: [8]}] output [{name: "probs" data_type: TYPE_FP32 dims: [2, 1]}]',
          saved,
        ),
      ),
      ['error model-data-type input[0].data_type', 'error model-dims output[0].dims'],
    );
    const graph = sig('tf_graphdef', [t('in', 'TYPE_FP32', [1, 8])], [t('out', 'TYPE_FP32', [])]);
    assert.deepEqual(
      check(
        'input [{name: "in" data_type: TYPE_INT8 dims: [3]}] output [{name: "out" data_type: TYPE_FP32 dims: [9]}]',
        graph,
      ),
      [],
    );
    assert.deepEqual(rules(check('input [{name: "inn" data_type: TYPE_FP32 dims: [8]}]', graph)), [
      'error model-input-unknown input[0].name',
    ]);
  });
  test('PyTorch: <name>__<index> naming (else a warning: config order), at least one input and output', () => {
    const pt = sig('torchscript', [], [], { metadata: { signatureSource: 'options' } });
    assert.deepEqual(
      check(
        'input [{name: "INPUT__0" data_type: TYPE_FP32 dims: [3]}] output [{name: "OUTPUT__0" data_type: TYPE_FP32 dims: [3]}]',
        pt,
      ),
      [],
    );
    assert.deepEqual(
      rules(
        check(
          'input [{name: "x" data_type: TYPE_FP32 dims: [3]}] output [{name: "a__b__0" data_type: TYPE_STRING dims: [2, 2]}]',
          pt,
        ),
      ),
      ['warning pytorch-naming input', 'warning pytorch-naming output', 'error pytorch-string-output output[0].dims'],
    );
    assert.deepEqual(rules(check('', pt)), ['error pytorch-io-required input', 'error pytorch-io-required output']);
  });
  test('every rule is documented with the Triton function it mirrors', () => {
    for (const [id, rule] of Object.entries(MODEL_RULES)) {
      assert.ok(rule.check && rule.triton, id);
    }
    const config: ModelConfig = {};
    assert.deepEqual(checkConfigAgainstModel(config, sig('python', [], [])), []);
  });
});
