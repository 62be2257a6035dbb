/**
 * Phase 2 of the conversion: per node, whether it runs in the low precision (the AutoCast rules, see convert.ts),
 * and from that where Casts go, which tensors are stored in the low precision and which declarations change type.
 * Also the initializer-range measurement the plan reads.
 */
import { open, stat } from 'node:fs/promises';
import { OnnxError } from '../errors.js';
import { maxAbsFloats } from '../half.js';
import { allGraphs, ELEM, type Graph, type Model, type Node, type Tensor } from '../model.js';
import { freeNames, inferTypes, subgraphs } from './infer-types.js';
import type { ConvertReport, KeepReason, ResolvedOptions } from './options.js';

/** Ops kept in FP32 whatever their data: AutoCast's fixed list, plus ops whose FP16 form is missing or different. */
export const ALWAYS_FP32_OPS = new Set([
  // AutoCast (precisionconverter.py): never converted.
  'Upsample',
  'NonMaxSuppression',
  'Celu',
  // No FP16 in the ONNX schema (Range: T excludes float16) or outputs whose meaning depends on FP32
  // (onnxconverter-common float16.py's DEFAULT_OP_BLOCK_LIST has these too).
  'Range',
  'RandomUniformLike',
  'RandomNormalLike',
  'RandomUniform',
  'RandomNormal',
  'Multinomial',
  'Bernoulli',
  'EyeLike',
  // Quantization: the scales' type is the precision of the Q/DQ pair TensorRT fuses; opsets < 19 require FP32.
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
]);

/** Inputs that stay FP32 when their node runs in low precision (AutoCast: "Resize input 2 is not converted"). */
const FP32_INPUTS: Record<string, number[]> = { Resize: [1, 2] };
/** Outputs whose type is not the node's T (LayerNormalization's Mean/InvStdDev follow stash_type, FP32). */
const FP32_OUTPUTS: Record<string, number[]> = { LayerNormalization: [1, 2] };
/** Inputs of any type: no Cast in front of them. */
const ANY_INPUTS: Record<string, number[]> = { Cast: [0], Shape: [0], Size: [0], CastLike: [0] };
/** Nodes that only make a value: converted when all their readers are, so they never need a Cast. */
const SOURCES = new Set(['Constant', 'ConstantOfShape', 'Cast']);

type Prec = 'low' | 'fp32';

/** What the rewrite does to one graph. */
export interface GraphPlan {
  /** New input names per node. */
  inputs: Map<Node, string[]>;
  outputs: Map<Node, string[]>;
  /** Casts inserted after a node (or at the start: key null). */
  castsAfter: Map<Node | null, Node[]>;
  /** Cast nodes whose `to` changes. */
  castTo: Map<Node, number>;
  /** Tensors (initializers, Constant values) stored in low precision. */
  convert: Set<Tensor>;
  /** New element types of graph inputs/outputs/value_info, by name. */
  retype: Map<string, number>;
  /** Subgraph renames of outer-scope names. */
  sub: Map<Graph, GraphPlan>;
}

export interface Ctx {
  opts: ResolvedOptions;
  lowType: number;
  used: Set<string>;
  ranges: Map<string, number>;
  observed: Map<string, number>;
  initMax: Map<Tensor, number>;
  report: ConvertReport;
}

function fresh(ctx: Ctx, base: string): string {
  let name = base;
  for (let k = 1; ctx.used.has(name); k++) name = `${base}_${k}`;
  ctx.used.add(name);
  return name;
}

/**
 * Plans one graph. `outer`: types of names from enclosing graphs; `outerNames`: the name each outer float tensor
 * has in FP32 there. Subgraphs are planned with FP32 at their inputs and outputs (`isMain` false).
 */
