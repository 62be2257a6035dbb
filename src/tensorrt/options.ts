/**
 * Every check msb can make before TensorRT runs: option types and ranges, optimization profiles that are
 * inconsistent with themselves or with the model's inputs, and options the loaded TensorRT major does not honour.
 */
import { z } from 'zod';
import { TensorrtError } from './errors.js';
import type { NativeBuildRequest, NativeStatus } from './native.js';
import type { BuildProgress } from './progress.js';
import type { ProfileShapes } from './signature.js';

/** TensorRT allows at most this many dimensions (nvinfer1::Dims::MAX_DIMS). */
export const MAX_DIMS = 8;

/** Shapes per input name for one optimization profile. */
export type OptimizationProfile = Record<string, ProfileShapes>;

/** Weakly-typed precision flags; TensorRT 10 only (TensorRT 11 removed them: networks are strongly typed). */
export type Precision = 'fp16' | 'bf16' | 'int8' | 'fp8';

/** Memory pool limits in bytes (IBuilderConfig::setMemoryPoolLimit); unset pools keep TensorRT's defaults. */
export interface MemoryPools {
  workspace?: number;
  tacticSharedMemory?: number;
  tacticDram?: number;
  dlaManagedSram?: number;
  dlaLocalDram?: number;
  dlaGlobalDram?: number;
}

/** A TensorRT log message, as forwarded by the per-build logger. */
export interface LogMessage {
  severity: 'internal-error' | 'error' | 'warning' | 'info' | 'verbose';
  message: string;
}

export interface BuildEngineOptions {
  /** The ONNX model: a file path (external data files beside it are found) or the model's bytes. */
  onnx: string | Uint8Array;
  /**
   * Optimization profiles: per profile, min/opt/max shapes for inputs. Required when the model has dynamic inputs;
   * every profile must then give shapes for every dynamic input.
   */
  profiles?: OptimizationProfile[];
  /**
   * TensorRT 10 only: let TensorRT pick these lower precisions (weakly typed network). Without it the network is
   * strongly typed, as it always is on TensorRT 11 (precision from the model's types and Q/DQ nodes). Rejected with
   * `MSB_TENSORRT_INVALID_ARGUMENT` on TensorRT 11. Default: none.
   */
  precision?: Precision[];
  /** Memory pool limits in bytes. Default: TensorRT's. */
  memoryPools?: MemoryPools;
  /** A timing cache from an earlier build (BuildEngineResult.timingCache) to speed up tactic selection. */
  timingCache?: Uint8Array;
  /** Build a version-compatible plan (runs on later TensorRT versions of the same major). Default: false. */
  versionCompatible?: boolean;
  /** Which GPUs the plan may run on besides the building one's model. Default: 'none' (same GPU model). */
  hardwareCompatibility?: 'none' | 'ampere+' | 'same-compute-capability';
  /** Builder optimization level 0..5 (more time, better tactics). Default: TensorRT's (3). */
  optimizationLevel?: number;
  /** Auxiliary CUDA streams per engine execution, >= 0. Default: TensorRT's heuristic. */
  maxAuxStreams?: number;
  /** Called on the JS thread for every phase start, step and finish. */
  onProgress?: (progress: BuildProgress) => void;
  /** Called on the JS thread for every TensorRT log message of this build. */
  onLog?: (message: LogMessage) => void;
  /** Aborting cancels the build at TensorRT's next progress step; the promise rejects with MSB_TENSORRT_CANCELLED. */
  signal?: AbortSignal;
}

