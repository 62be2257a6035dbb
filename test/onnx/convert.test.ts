import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compareModels, convertModel } from '../../src/onnx/index.js';
import { runCli } from '../helpers/cli.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { python, pythonHasOnnx, runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const haveOnnx = pythonHasOnnx();
const dir = haveOnnx ? await tempDir('msb-convert-') : '';
if (haveOnnx)
  execFileSync(python, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'make_convert_fixtures.py'), dir]);
const f = (n: string) => path.join(dir, `${n}.onnx`);

/** What the reference library reads back: checker verdict (full check), types, Cast targets, node ops. */
function describeModel(file: string) {
  return JSON.parse(
    runPython(
      `
import json, sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
def graph(g):
    return {
        'inputs': {v.name: v.type.tensor_type.elem_type for v in g.input},
        'outputs': {v.name: v.type.tensor_type.elem_type for v in g.output},
        'value_info': {v.name: v.type.tensor_type.elem_type for v in g.value_info},
        'initializers': {t.name: t.data_type for t in g.initializer},
        'nodes': [{'name': n.name, 'op': n.op_type, 'inputs': list(n.input), 'outputs': list(n.output),
                   'attrs': {a.name: (a.i if a.type == 2 else a.t.data_type if a.type == 4 else graph(a.g) if a.type == 5 else None)
                             for a in n.attribute}} for n in g.node],
    }
print(json.dumps(graph(m.graph)))
`,
      [file],
    ),
  );
}

