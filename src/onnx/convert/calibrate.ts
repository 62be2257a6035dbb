/**
 * Phase 3 of the conversion: the data-range measurement. The model runs in ONNX Runtime with every main-graph node
 * output exposed; the types ONNX Runtime reports override those phase 1 infers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OnnxError } from '../errors.js';
import type { Model } from '../model.js';
import { type Feeds, openSession, randomFeeds, readFeedsFile, type TensorValue, toFloat64 } from '../runtime.js';
import { CONVERT_DEFAULTS, type ConvertOptions, type ConvertReport } from './options.js';
import { emptyPlan } from './plan.js';
import { writeModel } from './write.js';

/**
 * Runs the model in ONNX Runtime with every main-graph node output exposed, for the types of all tensors and the
 * largest magnitude each float activation reaches over the samples.
 */
export async function calibrate(
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
      // Random inputs are a guess: msb has no random values of some types (strings), and values that feed shapes
      // (an Expand's target shape, a Reshape's, indices) can be ones the model refuses. Either way the conversion
      // goes on as with --no-calibrate, with ONNX Runtime's types, and the report says why. Samples the user gave
      // that cannot run are an error of those samples.
      const skip = (why: string) => {
        report.calibration = {
          skipped: `${why}: the data-range rule was not applied; give --calibration samples to apply it`,
        };
        return { ranges: new Map<string, number>(), types };
      };
      let samples: Feeds[];
      if (opts.calibrationFile) samples = await readFeedsFile(opts.calibrationFile, session.inputs);
      else {
        try {
          samples = [randomFeeds(session.inputs, opts.seed ?? CONVERT_DEFAULTS.seed, opts.shapes)];
        } catch (err) {
          if (!(err instanceof OnnxError) || err.code !== 'MSB_ONNX_BAD_INPUTS') throw err;
          return skip(`no random calibration values for input '${err.details.input}' (type ${err.details.type})`);
        }
      }
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
        let out: Record<string, TensorValue>;
        try {
          out = await session.run(feeds, fetch);
        } catch (err) {
          if (opts.calibrationFile || !(err instanceof OnnxError) || err.details.stage !== 'run') throw err;
          return skip(`ONNX Runtime cannot run the model on random inputs (${String(err.details.ortMessage)})`);
        }
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
