import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  type ModelConfig,
  modelConfigFromJson,
  modelConfigToJson,
  parseModelConfig,
  printModelConfig,
  TextFormatError,
} from '../../src/config/index.js';
import { renderModelConfigTypes } from '../../src/config/typegen.js';
import { repoRoot } from '../helpers/paths.js';
import { protocCanonical } from '../helpers/protoc.js';

/** Our parse+print must equal protoc's encode+decode of the same text. */
function agreesWithProtoc(text: string): void {
  const ref = protocCanonical(text);
  assert.ok(ref.ok, `protoc rejected: ${ref.ok ? '' : ref.error}`);
  const ours = printModelConfig(parseModelConfig(text));
  assert.equal(ours, ref.text);
}

function parseError(text: string): TextFormatError {
  try {
    parseModelConfig(text);
  } catch (err) {
    assert.ok(err instanceof TextFormatError, `not a TextFormatError: ${String(err)}`);
    return err;
  }
  assert.fail(`parsed without error: ${text}`);
}

describe('text-format grammar (each case checked against protoc)', () => {
  const cases: [string, string][] = [
    ['comments and separators', 'name: "a" # a comment\n; max_batch_size: 8, platform: "x";'],
    ['colon optional before messages, both delimiters', 'version_policy < latest { num_versions: 2 } >'],
    ['colon before message', 'version_policy: { all: {} }'],
    ['list of scalars and list of messages', 'input: [{ name: "a" dims: [1, 2, -1] }, { name: "b" dims: [] }]'],
    ['repeated by repetition', 'output { name: "a" } output { name: "b" dims: 3 dims: 4 }'],
    [
      'map with message value',
      'parameters { key: "k" value { string_value: "v" } } parameters [{ key: "a" value: {} }]',
    ],
    [
      'map with integer keys sorted numerically',
      'dynamic_batching { priority_queue_policy { key: 10 value {} } priority_queue_policy { key: 9 value { max_queue_size: 1 } } }',
    ],
    [
      'enum by name and by number, unknown number kept',
      'input { data_type: TYPE_FP16 } input { data_type: 11 } input { data_type: 99 }',
    ],
    [
      'strings: both quotes, escapes, concatenation',
      `name: 'it''s' "\\x41\\101\\u00e9\\U0001F600\\n\\t\\\\\\"\\'" 'end'`,
    ],
    [
      'integers: hex, octal, negative, int64 beyond 2^53',
      'input { dims: [0x10, 010, -1, 9007199254740993, -9223372036854775808] }',
    ],
    ['uint64 at its maximum', 'dynamic_batching { max_queue_delay_microseconds: 18446744073709551615 }'],
    [
      'floats: exponent, inf, nan, f suffix, integer form',
      'model_metrics { metric_control { histogram_options { buckets: [1e3, -2.5E-3, inf, -inf, nan, 1.5f, 7, .5, -infinity] } } }',
    ],
    ['float (32-bit) rounding', 'sequence_batching { direct { minimum_slot_utilization: 0.1 } }'],
    [
      'bools in every spelling',
      'input { is_shape_tensor: t allow_ragged_batch: True optional: 1 } output { is_shape_tensor: false } input { optional: f } input { optional: 0 }',
    ],
    ['oneof member at its default is kept', 'model_warmup { inputs { key: "x" value { zero_data: false } } }'],
    ['defaults are not printed', 'max_batch_size: 0 name: "" input { name: "" optional: false }'],
    ['empty messages are printed', 'version_policy { all {} } optimization {}'],
  ];
  for (const [name, text] of cases) {
    test(name, () => {
      agreesWithProtoc(text);
    });
  }

  test('int64 beyond 2^53 stays exact as a bigint; safe values are numbers', () => {
    const c = parseModelConfig('input { dims: [9007199254740993, -1, 3] }');
    assert.deepEqual(c.input?.[0]?.dims, [9007199254740993n, -1, 3]);
  });

  test('the object model: camelCase keys, enum names, maps as records', () => {
    const c = parseModelConfig(
      'name: "m" max_batch_size: 4 input { name: "i" data_type: TYPE_FP32 dims: 3 } cc_model_filenames { key: "8.6" value: "a.plan" }',
    );
    assert.deepEqual(c, {
      name: 'm',
      maxBatchSize: 4,
      input: [{ name: 'i', dataType: 'TYPE_FP32', dims: [3] }],
      ccModelFilenames: { '8.6': 'a.plan' },
    });
  });
});

