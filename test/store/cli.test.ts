import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parseModelConfig } from '../../src/config/index.js';
import { planSidecarPath, writePlanSidecar } from '../../src/inspect/index.js';
import { runCli } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { tempDir } from '../helpers/tmp.js';
import { runCliIn } from './helpers.js';

const onnx = testdata('onnx', 'onnx-backend', 'light', 'light_resnet50.onnx');

/** A file that looks like a TensorRT plan to msb (the "ftrt" magic) but cannot be deserialized without TensorRT. */
async function planLike(dir: string, name = 'ResNet-50-b1-fp32.engine'): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, Buffer.concat([Buffer.from('ftrt'), randomBytes(64 * 1024)]));
  return p;
}

test('msb add --engine exactly as the seed: without a signature it says to pass --input/--output; with them it publishes', async () => {
  const dir = await tempDir();
  const engine = await planLike(dir);
  const storePath = path.join(dir, 'model-store');
  const seed = [
    'add',
    `--store-path=${storePath}`,
    `--engine=${engine}`,
    '--name=overridden-model-name',
    '--version=1337',
    '--concurrency=10',
  ];
  const refused = await runCli(seed);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /MSB_INSPECT_SIGNATURE_REQUIRED/);
  assert.match(refused.stderr, /--input NAME:TYPE:DIMS and --output NAME:TYPE:DIMS/);
  await assert.rejects(stat(path.join(storePath, 'overridden-model-name')), 'nothing written');

  const ok = await runCli([...seed, '--input=input:FP32:-1,3,224,224', '--output=output:FP32:-1,1000', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).version, 1337);
  const placed = path.join(storePath, 'overridden-model-name', '1337', 'model.plan');
  assert.deepEqual(await readFile(placed), await readFile(engine));
  const config = parseModelConfig(
    await readFile(path.join(storePath, 'overridden-model-name', 'config.pbtxt'), 'utf8'),
  );
  assert.equal(config.name, 'overridden-model-name');
  assert.equal(config.platform, 'tensorrt_plan');
  assert.equal(config.instanceGroup?.[0]?.count, 10);
  assert.deepEqual(
    config.input?.map((i) => [i.name, i.dataType, i.dims]),
    [['input', 'TYPE_FP32', [3, 224, 224]]],
  );
  assert.ok((config.maxBatchSize ?? 0) > 0);
  const validated = await runCli(['validate', storePath]);
  assert.equal(validated.code, 0, validated.stdout + validated.stderr);

  // Adding again is refused without --force; with --force the config (and labels) are replaced and the version added.
  const labelsFile = path.join(dir, 'classes.txt');
  await writeFile(labelsFile, 'a\nb\n');
  const again = await runCli([...seed, '--input=input:FP32:-1,3,224,224', '--output=output:FP32:-1,1000']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /MSB_STORE_EXISTS/);
  const forced = await runCli([
    ...seed.filter((a) => !a.startsWith('--version')),
    '--input=input:FP32:-1,3,224,224',
    '--output=output:FP32:-1,1000',
    '--max-batch-size=2',
    `--labels=${labelsFile}`,
    '--force',
  ]);
  assert.equal(forced.code, 0, forced.stderr);
  const forcedConfig = parseModelConfig(
    await readFile(path.join(storePath, 'overridden-model-name', 'config.pbtxt'), 'utf8'),
  );
  assert.equal(forcedConfig.maxBatchSize, 2);
  assert.equal(forcedConfig.output?.[0]?.labelFilename, 'classes.txt');
  assert.equal(await readFile(path.join(storePath, 'overridden-model-name', 'classes.txt'), 'utf8'), 'a\nb\n');
  const ls = JSON.parse((await runCli(['ls', storePath, '--json'])).stdout);
  assert.deepEqual(ls, [
    {
      model: 'overridden-model-name',
      platform: 'tensorrt_plan',
      backend: 'tensorrt',
      versions: [1337, 1338],
      labels: ['classes.txt'],
    },
  ]);
  assert.equal((await runCli(['validate', storePath])).code, 0);
});

test("msb add --engine with msb's own signature record needs no --input/--output and keeps the record", async () => {
  const dir = await tempDir();
  const engine = await planLike(dir, 'resnet.plan');
  await writePlanSidecar(engine, {
    msb: 1,
    tensorrt: '10.3.0',
    computeCapability: '8.0',
    signature: {
      format: 'tensorrt_plan',
      platform: 'tensorrt_plan',
      backend: 'tensorrt',
      inputs: [{ name: 'x', dataType: 'TYPE_FP16', dims: [-1, 3, 8, 8] }],
      outputs: [{ name: 'y', dataType: 'TYPE_FP16', dims: [-1, 10] }],
      batchDim: true,
      maxBatchSize: 16,
      metadata: {},
    },
  });
  const storePath = path.join(dir, 'store');
  const r = await runCli(['add', `--store-path=${storePath}`, `--engine=${engine}`]);
  assert.equal(r.code, 0, r.stderr);
  const config = parseModelConfig(await readFile(path.join(storePath, 'resnet', 'config.pbtxt'), 'utf8'));
  assert.equal(config.maxBatchSize, 16);
  assert.deepEqual(
    JSON.parse(await readFile(path.join(storePath, 'resnet', '1', 'model.plan.msb.json'), 'utf8')),
    JSON.parse(await readFile(planSidecarPath(engine), 'utf8')),
  );
});

