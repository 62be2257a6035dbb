/**
 * TensorRT and CUDA behind the native addon. The addon always loads; TensorRT and the CUDA driver are opened at run
 * time, so on a machine without them `tensorrt.status()` and `cuda.devices()` say why, and every TensorRT call
 * rejects with `MSB_TENSORRT_UNAVAILABLE` after its arguments were checked.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isMsbError } from '../errors.js';
import { inspectOnnx } from '../inspect/index.js';
import { TensorrtError, type TensorrtErrorCode } from './errors.js';
import { loadAddon, type NativeAddon, type NativeConcurrency, type NativeEvent, type NativeHandle } from './native.js';
import {
  type BuildEngineOptions,
  capabilitiesOf,
  checkCapabilities,
  checkProfiles,
  checkProfilesAgainstModel,
  type LogMessage,
  type ModelInputShape,
  parseBuildOptions,
  type TensorrtCapabilities,
  toNativeRequest,
} from './options.js';
import { ProgressTracker } from './progress.js';
import { type EngineSignature, engineSignatureFromNative } from './signature.js';

export { TENSORRT_ERROR_RETRYABLE, TensorrtError, type TensorrtErrorCode } from './errors.js';
export type {
  BuildEngineOptions,
  LogMessage,
  MemoryPools,
  ModelInputShape,
  OptimizationProfile,
  Precision,
  TensorrtCapabilities,
} from './options.js';
export { checkProfiles, checkProfilesAgainstModel } from './options.js';
export type { BuildProgress } from './progress.js';
export { type EngineSignature, type EngineTensor, engineToModelSignature, type ProfileShapes } from './signature.js';

export interface TensorrtStatus {
  /** Builds and inspections can run: libnvinfer with its builder, and libnvonnxparser, of the compiled major. */
  available: boolean;
  /**
   * Plans can be read (`inspectEngine`): libnvinfer's runtime of the compiled major loaded, also when it has no
   * builder (TensorRT's lean runtime, `MSB_LIBNVINFER=libnvinfer_lean.so.<major>`). Both still need a CUDA device.
   */
  runtime: boolean;
  /** The loaded library's version, e.g. '10.16.0'. */
  version?: string;
  major?: number;
  minor?: number;
  /** Why TensorRT cannot be used (addon built without headers, library missing, version mismatch). */
  reason?: string;
  /** The error code TensorRT calls reject with while unavailable. */
  code?: TensorrtErrorCode;
  /** Version of the TensorRT headers the addon was compiled against; absent when compiled without TensorRT. */
  compiledAgainst?: string;
  capabilities?: TensorrtCapabilities;
  library?: string;
  parserLibrary?: string;
  /**
   * How many native calls run at once, per kind: builds (default 1, `MSB_NATIVE_BUILD_THREADS`) and inspections
   * (default 4, `MSB_NATIVE_INSPECT_THREADS`), each 1..64, read once per process. Further
   * calls wait in order; cancelling one that waits ends it without calling TensorRT. Absent when the addon is missing.
   */
  concurrency?: NativeConcurrency;
}

export interface CudaDevice {
  index: number;
  name: string;
  /** e.g. '8.0' */
  computeCapability: string;
  /** Bytes. */
  totalMemory: number;
  /** 'GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx', as nvidia-smi shows it. */
  uuid: string;
}

export interface CudaDevicesResult {
  devices: CudaDevice[];
  /** Why there are none (no driver, cuInit failed, no device). */
  reason?: string;
  driverVersion?: number;
}

export interface BuildEngineResult {
  plan: Uint8Array;
  /** The timing cache after this build (give it to the next build as `timingCache`). */
  timingCache?: Uint8Array;
  signature: EngineSignature;
  buildSeconds: number;
  /** TensorRT's warnings during the build. */
  warnings: string[];
}

function addon(): NativeAddon | TensorrtError {
  const loaded = loadAddon();
  return 'addon' in loaded ? loaded.addon : new TensorrtError('MSB_TENSORRT_UNAVAILABLE', loaded.error);
}

export const tensorrt = {
  status(): TensorrtStatus {
    const a = addon();
    if (a instanceof TensorrtError) return { available: false, runtime: false, reason: a.message, code: a.code };
    const s = a.status();
    const out: TensorrtStatus = { available: s.available, runtime: s.runtime === true };
    if (s.libraryVersion) {
      const [major, minor, patch] = s.libraryVersion;
      Object.assign(out, { version: `${major}.${minor}.${patch}`, major, minor });
    }
    if (s.reason) out.reason = s.reason;
    if (s.code) out.code = s.code;
    if (s.compiledVersion) {
      out.compiledAgainst = s.compiledVersion.join('.');
      out.capabilities = capabilitiesOf(s);
    }
    if (s.library) out.library = s.library;
    if (s.parserLibrary) out.parserLibrary = s.parserLibrary;
    if (s.concurrency) out.concurrency = s.concurrency;
    return out;
  },
};

export const cuda = {
  devices(): CudaDevicesResult {
    const a = addon();
    if (a instanceof TensorrtError) return { devices: [], reason: a.message };
    const { devices, reason, driverVersion } = a.cudaDevices();
    const out: CudaDevicesResult = { devices };
    if (reason) out.reason = reason;
    if (driverVersion) out.driverVersion = driverVersion;
    return out;
  },
};

const SEVERITIES: LogMessage['severity'][] = ['internal-error', 'error', 'warning', 'info', 'verbose'];

/** The addon's rejection as a TensorrtError (codes come from the C++ side). */
function fromNative(err: unknown): unknown {
  if (!(err instanceof Error) || typeof (err as { code?: unknown }).code !== 'string') return err;
  const { code, parserErrors } = err as Error & { code: TensorrtErrorCode; parserErrors?: unknown[] };
  const details: Record<string, unknown> = {};
  if (parserErrors?.length) details.parserErrors = parserErrors;
  return new TensorrtError(code, err.message, details);
}

