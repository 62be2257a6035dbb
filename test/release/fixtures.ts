/**
 * Model files for the release tests: real ONNX models made with Debian's python3-onnx, and plan stand-ins with a real
 * header (the "ftrt" magic, TensorRT's version at bytes 24..26) and msb's record of the build beside them.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeSignatureRecord } from '../fixtures/plan-signature.js';
import { runPython } from '../helpers/python.js';

/** Relu models stamped with ai.onnx opsets 13 and 22 (ONNX Runtime 1.19, Triton 24.10, reads up to 21). */
export function makeOnnx(dir: string): { opset13: string; opset22: string } {
  runPython(
    `
import sys, onnx
from onnx import helper, TensorProto
for op, ir in ((13, 8), (22, 10)):
    x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 4])
    g = helper.make_graph([helper.make_node('Relu', ['x'], ['y'])], 'g', [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', op)])
    m.ir_version = ir
    onnx.save(m, f'{sys.argv[1]}/relu{op}.onnx')
`,
    [dir],
  );
  return { opset13: path.join(dir, 'relu13.onnx'), opset22: path.join(dir, 'relu22.onnx') };
}

/**
 * A plan stand-in whose header names TensorRT `trt` (bytes 24..26, TensorRT >= 8.6 layout), with msb's record of
 * its build (signature, built-for compute capability, build options) unless `record` is false.
 */
export async function makePlan(
  file: string,
  trt: [number, number, number],
  record: { computeCapability: string; buildOptions?: Record<string, unknown> } | false,
): Promise<string> {
  const bytes = Buffer.alloc(512);
  bytes.write('ftrt', 0, 'latin1');
  bytes[8] = 239;
  [bytes[24], bytes[25], bytes[26]] = trt;
  await writeFile(file, bytes);
  if (record) {
    const t = (name: string) => ({ name, dataType: 'TYPE_FP32' as const, dims: [-1, 4] });
    await writeSignatureRecord(
      file,
      [t('x')],
      [t('y')],
      { maxBatchSize: 8 },
      {
        tensorrt: trt.join('.'),
        computeCapability: record.computeCapability,
        // as msb's worker records a build: its options and target (an inspect job records none)
        buildOptions: record.buildOptions ?? {
          target: { tensorrt: `${trt[0]}.${trt[1]}`, gpu: record.computeCapability },
        },
      },
    );
  }
  return file;
}