describe('msb onnx convert', { skip: haveOnnx ? false : 'python3-onnx is not installed' }, () => {
  test('fp16 --keep-io-types: each AutoCast rule decides its node, Casts at the boundaries, checker passes', async () => {
    const out = path.join(dir, 'mixed16.onnx');
    const report = await convertModel(f('mixed'), out, { precision: 'fp16', keepIoTypes: true });
    const kept = Object.fromEntries(report.kept.map((k) => [k.node, k.reason]));
    assert.deepEqual(kept, { scale: 'data-range', sig: 'data-range', min_huge: 'initializer-range' });
    assert.equal(report.floatNodes, 7); // matmul relu add_const scale sig min_huge add_out (Casts/Constants aside)
    assert.equal(report.lowNodes, 4);
    assert.deepEqual(report.calibration, { samples: 1, source: 'random' });

    const m = describeModel(out);
    assert.deepEqual(m.inputs, { x: 1 });
    assert.deepEqual(m.outputs, { y: 1, z: 1 });
    // Weights read only by FP16 nodes are FP16; those of FP32 nodes stay FP32 (never clamped).
    assert.deepEqual(m.initializers, { W: 10, k1000: 1, huge: 1 });
    assert.equal(m.value_info.h, 10);
    const node = (name: string) => m.nodes.find((n: { name: string }) => n.name === name);
    assert.equal(node('const_half').attrs.value, 10);
    assert.equal(node('cast_back').attrs.to, 10);
    assert.equal(node('to_int').attrs.to, 7);
    // Every float crossing is a Cast: x → FP16 for matmul; h3 → FP32 for scale; h2 → FP32 for min_huge; m → FP16.
    const casts = m.nodes.filter(
      (n: { op: string; name: string }) => n.op === 'Cast' && !['to_int', 'cast_back'].includes(n.name),
    );
    assert.equal(casts.length, report.castsInserted);
    assert.deepEqual(
      casts.map((c: { inputs: string[]; attrs: { to: number } }) => `${c.inputs[0]}->${c.attrs.to}`).sort(),
      ['h2->1', 'h3->1', 'm->10', 'x->10', 'z_fp16->1'],
    );
    const cmp = await compareModels(f('mixed'), out, { atol: 1e-2, rtol: 1e-2, shapes: { x: [16, 8] } });
    assert.equal(cmp.pass, true, JSON.stringify(cmp.outputs));
    assert.ok((cmp.outputs.find((o) => o.name === 'z')?.maxAbsError ?? 0) > 0, 'z is computed in FP16');

    // Deterministic: the same conversion gives the same bytes.
    const again = path.join(dir, 'mixed16-again.onnx');
    await convertModel(f('mixed'), again, { precision: 'fp16', keepIoTypes: true });
    assert.deepEqual(await readFile(again), await readFile(out));
  });

  test('without --keep-io-types inputs and outputs take the low precision where their nodes do', async () => {
    const out = path.join(dir, 'mixed16-io.onnx');
    await convertModel(f('mixed'), out, { precision: 'fp16' });
    const m = describeModel(out);
    assert.deepEqual(m.inputs, { x: 10 });
    assert.deepEqual(m.outputs, { y: 1, z: 10 }); // sig stays FP32 (data range)
    const cmp = await compareModels(f('mixed'), out, { atol: 1e-2, rtol: 1e-2 });
    assert.equal(cmp.pass, true, JSON.stringify(cmp.outputs));
  });

  test('exclusions by op type and by node name', async () => {
    const out = path.join(dir, 'mixed16-excl.onnx');
    const report = await convertModel(f('mixed'), out, {
      precision: 'fp16',
      keepIoTypes: true,
      excludeOps: ['MatMul'],
      excludeNodes: ['relu'],
    });
    const kept = Object.fromEntries(report.kept.map((k) => [k.node, k.reason]));
    assert.equal(kept.matmul, 'excluded-op');
    assert.equal(kept.relu, 'excluded-node');
    assert.equal(describeModel(out).initializers.W, 1);
    await assert.rejects(convertModel(f('mixed'), out, { precision: 'fp16', excludeNodes: ['nope'] }), {
      code: 'MSB_ONNX_BAD_OPTION',
      message: /no node named 'nope'/,
    });
  });

  test('If branches: converted on their own, FP32 at their boundary and outer reads', async () => {
    const out = path.join(dir, 'control16.onnx');
    const report = await convertModel(f('control'), out, { precision: 'fp16', keepIoTypes: true });
    assert.deepEqual(
      report.kept.map((k) => `${k.node}:${k.reason}`),
      ['if:control-flow'],
    );
    const m = describeModel(out);
    const iff = m.nodes.find((n: { op: string }) => n.op === 'If');
    // The branches read h in FP32 (a Cast of gemm's FP16 output); their own nodes run in FP16.
    const then = iff.attrs.then_branch;
    assert.equal(then.initializers.two, 10);
    assert.deepEqual(then.outputs, { t_out: 1 });
    assert.ok(then.nodes.some((n: { op: string }) => n.op === 'Cast'));
    for (const flag of [0, 1]) {
      const inputs = path.join(dir, `flag${flag}.json`);
      const { writeFile } = await import('node:fs/promises');
      await writeFile(
        inputs,
        JSON.stringify({
          x: { dims: [2, 6], data: Array.from({ length: 12 }, (_, i) => i / 12) },
          flag: { dims: [], data: [flag] },
        }),
      );
      const cmp = await compareModels(f('control'), out, { atol: 1e-2, rtol: 1e-2, inputsFile: inputs });
      assert.equal(cmp.pass, true, JSON.stringify(cmp.outputs));
    }
  });

  test('Loop body: converted with FP32 at its carried state and its outer reads', async () => {
    const out = path.join(dir, 'loop16.onnx');
    const report = await convertModel(f('loop'), out, { precision: 'fp16', keepIoTypes: true });
    assert.deepEqual(
      report.kept.map((k) => `${k.node}:${k.reason}`),
      ['loop:control-flow'],
    );
    const m = describeModel(out);
    const body = m.nodes.find((n: { op: string }) => n.op === 'Loop').attrs.body;
    assert.equal(body.initializers.decay, 10);
    assert.deepEqual(body.inputs, { iter: 7, cond_in: 9, state_in: 1 });
    assert.deepEqual(body.outputs, { cond_out: 9, state_out: 1 });
    const cmp = await compareModels(f('loop'), out, { atol: 1e-2, rtol: 1e-2, shapes: { x: [3, 6] } });
    assert.equal(cmp.pass, true, JSON.stringify(cmp.outputs));
  });

  test('--calibration samples decide the data range', async () => {
    const { writeFile } = await import('node:fs/promises');
    const samples = path.join(dir, 'calibration.json');
    // x = 200: the MatMul's output reaches about 655, beyond 512; seeded [0, 1) inputs stay far below.
    await writeFile(samples, JSON.stringify([{ x: { dims: [2, 8], data: Array.from({ length: 16 }, () => 200) } }]));
    const out = path.join(dir, 'mixed16-cal.onnx');
    const report = await convertModel(f('mixed'), out, {
      precision: 'fp16',
      keepIoTypes: true,
      calibrationFile: samples,
    });
    assert.deepEqual(report.calibration, { samples: 1, source: 'file' });
    const kept = Object.fromEntries(report.kept.map((k) => [k.node, k.reason]));
    assert.equal(kept.matmul, 'data-range');
    describeModel(out);
  });

  test('external data is read and written by offset, FP16 halves it', async () => {
    const out = path.join(dir, 'ext16', 'model.onnx');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(path.dirname(out));
    const report = await convertModel(f('external'), out, { precision: 'fp16', keepIoTypes: true });
    assert.equal(report.externalData, `${out}.data`);
    assert.equal(report.initializersConverted, 2);
    const src = await stat(path.join(dir, 'external.weights'));
    assert.equal((await stat(`${out}.data`)).size, src.size / 2);
    const m = describeModel(out);
    assert.deepEqual(m.initializers, { W1: 10, W2: 10 });
    const cmp = await compareModels(f('external'), out, { atol: 1e-2, rtol: 1e-2 });
    assert.equal(cmp.pass, true, JSON.stringify(cmp.outputs));
  });

  test('bf16: opset 13 or later; types are BF16 and the checker passes', async () => {
    const out = path.join(dir, 'mixed-bf16.onnx');
    const report = await convertModel(f('mixed'), out, { precision: 'bf16', keepIoTypes: true });
    // BF16 has FP32's range: only the data range keeps nodes FP32.
    assert.deepEqual(report.kept.map((k) => k.reason).sort(), ['data-range', 'data-range']);
    const m = describeModel(out);
    assert.equal(m.initializers.W, 16);
    assert.equal(m.initializers.huge, 16);
    assert.deepEqual(m.outputs, { y: 1, z: 1 });
    await assert.rejects(convertModel(f('mixed_opset11'), out, { precision: 'bf16' }), {
      code: 'MSB_ONNX_OPSET_TOO_OLD',
    });
  });

  test('CLI: report table, --json, errors as one line', async () => {
    const out = path.join(dir, 'cli16.onnx');
    const r = await runCli(['onnx', 'convert', f('mixed'), '-o', out, '--precision', 'fp16', '--keep-io-types']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nodes in low precision\t4\/7 \(57\.1%\)$/m);
    assert.match(r.stdout, /^kept FP32: data-range\t2$/m);
    const j = await runCli([
      'onnx',
      'convert',
      f('mixed'),
      '-o',
      out,
      '--precision',
      'fp16',
      '--no-calibrate',
      '--json',
    ]);
    assert.equal(j.code, 0, j.stderr);
    const report = JSON.parse(j.stdout);
    assert.deepEqual(report.calibration, { skipped: 'not requested' });
    // Without the measurement the data-range rule cannot apply; the initializer rule still does.
    assert.deepEqual(
      report.kept.map((k: { reason: string }) => k.reason),
      ['initializer-range'],
    );
    describeModel(out);

    const old = await runCli(['onnx', 'convert', f('mixed_opset11'), '-o', out, '--precision', 'bf16']);
    assert.equal(old.code, 2);
    assert.match(old.stderr, /^msb: MSB_ONNX_OPSET_TOO_OLD: .*BF16 needs ONNX opset 13 or later.*opset 11\n$/);
    const bad = await runCli(['onnx', 'convert', f('mixed'), '-o', out, '--precision', 'int8']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /MSB_ONNX_BAD_OPTION: --precision int8: expected fp16 or bf16/);
    const same = await runCli(['onnx', 'convert', f('mixed'), '-o', f('mixed'), '--precision', 'fp16']);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /must not overwrite the input/);
    const corrupt = path.join(dir, 'corrupt.onnx');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(corrupt, (await readFile(f('mixed'))).subarray(0, 100));
    const c = await runCli(['onnx', 'convert', corrupt, '-o', out, '--precision', 'fp16']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /^msb: MSB_INSPECT_CORRUPT: /);
  });

  test('random calibration inputs that cannot run the model: converted without the data-range rule, and said so', async () => {
    const out = path.join(dir, 'expand16.onnx');
    const report = await convertModel(f('expand_shape'), out, { precision: 'fp16', keepIoTypes: true });
    assert.ok('skipped' in report.calibration, JSON.stringify(report.calibration));
    assert.match(report.calibration.skipped, /cannot run the model on random inputs \(.*invalid expand shape.*\)/);
    assert.match(report.calibration.skipped, /data-range rule was not applied; give --calibration samples/);
    assert.equal(report.lowNodes, 2); // expand, relu: the other rules still decide
    const m = describeModel(out);
    assert.deepEqual(m.inputs, { x: 1, shape: 7 });
    assert.deepEqual(m.outputs, { y: 1 });
    // Samples the user gives that run are used; ones that cannot run are an error of those samples, not skipped.
    const good = path.join(dir, 'expand-good.json');
    const sample = (shape: number[]) => ({
      x: { dims: [3, 4], data: Array.from({ length: 12 }, (_, k) => k) },
      shape: { dims: [2], data: shape },
    });
    await writeFile(good, JSON.stringify(sample([8, 9])));
    const calibrated = await convertModel(f('expand_shape'), out, { precision: 'fp16', calibrationFile: good });
    assert.deepEqual(calibrated.calibration, { samples: 1, source: 'file' });
    const bad = path.join(dir, 'expand-bad.json');
    await writeFile(bad, JSON.stringify(sample([0, 0])));
    await assert.rejects(convertModel(f('expand_shape'), out, { precision: 'fp16', calibrationFile: bad }), {
      code: 'MSB_ONNX_RUNTIME_FAILED',
    });
    const cli = await runCli(['onnx', 'convert', f('expand_shape'), '-o', out, '--precision', 'fp16']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^calibration\tskipped \(ONNX Runtime cannot run the model on random inputs/m);
    assert.equal(cli.stderr, '', "ONNX Runtime's own log line does not repeat the reason");
  });
});

