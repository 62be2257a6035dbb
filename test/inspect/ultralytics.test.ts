/**
 * Ultralytics TensorRT engines (4-byte little-endian length + JSON metadata, then the plan), built here from a plan
 * fixture and a JSON block as Ultralytics' exporter writes them: recognised by inspect, published as the bare plan
 * by `msb add --engine` and `msb version add` with the metadata in the publish record, `names` as labels on request,
 * and refused by `msb validate` when copied into a store as is.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import { detectFormat, inspectModel, ultralyticsLabels } from '../../src/inspect/index.js';
import { ModelStore, VERSION_RECORD } from '../../src/store/index.js';
import { writeSignatureRecord } from '../fixtures/plan-signature.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

/** What Ultralytics' exporter writes for a YOLO detector (keys as in its `self.metadata`). */
const METADATA = {
  description: 'Ultralytics YOLO11n model trained on coco.yaml',
  author: 'Ultralytics',
  version: '8.3.0',
  license: 'AGPL-3.0 License (https://ultralytics.com/license)',
  stride: 32,
  task: 'detect',
  batch: 1,
  imgsz: [640, 640],
  names: { 0: 'person', 1: 'bicycle', 2: 'car', 4: 'airplane', 3: 'motorcycle' },
  args: { batch: 1, half: true, dynamic: false },
};

/** A plan stand-in ("ftrt", a serialization version, TensorRT 10.3.0 at bytes 24..26, then bytes). */
function planBytes(): Buffer {
  const head = Buffer.alloc(32);
  head.write('ftrt', 0, 'latin1');
  head[8] = 239;
  head[24] = 10;
  head[25] = 3;
  head[26] = 0;
  return Buffer.concat([head, randomBytes(32 * 1024)]);
}

/** The exporter's layout: `len(meta).to_bytes(4, "little", signed=True) + meta.encode() + engine`. */
function ultralyticsEngine(plan: Buffer, metadata: object = METADATA): Buffer {
  const meta = Buffer.from(JSON.stringify(metadata));
  const length = Buffer.alloc(4);
  length.writeInt32LE(meta.length);
  return Buffer.concat([length, meta, plan]);
}

const IO = ['--input', 'images:FP32:1,3,640,640', '--output', 'output0:FP32:1,84,8400'];