describe('text-format errors carry code, line:column and field path', () => {
  const cases: [string, string, string, number, number, string][] = [
    ['unknown field', 'name: "a"\ninput { nme: "x" }', 'MSB_TEXTFORMAT_UNKNOWN_FIELD', 2, 9, 'input[0]'],
    ['wrong type', 'max_batch_size: "8"', 'MSB_TEXTFORMAT_TYPE', 1, 17, 'max_batch_size'],
    ['float for an integer', 'max_batch_size: 1.0', 'MSB_TEXTFORMAT_TYPE', 1, 17, 'max_batch_size'],
    ['int32 out of range', 'max_batch_size: 2147483648', 'MSB_TEXTFORMAT_TYPE', 1, 17, 'max_batch_size'],
    [
      'negative unsigned',
      'dynamic_batching { max_queue_delay_microseconds: -1 }',
      'MSB_TEXTFORMAT_TYPE',
      1,
      51,
      'dynamic_batching.max_queue_delay_microseconds',
    ],
    ['bad enum', 'input { data_type: TYPE_FP33 }', 'MSB_TEXTFORMAT_ENUM', 1, 20, 'input[0].data_type'],
    ['duplicate non-repeated field', 'name: "a"\nname: "b"', 'MSB_TEXTFORMAT_DUPLICATE', 2, 1, 'name'],
    ['duplicate nested message', 'optimization {}\noptimization {}', 'MSB_TEXTFORMAT_DUPLICATE', 2, 1, 'optimization'],
    [
      'two members of a oneof',
      'dynamic_batching {}\nsequence_batching {}',
      'MSB_TEXTFORMAT_DUPLICATE',
      2,
      1,
      'sequence_batching',
    ],
    ['unterminated string', 'name: "abc', 'MSB_TEXTFORMAT_SYNTAX', 1, 7, 'name'],
    ['string across lines', 'name: "a\nb"', 'MSB_TEXTFORMAT_SYNTAX', 1, 7, 'name'],
    ['bad escape', 'name: "\\q"', 'MSB_TEXTFORMAT_SYNTAX', 1, 8, 'name'],
    ['unclosed message', 'input { name: "a"', 'MSB_TEXTFORMAT_SYNTAX', 1, 18, 'input[0]'],
    ['mismatched delimiter', 'input { name: "a" >', 'MSB_TEXTFORMAT_SYNTAX', 1, 19, 'input[0]'],
    ['missing colon before a scalar', 'name "a"', 'MSB_TEXTFORMAT_SYNTAX', 1, 6, 'name'],
    ['list for a singular field', 'name: ["a"]', 'MSB_TEXTFORMAT_SYNTAX', 1, 7, 'name'],
    ['octal with 8', 'max_batch_size: 08', 'MSB_TEXTFORMAT_SYNTAX', 1, 17, ''],
    ['number glued to identifier', 'max_batch_size: 8x', 'MSB_TEXTFORMAT_SYNTAX', 1, 18, ''],
  ];
  for (const [name, text, code, line, column, fieldPath] of cases) {
    test(name, () => {
      const err = parseError(text);
      assert.equal(err.code, code, err.message);
      assert.deepEqual([err.line, err.column], [line, column], err.message);
      assert.ok(err.path.endsWith(fieldPath), `path ${err.path} should end with ${fieldPath}`);
      assert.ok(!protocCanonical(text).ok, 'protoc accepts what we reject');
    });
  }

  test('the source name leads the message', () => {
    assert.throws(
      () => parseModelConfig('nme: 1', { source: 'm/config.pbtxt' }),
      /^TextFormatError: m\/config\.pbtxt:1:1: /,
    );
  });
});

describe('printing objects checks them against the schema', () => {
  const bad: [string, ModelConfig, string, string][] = [
    ['unknown key', { maxBatchsize: 4 } as ModelConfig, 'MSB_TEXTFORMAT_UNKNOWN_FIELD', 'maxBatchsize'],
    ['wrong scalar type', { maxBatchSize: '4' } as unknown as ModelConfig, 'MSB_TEXTFORMAT_TYPE', 'maxBatchSize'],
    ['non-integer', { maxBatchSize: 1.5 }, 'MSB_TEXTFORMAT_TYPE', 'maxBatchSize'],
    [
      'enum name unknown',
      { input: [{ dataType: 'FP32' }] } as unknown as ModelConfig,
      'MSB_TEXTFORMAT_ENUM',
      'input[0].dataType',
    ],
    ['oneof twice', { dynamicBatching: {}, sequenceBatching: {} }, 'MSB_TEXTFORMAT_DUPLICATE', 'sequenceBatching'],
    [
      'map key of the wrong type',
      { dynamicBatching: { priorityQueuePolicy: { x: {} } } },
      'MSB_TEXTFORMAT_TYPE',
      'priorityQueuePolicy["x"]',
    ],
  ];
  for (const [name, config, code, fieldPath] of bad) {
    test(name, () => {
      assert.throws(
        () => printModelConfig(config),
        (err: unknown) => err instanceof TextFormatError && err.code === code && err.path.endsWith(fieldPath),
      );
    });
  }
});

describe('protobuf JSON mapping', () => {
  test('int64 as strings, enums by name, defaults left out, and back', () => {
    const c = parseModelConfig(
      'name: "m" max_batch_size: 0 input { name: "i" data_type: TYPE_FP32 dims: [-1, 9007199254740993] } model_metrics { metric_control { histogram_options { buckets: [nan, inf] } } }',
    );
    const json = modelConfigToJson(c);
    assert.deepEqual(json, {
      name: 'm',
      input: [{ name: 'i', dataType: 'TYPE_FP32', dims: ['-1', '9007199254740993'] }],
      modelMetrics: { metricControl: [{ histogramOptions: { buckets: ['NaN', 'Infinity'] } }] },
    });
    assert.equal(printModelConfig(modelConfigFromJson(JSON.parse(JSON.stringify(json)))), printModelConfig(c));
  });

  test('reads original field names and numbers for int64', () => {
    const c = modelConfigFromJson({ max_batch_size: 8, input: [{ data_type: 'TYPE_INT8', dims: [1, '2'] }] });
    assert.deepEqual(c, { maxBatchSize: 8, input: [{ dataType: 'TYPE_INT8', dims: [1, 2] }] });
  });

  test('refuses unknown keys and bad values with the path', () => {
    assert.throws(() => modelConfigFromJson({ input: [{ dimz: [] }] }), /input\[0\]\.dimz/);
    assert.throws(
      () => modelConfigFromJson({ maxBatchSize: 'x' }),
      (e: unknown) => e instanceof TextFormatError && e.path === 'maxBatchSize',
    );
  });
});

test('src/config/model-config.ts is what the generator renders from the proto (npm run gen:types)', () => {
  const committed = readFileSync(path.join(repoRoot, 'src', 'config', 'model-config.ts'), 'utf8');
  assert.equal(committed, renderModelConfigTypes());
});
