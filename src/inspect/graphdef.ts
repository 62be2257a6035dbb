/**
 * Frozen TensorFlow GraphDefs (`model.graphdef`): the Placeholder nodes are the inputs, named by node name, with
 * their `dtype` and `shape` attrs. A GraphDef does not say which nodes are outputs, so those come from the user;
 * when they are missing, the error lists the graph's sink nodes as candidates.
 */
import { InspectError } from './errors.js';
import { leadingDynamicDim, type ModelSignature, type TensorSignature } from './signature.js';
import { forEachField, readEnum, readShape, tritonType, WIRE, type WireReader, withProtoFile } from './tf-common.js';

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

/** Reads a Placeholder's `dtype` (AttrValue.type = 6) or `shape` (AttrValue.shape = 7) attr value. */
async function readAttr(r: WireReader, end: number, node: RawNode, key: string): Promise<void> {
  await forEachField(r, end, async (h) => {
    if (key === 'dtype' && h.field === 6 && h.wireType === WIRE.VARINT) node.dtype = await readEnum(r, end);
    else if (key === 'shape' && h.field === 7 && h.wireType === WIRE.LEN) {
      node.shape = await readShape(r, await r.lengthEnd(end));
      node.hasShape = true;
    } else return false;
    return true;
  });
}

async function readNode(r: WireReader, end: number): Promise<RawNode> {
  const node: RawNode = { name: '', op: '', inputs: [], hasShape: false };
  // Attrs may precede `op` on the wire: note where they are, and read them only for placeholders (other nodes'
  // attrs, constants' values among them, are never read).
  const attrs: { start: number; end: number }[] = [];
  await forEachField(r, end, async (h) => {
    if (h.field === 1 && h.wireType === WIRE.LEN) node.name = await r.string(end);
    else if (h.field === 2 && h.wireType === WIRE.LEN) node.op = await r.string(end);
    else if (h.field === 3 && h.wireType === WIRE.LEN) node.inputs.push(await r.string(end));
    else if (h.field === 5 && h.wireType === WIRE.LEN) {
      const attrEnd = await r.lengthEnd(end);
      attrs.push({ start: r.position, end: attrEnd });
      r.position = attrEnd;
    } else return false;
    return true;
  });
  if (!PLACEHOLDER_OPS.has(node.op)) return node;
  const after = r.position;
  for (const a of attrs) {
    r.position = a.start;
    let key = '';
    let value: { start: number; end: number } | undefined;
    await forEachField(r, a.end, async (h) => {
      if (h.field === 1 && h.wireType === WIRE.LEN) key = await r.string(a.end);
      else if (h.field === 2 && h.wireType === WIRE.LEN) {
        const valueEnd = await r.lengthEnd(a.end);
        value = { start: r.position, end: valueEnd };
        r.position = valueEnd;
      } else return false;
      return true;
    });
    if (value && (key === 'dtype' || key === 'shape')) {
      r.position = value.start;
      await readAttr(r, value.end, node, key);
    }
  }
  r.position = after;
  return node;
}

async function readGraphDef(r: WireReader): Promise<RawNode[]> {
  const nodes: RawNode[] = [];
  await forEachField(r, r.size, async (h) => {
    if (h.field !== 1 || h.wireType !== WIRE.LEN) return false;
    nodes.push(await readNode(r, await r.lengthEnd(r.size)));
    return true;
  });
  return nodes;
}

export async function inspectGraphDef(
  file: string,
  options: { inputs?: TensorSignature[]; outputs?: TensorSignature[] },
): Promise<ModelSignature> {
  const nodes = await withProtoFile(file, 'TensorFlow GraphDef', readGraphDef);
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