describe('Ultralytics TensorRT engines', () => {
  test('inspect recognises the container, shows the metadata and why Triton cannot load the file', async () => {
    const dir = await tempDir();
    const plan = planBytes();
    const file = path.join(dir, 'yolo11n.engine');
    await writeFile(file, ultralyticsEngine(plan));
    const found = await detectFormat(file);
    assert.equal(found.format, 'tensorrt_plan');
    assert.equal(found.ultralytics?.planOffset, 4 + JSON.stringify(METADATA).length);
    assert.deepEqual(found.ultralytics?.metadata, JSON.parse(JSON.stringify(METADATA)));
    // Tensor names and shapes still come from the user (or msb's record, or TensorRT): the metadata does not say.
    await assert.rejects(inspectModel(file), (e: unknown) => isMsbError(e, 'MSB_INSPECT_SIGNATURE_REQUIRED'));
    const sig = await inspectModel(file, {
      inputs: [{ name: 'images', dataType: 'TYPE_FP32', dims: [1, 3, 640, 640] }],
      outputs: [{ name: 'output0', dataType: 'TYPE_FP32', dims: [1, 84, 8400] }],
    });
    assert.equal(sig.metadata.container, 'ultralytics');
    assert.equal(sig.metadata['ultralytics.task'], 'detect');
    assert.equal(sig.metadata.planMagic, 'ftrt', 'the plan header is read after the prefix');
    assert.equal(sig.metadata.tensorrtVersion, '10.3.0');
    const cli = await runCli(['inspect', file, ...IO]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /container\s+ultralytics/);
    assert.match(cli.stdout, /ultralytics\.names\s+\{"0":"person"/);
    assert.match(cli.stdout, /Triton cannot load this file as is: it starts with Ultralytics' \d+-byte metadata/);
  });

  test('not an Ultralytics engine: a bare plan, a JSON-looking file without a plan after it', async () => {
    const dir = await tempDir();
    const bare = path.join(dir, 'bare.plan');
    await writeFile(bare, planBytes());
    assert.equal((await detectFormat(bare)).ultralytics, undefined);
    const notPlan = path.join(dir, 'x.engine');
    await writeFile(notPlan, ultralyticsEngine(Buffer.from('not a plan at all')));
    assert.equal((await detectFormat(notPlan)).ultralytics, undefined);
    const broken = path.join(dir, 'broken.engine');
    const engine = ultralyticsEngine(planBytes());
    engine.write('{x', 4, 'latin1'); // the block is no longer JSON, the plan magic still follows it
    await writeFile(broken, engine);
    await assert.rejects(detectFormat(broken), (e: unknown) => isMsbError(e, 'MSB_INSPECT_CORRUPT'));
    assert.deepEqual(ultralyticsLabels(METADATA), ['person', 'bicycle', 'car', 'motorcycle', 'airplane']);
    assert.deepEqual(ultralyticsLabels({ names: ['a', 'b'] }), ['a', 'b']);
    assert.equal(ultralyticsLabels({ task: 'detect' }), undefined);
  });

  test('msb add --engine publishes the bare plan, keeps the metadata in the record, labels from names', async () => {
    const dir = await tempDir();
    const plan = planBytes();
    const file = path.join(dir, 'yolo11n.engine');
    await writeFile(file, ultralyticsEngine(plan));
    // msb's signature record beside the engine (it describes the engine file, prefix included).
    await writeSignatureRecord(
      file,
      [{ name: 'images', dataType: 'TYPE_FP32', dims: [-1, 3, 640, 640] }],
      [{ name: 'output0', dataType: 'TYPE_FP32', dims: [-1, 84, 8400] }],
      { maxBatchSize: 4 },
    );
    const store = path.join(dir, 'store');
    const r = await runCli([
      'add',
      '--store-path',
      store,
      '--engine',
      file,
      '--name',
      'yolo',
      '--labels-from-metadata',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const published = await readFile(path.join(store, 'yolo', '1', 'model.plan'));
    assert.ok(published.equals(plan), 'the version holds the plan without the prefix');
    const record = JSON.parse(await readFile(path.join(store, 'yolo', '1', VERSION_RECORD), 'utf8'));
    assert.equal(record.source, file);
    assert.equal(record.container.kind, 'ultralytics');
    assert.deepEqual(record.container.metadata, JSON.parse(JSON.stringify(METADATA)));
    assert.deepEqual(
      record.files.find((f: { path: string }) => f.path === 'model.plan'),
      {
        path: 'model.plan',
        size: plan.length,
      },
    );
    const labels = await readFile(path.join(store, 'yolo', 'labels.txt'), 'utf8');
    assert.equal(labels, 'person\nbicycle\ncar\nmotorcycle\nairplane\n');
    const config = await readFile(path.join(store, 'yolo', 'config.pbtxt'), 'utf8');
    assert.match(config, /label_filename: "labels.txt"/);
    // The carried-over record matches the bare plan: the stored version inspects and validates clean.
    assert.deepEqual(await (await ModelStore.open(store)).validate(), []);
  });

  test('msb version add strips the prefix too; a store holding the engine as is fails validate', async () => {
    const dir = await tempDir();
    const plan = planBytes();
    const file = path.join(dir, 'best.engine');
    await writeFile(file, ultralyticsEngine(plan));
    const store = path.join(dir, 'store');
    const first = await runCli(['add', '--store-path', store, '--engine', file, '--name', 'det', ...IO]);
    assert.equal(first.code, 0, first.stderr);
    const v = await runCli(['version', 'add', store, 'det', file, '--labels-from-metadata']);
    assert.equal(v.code, 0, v.stderr);
    assert.ok((await readFile(path.join(store, 'det', '2', 'model.plan'))).equals(plan));
    const record = JSON.parse(await readFile(path.join(store, 'det', '2', VERSION_RECORD), 'utf8'));
    assert.equal(record.container.metadata.task, 'detect');
    assert.equal(
      await readFile(path.join(store, 'det', 'output0_labels.txt'), 'utf8'),
      'person\nbicycle\ncar\nmotorcycle\nairplane\n',
    );
    // Copied in by hand, the engine is what Triton cannot load.
    await mkdir(path.join(store, 'det', '3'));
    await copyFile(file, path.join(store, 'det', '3', 'model.plan'));
    const problems = await (await ModelStore.open(store)).validate();
    assert.deepEqual(
      problems.map((p) => `${p.severity} ${p.rule} ${p.path}`),
      ['error plan-container det/3/model.plan'],
    );
    // --labels-from-metadata on a file without class names is refused before anything is written.
    const bare = path.join(dir, 'bare.plan');
    await writeFile(bare, plan);
    const refused = await runCli(['version', 'add', store, 'det', bare, '--labels-from-metadata']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /carries no class names/);
  });
});
