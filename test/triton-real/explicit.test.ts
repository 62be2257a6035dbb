/**
 * Explicit model control against the real tritonserver 2.51: msb's repository client (`msb/triton`) loads after a
 * publish, reloads after a config edit, unloads and reads the index; a load whose server goes away and comes back
 * between two tries succeeds on a later try; `msb worker --triton-load` (the real CLI worker, real Redis) has the
 * model it published READY when the job completes. What the real server cannot be made to answer on demand (503 "not
 * ready" while it starts, then success; a 500 that clears after N tries; malformed bodies; a load that hangs past the
 * client's timeout) stays with test/triton/repository-server.ts and test/triton/client.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMsbError } from '../../src/errors.js';
import { ConversionClient } from '../../src/jobs/index.js';
import { TritonRepositoryClient, type TritonRetry } from '../../src/triton/index.js';
import { runCliOk, spawnCli } from '../helpers/cli.js';
import { startTestRedis, type TestTopology } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { skipWithoutTriton, TritonServer } from '../helpers/triton.js';
import { until } from '../helpers/until.js';
import { ADD_ONE, infer } from './models.js';

const skip = skipWithoutTriton();

let server: TritonServer | undefined;
const dir = await tempDir();
const store = path.join(dir, 'store');
const source = path.join(dir, 'model.py');

const msb = (...args: string[]) => runCliOk(args);

async function addPython(name: string): Promise<void> {
  await msb(
    'add',
    '--store-path',
    store,
    '--model',
    source,
    '--name',
    name,
    '--platform',
    'python',
    '--input',
    'INPUT0:FP32:4',
    '--output',
    'OUTPUT0:FP32:4',
  );
}

before(async () => {
  if (skip) return;
  await writeFile(source, ADD_ONE);
  await msb('init', store);
  await addPython('addone');
  server = await TritonServer.start({ repository: store, mode: 'explicit' });
});

after(async () => {
  await server?.close();
});

const count = (config: Record<string, unknown>) => (config.instance_group as { count: number }[])[0]?.count;

test('load after publish, reload after a config edit, unload, index', { skip }, async () => {
  assert.ok(server);
  const triton = new TritonRepositoryClient({ url: server.url, attempts: 2, backoffMs: 100 });
  // Explicit mode loads nothing at start-up: Triton lists the model and has it unloaded.
  assert.deepEqual(
    (await triton.index()).map((m) => [m.name, m.state ?? '']),
    [['addone', '']],
  );
  assert.deepEqual(await triton.load('addone'), { attempts: 1 });
  assert.equal(count(await server.modelConfig('addone')), 1);
  assert.deepEqual(await infer(server, 'addone', 'INPUT0', 'OUTPUT0', [0, 1, 2, 3]), [1, 2, 3, 4]);

  await msb(
    'config',
    'set',
    store,
    'addone',
    '--set',
    'instance_group[0].count=2',
    '--set',
    'instance_group[0].kind=KIND_CPU',
  );
  assert.deepEqual(await triton.load('addone'), { attempts: 1 });
  // The reload served the edited config: two CPU instances.
  assert.equal(count(await server.modelConfig('addone')), 2);
  assert.equal(server.log().match(/TRITONBACKEND_ModelInstanceInitialize: addone_0_1/g)?.length, 1);

  await msb('version', 'add', store, 'addone', source);
  await triton.load('addone');
  assert.deepEqual(
    (await triton.index({ ready: true })).map((m) => [m.name, m.version]),
    [['addone', '2']],
  );

  assert.deepEqual(await triton.unload('addone'), { attempts: 1 });
  // Unload answers before the instances are gone: UNLOADING, then UNAVAILABLE "unloaded".
  await until(
    'addone unloaded',
    async () => (await triton.index()).some((m) => m.version === '2' && m.state === 'UNAVAILABLE'),
    30_000,
  );
  assert.equal(await server.modelReady('addone'), false);
  const entry = (await triton.index()).find((m) => m.version === '2');
  assert.deepEqual([entry?.state, entry?.reason], ['UNAVAILABLE', 'unloaded']);

  // A model the repository does not have (yet): Triton's 500 "failed to poll from model repository", which msb
  // retries (an object store's listing catching up with a publish), then reports with the tries.
  const err = await triton.load('nosuch').then(
    () => assert.fail('loaded a model that is not there'),
    (e: unknown) => e,
  );
  assert.ok(isMsbError(err, 'MSB_TRITON_SERVER'), String(err));
  assert.equal(err.details.attempts, 2);
  assert.match((err as Error).message, /HTTP 500: failed to load 'nosuch', failed to poll from model repository/);
});

test('Triton stopped between two tries of a load and started again: a later try loads it', { skip }, async () => {
  assert.ok(server);
  await addPython('late');
  await server.stop();
  const retries: TritonRetry[] = [];
  const triton = new TritonRepositoryClient({
    url: server.url,
    attempts: 8,
    backoffMs: 500,
    maxBackoffMs: 4000,
    onRetry: (r) => retries.push(r),
  });
  const loading = triton.load('late');
  // Let at least one try fail against the stopped server, then bring it back on the same port.
  while (retries.length === 0) await sleep(50);
  await server.restart();
  const { attempts } = await loading;
  assert.ok(attempts >= 2, `attempts: ${attempts}`);
  assert.equal(retries[0]?.error.code, 'MSB_TRITON_UNREACHABLE');
  assert.equal(await server.modelReady('late'), true);
});

test('msb worker --triton-load: the import job completes with the model READY in Triton', { skip }, async (t) => {
  assert.ok(server);
  const redis: TestTopology = await startTestRedis();
  await addPython('viaworker');
  const worker = spawnCli(['worker', '--redis', redis.url, '--store', store, '--triton-load', server.url]);
  const client = new ConversionClient({ redis: redis.url });
  t.after(async () => {
    worker.proc.kill('SIGTERM');
    await worker.exited;
    await client.close();
    await redis.stop();
  });
  const job = await client.enqueue({ kind: 'import', source, output: { model: 'viaworker' } });
  const result = await job.result(120_000).catch((err: unknown) => {
    throw new Error(`${err}\nworker stderr:\n${worker.stderr()}`);
  });
  assert.equal(result.version, 2);
  assert.deepEqual(result.tritonLoad, { url: server.url, model: 'viaworker', loaded: true, attempts: 1 });
  assert.equal(await server.modelReady('viaworker', '2'), true);
  assert.deepEqual(await infer(server, 'viaworker', 'INPUT0', 'OUTPUT0', [5, 5, 5, 5]), [6, 6, 6, 6]);
});
