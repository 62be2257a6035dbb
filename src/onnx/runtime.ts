/**
 * ONNX Runtime (onnxruntime-node, CPU) in-process, loaded on first use: it is an optional dependency, so msb's other
 * commands (and `msb --help`) never load its native binding, and a machine without it gets a clear error instead.
 */
import { readFile } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { OnnxError } from './errors.js';
import { f16BitsToNumber, f32BitsToF16 } from './half.js';

let loaded: Promise<typeof Ort> | undefined;

/** The onnxruntime-node module; `MSB_ONNX_RUNTIME_MISSING` when it is not installed. */
export function loadOrt(): Promise<typeof Ort> {
  loaded ??= import('onnxruntime-node').catch((err: unknown) => {
    loaded = undefined;
    throw new OnnxError(
      'MSB_ONNX_RUNTIME_MISSING',
      `ONNX Runtime is not available (the optional package onnxruntime-node is not installed or cannot load: ${
        (err as Error).message.split('\n')[0]
      }); install it with \`npm install onnxruntime-node\``,
      {},
      { cause: err },
    );
  });
  return loaded;
}

/** An element type as ONNX Runtime's JavaScript API names it. */
export type OrtType = Ort.Tensor.Type;

export interface TensorValue {
  type: OrtType;
  dims: number[];
  data: Ort.Tensor['data'];
}

export type Feeds = Record<string, TensorValue>;

export interface IoMeta {
  name: string;
  isTensor: boolean;
  type?: OrtType;
  /** Dims: number, a dim_param name, or undefined (unknown). */
  shape?: (number | string | undefined)[];
}

/** A loaded model. `close()` releases it. */
export interface Session {
  inputs: IoMeta[];
  outputs: IoMeta[];
  run(feeds: Feeds, outputNames?: string[]): Promise<Record<string, TensorValue>>;
  close(): Promise<void>;
}

export interface SessionOptions {
  /** ONNX Runtime's graph optimization level. Default 'all' (as Triton's ONNX Runtime backend). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  threads?: number;
}

const ortMessage = (err: unknown) => (err instanceof Error ? err.message : String(err)).trim();

/** Loads `file` with ONNX Runtime's CPU execution provider. `MSB_ONNX_RUNTIME_FAILED` carries ORT's own message. */
export async function openSession(file: string, options: SessionOptions = {}): Promise<Session> {
  const ort = await loadOrt();
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: options.optimization ?? 'all',
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      // Fatal only: every error ONNX Runtime reports reaches the caller as MSB_ONNX_RUNTIME_FAILED with ORT's own
      // message, so its log line would say the same thing twice (on stderr, before msb's report or error line).
      logSeverityLevel: 4,
    });
  } catch (err) {
    throw new OnnxError(
      'MSB_ONNX_RUNTIME_FAILED',
      `${file}: ONNX Runtime cannot load the model: ${ortMessage(err)}`,
      { path: file, stage: 'load', ortMessage: ortMessage(err) },
      { cause: err },
    );
  }
  const meta = (list: readonly Ort.InferenceSession.ValueMetadata[]): IoMeta[] =>
    list.map((m) =>
      m.isTensor
        ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] as (number | string | undefined)[] }
        : { name: m.name, isTensor: false },
    );
  return {
    inputs: meta(session.inputMetadata),
    outputs: meta(session.outputMetadata),
    async run(feeds, outputNames) {
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const [name, v] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(v.type, v.data as never, v.dims);
      let result: Ort.InferenceSession.ReturnType;
      try {
        result = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
      } catch (err) {
        throw new OnnxError(
          'MSB_ONNX_RUNTIME_FAILED',
          `${file}: ONNX Runtime cannot run the model: ${ortMessage(err)}`,
          { path: file, stage: 'run', ortMessage: ortMessage(err) },
          { cause: err },
        );
      }
      const out: Record<string, TensorValue> = {};
      for (const [name, t] of Object.entries(result)) out[name] = { type: t.type, dims: [...t.dims], data: t.data };
      return out;
    },
    close: () => session.release(),
  };
}

/** Elements of a tensor as float64 (FP16 decoded); undefined for strings and other non-numeric types. */
export function toFloat64(v: TensorValue): Float64Array | undefined {
  const d = v.data;
  if (v.type === 'float16') {
    const u = d as Uint16Array;
    const out = new Float64Array(u.length);
    for (let i = 0; i < u.length; i++) out[i] = f16BitsToNumber(u[i] as number);
    return out;
  }
  if (Array.isArray(d)) return undefined;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, (x) => Number(x));
  return Float64Array.from(d as ArrayLike<number>);
}

/** Deterministic uniform [0, 1) numbers (mulberry32): the same seed gives the same inputs on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random inputs for a model, as Polygraphy's default data loader makes them: floats uniform in [0, 1), integers
 * and booleans in {0, 1} (its `val_range` (0, 1) rounded to the integer range), dynamic dims from `shapes` or 1.
 */
export function randomFeeds(inputs: IoMeta[], seed: number, shapes: Record<string, number[]> = {}): Feeds {
  const rand = seededRandom(seed);
  const feeds: Feeds = {};
  for (const input of inputs) {
    if (!input.isTensor || !input.type) {
      throw new OnnxError('MSB_ONNX_BAD_INPUTS', `input '${input.name}' is not a tensor; give it with --inputs`, {
        input: input.name,
      });
    }
    const given = shapes[input.name];
    const shape = input.shape ?? [];
    if (given && given.length !== shape.length) {
      throw new OnnxError(
        'MSB_ONNX_BAD_INPUTS',
        `--shape ${input.name}: ${given.length} dims given, the model's input has ${shape.length}`,
        { input: input.name },
      );
    }
    const dims = shape.map((d, i) => given?.[i] ?? (typeof d === 'number' && d >= 0 ? d : 1));
    const count = dims.reduce((a, b) => a * b, 1);
    feeds[input.name] = { type: input.type, dims, data: randomData(input.type, count, rand, input.name) };
  }
  return feeds;
}

