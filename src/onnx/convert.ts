/**
 * FP32 → FP16/BF16 mixed-precision conversion of an ONNX model, decided per node the way NVIDIA's AutoCast does
 * (NVIDIA/Model-Optimizer `docs/source/guides/8_autocast.rst`, `modelopt/onnx/autocast/precisionconverter.py`):
 * every node runs in the low precision unless
 * - the user excludes it (`excludeOps`, `excludeNodes`),
 * - its op is one AutoCast always keeps in FP32 (Upsample, NonMaxSuppression, Celu), or one whose ONNX schema has no
 *   FP16 form or whose low-precision form changes its meaning (Q/DQ, random generators, Range, non-ONNX domains),
 * - an initializer (or Constant) it reads holds values beyond FP16's range (|x| > 65504): the node keeps FP32 rather
 *   than having its weights clamped silently (AutoCast's `init_max`),
 * - an activation it reads or writes exceeds `dataMax` (default 512, AutoCast's `data_max`) when the model runs in
 *   ONNX Runtime on calibration inputs or seeded uniform [0, 1) ones,
 * - it holds a subgraph (If, Loop, Scan): the control-flow node keeps FP32 at its boundary, and each subgraph is
 *   converted on its own with FP32 at its inputs, outputs and outer-scope references.
 * A Cast is inserted wherever a tensor crosses a precision boundary; initializers and Constants read only by
 * low-precision nodes are stored in the low precision, others stay FP32. With `keepIoTypes` the model's inputs and
 * outputs keep their types.
 *
 * The rewrite is one streaming pass (see wire-writer.ts): tensor data is converted while it is written, so memory
 * holds the graph's structure, never its weights. External data is read and written by offset.
 */
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WIRE, WireReader } from '../inspect/protowire.js';
import { OnnxError } from './errors.js';
import { convertFloats, type LowPrecision, maxAbsFloats } from './half.js';
import {
  type Attribute,
  allGraphs,
  ELEM,
  type Graph,
  isDataField,
  type Model,
  type Node,
  type RawField,
  readModel,
  type Tensor,
  type ValueInfo,
} from './model.js';
import { type Feeds, openSession, randomFeeds, readFeedsFile, type TensorValue, toFloat64 } from './runtime.js';
import { MessageWriter, RangeExceeded } from './wire-writer.js';

export interface ConvertOptions {
  precision: LowPrecision;
  /** Keep the model's input and output types (Casts at the boundary). AutoCast's default is false. */
  keepIoTypes?: boolean;
  excludeOps?: string[];
  excludeNodes?: string[];
  /** Activations beyond this magnitude keep their nodes FP32. Default 512. */
  dataMax?: number;
  /** Initializers beyond this magnitude keep their nodes FP32. Default 65504 (FP16's largest finite value). */
  initMax?: number;
  /** Measure activations with ONNX Runtime. Default true; without it only the other rules apply. */
  calibrate?: boolean;
  /** JSON samples for the measurement (see readFeedsFile); default one seeded random sample. */
  calibrationFile?: string;
  seed?: number;
  /** Dims for dynamic inputs during the measurement (default 1). */
  shapes?: Record<string, number[]>;
  /** fsync the output (and its external data) before returning. Default false, as `onnx.save`. */
  durable?: boolean;
}

export type KeepReason =
  | 'excluded-node'
  | 'excluded-op'
  | 'op-kept-fp32'
  | 'custom-domain'
  | 'control-flow'
  | 'initializer-range'
  | 'data-range'
  | 'unknown-type';

export interface ConvertReport {
  input: string;
  output: string;
  precision: LowPrecision;
  keepIoTypes: boolean;
  /** Nodes with a floating-point input or output (Constants and existing Casts not counted). */
  floatNodes: number;
  lowNodes: number;
  /** lowNodes / floatNodes (1 when there are none). */
  lowShare: number;
  kept: { node: string; op: string; reason: KeepReason }[];
  castsInserted: number;
  initializersConverted: number;
  calibration: { samples: number; source: 'random' | 'file' } | { skipped: string };
  externalData?: string;
}

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

const FP16_MAX = 65504;
const BOOL = 9;

export const CONVERT_DEFAULTS = { dataMax: 512, initMax: FP16_MAX, seed: 1 } as const;

type Prec = 'low' | 'fp32';