test('msb add --onnx with the default store path and name, labels, --platform check', {
  skip: skipWithout(onnx),
}, async () => {
  const dir = await tempDir();
  const labels = path.join(dir, 'imagenet_labels.txt');
  await writeFile(labels, Array.from({ length: 1000 }, (_, i) => `class${i}`).join('\n'));
  const r = await runCliIn(dir, ['add', `--onnx=${onnx}`, `--labels=${labels}`]);
  assert.equal(r.code, 0, r.stderr);
  const model = path.join(dir, 'model-store', 'light_resnet50');
  assert.deepEqual(await readFile(path.join(model, '1', 'model.onnx')), await readFile(onnx));
  const config = parseModelConfig(await readFile(path.join(model, 'config.pbtxt'), 'utf8'));
  assert.equal(config.platform, 'onnxruntime_onnx');
  assert.equal(config.output?.[0]?.labelFilename, 'imagenet_labels.txt');
  assert.equal(await readFile(path.join(model, 'imagenet_labels.txt'), 'utf8'), await readFile(labels, 'utf8'));
  const wrong = await runCliIn(dir, ['add', `--model=${onnx}`, '--platform=tensorrt_plan', '--name=x']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /MSB_STORE_BAD_SOURCE.*onnx/);
  const v = await runCliIn(dir, ['validate', 'model-store', '--json']);
  assert.equal(v.code, 0, v.stdout);
  assert.deepEqual(JSON.parse(v.stdout), []);
});

test('store commands: init, version add/ls/rm, show, labels, config get/set/edit, rm, validate', async () => {
  const dir = await tempDir();
  const store = path.join(dir, 'repo');
  const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { env });
  assert.equal((await cli(['init', store])).code, 0);
  // A model made through the library-free path: config set creates nothing, so create via add with a Python model.
  const py = path.join(dir, 'model.py');
  await writeFile(py, 'class TritonPythonModel:\n    pass\n');
  const added = await cli([
    'add',
    `--store-path=${store}`,
    `--model=${py}`,
    '--name=pym',
    '--input=IN:FP32:4',
    '--output=OUT:FP32:2',
  ]);
  assert.equal(added.code, 0, added.stderr);
  const v2 = await cli(['version', 'add', store, 'pym', py, '--publish-key', 'job-1', '--json']);
  assert.deepEqual(JSON.parse(v2.stdout), { model: 'pym', version: 2 });
  const v2again = await cli(['version', 'add', store, 'pym', py, '--publish-key', 'job-1', '--json']);
  assert.deepEqual(JSON.parse(v2again.stdout), { model: 'pym', version: 2 });
  const ls = JSON.parse((await cli(['version', 'ls', store, 'pym', '--json'])).stdout) as {
    version: number;
    publishKey?: string;
  }[];
  assert.deepEqual(
    ls.map((v) => [v.version, v.publishKey]),
    [
      [1, undefined],
      [2, 'job-1'],
    ],
  );
  const labels = path.join(dir, 'l.txt');
  await writeFile(labels, 'yes\nno\n');
  assert.equal((await cli(['labels', 'set', store, 'pym', 'OUT', labels])).code, 0);
  const shown = JSON.parse((await cli(['show', store, 'pym', '--json'])).stdout);
  assert.deepEqual(shown.labels, [{ output: 'OUT', file: 'OUT_labels.txt', lines: 2 }]);
  assert.equal((await cli(['labels', 'rm', store, 'pym', 'OUT'])).code, 0);

  assert.equal(
    (
      await cli([
        'config',
        'set',
        store,
        'pym',
        '--set',
        'max_batch_size=8',
        '--set',
        'dynamic_batching.max_queue_delay_microseconds=100',
      ])
    ).code,
    0,
  );
  const got = parseModelConfig((await cli(['config', 'get', store, 'pym'])).stdout);
  assert.equal(got.maxBatchSize, 8);
  assert.equal(got.dynamicBatching?.maxQueueDelayMicroseconds, 100);
  assert.equal(got.backend, 'python');
  const bad = await cli(['config', 'set', store, 'pym', '--set', 'max_batch_size=-2']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /MSB_STORE_CONFIG/);
  // edit: $EDITOR is a command line run on the file; an invalid result is refused and nothing is saved.
  const edited = await cli(['config', 'edit', store, 'pym'], {
    EDITOR: 'sed -i s/max_batch_size:\\ 8/max_batch_size:\\ 32/',
  });
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(JSON.parse((await cli(['config', 'get', store, 'pym', '--json'])).stdout).maxBatchSize, 32);
  const broken = await cli(['config', 'edit', store, 'pym'], {
    EDITOR: 'sed -i s/max_batch_size:\\ 32/max_batch_size:\\ x/',
  });
  assert.equal(broken.code, 2);
  assert.equal(parseModelConfig((await cli(['config', 'get', store, 'pym'])).stdout).maxBatchSize, 32);

  assert.equal((await cli(['version', 'rm', store, 'pym', '1'])).code, 0);
  assert.equal((await cli(['rm', store, 'pym', '--version', '2'])).code, 0);
  // No version left: validate exits 1 and names the model.
  const invalid = await cli(['validate', store, '--json']);
  assert.equal(invalid.code, 1);
  assert.deepEqual(
    (JSON.parse(invalid.stdout) as { path: string; rule: string }[]).map((p) => [p.path, p.rule]),
    [['pym', 'no-versions']],
  );
  await mkdir(path.join(store, '.hidden'));
  assert.match((await cli(['validate', store])).stdout, /hidden-model/);
  assert.equal((await cli(['rm', store, 'pym'])).code, 0);
  assert.deepEqual(
    JSON.parse((await cli(['ls', store, '--json'])).stdout).map((m: { model: string }) => m.model),
    ['.hidden'],
  );
  const missing = await cli(['show', store, 'nope']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /MSB_STORE_NOT_FOUND/);
  const traversal = await cli(['show', store, '../etc']);
  assert.match(traversal.stderr, /MSB_STORE_INVALID_NAME/);
});
