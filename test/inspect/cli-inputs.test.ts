import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { writeOnnxWithSignature } from '../fixtures/onnx-signature.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

test('4 KiB of random bytes named model.plan is refused, whatever tensors are stated (was exit 0, planMagic unrecognised)', async () => {
  const dir = await tempDir();
  const plan = path.join(dir, 'model.plan');
  await writeFile(plan, Buffer.concat([Buffer.from('not!'), randomBytes(4092)]));
  const io = ['--input', 'in:FP32:-1,3', '--output', 'out:FP32:-1,3'];
  const r = await runCli(['inspect', plan, ...io]);
  assert.equal(r.code, 2, r.stdout);
  assert.match(r.stderr, /^msb: MSB_INSPECT_CORRUPT: .*model\.plan: not a TensorRT plan: .*"ftrt"/);
  const store = path.join(dir, 'store');
  const add = await runCli(['add', `--store-path=${store}`, `--engine=${plan}`, '--name=m', ...io]);
  assert.equal(add.code, 2, add.stdout);
  assert.match(add.stderr, /MSB_INSPECT_CORRUPT/);
  assert.equal(existsSync(path.join(store, 'm')), false, 'nothing published');
});

test('an --input that contradicts the ONNX graph is refused naming both (was silently ignored)', async () => {
  const file = path.join(await tempDir(), 'dynbatch.onnx');
  writeOnnxWithSignature(file, {
    inputs: [{ name: 'images', type: 'FLOAT', shape: ['batch', 3, 640, 640] }],
    outputs: [{ name: 'scores', type: 'FLOAT', shape: ['batch', 3, 640, 640] }],
  });
  const r = await runCli(['inspect', file, '--input', 'images:FP32:-1,3,224,224']);
  assert.equal(r.code, 2, r.stdout);
  assert.match(
    r.stderr,
    /^msb: MSB_INSPECT_CONFLICT: .*dynbatch\.onnx: --input images:FP32:-1,3,224,224 contradicts the ONNX graph, which has images:FP32:-1,3,640,640/,
  );
  const agrees = await runCli(['inspect', file, '--input', 'images:FP32:-1,3,640,640', '--json']);
  assert.equal(agrees.code, 0, agrees.stderr);
  const other = await runCli(['inspect', file, '--output', 'nosuch:FP32:1']);
  assert.match(other.stderr, /--output nosuch:FP32:1 contradicts the ONNX graph, which has outputs scores:FP32/);
});

test('inspect of an Ultralytics engine with no tensors shows its container and metadata, exit 0 (was exit 2)', async () => {
  const plan = Buffer.concat([Buffer.from('ftrt'), Buffer.alloc(60)]);
  plan.set([10, 3, 0], 24);
  const meta = Buffer.from(JSON.stringify({ task: 'detect', names: { 0: 'person' }, imgsz: [640, 640] }));
  const length = Buffer.alloc(4);
  length.writeInt32LE(meta.length); // the exporter's layout: int32 length, JSON metadata, the plan
  const file = path.join(await tempDir(), 'yolo11n.engine');
  await writeFile(file, Buffer.concat([length, meta, plan]));
  const r = await runCli(['inspect', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^container\tultralytics$/m);
  assert.match(r.stdout, /^ultralytics\.task\tdetect$/m);
  assert.match(r.stdout, /^tensorrtVersion\t10\.3\.0$/m);
  assert.match(r.stdout, /^tensors: .*without TensorRT/m);
});
