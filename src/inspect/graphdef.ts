/**
 * Frozen TensorFlow GraphDefs (`model.graphdef`): the Placeholder nodes are the inputs, named by node name, with
 * their `dtype` and `shape` attrs. A GraphDef does not say which nodes are outputs, so those come from the user;
 * when they are missing, the error lists the graph's sink nodes as candidates.
 */
import { InspectError } from './errors.js';
import { leadingDynamicDim, type ModelSignature, type TensorSignature } from './signature.js';
import {
  createReader,
  decodeOrCorrupt,
  forEachField,
  type Reader,
  readProtoFile,
  readShape,
  subMessageEnd,
  tritonType,
  WIRE,
} from './tf-common.js';

const PLACEHOLDER_OPS = new Set(['Placeholder', 'PlaceholderV2']);
/** Ops that are never a served output. */
const NOT_OUTPUT_OPS = new Set(['Const', 'NoOp', 'Placeholder', 'PlaceholderV2', 'Assert', 'SaveV2', 'RestoreV2']);

interface RawNode {
  name: string;
  op: string;
  inputs: string[];
  dtype?: number;
  shape?: number[] | undefined;
  hasShape: boolean;
}

function readAttr(r: Reader, end: number, node: RawNode, key: string): void {
  forEachField(r, end, (field, wt) => {
    if (key === 'dtype' && field === 6 && wt === WIRE.VARINT) node.dtype = r.int32();
    else if (key === 'shape' && field === 7 && wt === WIRE.LEN) {
      node.shape = readShape(r, subMessageEnd(r));
      node.hasShape = true;
    } else return false;
    return true;
  });
}

function readNode(r: Reader, end: number): RawNode {
  const node: RawNode = { name: '', op: '', inputs: [], hasShape: false };
  // Attrs may precede `op` on the wire; remember their spans and read them once the op is known.
  const attrs: { start: number; end: number }[] = [];
  forEachField(r, end, (field, wt) => {
    if (field === 1 && wt === WIRE.LEN) node.name = r.string();
    else if (field === 2 && wt === WIRE.LEN) node.op = r.string();
    else if (field === 3 && wt === WIRE.LEN) node.inputs.push(r.string());
    else if (field === 5 && wt === WIRE.LEN) {
      const e = subMessageEnd(r);
      attrs.push({ start: r.pos, end: e });
      r.pos = e;
    } else return false;
    return true;
  });
  if (PLACEHOLDER_OPS.has(node.op)) {
    const after = r.pos;
    for (const a of attrs) {
      r.pos = a.start;
      let key = '';
      let valueAt: { start: number; end: number } | undefined;
      forEachField(r, a.end, (field, wt) => {
        if (field === 1 && wt === WIRE.LEN) key = r.string();
        else if (field === 2 && wt === WIRE.LEN) {
          const e = subMessageEnd(r);
          valueAt = { start: r.pos, end: e };
          r.pos = e;
        } else return false;
        return true;
      });
      if (valueAt && (key === 'dtype' || key === 'shape')) {
        r.pos = valueAt.start;
        readAttr(r, valueAt.end, node, key);
      }
    }
    r.pos = after;
  }
  return node;
}

export function decodeGraphDef(bytes: Uint8Array): RawNode[] {
  const r = createReader(bytes);
  const nodes: RawNode[] = [];
  forEachField(r, bytes.length, (field, wt) => {
    if (field === 1 && wt === WIRE.LEN) {
      nodes.push(readNode(r, subMessageEnd(r)));
      return true;
    }
    return false;
  });
  return nodes;
}

export async function inspectGraphDef(
  file: string,
  options: { inputs?: TensorSignature[]; outputs?: TensorSignature[] },
): Promise<ModelSignature> {
  const bytes = await readProtoFile(file, 'TensorFlow GraphDef');
  const nodes = decodeOrCorrupt(file, 'TensorFlow GraphDef', () => decodeGraphDef(bytes));
  if (nodes.length === 0 || nodes.some((n) => n.name === '' || n.op === '')) {
    throw new InspectError('MSB_INSPECT_CORRUPT', `${file}: not a TensorFlow GraphDef (no named nodes)`, {
      path: file,
    });
  }
  const given = new Map((options.inputs ?? []).map((t) => [t.name, t]));
  const inputs: TensorSignature[] = nodes
    .filter((n) => PLACEHOLDER_OPS.has(n.op))
    .map((n) => {
      const stated = given.get(n.name);
      if (stated) return stated;
      if (!n.hasShape || n.shape === undefined) {
        throw new InspectError(
          'MSB_INSPECT_SIGNATURE_REQUIRED',
          `${file}: placeholder '${n.name}' has no known shape; give it with --input ${n.name}:TYPE:DIMS`,
          { path: file, tensor: n.name },
        );
      }
      return { name: n.name, dataType: tritonType(n.dtype ?? 0, n.name, file), dims: n.shape };
    });
  for (const t of options.inputs ?? []) {
    if (!inputs.some((i) => i.name === t.name)) {
      throw new InspectError(
        'MSB_INSPECT_TENSOR_NOT_FOUND',
        `${file}: --input '${t.name}' is not a placeholder of the graph (placeholders: ${inputs.map((i) => i.name).join(', ') || 'none'})`,
        { path: file, tensor: t.name },
      );
    }
  }
  const names = new Set(nodes.map((n) => n.name));
  if (!options.outputs?.length) {
    const consumed = new Set(nodes.flatMap((n) => n.inputs.map((i) => i.replace(/^\^/, '').replace(/:\d+$/, ''))));
    const sinks = nodes.filter((n) => !consumed.has(n.name) && !NOT_OUTPUT_OPS.has(n.op)).map((n) => n.name);
    throw new InspectError(
      'MSB_INSPECT_SIGNATURE_REQUIRED',
      `${file}: a GraphDef does not say which nodes are its outputs; give each with --output NAME:TYPE:DIMS` +
        `${sinks.length ? ` (nodes nothing consumes: ${sinks.slice(0, 10).join(', ')})` : ''}`,
      { path: file },
    );
  }
  for (const t of options.outputs) {
    if (!names.has(t.name.replace(/:\d+$/, ''))) {
      throw new InspectError(
        'MSB_INSPECT_TENSOR_NOT_FOUND',
        `${file}: --output '${t.name}' is not a node of the graph`,
        {
          path: file,
          tensor: t.name,
        },
      );
    }
  }
  const outputs = options.outputs;
  return {
    format: 'tf_graphdef',
    platform: 'tensorflow_graphdef',
    backend: 'tensorflow',
    inputs,
    outputs,
    batchDim: leadingDynamicDim([...inputs, ...outputs]),
    metadata: { nodes: String(nodes.length) },
  };
}