export function planGraph(
  g: Graph,
  ctx: Ctx,
  isMain: boolean,
  outer: Map<string, number>,
  outerNames: Map<string, string>,
): GraphPlan {
  const { opts } = ctx;
  const types = inferTypes(g, outer, isMain ? ctx.observed : new Map());
  const isFloat = (name: string) => !!name && types.get(name) === ELEM.FLOAT;
  const keepIo = !isMain || opts.keepIoTypes;
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const graphInputs = new Set(g.inputs.map((i) => i.name));
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const consumers = new Map<string, { node: Node; index: number }[]>();
  for (const n of g.nodes) {
    n.inputs.forEach((i, index) => {
      if (!i) return;
      const list = consumers.get(i) ?? [];
      list.push({ node: n, index });
      consumers.set(i, list);
    });
    // A node holding subgraphs reads their free names: it is their consumer here (in FP32).
    for (const s of subgraphs(n))
      for (const f of freeNames(s)) {
        const list = consumers.get(f) ?? [];
        list.push({ node: n, index: -1 });
        consumers.set(f, list);
      }
  }

  // 1. Per-node decision.
  const low = new Set<Node>();
  const exclOps = new Set(opts.excludeOps ?? []);
  const exclNodes = new Set(opts.excludeNodes ?? []);
  const floatIo = (n: Node) => [...n.inputs, ...n.outputs].some(isFloat);
  const keep = (n: Node, reason: KeepReason) => ctx.report.kept.push({ node: n.name, op: n.opType, reason });
  const sourceNodes: Node[] = [];
  for (const n of g.nodes) {
    if (!floatIo(n)) continue;
    if (SOURCES.has(n.opType)) {
      sourceNodes.push(n);
      continue;
    }
    ctx.report.floatNodes++;
    const tensorsIn = n.inputs.filter((i) => i && isFloat(i));
    let reason: KeepReason | undefined;
    if (exclNodes.has(n.name)) reason = 'excluded-node';
    else if (exclOps.has(n.opType)) reason = 'excluded-op';
    else if (ALWAYS_FP32_OPS.has(n.opType)) reason = 'op-kept-fp32';
    else if (n.domain !== '' && n.domain !== 'ai.onnx') reason = 'custom-domain';
    else if (subgraphs(n).length) reason = 'control-flow';
    else if ([...n.inputs, ...n.outputs].some((x) => x && !types.get(x))) reason = 'unknown-type';
    else if (
      opts.precision === 'fp16' &&
      tensorsIn.some((i) => {
        const t = inits.get(i) ?? constantValue(producer.get(i));
        return t && (ctx.initMax.get(t) ?? 0) > opts.initMax;
      })
    )
      reason = 'initializer-range';
    else if (
      [...n.inputs, ...n.outputs].some(
        (x) => x && isFloat(x) && !inits.has(x) && (ctx.ranges.get(x) ?? 0) > opts.dataMax,
      )
    )
      reason = 'data-range';
    if (reason) keep(n, reason);
    else {
      low.add(n);
      ctx.report.lowNodes++;
    }
  }

  // What precision a consumer needs of a float tensor: 'any' (no Cast), or a precision.
  const need = (c: { node: Node; index: number }): Prec | 'any' => {
    if (c.index < 0) return 'fp32';
    if (ANY_INPUTS[c.node.opType]?.includes(c.index)) return 'any';
    if (!low.has(c.node)) return 'fp32';
    return FP32_INPUTS[c.node.opType]?.includes(c.index) ? 'fp32' : 'low';
  };
  /** Every reader that needs a precision needs the low one (and, unless `asOutput`, it is not a graph output). */
  const readersLow = (name: string, asOutput = false) => {
    const needs = (consumers.get(name) ?? []).map(need).filter((x) => x !== 'any');
    if (asOutput) return needs.every((x) => x === 'low');
    return needs.length > 0 && needs.every((x) => x === 'low') && !graphOutputs.has(name);
  };

  // 2. Value-making nodes (Constant, ConstantOfShape, Cast to FLOAT) follow their readers, last reader first.
  for (const n of sourceNodes.reverse()) {
    const out = n.outputs[0] ?? '';
    if (!isFloat(out)) continue;
    const value = constantValue(n);
    if (n.opType !== 'Cast' && (!value || value.dataType !== ELEM.FLOAT)) continue;
    if (value && opts.precision === 'fp16' && (ctx.initMax.get(value) ?? 0) > opts.initMax) continue;
    // Without --keep-io-types a graph output may take the low type: then only its other readers matter.
    if (readersLow(out) || (graphOutputs.has(out) && !keepIo && readersLow(out, true))) low.add(n);
  }

  // 3. Each float tensor's home precision.
  const home = new Map<string, Prec>();
  for (const n of g.nodes)
    n.outputs.forEach((o, i) => {
      if (!isFloat(o)) return;
      home.set(o, low.has(n) && !FP32_OUTPUTS[n.opType]?.includes(i) ? 'low' : 'fp32');
    });
  const plan = unchanged();
  for (const t of g.initializers) {
    if (t.dataType !== ELEM.FLOAT) continue;
    // Old IR versions (< 4) list every initializer as a graph input too. Without --keep-io-types it is a weight
    // like any other and its input entry follows its type; with it, the input keeps FP32 like every input (a caller
    // may feed it), and its low-precision readers get a Cast.
    const isInput = graphInputs.has(t.name);
    const lowOk =
      !(keepIo && isInput) &&
      readersLow(t.name) &&
      (opts.precision !== 'fp16' || (ctx.initMax.get(t) ?? 0) <= opts.initMax);
    home.set(t.name, lowOk ? 'low' : 'fp32');
    if (lowOk) {
      plan.convert.add(t);
      if (isInput) plan.retype.set(t.name, ctx.lowType);
    }
  }
  for (const i of g.inputs) {
    if (inits.has(i.name) || !isFloat(i.name)) continue;
    const lowIn = !keepIo && readersLow(i.name, true) && (consumers.get(i.name) ?? []).length > 0;
    home.set(i.name, lowIn ? 'low' : 'fp32');
    if (lowIn) plan.retype.set(i.name, ctx.lowType);
  }
  for (const name of outer.keys()) if (isFloat(name) && !home.has(name)) home.set(name, 'fp32');

  // 4. Names: a tensor lives under its own name in its home precision; a Cast makes the other one on demand.
  const homeName = new Map<string, string>();
  const castNames = new Map<string, string>();
  const producerOrStart = (t: string): Node | null => producer.get(t) ?? null;
  const addCast = (after: Node | null, from: string, to: string, toType: number) => {
    const cast: Node = {
      name: fresh(ctx, `${to}_cast`),
      opType: 'Cast',
      domain: '',
      inputs: [from],
      outputs: [to],
      attributes: [{ name: 'to', type: 2, i: BigInt(toType), rest: [], whole: { bytes: new Uint8Array() } }],
      rest: [],
    };
    const list = plan.castsAfter.get(after) ?? [];
    list.push(cast);
    plan.castsAfter.set(after, list);
    ctx.report.castsInserted++;
  };
  const nameOf = (t: string) => homeName.get(t) ?? outerNames.get(t) ?? t;
  const nameFor = (t: string, p: Prec): string => {
    const h = home.get(t);
    if (h === undefined || h === p) return nameOf(t);
    const key = `${t}\u0000${p}`;
    let c = castNames.get(key);
    if (!c) {
      c = fresh(ctx, `${t}_${p === 'low' ? opts.precision : 'fp32'}`);
      castNames.set(key, c);
      addCast(producerOrStart(t), nameOf(t), c, p === 'low' ? ctx.lowType : ELEM.FLOAT);
    }
    return c;
  };
  // Graph outputs whose required type differs from their home: the producer writes a new name, a Cast writes the
  // output's own name.
  for (const o of g.outputs) {
    const h = home.get(o.name);
    if (!h || !isFloat(o.name)) continue;
    if (keepIo && h === 'low') {
      const renamed = fresh(ctx, `${o.name}_${opts.precision}`);
      homeName.set(o.name, renamed);
      castNames.set(`${o.name}\u0000fp32`, o.name);
      addCast(producerOrStart(o.name), renamed, o.name, ELEM.FLOAT);
    } else if (!keepIo && h === 'low') plan.retype.set(o.name, ctx.lowType);
  }

  // 5. Node rewrites.
  for (const n of g.nodes) {
    const ins = n.inputs.map((i, index) => {
      if (!i || !isFloat(i)) return i;
      const w = need({ node: n, index });
      return w === 'any' ? nameOf(i) : nameFor(i, w);
    });
    if (ins.some((x, k) => x !== n.inputs[k])) plan.inputs.set(n, ins);
    const outs = n.outputs.map((o) => (o ? nameOf(o) : o));
    if (outs.some((x, k) => x !== n.outputs[k])) plan.outputs.set(n, outs);
    if (low.has(n)) {
      if (n.opType === 'Cast') plan.castTo.set(n, ctx.lowType);
      const value = constantValue(n);
      if (value && value.dataType === ELEM.FLOAT) plan.convert.add(value);
    }
    // Subgraphs: their outer float names are read in FP32 (this node is FP32).
    const subs = subgraphs(n);
    if (subs.length) {
      const subOuter = new Map(types);
      const subNames = new Map(outerNames);
      for (const s of subs) for (const f of freeNames(s)) if (isFloat(f)) subNames.set(f, nameFor(f, 'fp32'));
      for (const s of subs) plan.sub.set(s, planGraph(s, ctx, false, subOuter, subNames));
    }
  }
  // value_info of intermediate tensors follows their new types.
  for (const v of g.valueInfo) {
    const h = home.get(v.name);
    if (h === 'low' && v.elemType === ELEM.FLOAT) plan.retype.set(v.name, ctx.lowType);
  }
  ctx.report.initializersConverted += [...plan.convert].filter((t) => inits.get(t.name) === t).length;
  return plan;
}

