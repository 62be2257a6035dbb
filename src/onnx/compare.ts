/**
 * Runs two ONNX models on the same inputs with ONNX Runtime and compares their outputs element by element, the way
 * Polygraphy's default comparison does (tools/Polygraphy/polygraphy/comparator/compare.py): an element fails only
 * when its absolute difference exceeds `atol` AND its difference relative to the second model's value exceeds
 * `rtol`, or when it is NaN in one model and not the other. Defaults are 1e-3 (Polygraphy's 1e-5 is meant for FP32
 * against FP32; msb's usual comparison is FP16 against FP32).
 */
import { OnnxError } from './errors.js';
import { f32BitsToF16 } from './half.js';
import {
  type Feeds,
  openSession,
  randomFeeds,
  readFeedsFile,
  type Session,
  type TensorValue,
  toFloat64,
} from './runtime.js';

export interface CompareOptions {
  atol?: number;
  rtol?: number;
  seed?: number;
  /** A JSON inputs file (see `readFeedsFile`); every sample is run. Default: one seeded random sample. */
  inputsFile?: string;
  /** Dims for dynamic inputs, by input name (default 1). */
  shapes?: Record<string, number[]>;
}

export interface OutputComparison {
  name: string;
  dims: number[];
  elements: number;
  maxAbsError: number;
  maxRelError: number;
  /** Elements beyond tolerance (NaN mismatches included). */
  failing: number;
  failingShare: number;
  pass: boolean;
  /** Why the output could not be compared at all (shapes or types differ). */
  problem?: string;
}

export interface CompareReport {
  a: string;
  b: string;
  atol: number;
  rtol: number;
  seed: number;
  samples: number;
  outputs: OutputComparison[];
  pass: boolean;
}

export const COMPARE_DEFAULTS = { atol: 1e-3, rtol: 1e-3, seed: 1 } as const;

/**
 * Compares `actual` with `expected`; relative error is taken against `expected` (Polygraphy takes it against its
 * reference, the second runner).
 */
export function compareTensors(
  name: string,
  actual: TensorValue,
  expected: TensorValue,
  atol: number,
  rtol: number,
): OutputComparison {
  const a = actual;
  const b = expected;
  const base = { name, dims: b.dims, elements: 0, maxAbsError: 0, maxRelError: 0, failing: 0, failingShare: 0 };
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
    return { ...base, pass: false, problem: `shapes differ: [${a.dims.join(', ')}] vs [${b.dims.join(', ')}]` };
  }
  const x = toFloat64(a);
  const y = toFloat64(b);
  if (!x || !y) {
    // Strings (and other non-numeric outputs) compare exactly.
    const same = JSON.stringify(a.data) === JSON.stringify(b.data);
    return {
      ...base,
      elements: (b.data as unknown[]).length,
      failing: same ? 0 : 1,
      pass: same,
      ...(same ? {} : { problem: 'values differ' }),
    };
  }
  let failing = 0;
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < y.length; i++) {
    const p = x[i] as number;
    const q = y[i] as number;
    const pn = Number.isNaN(p);
    const qn = Number.isNaN(q);
    if (pn || qn) {
      if (pn !== qn) failing++;
      continue;
    }
    if (p === q) continue; // equal infinities included
    const abs = Math.abs(p - q);
    const rel = abs / Math.abs(q);
    if (abs > maxAbs) maxAbs = abs;
    if (rel > maxRel) maxRel = rel;
    if (abs > atol && rel > rtol) failing++;
  }
  return {
    ...base,
    elements: y.length,
    maxAbsError: maxAbs,
    maxRelError: maxRel,
    failing,
    failingShare: y.length ? failing / y.length : 0,
    pass: failing === 0,
  };
}

/** Runs both models on the same inputs and compares every output of `b` with `a`'s (`a` is the reference). */
export async function compareModels(a: string, b: string, options: CompareOptions = {}): Promise<CompareReport> {
  const atol = options.atol ?? COMPARE_DEFAULTS.atol;
  const rtol = options.rtol ?? COMPARE_DEFAULTS.rtol;
  const seed = options.seed ?? COMPARE_DEFAULTS.seed;
  for (const [k, v] of [
    ['atol', atol],
    ['rtol', rtol],
  ] as const) {
    if (!(v >= 0)) throw new OnnxError('MSB_ONNX_BAD_OPTION', `--${k} must be a non-negative number`, { option: k });
  }
  const sa = await openSession(a);
  let sb: Session | undefined;
  try {
    sb = await openSession(b);
    const missing = sb.outputs.filter((o) => !sa.outputs.some((x) => x.name === o.name)).map((o) => o.name);
    if (missing.length) {
      throw new OnnxError('MSB_ONNX_BAD_INPUTS', `${a} has no output named ${missing.join(', ')} (outputs of ${b})`, {
        path: a,
      });
    }
    const samples: Feeds[] = options.inputsFile
      ? await readFeedsFile(options.inputsFile, sa.inputs)
      : [randomFeeds(sa.inputs, seed, options.shapes)];
    const byName = new Map<string, OutputComparison>();
    for (const feeds of samples) {
      const outA = await sa.run(feeds);
      const outB = await sb.run(castFeeds(feeds, sb));
      for (const o of sb.outputs) {
        const c = compareTensors(o.name, outB[o.name] as TensorValue, outA[o.name] as TensorValue, atol, rtol);
        const prev = byName.get(o.name);
        byName.set(o.name, prev ? merge(prev, c) : c);
      }
    }
    const outputs = [...byName.values()];
    return { a, b, atol, rtol, seed, samples: samples.length, outputs, pass: outputs.every((o) => o.pass) };
  } finally {
    await sa.close();
    await sb?.close();
  }
}

function merge(p: OutputComparison, c: OutputComparison): OutputComparison {
  const elements = p.elements + c.elements;
  const failing = p.failing + c.failing;
  return {
    ...p,
    elements,
    failing,
    failingShare: elements ? failing / elements : 0,
    maxAbsError: Math.max(p.maxAbsError, c.maxAbsError),
    maxRelError: Math.max(p.maxRelError, c.maxRelError),
    pass: p.pass && c.pass,
    ...((p.problem ?? c.problem) ? { problem: (p.problem ?? c.problem) as string } : {}),
  };
}

/**
 * The same values for a model whose inputs have another float type (a converted model without --keep-io-types):
 * FP32 inputs become FP16 where `session` expects FP16, so both models see the same numbers (rounded).
 */
export function castFeeds(feeds: Feeds, session: Session): Feeds {
  const out: Feeds = {};
  for (const [name, v] of Object.entries(feeds)) {
    const want = session.inputs.find((i) => i.name === name)?.type;
    if (want === 'float16' && v.type === 'float32') {
      const src = v.data as Float32Array;
      const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
      const data = new Uint16Array(src.length);
      for (let i = 0; i < src.length; i++) data[i] = f32BitsToF16(bits[i] as number);
      out[name] = { type: 'float16', dims: v.dims, data };
    } else out[name] = v;
  }
  return out;
}
