import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { compareModels } from '../../src/onnx/index.js';
import { runCli } from '../helpers/cli.js';
import { pythonHasOnnx, runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const haveOnnx = pythonHasOnnx();
const dir = haveOnnx ? await tempDir('msb-compare-') : '';

/** Small models written with the reference onnx library: y = f(x) for a dynamic-batch x of shape [N, 4]. */
const MAKE = `
import sys, onnx
from onnx import helper, TensorProto as T
out = sys.argv[1]
def model(name, nodes, inits=()):
    g = helper.make_graph(nodes, name,
        [helper.make_tensor_value_info('x', T.FLOAT, ['N', 4])],
        [helper.make_tensor_value_info('y', T.FLOAT, ['N', 4])], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, f'{out}/{name}.onnx')
c = lambda n, v: helper.make_tensor(n, T.FLOAT, [], [v])
model('double', [helper.make_node('Mul', ['x', 'two'], ['y'])], [c('two', 2.0)])
model('double_off', [helper.make_node('Mul', ['x', 'two'], ['t']), helper.make_node('Add', ['t', 'eps'], ['y'])],
      [c('two', 2.0), c('eps', 0.01)])
model('log', [helper.make_node('Sub', ['x', 'half'], ['t']), helper.make_node('Log', ['t'], ['y'])], [c('half', 0.5)])
model('log_off', [helper.make_node('Sub', ['x', 'half'], ['t']), helper.make_node('Abs', ['t'], ['a']),
                  helper.make_node('Log', ['a'], ['y'])], [c('half', 0.5)])
`;

describe('msb onnx compare', { skip: haveOnnx ? false : 'python3-onnx is not installed' }, () => {
  const m = (n: string) => path.join(dir, `${n}.onnx`);
  before(() => {
    runPython(MAKE, [dir]);
  });

  test('identical models pass with zero error; a 0.01 offset fails at 1e-3 and passes at atol 0.02', async () => {
    const same = await compareModels(m('double'), m('double'));
    assert.equal(same.pass, true);
    assert.equal(same.outputs[0]?.maxAbsError, 0);
    assert.deepEqual(same.outputs[0]?.dims, [1, 4]);

    const off = await compareModels(m('double'), m('double_off'));
    assert.equal(off.pass, false);
    assert.equal(off.outputs[0]?.failing, 4);
    assert.ok(Math.abs((off.outputs[0]?.maxAbsError ?? 0) - 0.01) < 1e-6);

    assert.equal((await compareModels(m('double'), m('double_off'), { atol: 0.02 })).pass, true);
    // Exceeding atol alone is not a failure: rtol 1 (100%) covers a 0.01 offset on values 2x in [0, 1) ...
    // except where 2x < 0.01, which the seeded inputs do not produce at this size: check with both loose.
    assert.equal((await compareModels(m('double'), m('double_off'), { rtol: 10 })).pass, true);
  });

  test('NaN in both models passes; NaN in one fails', async () => {
    // log(x - 0.5) is NaN for x < 0.5: the same in both, so it passes.
    const both = await compareModels(m('log'), m('log'), { shapes: { x: [64, 4] } });
    assert.equal(both.pass, true);
    assert.equal(both.outputs[0]?.elements, 256);
    const one = await compareModels(m('log'), m('log_off'), { shapes: { x: [64, 4] } });
    assert.equal(one.pass, false);
    // Exactly the elements with x < 0.5 are NaN on one side only; log|t| = log t elsewhere.
    assert.ok((one.outputs[0]?.failing ?? 0) > 64 && (one.outputs[0]?.failing ?? 0) < 192);
  });

  test('the seed decides the inputs: same seed, same report', async () => {
    const a = await compareModels(m('log'), m('log_off'), { seed: 7, shapes: { x: [16, 4] } });
    const b = await compareModels(m('log'), m('log_off'), { seed: 7, shapes: { x: [16, 4] } });
    const c = await compareModels(m('log'), m('log_off'), { seed: 8, shapes: { x: [16, 4] } });
    assert.deepEqual(a.outputs, b.outputs);
    assert.notDeepEqual(a.outputs, c.outputs);
  });

  test('CLI: table and exit 1 on failure, --json, --inputs file, bad options', async () => {
    const fail = await runCli(['onnx', 'compare', m('double'), m('double_off')]);
    assert.equal(fail.code, 1, fail.stderr);
    assert.match(fail.stdout, /^y\t\[1, 4\]\t.*FAIL/m);
    assert.match(fail.stdout, /^FAIL: atol 0.001, rtol 0.001, seed 1/m);

    const inputs = path.join(dir, 'inputs.json');
    // 2x + 0.01 against 2x at x = 10: abs error 0.01 > 1e-3, but relative 0.0005 < 1e-3: passes.
    await writeFile(inputs, JSON.stringify([{ x: { dims: [1, 4], data: [10, 20, 30, 40] } }]));
    const ok = await runCli(['onnx', 'compare', m('double'), m('double_off'), '--inputs', inputs, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.equal(report.pass, true);
    assert.equal(report.samples, 1);
    assert.ok(report.outputs[0].maxAbsError > 0.009);

    await writeFile(inputs, JSON.stringify({ x: { dims: [1, 3], data: [1, 2, 3] } }));
    const bad = await runCli(['onnx', 'compare', m('double'), m('double'), '--inputs', inputs]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^msb: MSB_ONNX_BAD_INPUTS: .*input 'x': dims \[1, 3\] do not fit the model's \[N, 4\]/);

    const badTol = await runCli(['onnx', 'compare', m('double'), m('double'), '--atol', 'abc']);
    assert.equal(badTol.code, 2);
    assert.match(badTol.stderr, /MSB_ONNX_BAD_OPTION: --atol abc: not a number/);

    const missing = await runCli(['onnx', 'compare', m('double'), path.join(dir, 'nope.onnx')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /MSB_ONNX_RUNTIME_FAILED: .*nope\.onnx: ONNX Runtime cannot load the model/);
  });
});

test('without onnxruntime-node: a clear typed error, and msb --help never loads it', {
  skip: haveOnnx ? false : 'python3-onnx is not installed',
}, async () => {
  const hide = path.join(import.meta.dirname, 'hide-onnxruntime.mjs');
  const env = { NODE_OPTIONS: `--import ${pathToFileURL(hide).href}` };
  const r = await runCli(['onnx', 'compare', path.join(dir, 'double.onnx'), path.join(dir, 'double.onnx')], { env });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^msb: MSB_ONNX_RUNTIME_MISSING: ONNX Runtime is not available .*npm install onnxruntime-node/,
  );
  const c = await runCli(
    ['onnx', 'convert', path.join(dir, 'double.onnx'), '-o', path.join(dir, 'x.onnx'), '--precision', 'fp16'],
    { env },
  );
  assert.equal(c.code, 2);
  assert.match(c.stderr, /MSB_ONNX_RUNTIME_MISSING: .*--no-calibrate/);
  // --no-calibrate needs no ONNX Runtime.
  const n = await runCli(
    [
      'onnx',
      'convert',
      path.join(dir, 'double.onnx'),
      '-o',
      path.join(dir, 'x.onnx'),
      '--precision',
      'fp16',
      '--no-calibrate',
    ],
    { env },
  );
  assert.equal(n.code, 0, n.stderr);
  const help = await runCli(['--help'], { env });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /onnx/);
});
