import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { pythonHasOnnx, runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const haveOnnx = pythonHasOnnx();

/** good: y = relu(x); bad_op: an op ONNX Runtime does not know; bad_run: a Reshape that only fits batch 1. */
const MAKE = `
import sys, onnx
from onnx import helper, numpy_helper, TensorProto as T
import numpy as np
out = sys.argv[1]
def save(name, nodes, inits=(), check=True):
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info('x', T.FLOAT, ['N', 6])],
                          [helper.make_tensor_value_info('y', T.FLOAT, ['N', 6])], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])
    m.ir_version = 8
    if check: onnx.checker.check_model(m)
    onnx.save(m, f'{out}/{name}.onnx')
save('good', [helper.make_node('Relu', ['x'], ['y'])])
save('bad_op', [helper.make_node('NoSuchOp', ['x'], ['y'])], check=False)
save('bad_run', [helper.make_node('Reshape', ['x', 's'], ['y'])], [numpy_helper.from_array(np.array([1, 6], dtype=np.int64), 's')])
`;

test('msb validate --deep: ONNX Runtime loads and runs every ONNX version as Triton would', {
  skip: haveOnnx ? false : 'python3-onnx is not installed',
  timeout: 180_000,
}, async () => {
  const dir = await tempDir('msb-deep-');
  runPython(MAKE, [dir]);
  const store = path.join(dir, 'store');
  assert.equal((await runCli(['init', store])).code, 0);
  for (const m of ['good', 'bad_op', 'bad_run']) {
    const r = await runCli([
      'add',
      '--store-path',
      store,
      '--onnx',
      path.join(dir, `${m}.onnx`),
      '--max-batch-size',
      '4',
    ]);
    assert.equal(r.code, 0, r.stderr);
  }
  const plain = await runCli(['validate', store, '--json']);
  assert.equal(plain.code, 0, plain.stdout + plain.stderr);

  const deep = await runCli(['validate', store, '--deep', '--json']);
  assert.equal(deep.code, 1, deep.stderr);
  const problems = JSON.parse(deep.stdout) as { path: string; rule: string; message: string }[];
  const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
  assert.deepEqual(Object.keys(byPath).sort(), ['bad_op/1/model.onnx', 'bad_run/1/model.onnx']);
  assert.equal(byPath['bad_op/1/model.onnx']?.rule, 'onnxruntime-load');
  // ONNX Runtime's own message.
  assert.match(byPath['bad_op/1/model.onnx']?.message ?? '', /NoSuchOp/);
  assert.equal(byPath['bad_run/1/model.onnx']?.rule, 'onnxruntime-run');
  // Run at max_batch_size 4: [4, 6] cannot become [1, 6].
  assert.match(byPath['bad_run/1/model.onnx']?.message ?? '', /at x\[4,6\]: .*Reshape/i);

  const table = await runCli(['validate', store, '--deep']);
  assert.equal(table.code, 1);
  assert.match(table.stdout, /^error\tbad_op\/1\/model\.onnx\tonnxruntime-load\t/m);
});
