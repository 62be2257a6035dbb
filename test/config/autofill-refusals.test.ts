/**
 * The other half of Triton's auto-complete suite: qa/L0_model_config/autofill_noplatform holds partial configs that
 * Triton refuses once it has read the model. For the ONNX and TensorRT cases, a model with the same signature as
 * Triton's test model (qa/L0_model_config/test.sh: onnx_int32_int8_int8, plan_float32_float32_float32) must make our
 * generator refuse the same partial config too. Where Triton's message names a tensor, ours must name it as well.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { generateModelConfig, parseModelConfig } from '../../src/config/index.js';
import { isMsbError } from '../../src/errors.js';
import { inspectModel, type ModelSignature } from '../../src/inspect/index.js';
import { writeOnnxWithSignature } from '../fixtures/onnx-signature.js';
import { planWithSignature } from '../fixtures/plan-signature.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';

const SUITE = testdata('triton-configs', 'triton-server', 'qa', 'L0_model_config', 'autofill_noplatform');

async function onnxModel(): Promise<ModelSignature> {
  const file = path.join(await tempDir(), 'model.onnx');
  writeOnnxWithSignature(file, {
    inputs: ['INPUT0', 'INPUT1'].map((name) => ({ name, type: 'INT32', shape: [16] })),
    outputs: ['OUTPUT0', 'OUTPUT1'].map((name) => ({ name, type: 'INT8', shape: [16] })),
  });
  return inspectModel(file);
}

async function planModel(): Promise<ModelSignature> {
  return planWithSignature(await tempDir(), [-1, 16]);
}

/**
 * Cases msb accepts although Triton refuses them: they mark a tensor as a TensorRT shape tensor, a per-tensor fact
 * a signature does not carry; Triton learns it from the deserialized engine.
 */
const ACCEPTED: Record<string, string> = {
  'tensorrt/bad_input_shape_tensor': 'is_shape_tensor',
  'tensorrt/bad_output_shape_tensor': 'is_shape_tensor',
};
/** Built from a shape-tensor engine (plan_zero_1_float32_int32) whose signature the suite does not show. */
const NOT_RECONSTRUCTIBLE = new Set(['tensorrt/mixed_batch_hint_shape_values']);

const tally = { refused: 0, sameTensor: 0, accepted: 0, cases: 0 };

describe("config generation refuses what Triton's auto-complete refuses (qa/L0_model_config/autofill_noplatform)", {
  skip: skipWithout(SUITE),
}, async () => {
  after(() => {
    process.stdout.write(
      `# autofill refusals: ${tally.refused}/${tally.cases} refused (${tally.sameTensor} naming the tensor Triton names); ${tally.accepted} accepted (listed)\n`,
    );
  });
  const { readdir } = await import('node:fs/promises');
  for (const backend of ['onnx', 'tensorrt'] as const) {
    for (const name of (await readdir(path.join(SUITE, backend))).sort()) {
      const dir = `${backend}/${name}`;
      if (NOT_RECONSTRUCTIBLE.has(dir)) continue;
      test(dir, async () => {
        tally.cases++;
        const partial = parseModelConfig(await readFile(path.join(SUITE, dir, 'config.pbtxt'), 'utf8'));
        const expected = await readFile(path.join(SUITE, dir, 'expected'), 'utf8');
        const sig = backend === 'onnx' ? await onnxModel() : await planModel();
        const run = () => generateModelConfig(sig, { name, partial });
        if (ACCEPTED[dir]) {
          assert.doesNotThrow(run, `${dir} is now refused: drop it from ACCEPTED`);
          tally.accepted++;
          return;
        }
        let caught: unknown;
        try {
          run();
        } catch (err) {
          caught = err;
        }
        assert.ok(isMsbError(caught), `${dir}: Triton refuses it ("${expected.trim()}") but msb generated a config`);
        tally.refused++;
        const named = /'(INPUT\w*|OUTPUT\w*)'/.exec(expected)?.[1];
        if (named) {
          // By name, or by its place in the config (the validator's field paths: `input[0].dims`).
          const kind = partial.input?.some((t) => t.name === named) ? 'input' : 'output';
          const index = (kind === 'input' ? partial.input : partial.output)?.findIndex((t) => t.name === named) ?? -1;
          const message = (caught as Error).message;
          assert.ok(
            message.includes(named) || message.includes(`${kind}[${index}]`),
            `Triton names ${named} (${expected.trim()}); msb said: ${message}`,
          );
          tally.sameTensor++;
        }
      });
    }
  }
});