function randomData(type: OrtType, n: number, rand: () => number, name: string): Ort.Tensor['data'] {
  switch (type) {
    case 'float32':
      return Float32Array.from({ length: n }, rand);
    case 'float64':
      return Float64Array.from({ length: n }, rand);
    case 'float16': {
      const out = new Uint16Array(n);
      // Uniform [0, 1) quantized to FP16 steps below 1.
      for (let i = 0; i < n; i++) out[i] = f16FromUnit(rand());
      return out;
    }
    case 'int64':
      return BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 2)));
    case 'uint64':
      return BigUint64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 2)));
    case 'int32':
    case 'int16':
    case 'int8':
    case 'uint32':
    case 'uint16':
    case 'uint8':
    case 'bool': {
      const Ctor: { from(a: ArrayLike<unknown>, f: () => number): Ort.Tensor['data'] } = {
        int32: Int32Array,
        int16: Int16Array,
        int8: Int8Array,
        uint32: Uint32Array,
        uint16: Uint16Array,
        uint8: Uint8Array,
        bool: Uint8Array,
      }[type] as never;
      return Ctor.from({ length: n }, () => Math.floor(rand() * 2));
    }
    default:
      throw new OnnxError(
        'MSB_ONNX_BAD_INPUTS',
        `input '${name}' has type ${type}, which has no random generator here; give it with --inputs`,
        { input: name, type },
      );
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function f16FromUnit(x: number): number {
  f32[0] = x;
  const bits = u32[0] as number;
  const e = ((bits >>> 23) & 0xff) - 112;
  if (e <= 0) return 0;
  return (e << 10) | ((bits >>> 13) & 0x3ff);
}

const TYPED: Record<string, (v: unknown[]) => Ort.Tensor['data']> = {
  float32: (v) => Float32Array.from(v as number[]),
  float64: (v) => Float64Array.from(v as number[]),
  int32: (v) => Int32Array.from(v as number[]),
  int64: (v) => BigInt64Array.from(v as (number | string)[], (x) => BigInt(x)),
  int8: (v) => Int8Array.from(v as number[]),
  uint8: (v) => Uint8Array.from(v as number[]),
  bool: (v) => Uint8Array.from(v as (number | boolean)[], (x) => (x ? 1 : 0)),
  string: (v) => (v as unknown[]).map(String),
  float16: (v) =>
    Uint16Array.from(v as number[], (x) => f32BitsToF16(new Uint32Array(Float32Array.of(x).buffer)[0] as number)),
};

/**
 * Inputs from a JSON file: one sample `{ "name": { "dims": [..], "data": [..], "type"?: "float32" } }` or a list of
 * samples. The type defaults to the model's.
 */
export async function readFeedsFile(file: string, inputs: IoMeta[]): Promise<Feeds[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new OnnxError('MSB_ONNX_BAD_INPUTS', `${file}: ${(err as Error).message}`, { path: file }, { cause: err });
  }
  const samples = Array.isArray(parsed) ? parsed : [parsed];
  if (!samples.length) throw new OnnxError('MSB_ONNX_BAD_INPUTS', `${file}: no samples`, { path: file });
  return samples.map((sample, k) => {
    if (typeof sample !== 'object' || sample === null) {
      throw new OnnxError('MSB_ONNX_BAD_INPUTS', `${file}: sample ${k} is not an object of inputs`, { path: file });
    }
    const feeds: Feeds = {};
    for (const input of inputs) {
      const entry = (sample as Record<string, unknown>)[input.name] as
        | { dims?: unknown; data?: unknown; type?: unknown }
        | undefined;
      const bad = (why: string) =>
        new OnnxError('MSB_ONNX_BAD_INPUTS', `${file}: sample ${k}, input '${input.name}': ${why}`, {
          path: file,
          input: input.name,
        });
      if (!entry || typeof entry !== 'object') throw bad('missing (give { "dims": [...], "data": [...] })');
      const type = (typeof entry.type === 'string' ? entry.type : input.type) as OrtType | undefined;
      const make = type && TYPED[type];
      if (!make) throw bad(`type ${type ?? 'unknown'} is not supported in an inputs file`);
      if (!Array.isArray(entry.dims) || !entry.dims.every((d) => Number.isInteger(d) && d >= 0)) {
        throw bad('"dims" must be a list of non-negative integers');
      }
      if (!Array.isArray(entry.data)) throw bad('"data" must be a flat list of values');
      const dims = entry.dims as number[];
      const count = dims.reduce((a, b) => a * b, 1);
      if (entry.data.length !== count)
        throw bad(`${entry.data.length} values for dims [${dims.join(', ')}] (${count})`);
      const shape = input.shape ?? [];
      if (shape.length !== dims.length || shape.some((d, i) => typeof d === 'number' && d >= 0 && d !== dims[i])) {
        throw bad(`dims [${dims.join(', ')}] do not fit the model's [${shape.map((d) => d ?? '?').join(', ')}]`);
      }
      feeds[input.name] = { type, dims, data: make(entry.data) };
    }
    return feeds;
  });
}
