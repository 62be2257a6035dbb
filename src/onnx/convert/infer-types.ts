/** Phase 1 of the conversion: the element type of every tensor of a graph, before deciding anything. */
import { ELEM, type Graph, type Node } from '../model.js';

const BOOL = 9;

/** Element types of a graph's tensors from declarations and per-op rules (ORT's types override them, see below). */
export function inferTypes(g: Graph, outer: Map<string, number>, observed: Map<string, number>): Map<string, number> {
  const types = new Map(outer);
  for (const t of g.initializers) types.set(t.name, t.dataType);
  for (const v of [...g.inputs, ...g.valueInfo, ...g.outputs]) if (v.elemType) types.set(v.name, v.elemType);
  for (const [k, v] of observed) types.set(k, v);
  const of = (name: string | undefined) => (name ? (types.get(name) ?? 0) : 0);
  for (const n of g.nodes) {
    const attr = (name: string) => n.attributes.find((a) => a.name === name);
    const first = of(n.inputs.find((i) => i !== ''));
    let outs: number[];
    switch (n.opType) {
      case 'Cast':
        outs = [Number(attr('to')?.i ?? 0n)];
        break;
      case 'CastLike':
        outs = [of(n.inputs[1])];
        break;
      case 'Shape':
      case 'Size':
      case 'NonZero':
      case 'ArgMax':
      case 'ArgMin':
      case 'NonMaxSuppression':
        outs = [ELEM.INT64];
        break;
      case 'Equal':
      case 'Less':
      case 'Greater':
      case 'LessOrEqual':
      case 'GreaterOrEqual':
      case 'Not':
      case 'And':
      case 'Or':
      case 'Xor':
      case 'IsNaN':
      case 'IsInf':
        outs = [BOOL];
        break;
      case 'Constant': {
        const a = n.attributes[0];
        outs = [
          a?.t
            ? a.t.dataType
            : a?.name.startsWith('value_float')
              ? ELEM.FLOAT
              : a?.name.startsWith('value_int')
                ? ELEM.INT64
                : 0,
        ];
        break;
      }
      case 'ConstantOfShape':
        outs = [attr('value')?.t?.dataType ?? ELEM.FLOAT];
        break;
      case 'TopK':
      case 'MaxPool':
        outs = [first, ELEM.INT64];
        break;
      case 'Where':
        outs = [of(n.inputs[1])];
        break;
      case 'If':
        outs = (attr('then_branch')?.g?.outputs ?? []).map((o) => o.elemType);
        break;
      case 'Loop':
        outs = (attr('body')?.g?.outputs ?? []).slice(1).map((o) => o.elemType);
        break;
      case 'Scan':
        outs = (attr('body')?.g?.outputs ?? []).map((o) => o.elemType);
        break;
      default:
        outs = n.outputs.map(() => first);
    }
    n.outputs.forEach((o, i) => {
      if (o && !types.has(o)) types.set(o, outs[i] ?? 0);
    });
  }
  return types;
}

/** Names a graph reads from enclosing graphs (its free names), subgraphs included. */
export function freeNames(g: Graph): Set<string> {
  const defined = new Set<string>([...g.inputs.map((i) => i.name), ...g.initializers.map((t) => t.name)]);
  const free = new Set<string>();
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i && !defined.has(i)) free.add(i);
    for (const s of subgraphs(n)) for (const f of freeNames(s)) if (!defined.has(f)) free.add(f);
    for (const o of n.outputs) defined.add(o);
  }
  for (const o of g.outputs) if (!defined.has(o.name)) free.add(o.name);
  return free;
}

export const subgraphs = (n: Node): Graph[] =>
  n.attributes.flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]);