const dim = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const shapes = z.strictObject({ min: z.array(dim), opt: z.array(dim), max: z.array(dim) });
const bytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const optionsSchema = z.strictObject({
  onnx: z.union([z.string().min(1), z.instanceof(Uint8Array).refine((b) => b.byteLength > 0, 'is empty')]),
  profiles: z.array(z.record(z.string().min(1), shapes)).optional(),
  precision: z.array(z.enum(['fp16', 'bf16', 'int8', 'fp8'])).optional(),
  memoryPools: z
    .strictObject({
      workspace: bytes.optional(),
      tacticSharedMemory: bytes.optional(),
      tacticDram: bytes.optional(),
      dlaManagedSram: bytes.optional(),
      dlaLocalDram: bytes.optional(),
      dlaGlobalDram: bytes.optional(),
    })
    .optional(),
  timingCache: z.instanceof(Uint8Array).optional(),
  versionCompatible: z.boolean().optional(),
  hardwareCompatibility: z.enum(['none', 'ampere+', 'same-compute-capability']).optional(),
  optimizationLevel: z.number().int().min(0).max(5).optional(),
  maxAuxStreams: z.number().int().min(0).max(1024).optional(),
  onProgress: z.function().optional(),
  onLog: z.function().optional(),
  signal: z.instanceof(AbortSignal).optional(),
});

function invalid(message: string, details: Record<string, unknown> = {}): TensorrtError {
  return new TensorrtError('MSB_TENSORRT_INVALID_ARGUMENT', message, details);
}

/** Type and range checks of the options; returns them unchanged (typed) or throws MSB_TENSORRT_INVALID_ARGUMENT. */
export function parseBuildOptions(options: unknown): BuildEngineOptions {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.map(String).join('.') : 'options';
    throw invalid(`buildEngine: ${where}: ${issue?.message ?? 'invalid'}`, {
      path: where,
      issues: parsed.error.issues,
    });
  }
  return options as BuildEngineOptions;
}

/** min <= opt <= max per dimension, same rank within an input and across profiles, 1..8 dimensions. */
export function checkProfiles(profiles: OptimizationProfile[]): void {
  const ranks = new Map<string, number>();
  profiles.forEach((profile, p) => {
    for (const [input, s] of Object.entries(profile)) {
      const where = `profiles[${p}].${input}`;
      if (s.min.length !== s.opt.length || s.opt.length !== s.max.length) {
        throw invalid(
          `${where}: min, opt and max must have the same rank (got ${s.min.length}, ${s.opt.length}, ${s.max.length})`,
          { profile: p, input },
        );
      }
      if (s.min.length === 0 || s.min.length > MAX_DIMS) {
        throw invalid(`${where}: a shape has 1 to ${MAX_DIMS} dimensions (got ${s.min.length})`, { profile: p, input });
      }
      for (let d = 0; d < s.min.length; d++) {
        const [lo, mid, hi] = [s.min[d] ?? 0, s.opt[d] ?? 0, s.max[d] ?? 0];
        if (!(lo <= mid && mid <= hi)) {
          throw invalid(`${where}: dimension ${d} needs min <= opt <= max (got ${lo}, ${mid}, ${hi})`, {
            profile: p,
            input,
            dimension: d,
          });
        }
      }
      const rank = ranks.get(input);
      if (rank !== undefined && rank !== s.min.length) {
        throw invalid(`${where}: rank ${s.min.length} differs from rank ${rank} in an earlier profile`, {
          profile: p,
          input,
        });
      }
      ranks.set(input, s.min.length);
    }
  });
}

/** The model's inputs as the profile checks need them (name and full shape, -1 = dynamic). */
export interface ModelInputShape {
  name: string;
  dims: number[];
}

/**
 * Profiles against the model: every named input exists with that rank, static dimensions are matched exactly,
 * and every input with a dynamic dimension has shapes in every profile (TensorRT refuses the build otherwise).
 */
