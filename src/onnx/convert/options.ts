/** What `convertModel` takes and reports (src/onnx/convert.ts): shared by every phase of the conversion. */
import type { LowPrecision } from '../half.js';

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

/** FP16's largest finite value. */
export const FP16_MAX = 65504;

export const CONVERT_DEFAULTS = { dataMax: 512, initMax: FP16_MAX, seed: 1 } as const;

/** The options with their defaults filled in, as the phases read them. */
export type ResolvedOptions = Required<Pick<ConvertOptions, 'precision' | 'keepIoTypes' | 'dataMax' | 'initMax'>> &
  ConvertOptions;
