/**
 * The real-Triton harness itself (test/helpers/triton.ts) against the PyPI tritonserver: a Python-backend model that
 * msb publishes is READY, Triton serves its config, answers an inference through tritonclient, and the server stops
 * and starts again on the same ports with the model back.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { publish } from '../../src/publish/index.js';
import { ModelStore } from '../../src/store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';
import { ADD_ONE, infer } from './models.js';

const skip = skipWithoutTriton();

let server: TritonServer | undefined;
const dir = await tempDir();
const storeDir = path.join(dir, 'store');

before(async () => {
  if (skip) return;
  const source = path.join(dir, 'model.py');
  await writeFile(source, ADD_ONE);
  const store = await ModelStore.open(storeDir, { create: true });
  await store.createModel('addone', {
    config: {
      backend: 'python',
      input: [{ name: 'INPUT0', dataType: 'TYPE_FP32', dims: [4] }],
      output: [{ name: 'OUTPUT0', dataType: 'TYPE_FP32', dims: [4] }],
      instanceGroup: [{ kind: 'KIND_CPU', count: 1 }],
    },
  });
  await publish({ store, model: 'addone', source, mode: 'add' });
  await store.close();
  server = await TritonServer.start({ repository: storeDir });
});

after(async () => {
  await server?.close();
});

test('a Python-backend model msb publishes is READY and answers through tritonclient', { skip }, async () => {
  assert.ok(server);
  assert.deepEqual(
    (await server.index()).map((m) => [m.name, m.version, m.state]),
    [['addone', '1', 'READY']],
  );
  assert.equal(await server.modelReady('addone', '1'), true);
  const config = await server.modelConfig('addone');
  assert.equal(config.backend, 'python');
  assert.deepEqual(await infer(server, 'addone', 'INPUT0', 'OUTPUT0', [1, 2, 3, 4]), [2, 3, 4, 5]);
});

test('restart: the same ports, the model READY again, the log kept across both runs', { skip }, async () => {
  assert.ok(server);
  const port = server.httpPort;
  await server.stop();
  assert.equal(server.running, false);
  await assert.rejects(fetch(`${server.url}/v2/health/live`));
  await server.restart();
  assert.equal(server.httpPort, port);
  assert.equal(await server.modelReady('addone'), true);
  assert.equal(server.log().match(/successfully loaded 'addone'/g)?.length, 2, server.log());
});
