/**
 * Every platform msb publishes, built with msb, loaded by the real tritonserver 2.51 from PyPI (explicit mode, one
 * load per model through msb's own client, src/triton): the Python-backend model (`msb add --platform python`) and
 * an ensemble over it are READY and answer inferences through tritonclient with the expected values; a model of a
 * backend this server lacks (ONNX Runtime: `msb add --onnx` of a corpus model) is refused by Triton with its own
 * message, after the config checks that run before the backend lookup (docs/triton.md "Backends the PyPI server
 * lacks"). The test-only backend that lets those loads go further is test/triton-backend's.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { publish } from '../../src/publish/index.js';
import { ModelStore } from '../../src/store/index.js';
import { TritonRepositoryClient } from '../../src/triton/index.js';
import { runCliOk } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';
import { ADD_ONE, infer } from './models.js';

const onnxModel = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_exp', 'model.onnx');
const skip = skipWithoutTriton();
const skipOnnx = skip || skipWithout(onnxModel);

let server: TritonServer | undefined;
let client: TritonRepositoryClient | undefined;
const dir = await tempDir();
const store = path.join(dir, 'store');

before(async () => {
  if (skip) return;
  const source = path.join(dir, 'model.py');
  await writeFile(source, ADD_ONE);
  const cli = (...args: string[]) => runCliOk(args);
  await cli('init', store);
  await cli(
    'add',
    '--store-path',
    store,
    '--model',
    source,
    '--name',
    'addone',
    '--platform',
    'python',
    '--input',
    'INPUT0:FP32:4',
    '--output',
    'OUTPUT0:FP32:4',
  );
  // The CLI has no command that creates an ensemble (its config has no model file to generate it from): the
  // library's createModel + publish, the path `msb version add` takes for the version.
  const s = await ModelStore.open(store);
  await s.createModel('addtwo', {
    config: {
      platform: 'ensemble',
      input: [{ name: 'IN', dataType: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'OUT', dataType: 'TYPE_FP32', dims: [4] }],
      ensembleScheduling: {
        step: [
          { modelName: 'addone', modelVersion: -1, inputMap: { INPUT0: 'IN' }, outputMap: { OUTPUT0: 'MID' } },
          { modelName: 'addone', modelVersion: -1, inputMap: { INPUT0: 'MID' }, outputMap: { OUTPUT0: 'OUT' } },
        ],
      },
    },
  });
  await publish({ store: s, model: 'addtwo', mode: 'add' });
  await s.close();
  if (!skipOnnx) await cli('add', '--store-path', store, '--onnx', onnxModel, '--name', 'exp');
  server = await TritonServer.start({ repository: store, mode: 'explicit' });
  client = new TritonRepositoryClient({ url: server.url, attempts: 2, backoffMs: 100 });
});

after(async () => {
  await server?.close();
});

test('python backend: msb add --platform python → READY, served config is msb’s, infers x + 1', { skip }, async () => {
  assert.ok(server && client);
  assert.deepEqual(await client.load('addone'), { attempts: 1 });
  assert.equal(await server.modelReady('addone', '1'), true);
  const served = await server.modelConfig('addone');
  assert.equal(served.backend, 'python');
  assert.deepEqual(
    (served.input as { name: string; data_type: string; dims: number[] }[]).map((i) => [i.name, i.data_type, i.dims]),
    [['INPUT0', 'TYPE_FP32', [4]]],
  );
  assert.deepEqual(await infer(server, 'addone', 'INPUT0', 'OUTPUT0', [1, 2, 3, 4]), [2, 3, 4, 5]);
});

test('ensemble of two addone steps: READY with its step model, infers x + 2', { skip }, async () => {
  assert.ok(server && client);
  assert.deepEqual(await client.load('addtwo'), { attempts: 1 });
  assert.equal(await server.modelReady('addtwo', '1'), true);
  const served = await server.modelConfig('addtwo');
  assert.equal(served.platform, 'ensemble');
  assert.deepEqual(await infer(server, 'addtwo', 'IN', 'OUT', [1, 2, 3, 4]), [3, 4, 5, 6]);
  const index = await server.index();
  assert.deepEqual(
    index
      .filter((m) => m.name !== 'exp')
      .map((m) => [m.name, m.version, m.state])
      .sort(),
    [
      ['addone', '1', 'READY'],
      ['addtwo', '1', 'READY'],
    ],
  );
});

test('onnxruntime_onnx (msb add --onnx): Triton refuses the load for the missing backend, not the config', {
  skip: skipOnnx,
}, async () => {
  assert.ok(server && client);
  const err = await client.load('exp').then(
    () => assert.fail('the PyPI server has no ONNX Runtime backend'),
    (e: unknown) => e,
  );
  // A 400 from Triton is not retried: one try.
  assert.ok(isMsbError(err, 'MSB_TRITON_LOAD_FAILED'), String(err));
  assert.match((err as Error).message, /unable to find backend library for backend 'onnxruntime'/);
  const entry = (await server.index()).find((m) => m.name === 'exp');
  assert.equal(entry?.state, 'UNAVAILABLE');
  assert.match(entry?.reason ?? '', /unable to find backend library for backend 'onnxruntime'/);
  assert.equal(await server.modelReady('exp'), false);
});
