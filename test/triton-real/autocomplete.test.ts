/**
 * The Python backend's auto-complete (issue 21 item 5) on the real tritonserver 2.51: a model.py implementing
 * `auto_complete_config` states its tensors and max_batch_size; msb stores a config that names only the backend.
 * Triton serves the completed config; msb's check (`validateModelConfig`) accepts what Triton served and
 * `msb validate` the stored config that names no tensor, and the config msb generates from the same tensors (`msb add --input/--output
 * --max-batch-size`) is what Triton completed, field for field where both set one.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  type ModelConfig,
  modelConfigFromJson,
  parseModelConfig,
  validateModelConfig,
} from '../../src/config/index.js';
import { publish } from '../../src/publish/index.js';
import { ModelStore } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';
import { ADD_ONE, infer } from './models.js';

const skip = skipWithoutTriton();

// ADD_ONE's execute with the Python backend's auto-complete hook (triton_python_backend_utils' ModelConfig API).
const AUTO = `${ADD_ONE}
    @staticmethod
    def auto_complete_config(auto_complete_model_config):
        auto_complete_model_config.add_input({"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [4]})
        auto_complete_model_config.add_output({"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [4]})
        auto_complete_model_config.set_max_batch_size(8)
        auto_complete_model_config.set_dynamic_batching()
        return auto_complete_model_config
`;

let server: TritonServer | undefined;
const dir = await tempDir();
const store = path.join(dir, 'store');

before(async () => {
  if (skip) return;
  const source = path.join(dir, 'model.py');
  await writeFile(source, AUTO);
  const s = await ModelStore.open(store, { create: true });
  // The config msb stores for it: the backend, nothing model.py decides.
  await s.createModel('auto', { config: { backend: 'python' } });
  await publish({ store: s, model: 'auto', source, mode: 'add' });
  await s.close();
  // The same tensors stated to msb: the config it generates.
  const r = await runCli([
    'add',
    '--store-path',
    store,
    '--model',
    source,
    '--name',
    'stated',
    '--platform',
    'python',
    '--input',
    // msb's tensor specs carry the batch dimension; the config's dims do not.
    'INPUT0:FP32:-1,4',
    '--output',
    'OUTPUT0:FP32:-1,4',
    '--max-batch-size',
    '8',
  ]);
  assert.equal(r.code, 0, r.stderr);
  server = await TritonServer.start({ repository: store });
});

after(async () => {
  await server?.close();
});

/** What both configs must agree on: tensors, batching. */
function essentials(config: ModelConfig | Record<string, unknown>) {
  const c = modelConfigFromJson(config);
  const io = (t: readonly { name?: string; dataType?: unknown; dims?: readonly (number | string | bigint)[] }[] = []) =>
    t.map((x) => [x.name, x.dataType, (x.dims ?? []).map(Number)]);
  return { input: io(c.input), output: io(c.output), maxBatchSize: Number(c.maxBatchSize ?? 0) };
}

test('Triton serves the config model.py completed: tensors, max_batch_size 8, dynamic batching', { skip }, async () => {
  assert.ok(server);
  assert.equal(await server.modelReady('auto'), true);
  const served = await server.modelConfig('auto');
  assert.deepEqual(essentials(served), {
    input: [['INPUT0', 'TYPE_FP32', [4]]],
    output: [['OUTPUT0', 'TYPE_FP32', [4]]],
    maxBatchSize: 8,
  });
  assert.ok(served.dynamic_batching, JSON.stringify(served));
  // Batched: a [1, 4] request.
  assert.deepEqual(await infer(server, 'auto', 'INPUT0', 'OUTPUT0', [[1, 2, 3, 4]]), [[2, 3, 4, 5]]);
  // The stored config is untouched: auto-complete is Triton's, in memory.
  const stored = parseModelConfig(await readFile(path.join(store, 'auto', 'config.pbtxt'), 'utf8'));
  assert.deepEqual([stored.backend, stored.input, stored.maxBatchSize], ['python', undefined, undefined]);
});

test('msb’s check accepts the served config, and msb validate the stored one Triton completes', { skip }, async () => {
  assert.ok(server);
  const served = modelConfigFromJson(await server.modelConfig('auto'));
  assert.deepEqual(validateModelConfig(served, { modelName: 'auto', gpus: [] }), []);
  const r = await runCli(['validate', store]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('the config msb generates from the same tensors is the one Triton completed', { skip }, async () => {
  assert.ok(server);
  assert.equal(await server.modelReady('stated'), true);
  const generated = parseModelConfig(await readFile(path.join(store, 'stated', 'config.pbtxt'), 'utf8'));
  assert.deepEqual(
    essentials(await server.modelConfig('stated')),
    essentials(await server.modelConfig('auto')),
    'served configs of the stated and the auto-completed model',
  );
  assert.deepEqual(essentials(generated), essentials(await server.modelConfig('auto')));
});
