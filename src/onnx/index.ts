/**
 * ONNX rewriting and numerics: mixed-precision conversion (FP16/BF16, decided per node the way NVIDIA's AutoCast
 * does) over the wire format in bounded memory, and output comparison with ONNX Runtime. ONNX Runtime is an
 * optional dependency loaded on first use (`loadOrt`).
 */
export {
  COMPARE_DEFAULTS,
  type CompareOptions,
  type CompareReport,
  compareModels,
  type OutputComparison,
} from './compare.js';
export {
  ALWAYS_FP32_OPS,
  CONVERT_DEFAULTS,
  type ConvertOptions,
  type ConvertReport,
  convertModel,
  type KeepReason,
} from './convert.js';
export { OnnxError } from './errors.js';
export { type BuildConversion, conversionFor, convertForBuild } from './for-build.js';
export type { LowPrecision } from './half.js';
export { type Feeds, loadOrt, openSession, randomFeeds, readFeedsFile, type Session } from './runtime.js';
export { runAsTriton, type TritonRunResult } from './triton-run.js';
