import path from 'node:path';
import type { BuildConversion } from '../onnx/index.js';
import type { BuildJobSpec } from './spec.js';

/**
 * What a build job hands TensorRT: on TensorRT 11 with `precision` fp16/bf16, the model converted first (cached,
 * see onnx/for-build.ts) and the precision flags it replaces dropped; otherwise the source and options unchanged
 * (TensorRT 10 keeps its flags). The ONNX module is loaded only when a conversion is needed.
 */
export async function prepareBuildSource(
  spec: BuildJobSpec,
  sourceDigest: string,
  planCacheDir: string,
): Promise<{ onnx: string; options: BuildJobSpec['build']; conversion?: BuildConversion }> {
  const { conversionFor, convertForBuild } = await import('../onnx/index.js');
  const precision = conversionFor(spec.target.tensorrt, spec.build.precision);
  if (!precision) return { onnx: spec.source, options: spec.build };
  const cacheDir = path.join(path.dirname(planCacheDir), 'converted');
  const { onnx, conversion } = await convertForBuild(spec.source, sourceDigest, precision, cacheDir);
  const rest = (spec.build.precision ?? []).filter((p) => p !== 'fp16' && p !== 'bf16');
  const { precision: _flags, ...options } = spec.build;
  return { onnx, options: rest.length ? { ...options, precision: rest } : options, conversion };
}
