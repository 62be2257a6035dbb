/**
 * Phase 4 of the conversion: the model written again in one streaming pass (see ../wire-writer.ts) with its plan
 * applied, tensor data converted while it is copied.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { WIRE, WireReader } from '../../inspect/protowire.js';
import { OnnxError } from '../errors.js';
import { convertFloats, type LowPrecision } from '../half.js';
import {
  type Attribute,
  ELEM,
  type Graph,
  isDataField,
  type Model,
  type Node,
  type RawField,
  type Tensor,
  type ValueInfo,
} from '../model.js';
import { MessageWriter, RangeExceeded } from '../wire-writer.js';
import { dataLength, type GraphPlan, openData } from './plan.js';

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

export async function writeModel(
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
