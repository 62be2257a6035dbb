import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadProto } from '../config/index.js';

/**
 * Small ONNX models the demo converts, written with msb's own subset of the ONNX schema (`proto/onnx.proto`) through
 * protobufjs, so the demo needs no model download. The reference onnx checker accepts them (tested).
 */
export interface SampleModel {
  name: string;
  file: string;
  description: string;
}

type Dim = number | string;

function tensorType(elemType: number, dims: Dim[]) {
  return {
    tensor_type: {
      elem_type: elemType,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
    },
  };
}

const FLOAT = 1;

function model(graph: Record<string, unknown>): Uint8Array {
  const Model = loadProto('onnx.proto').lookupType('onnx.ModelProto');
  const message = Model.fromObject({
    ir_version: 7,
    producer_name: 'msb-demo',
    producer_version: '1',
    opset_import: [{ domain: '', version: 13 }],
    graph,
  });
  return Model.encode(message).finish();
}

/** A linear classifier: probs[N,4] = softmax(x[N,8] · W[8,4] + b[4]), with fixed weights. */
function linearClassifier(): Uint8Array {
  const w = Array.from({ length: 32 }, (_, i) => Math.sin(i + 1) / 4);
  const b = [0.1, -0.2, 0.3, 0];
  return model({
    name: 'linear_classifier',
    node: [
      { op_type: 'MatMul', input: ['x', 'W'], output: ['xw'], name: 'matmul' },
      { op_type: 'Add', input: ['xw', 'b'], output: ['logits'], name: 'add' },
      {
        op_type: 'Softmax',
        input: ['logits'],
        output: ['probs'],
        name: 'softmax',
        attribute: [{ name: 'axis', type: 2, i: -1 }],
      },
    ],
    initializer: [
      { name: 'W', data_type: FLOAT, dims: [8, 4], float_data: w },
      { name: 'b', data_type: FLOAT, dims: [4], float_data: b },
    ],
    input: [{ name: 'x', type: tensorType(FLOAT, ['N', 8]) }],
    output: [{ name: 'probs', type: tensorType(FLOAT, ['N', 4]) }],
  });
}

/** An identity model with a symbolic batch dimension. */
function identity(): Uint8Array {
  return model({
    name: 'identity',
    node: [{ op_type: 'Identity', input: ['INPUT0'], output: ['OUTPUT0'], name: 'identity' }],
    input: [{ name: 'INPUT0', type: tensorType(FLOAT, ['batch', 16]) }],
    output: [{ name: 'OUTPUT0', type: tensorType(FLOAT, ['batch', 16]) }],
  });
}

/** Writes the sample models into `dir`. */
export async function writeSampleModels(dir: string): Promise<SampleModel[]> {
  const samples: [string, string, Uint8Array][] = [
    ['linear_classifier', 'a linear classifier (MatMul, Add, Softmax)', linearClassifier()],
    ['identity', 'an identity model with a symbolic batch dimension', identity()],
  ];
  const out: SampleModel[] = [];
  for (const [name, description, bytes] of samples) {
    const file = path.join(dir, `${name}.onnx`);
    await writeFile(file, bytes);
    out.push({ name, file, description });
  }
  return out;
}