function constantValue(n: Node | undefined): Tensor | undefined {
  if (!n || (n.opType !== 'Constant' && n.opType !== 'ConstantOfShape')) return undefined;
  return n.attributes.find((a) => a.name === 'value')?.t;
}

/** A graph written as it is. */
export const unchanged = (): GraphPlan => ({
  inputs: new Map(),
  outputs: new Map(),
  castsAfter: new Map(),
  castTo: new Map(),
  convert: new Set(),
  retype: new Map(),
  sub: new Map(),
});

export function emptyPlan(model: Model): Map<Graph, GraphPlan> {
  return new Map([...allGraphs(model.graph)].map((g) => [g, unchanged()]));
}

/** |max| of every FP32 initializer and Constant value (one streaming read), for the initializer-range rule. */
export async function measureTensors(model: Model): Promise<Map<Tensor, number>> {
  const out = new Map<Tensor, number>();
  const tensors: Tensor[] = [];
  for (const g of allGraphs(model.graph)) {
    tensors.push(...g.initializers);
    for (const n of g.nodes) for (const a of n.attributes) if (a.t) tensors.push(a.t);
  }
  const handles = new Map<string, Awaited<ReturnType<typeof open>>>();
  const CHUNK = 1 << 20;
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    for (const t of tensors) {
      if (t.dataType !== ELEM.FLOAT) continue;
      let max = 0;
      for (const f of t.floats ?? []) max = Math.max(max, Math.abs(f));
      if (t.data) {
        const length = await dataLength(t);
        let fh = handles.get(t.data.file);
        if (!fh) {
          fh = await openData(t.data.file);
          handles.set(t.data.file, fh);
        }
        for (let done = 0; done < length; ) {
          const want = Math.min(CHUNK, length - done);
          const { bytesRead } = await fh.read(buf, 0, want, t.data.offset + done);
          if (bytesRead !== want)
            throw new OnnxError('MSB_ONNX_UNSUPPORTED', `${t.data.file}: tensor '${t.name}' is truncated`, {
              path: t.data.file,
            });
          max = Math.max(max, maxAbsFloats(buf.subarray(0, want)));
          done += want;
        }
      }
      out.set(t, max);
    }
  } finally {
    for (const fh of handles.values()) await fh.close();
  }
  return out;
}

export async function openData(file: string) {
  try {
    return await open(file, 'r');
  } catch (err) {
    throw new OnnxError(
      'MSB_ONNX_UNSUPPORTED',
      `external data ${file}: ${(err as Error).message}`,
      { path: file },
      { cause: err },
    );
  }
}

/** The byte length of a tensor's data (external data may leave it to the end of the file). */
export async function dataLength(t: Tensor): Promise<number> {
  if (!t.data) return 0;
  if (t.data.length >= 0) return t.data.length;
  const { size } = await stat(t.data.file);
  t.data.length = size - t.data.offset;
  return t.data.length;
}
