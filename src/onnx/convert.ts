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
 *
 * The phases, one module each under convert/: infer-types.ts (element types), plan.ts (the per-node decision and
 * what it implies), calibrate.ts (the data-range measurement), write.ts (the streaming rewrite).
 */
import path from 'node:path';
import { calibrate } from './convert/calibrate.js';
import { CONVERT_DEFAULTS, type ConvertOptions, type ConvertReport, FP16_MAX } from './convert/options.js';
import { type Ctx, type GraphPlan, measureTensors, planGraph, unchanged } from './convert/plan.js';
import { writeModel } from './convert/write.js';
import { OnnxError } from './errors.js';
import { allGraphs, ELEM, type Graph, readModel, type Tensor } from './model.js';
import { RangeExceeded } from './wire-writer.js';

export {
  CONVERT_DEFAULTS,
  type ConvertOptions,
  type ConvertReport,
  type KeepReason,
} from './convert/options.js';
export { ALWAYS_FP32_OPS } from './convert/plan.js';

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