const irOld = testdata('onnx', 'onnx-backend', 'pytorch-operator', 'test_operator_conv', 'model.onnx');
test('--keep-io-types keeps the type of a graph input that is also an initializer (IR < 4)', {
  skip: skipWithout(irOld) || (haveOnnx ? false : 'python3-onnx is not installed'),
}, async () => {
  // IR 3: the Conv weight `1` is an initializer listed among the graph inputs, as every IR < 4 model lists them.
  const before = describeModel(irOld);
  assert.deepEqual(before.inputs, { '0': 1, '1': 1 });
  assert.deepEqual(Object.keys(before.initializers), ['1']);
  const out = path.join(await tempDir('msb-convert-ir3-'), 'conv16.onnx');
  const report = await convertModel(irOld, out, { precision: 'fp16', keepIoTypes: true });
  const m = describeModel(out);
  assert.deepEqual(m.inputs, { '0': 1, '1': 1 });
  assert.deepEqual(m.initializers, { '1': 1 });
  assert.equal(report.lowNodes, 1); // the Conv runs in FP16, reading its weight through a Cast
  assert.equal(report.castsInserted, 3);
  assert.deepEqual(
    m.nodes.map((n: { op: string }) => n.op),
    ['Cast', 'Cast', 'Conv', 'Cast'],
  );
  // Without --keep-io-types the weight is stored in FP16 and its input entry follows it, as before.
  const converted = describeModel((await convertModel(irOld, out, { precision: 'fp16' })).output);
  assert.deepEqual(converted.inputs, { '0': 10, '1': 10 });
});

const strnorm = testdata('onnx', 'onnx-backend', 'simple', 'test_strnorm_model_nostopwords_nochangecase', 'model.onnx');
test('an input msb has no random values for (a string) skips the measurement, said in the report, instead of failing', {
  skip: skipWithout(strnorm) || (haveOnnx ? false : 'python3-onnx is not installed'),
}, async () => {
  const out = path.join(await tempDir('msb-convert-str-'), 'strnorm.onnx');
  const report = await convertModel(strnorm, out, { precision: 'fp16', keepIoTypes: true });
  assert.deepEqual(report.calibration, {
    skipped:
      "no random calibration values for input 'x' (type string): the data-range rule was not applied; " +
      'give --calibration samples to apply it',
  });
  assert.deepEqual(describeModel(out).inputs, { x: 8 });
});