export function checkProfilesAgainstModel(profiles: OptimizationProfile[], inputs: ModelInputShape[]): void {
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const dynamic = inputs.filter((i) => i.dims.some((d) => d < 0));
  if (dynamic.length > 0 && profiles.length === 0) {
    throw invalid(
      `the model has dynamic inputs (${dynamic.map((i) => `${i.name} [${i.dims.join(',')}]`).join(', ')}): ` +
        'give at least one optimization profile with their min/opt/max shapes',
      { inputs: dynamic.map((i) => i.name) },
    );
  }
  profiles.forEach((profile, p) => {
    for (const [name, s] of Object.entries(profile)) {
      const input = byName.get(name);
      if (!input) {
        throw invalid(`profiles[${p}]: the model has no input '${name}' (inputs: ${[...byName.keys()].join(', ')})`, {
          profile: p,
          input: name,
        });
      }
      if (input.dims.length !== s.min.length) {
        throw invalid(
          `profiles[${p}].${name}: the model's input has rank ${input.dims.length} [${input.dims.join(',')}], ` +
            `the profile gives rank ${s.min.length}`,
          { profile: p, input: name },
        );
      }
      input.dims.forEach((d, i) => {
        if (d >= 0 && (s.min[i] !== d || s.opt[i] !== d || s.max[i] !== d)) {
          throw invalid(
            `profiles[${p}].${name}: dimension ${i} is fixed at ${d} in the model, ` +
              `the profile gives ${s.min[i]}/${s.opt[i]}/${s.max[i]}`,
            { profile: p, input: name, dimension: i },
          );
        }
      });
    }
    for (const input of dynamic) {
      if (!(input.name in profile)) {
        throw invalid(`profiles[${p}]: no shapes for the dynamic input '${input.name}' [${input.dims.join(',')}]`, {
          profile: p,
          input: input.name,
        });
      }
    }
  });
}

/** Which build options the TensorRT version msb was compiled against honours. */
export interface TensorrtCapabilities {
  /** `precision` (BuilderFlag kFP16/kBF16/kINT8/kFP8): TensorRT 10 only. */
  precision: boolean;
  /** Networks are strongly typed: always on TensorRT 11; on TensorRT 10 when no `precision` is given. */
  stronglyTyped: 'always' | 'without-precision';
  /** Accepted `hardwareCompatibility` values ('same-compute-capability' needs TensorRT 10.9+). */
  hardwareCompatibility: NonNullable<BuildEngineOptions['hardwareCompatibility']>[];
}

/** The capabilities of the addon's TensorRT units, from what its headers had; undefined when compiled without. */
export function capabilitiesOf(status: NativeStatus): TensorrtCapabilities | undefined {
  if (!status.compiledVersion) return undefined;
  return {
    precision: status.precisionFlags === true,
    stronglyTyped: status.precisionFlags ? 'without-precision' : 'always',
    hardwareCompatibility: [
      'none',
      'ampere+',
      ...(status.sameComputeCapability ? ['same-compute-capability' as const] : []),
    ],
  };
}

/** Options the compiled TensorRT version (`version`, e.g. '11.1.0') does not honour. */
export function checkCapabilities(options: BuildEngineOptions, caps: TensorrtCapabilities, version: string): void {
  if (options.precision?.length && !caps.precision) {
    throw invalid(
      `precision [${options.precision.join(', ')}] needs TensorRT 10; TensorRT ${version} removed the precision ` +
        'flags (networks are strongly typed: precision comes from the ONNX model’s types and Q/DQ nodes)',
      { option: 'precision', tensorrtVersion: version },
    );
  }
  const level = options.hardwareCompatibility;
  if (level !== undefined && !caps.hardwareCompatibility.includes(level)) {
    throw invalid(`hardwareCompatibility '${level}' is not available in TensorRT ${version} (needs 10.9 or later)`, {
      option: 'hardwareCompatibility',
      tensorrtVersion: version,
    });
  }
}

/** The one flat request the addon takes, defaults applied. */
export function toNativeRequest(options: BuildEngineOptions): NativeBuildRequest {
  const request: NativeBuildRequest = {
    profiles: (options.profiles ?? []).map((profile) =>
      Object.entries(profile).map(([input, s]) => ({ input, min: s.min, opt: s.opt, max: s.max })),
    ),
    precision: options.precision ?? [],
    memoryPools: Object.entries(options.memoryPools ?? {})
      .filter((entry): entry is [string, number] => entry[1] !== undefined)
      .map(([pool, value]) => ({ pool, bytes: value })),
    versionCompatible: options.versionCompatible ?? false,
    hardwareCompatibility: options.hardwareCompatibility ?? 'none',
    optimizationLevel: options.optimizationLevel ?? -1,
    maxAuxStreams: options.maxAuxStreams ?? -1,
  };
  if (typeof options.onnx === 'string') request.onnxPath = options.onnx;
  else request.onnxBytes = options.onnx;
  if (options.timingCache) request.timingCache = options.timingCache;
  return request;
}