/** Element types of a graph's tensors from declarations and per-op rules (ORT's types override them, see below). */
function inferTypes(g: Graph, outer: Map<string, number>, observed: Map<string, number>): Map<string, number> {
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
function freeNames(g: Graph): Set<string> {
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

const subgraphs = (n: Node): Graph[] => n.attributes.flatMap((a) => [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]);

/** What the rewrite does to one graph. */
interface GraphPlan {
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

interface Ctx {
  opts: Required<Pick<ConvertOptions, 'precision' | 'keepIoTypes' | 'dataMax' | 'initMax'>> & ConvertOptions;
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
function planGraph(
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
    // Old IR versions list every initializer as a graph input too: it is still a weight (msb's signature leaves it
    // out, and so does Triton's config), so its input entry follows its type.
    const lowOk = readersLow(t.name) && (opts.precision !== 'fp16' || (ctx.initMax.get(t) ?? 0) <= opts.initMax);
    home.set(t.name, lowOk ? 'low' : 'fp32');
    if (lowOk) {
      plan.convert.add(t);
      if (graphInputs.has(t.name)) plan.retype.set(t.name, ctx.lowType);
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

// ---------------------------------------------------------------------------------------------------------------
// Measurements

/** |max| of every FP32 initializer and Constant value (one streaming read), for the initializer-range rule. */
async function measureTensors(model: Model): Promise<Map<Tensor, number>> {
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

async function openData(file: string) {
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
async function dataLength(t: Tensor): Promise<number> {
  if (!t.data) return 0;
  if (t.data.length >= 0) return t.data.length;
  const { size } = await stat(t.data.file);
  t.data.length = size - t.data.offset;
  return t.data.length;
}

/**
 * Runs the model in ONNX Runtime with every main-graph node output exposed, for the types of all tensors and the
 * largest magnitude each float activation reaches over the samples.
 */
async function calibrate(
  model: Model,
  opts: ConvertOptions,
  report: ConvertReport,
): Promise<{ ranges: Map<string, number>; types: Map<string, number> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-calibrate-'));
  try {
    const file = path.join(dir, 'model.onnx');
    const existing = new Set(model.graph.outputs.map((o) => o.name));
    const extra = model.graph.nodes.flatMap((n) => n.outputs).filter((o) => o && !existing.has(o));
    await writeModel(model, file, emptyPlan(model), { extraOutputs: extra });
    const session = await openSession(file, { optimization: 'disabled' });
    try {
      const types = new Map<string, number>();
      for (const o of session.outputs)
        if (o.isTensor && o.type && ORT_TO_ELEM[o.type]) types.set(o.name, ORT_TO_ELEM[o.type] as number);
      // onnxruntime-node returns tensors only (sequences and maps are refused), so only tensors are fetched.
      const fetch = session.outputs.filter((o) => o.isTensor).map((o) => o.name);
      const samples: Feeds[] = opts.calibrationFile
        ? await readFeedsFile(opts.calibrationFile, session.inputs)
        : [randomFeeds(session.inputs, opts.seed ?? CONVERT_DEFAULTS.seed, opts.shapes)];
      const ranges = new Map<string, number>();
      const note = (name: string, v: TensorValue) => {
        if (v.type !== 'float32') return;
        const x = toFloat64(v);
        let max = ranges.get(name) ?? 0;
        if (x) for (const e of x) if (Math.abs(e) > max) max = Math.abs(e);
        ranges.set(name, max);
      };
      for (const feeds of samples) {
        for (const [k, v] of Object.entries(feeds)) note(k, v);
        const out = await session.run(feeds, fetch);
        for (const [k, v] of Object.entries(out)) note(k, v);
      }
      report.calibration = { samples: samples.length, source: opts.calibrationFile ? 'file' : 'random' };
      return { ranges, types };
    } finally {
      await session.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ORT_TO_ELEM: Record<string, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
};

// ---------------------------------------------------------------------------------------------------------------
// Writing

/** A graph written as it is. */
const unchanged = (): GraphPlan => ({
  inputs: new Map(),
  outputs: new Map(),
  castsAfter: new Map(),
  castTo: new Map(),
  convert: new Set(),
  retype: new Map(),
  sub: new Map(),
});

function emptyPlan(model: Model): Map<Graph, GraphPlan> {
  return new Map([...allGraphs(model.graph)].map((g) => [g, unchanged()]));
}

const rawOf = (w: MessageWriter, f: RawField, file: string) =>
  'bytes' in f ? w.raw(f.bytes) : w.rawRange({ file, offset: f.at, length: f.end - f.at });

/** Appends tensors stored outside the model to the output's data file, in order. */
class ExternalSink {
  offset = 0;
  private fh: Awaited<ReturnType<typeof open>> | undefined;
  constructor(readonly file: string) {}

  async append(t: Tensor, to: LowPrecision | undefined): Promise<{ offset: number; length: number }> {
    this.fh ??= await open(this.file, 'w');
    const data = t.data as NonNullable<Tensor['data']>;
    const length = await dataLength(t);
    const src = await openData(data.file);
    const CHUNK = 1 << 20;
    const buf = Buffer.allocUnsafe(CHUNK);
    const conv = Buffer.allocUnsafe(CHUNK / 2);
    const start = this.offset;
    try {
      for (let done = 0; done < length; ) {
        const want = Math.min(CHUNK, length - done);
        const { bytesRead } = await src.read(buf, 0, want, data.offset + done);
        if (bytesRead !== want)
          throw new OnnxError('MSB_ONNX_UNSUPPORTED', `${data.file}: tensor '${t.name}' is truncated`, {
            path: data.file,
          });
        if (to) {
          if (convertFloats(buf.subarray(0, want), conv, to)) throw new RangeExceeded(t);
          await this.fh.write(conv, 0, want / 2, this.offset);
          this.offset += want / 2;
        } else {
          await this.fh.write(buf, 0, want, this.offset);
          this.offset += want;
        }
        done += want;
      }
    } finally {
      await src.close();
    }
    return { offset: start, length: this.offset - start };
  }

  async close(durable: boolean): Promise<void> {
    if (this.fh) {
      if (durable) await this.fh.sync();
      await this.fh.close();
    }
  }
}

interface WriteCtx {
  model: Model;
  plans: Map<Graph, GraphPlan>;
  to: LowPrecision;
  sink: ExternalSink;
  extraOutputs?: string[];
}

async function emitTensor(w: MessageWriter, field: number, t: Tensor, convert: boolean, ctx: WriteCtx): Promise<void> {
  if (!convert && !t.external) {
    rawOf(w, t.whole, ctx.model.file);
    return;
  }
  const m = new MessageWriter();
  for (const f of t.rest) if (!(convert && isDataField(f))) rawOf(m, f, ctx.model.file);
  // Unchanged tensors keep their data fields (in `rest`) unless external.
  m.varint(2, convert ? (ctx.to === 'fp16' ? ELEM.FLOAT16 : ELEM.BFLOAT16) : t.dataType);
  m.string(8, t.name);
  if (t.external) {
    const { offset, length } = await ctx.sink.append(t, convert ? ctx.to : undefined);
    const entry = (k: string, v: string) => new MessageWriter().string(1, k).string(2, v);
    m.message(13, entry('location', path.basename(ctx.sink.file)));
    m.message(13, entry('offset', String(offset)));
    m.message(13, entry('length', String(length)));
    for (const [k, v] of t.externalOther) if (k !== 'checksum') m.message(13, entry(k, v));
    m.varint(14, 1);
  } else if (convert) {
    if (t.data)
      m.rangeField(9, { file: t.data.file, offset: t.data.offset, length: t.data.length, convert: ctx.to, tag: t });
    else if (t.floats) {
      const src = new Uint8Array(Float32Array.from(t.floats).buffer);
      const dst = new Uint8Array(src.length / 2);
      if (convertFloats(src, dst, ctx.to)) throw new RangeExceeded(t);
      m.bytes(9, dst);
    }
  }
  w.message(field, m);
}

async function emitAttribute(
  w: MessageWriter,
  a: Attribute,
  node: Node,
  plan: GraphPlan,
  ctx: WriteCtx,
): Promise<void> {
  const newTo = a.name === 'to' ? plan.castTo.get(node) : undefined;
  const convertT = a.t ? plan.convert.has(a.t) : false;
  const synthetic = 'bytes' in a.whole && a.whole.bytes.length === 0;
  if (!synthetic && newTo === undefined && !convertT && !a.g && !a.graphs && !a.t?.external) {
    rawOf(w, a.whole, ctx.model.file);
    return;
  }
  const m = new MessageWriter();
  m.string(1, a.name);
  for (const f of a.rest) rawOf(m, f, ctx.model.file);
  if (newTo !== undefined) m.varint(3, newTo);
  else if (a.i !== undefined) m.varint(3, a.i);
  if (a.t) await emitTensor(m, 5, a.t, convertT, ctx);
  if (a.g) m.message(6, await emitGraph(a.g, ctx));
  for (const s of a.graphs ?? []) m.message(11, await emitGraph(s, ctx));
  m.varint(20, a.type);
  w.message(5, m);
}

async function emitNode(w: MessageWriter, n: Node, plan: GraphPlan, ctx: WriteCtx): Promise<void> {
  const m = new MessageWriter();
  for (const i of plan.inputs.get(n) ?? n.inputs) m.string(1, i);
  for (const o of plan.outputs.get(n) ?? n.outputs) m.string(2, o);
  if (n.name) m.string(3, n.name);
  m.string(4, n.opType);
  for (const a of n.attributes) await emitAttribute(m, a, n, plan, ctx);
  if (n.domain) m.string(7, n.domain);
  for (const f of n.rest) rawOf(m, f, ctx.model.file);
  w.message(1, m);
}

/** A ValueInfoProto with a new element type (TypeProto.tensor_type.elem_type), everything else kept. */
async function retypeValueInfo(v: ValueInfo, elemType: number): Promise<Uint8Array> {
  const r = WireReader.fromBytes(v.bytes);
  const out = new MessageWriter();
  for (let h = await r.next(r.size); h; h = await r.next(r.size)) {
    const start = h.at;
    if (h.field === 2 && h.wireType === WIRE.LEN) {
      const tEnd = await r.lengthEnd(r.size);
      const type = new MessageWriter();
      for (let t = await r.next(tEnd); t; t = await r.next(tEnd)) {
        const tStart = t.at;
        if (t.field === 1 && t.wireType === WIRE.LEN) {
          const ttEnd = await r.lengthEnd(tEnd);
          const tt = new MessageWriter().varint(1, elemType);
          for (let e = await r.next(ttEnd); e; e = await r.next(ttEnd)) {
            const eStart = e.at;
            await r.skip(e, ttEnd);
            if (!(e.field === 1 && e.wireType === WIRE.VARINT)) tt.raw(v.bytes.subarray(eStart, r.position));
          }
          type.message(1, tt);
        } else {
          await r.skip(t, tEnd);
          type.raw(v.bytes.subarray(tStart, r.position));
        }
      }
      out.message(2, type);
    } else {
      await r.skip(h, r.size);
      out.raw(v.bytes.subarray(start, r.position));
    }
  }
  return out.encode();
}

async function emitGraph(g: Graph, ctx: WriteCtx): Promise<MessageWriter> {
  const plan = ctx.plans.get(g) as GraphPlan;
  const w = new MessageWriter();
  for (const c of plan.castsAfter.get(null) ?? []) await emitNode(w, c, plan, ctx);
  for (const n of g.nodes) {
    await emitNode(w, n, plan, ctx);
    for (const c of plan.castsAfter.get(n) ?? []) await emitNode(w, c, plan, ctx);
  }
  for (const f of g.rest) rawOf(w, f, ctx.model.file);
  for (const t of g.initializers) await emitTensor(w, 5, t, plan.convert.has(t), ctx);
  const vi = async (field: number, v: ValueInfo) => {
    const t = plan.retype.get(v.name);
    w.bytes(field, t === undefined ? v.bytes : await retypeValueInfo(v, t));
  };
  for (const v of g.inputs) await vi(11, v);
  for (const v of g.outputs) await vi(12, v);
  if (g === ctx.model.graph)
    for (const name of ctx.extraOutputs ?? []) w.message(12, new MessageWriter().string(1, name));
  for (const v of g.valueInfo) await vi(13, v);
  return w;
}

async function writeModel(
  model: Model,
  file: string,
  plans: Map<Graph, GraphPlan>,
  options: { to?: LowPrecision; extraOutputs?: string[]; durable?: boolean } = {},
): Promise<string | undefined> {
  const sink = new ExternalSink(`${file}.data`);
  try {
    const ctx: WriteCtx = {
      model,
      plans,
      to: options.to ?? 'fp16',
      sink,
      ...(options.extraOutputs ? { extraOutputs: options.extraOutputs } : {}),
    };
    const w = new MessageWriter();
    w.varint(1, model.irVersion);
    for (const [domain, version] of model.opsets) {
      const op = new MessageWriter();
      if (domain) op.string(1, domain);
      op.varint(2, version);
      w.message(8, op);
    }
    w.message(7, await emitGraph(model.graph, ctx));
    for (const f of model.rest) rawOf(w, f, model.file);
    await w.writeFile(file, { durable: options.durable === true });
  } finally {
    await sink.close(options.durable === true);
  }
  return sink.offset > 0 ? sink.file : undefined;
}

/** Converts `input` to mixed precision, writing `output` (and `output.data` when the input has external data). */
export async function convertModel(input: string, output: string, options: ConvertOptions): Promise<ConvertReport> {
  const opts = {
    ...options,
    keepIoTypes: options.keepIoTypes ?? false,
    dataMax: options.dataMax ?? CONVERT_DEFAULTS.dataMax,
    initMax: options.initMax ?? CONVERT_DEFAULTS.initMax,
  };
  if (opts.precision !== 'fp16' && opts.precision !== 'bf16') {
    throw new OnnxError('MSB_ONNX_BAD_OPTION', `precision ${String(opts.precision)}: expected fp16 or bf16`, {
      option: 'precision',
    });
  }
  if (path.resolve(input) === path.resolve(output)) {
    throw new OnnxError('MSB_ONNX_BAD_OPTION', `${output}: the output must not overwrite the input`, { path: output });
  }
  const model = await readModel(input);
  const opset = model.opsets.get('') ?? model.opsets.get('ai.onnx') ?? 0n;
  if (opts.precision === 'bf16' && opset < 13n) {
    throw new OnnxError(
      'MSB_ONNX_OPSET_TOO_OLD',
      `${input}: BF16 needs ONNX opset 13 or later (Cast to bfloat16); the model imports opset ${opset}`,
      { path: input, opset: Number(opset) },
    );
  }
  const report: ConvertReport = {
    input,
    output,
    precision: opts.precision,
    keepIoTypes: opts.keepIoTypes,
    floatNodes: 0,
    lowNodes: 0,
    lowShare: 1,
    kept: [],
    castsInserted: 0,
    initializersConverted: 0,
    calibration: { skipped: 'not requested' },
  };
  const known = new Set<string>([...(opts.excludeNodes ?? [])]);
  for (const g of allGraphs(model.graph)) for (const n of g.nodes) known.delete(n.name);
  if (known.size) {
    throw new OnnxError(
      'MSB_ONNX_BAD_OPTION',
      `--exclude-node: no node named ${[...known].map((n) => `'${n}'`).join(', ')} in ${input}`,
      {
        option: 'exclude-node',
      },
    );
  }
  // With the default limit (FP16's own largest value) initializer ranges are checked while converting, with no
  // separate read of the weights: a tensor found beyond it is marked and the model planned and written again (each
  // round marks one more tensor, so this ends). Another limit, or BF16 (FP32's range), needs no such check or
  // measures first.
  const initMax =
    opts.precision === 'fp16' && opts.initMax !== FP16_MAX ? await measureTensors(model) : new Map<Tensor, number>();
  let ranges = new Map<string, number>();
  let observed = new Map<string, number>();
  if (opts.calibrate !== false) {
    try {
      ({ ranges, types: observed } = await calibrate(model, opts, report));
    } catch (err) {
      if (err instanceof OnnxError && err.code === 'MSB_ONNX_RUNTIME_MISSING') {
        throw new OnnxError(
          err.code,
          `${err.message}; or convert without the data-range measurement (--no-calibrate)`,
          err.details,
          { cause: err },
        );
      }
      throw err;
    }
  }
  for (;;) {
    const used = new Set<string>();
    for (const g of allGraphs(model.graph)) {
      for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) used.add(v.name);
      for (const t of g.initializers) used.add(t.name);
      for (const n of g.nodes) {
        for (const x of [...n.inputs, ...n.outputs]) used.add(x);
        if (n.name) used.add(n.name);
      }
    }
    Object.assign(report, { floatNodes: 0, lowNodes: 0, kept: [], castsInserted: 0, initializersConverted: 0 });
    const ctx: Ctx = {
      opts,
      lowType: opts.precision === 'fp16' ? ELEM.FLOAT16 : ELEM.BFLOAT16,
      used,
      ranges,
      observed,
      initMax,
      report,
    };
    const main = planGraph(model.graph, ctx, true, new Map(), new Map());
    const plans = new Map<Graph, GraphPlan>();
    const flatten = (g: Graph, p: GraphPlan) => {
      plans.set(g, p);
      for (const [s, sp] of p.sub) flatten(s, sp);
    };
    flatten(model.graph, main);
    for (const g of allGraphs(model.graph)) if (!plans.has(g)) plans.set(g, unchanged());
    report.lowShare = report.floatNodes ? report.lowNodes / report.floatNodes : 1;
    try {
      const ext = await writeModel(model, output, plans, { to: opts.precision, durable: opts.durable === true });
      if (ext) report.externalData = ext;
      return report;
    } catch (err) {
      if (err instanceof RangeExceeded) {
        initMax.set(err.tag as Tensor, Number.POSITIVE_INFINITY);
        continue;
      }
      if (err instanceof OnnxError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new OnnxError('MSB_ONNX_OUTPUT', `${output}: ${e.message}`, { path: output }, { cause: err });
    }
  }
}