/**
 * Runs one native call: forwards its events, cancels it when `signal` aborts or a callback throws, and settles
 * only after the last event was delivered.
 */
async function runNative<T>(
  start: (onEvent: (e: NativeEvent) => void) => NativeHandle<T>,
  options: Pick<BuildEngineOptions, 'onLog' | 'onProgress' | 'signal'>,
): Promise<T> {
  const tracker = new ProgressTracker();
  let callbackError: unknown;
  let handle: NativeHandle<T> | undefined;
  const guard = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      callbackError ??= err;
      handle?.cancel();
    }
  };
  handle = start((event) => {
    if (event.type === 'log') {
      const { onLog } = options;
      if (onLog) {
        guard(() => onLog({ severity: SEVERITIES[event.severity] ?? 'verbose', message: event.message }));
      }
      return;
    }
    const progress = tracker.update(event);
    const { onProgress } = options;
    if (progress && onProgress) guard(() => onProgress(progress));
  });
  const onAbort = () => handle?.cancel();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await handle.promise.catch((err: unknown) => {
      throw fromNative(err);
    });
    if (callbackError !== undefined) throw callbackError;
    return result;
  } catch (err) {
    if (callbackError !== undefined) throw callbackError;
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function cancelledError(): TensorrtError {
  return new TensorrtError('MSB_TENSORRT_CANCELLED', 'the build was cancelled before it started');
}

async function requireFile(file: string, what: string): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    throw new TensorrtError(
      'MSB_TENSORRT_INVALID_ARGUMENT',
      `${what} ${file}: ${info ? 'is not a regular file' : 'no such file'}`,
      { path: file },
    );
  }
}

/**
 * The model's inputs as msb's own ONNX reader sees them, so that profiles are checked before TensorRT parses the
 * model. Bytes are read through a temporary file (the reader streams files and skips weights by seeking).
 */
async function onnxInputs(onnx: string | Uint8Array): Promise<ModelInputShape[]> {
  const read = async (file: string) => {
    try {
      return (await inspectOnnx(file)).signature.inputs;
    } catch (err) {
      if (!isMsbError(err)) throw err;
      throw new TensorrtError(
        'MSB_TENSORRT_INVALID_ARGUMENT',
        `the ONNX model ${typeof onnx === 'string' ? onnx : '(bytes)'} cannot be read: ${err.message}`,
        { path: typeof onnx === 'string' ? onnx : undefined, cause: err.code },
        { cause: err },
      );
    }
  };
  if (typeof onnx === 'string') return read(onnx);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-onnx-'));
  try {
    const file = path.join(dir, 'model.onnx');
    await writeFile(file, onnx);
    return await read(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Builds a serialized TensorRT engine (a plan) from an ONNX model, off the JS thread. Every option is checked first,
 * profiles also against the model's inputs (`MSB_TENSORRT_INVALID_ARGUMENT`); then a missing TensorRT rejects with
 * `MSB_TENSORRT_UNAVAILABLE`.
 */
export async function buildEngine(options: BuildEngineOptions): Promise<BuildEngineResult> {
  const opts = parseBuildOptions(options);
  checkProfiles(opts.profiles ?? []);
  const a = addon();
  const compiled = a instanceof TensorrtError ? undefined : a.status();
  const caps = compiled && capabilitiesOf(compiled);
  if (compiled?.compiledVersion && caps) checkCapabilities(opts, caps, compiled.compiledVersion.join('.'));
  if (typeof opts.onnx === 'string') await requireFile(opts.onnx, 'ONNX model');
  checkProfilesAgainstModel(opts.profiles ?? [], await onnxInputs(opts.onnx));
  if (opts.signal?.aborted) throw cancelledError();
  if (a instanceof TensorrtError) throw a;
  const raw = await runNative((onEvent) => a.buildEngine(toNativeRequest(opts), onEvent), opts);
  const result: BuildEngineResult = {
    plan: raw.plan,
    signature: engineSignatureFromNative(raw.engine),
    buildSeconds: raw.buildSeconds,
    warnings: raw.warnings,
  };
  if (raw.timingCache.byteLength > 0) result.timingCache = raw.timingCache;
  return result;
}

/** Reads a plan's signature (I/O tensors, profiles, layers) with TensorRT's runtime and engine inspector. */
export async function inspectEngine(
  plan: Uint8Array | string,
  options: Pick<BuildEngineOptions, 'onLog'> = {},
): Promise<EngineSignature> {
  let bytes: Uint8Array;
  if (typeof plan === 'string') {
    if (plan === '') throw new TensorrtError('MSB_TENSORRT_INVALID_ARGUMENT', 'inspectEngine: the plan path is empty');
    await requireFile(plan, 'TensorRT plan');
    bytes = await readFile(plan);
  } else if (plan instanceof Uint8Array) {
    bytes = plan;
  } else {
    throw new TensorrtError('MSB_TENSORRT_INVALID_ARGUMENT', 'inspectEngine: plan must be a Uint8Array or a path', {
      got: typeof plan,
    });
  }
  if (bytes.byteLength === 0) {
    throw new TensorrtError('MSB_TENSORRT_INVALID_ARGUMENT', 'inspectEngine: the plan is empty', {
      path: typeof plan === 'string' ? plan : undefined,
    });
  }
  const a = addon();
  if (a instanceof TensorrtError) throw a;
  return engineSignatureFromNative(await runNative((onEvent) => a.inspectEngine(bytes, onEvent), options));
}
