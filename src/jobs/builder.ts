import type { ModelSignature } from '../inspect/index.js';
import { buildEngine, cuda, engineToModelSignature, inspectEngine, tensorrt } from '../tensorrt/index.js';
import type { BuildJobSpec } from './spec.js';

export interface BuildProgressReport {
  phase: string;
  percent: number;
}

export interface EngineBuildRequest {
  /** Path of the ONNX model. */
  onnx: string;
  options: BuildJobSpec['build'];
  hardwareCompatible: boolean;
  timingCache?: Uint8Array;
  onProgress: (p: BuildProgressReport) => void;
  onLog: (line: string) => void;
  signal: AbortSignal;
}

export interface EngineBuildResult {
  plan: Uint8Array;
  timingCache?: Uint8Array;
  signature: ModelSignature;
  buildSeconds: number;
}

/** What a worker's engine builder can serve: its TensorRT and its GPU. */
export interface BuilderIdentity {
  /** TensorRT major.minor, absent when TensorRT cannot be used. */
  tensorrt?: string;
  /** Full TensorRT version, e.g. "10.8.0". */
  tensorrtVersion?: string;
  /** Compute capability of the worker's GPU, absent without one. */
  computeCapability?: string;
  /** Why the builder cannot build, when it cannot. */
  reason?: string;
}

/**
 * The boundary between jobs and TensorRT: production workers use {@link tensorrtEngineBuilder}; tests may put a
 * double here (and only here). Builds must not block the event loop (the addon runs them on its own thread), so
 * BullMQ keeps renewing the job's lock during a long build.
 */
export interface EngineBuilder {
  identity(): BuilderIdentity;
  build(request: EngineBuildRequest): Promise<EngineBuildResult>;
  inspect(plan: Uint8Array): Promise<ModelSignature>;
}

/** The real builder over the native addon, on GPU `gpu`. */
export function tensorrtEngineBuilder(gpu = 0): EngineBuilder {
  return {
    identity() {
      const status = tensorrt.status();
      if (!status.available) return { reason: status.reason ?? 'TensorRT is not available' };
      const { devices, reason } = cuda.devices();
      const device = devices.find((d) => d.index === gpu);
      const id: BuilderIdentity = {
        tensorrt: `${status.major}.${status.minor}`,
        tensorrtVersion: status.version as string,
      };
      if (device) id.computeCapability = device.computeCapability;
      else id.reason = `no CUDA device ${gpu}${reason ? `: ${reason}` : ''}`;
      return id;
    },
    async build(request) {
      const result = await buildEngine({
        onnx: request.onnx,
        ...(request.options.profiles ? { profiles: request.options.profiles } : {}),
        ...(request.options.precision ? { precision: request.options.precision } : {}),
        ...(request.options.versionCompatible !== undefined
          ? { versionCompatible: request.options.versionCompatible }
          : {}),
        ...(request.options.optimizationLevel !== undefined
          ? { optimizationLevel: request.options.optimizationLevel }
          : {}),
        ...(request.options.workspaceBytes !== undefined
          ? { memoryPools: { workspace: request.options.workspaceBytes } }
          : {}),
        ...(request.timingCache ? { timingCache: request.timingCache } : {}),
        hardwareCompatibility: request.hardwareCompatible ? 'ampere+' : 'none',
        onProgress: (p) => request.onProgress({ phase: p.phase, percent: p.percent }),
        onLog: (m) => request.onLog(`[${m.severity}] ${m.message}`),
        signal: request.signal,
      });
      const built: EngineBuildResult = {
        plan: result.plan,
        signature: engineToModelSignature(result.signature),
        buildSeconds: result.buildSeconds,
      };
      if (result.timingCache) built.timingCache = result.timingCache;
      return built;
    },
    async inspect(plan) {
      return engineToModelSignature(await inspectEngine(plan));
    },
  };
}
