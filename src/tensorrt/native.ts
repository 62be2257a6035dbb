/**
 * The compiled addon (`build/Release/msb_native.node`, built by cmake-js during `npm ci`) and the raw shapes it
 * speaks. Only this folder talks to it; everything here is validated before it crosses.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeStatus {
  compiled: boolean;
  available: boolean;
  /** libnvinfer's runtime loaded and matches the headers: plans can be read (also by a runtime without builder). */
  runtime?: boolean;
  code?: 'MSB_TENSORRT_UNAVAILABLE' | 'MSB_TENSORRT_VERSION_MISMATCH';
  reason?: string;
  compiledVersion?: [number, number, number];
  precisionFlags?: boolean;
  sameComputeCapability?: boolean;
  library?: string;
  libraryVersion?: [number, number, number, number];
  parserLibrary?: string;
  parserVersion?: number;
  /** How many native calls of each kind run at once (the addon's thread pools); more wait in order. */
  concurrency?: NativeConcurrency;
}

export interface NativeConcurrency {
  /** Engine builds at once (MSB_NATIVE_BUILD_THREADS, default 1). */
  builds: number;
  /** Plan inspections at once (MSB_NATIVE_INSPECT_THREADS, default 4). */
  inspects: number;
}

export interface NativeDevices {
  devices: { index: number; name: string; computeCapability: string; totalMemory: number; uuid: string }[];
  reason?: string;
  driverLibrary?: string;
  driverVersion?: number;
}

export interface NativeTensor {
  name: string;
  mode: 'input' | 'output';
  dataType: string;
  shape: number[];
  shapeTensor: boolean;
  format: string;
  profiles: { min: number[]; opt: number[]; max: number[] }[];
}

export interface NativeEngine {
  tensorrtVersion: string;
  profiles: number;
  layers: number;
  tensors: NativeTensor[];
  engineInformation: string;
}

/** One flat request per build: every field present, defaults already applied (toNativeRequest in options.ts). */
export interface NativeBuildRequest {
  onnxPath?: string;
  onnxBytes?: Uint8Array;
  profiles: { input: string; min: number[]; opt: number[]; max: number[] }[][];
  precision: string[];
  memoryPools: { pool: string; bytes: number }[];
  timingCache?: Uint8Array;
  versionCompatible: boolean;
  hardwareCompatibility: string;
  optimizationLevel: number;
  maxAuxStreams: number;
}

export type NativeEvent =
  | { type: 'log'; severity: number; message: string }
  | { type: 'start'; phase: string; parent?: string; steps: number }
  | { type: 'step'; phase: string; step: number }
  | { type: 'finish'; phase: string };

export interface NativeHandle<T> {
  promise: Promise<T>;
  cancel(): void;
}

export interface NativeBuildResult {
  plan: Uint8Array;
  timingCache: Uint8Array;
  engine: NativeEngine;
  buildSeconds: number;
  warnings: string[];
}

export interface NativeAddon {
  status(): NativeStatus;
  cudaDevices(): NativeDevices;
  buildEngine(request: NativeBuildRequest, onEvent: (e: NativeEvent) => void): NativeHandle<NativeBuildResult>;
  inspectEngine(plan: Uint8Array, onEvent: (e: NativeEvent) => void): NativeHandle<NativeEngine>;
}

/** Where the addon is: `MSB_NATIVE_ADDON` (e.g. the sanitizer build), else the build folder at the package root. */
export function addonPath(): string {
  const override = process.env.MSB_NATIVE_ADDON;
  if (override) return path.resolve(override);
  // src/tensorrt/ and dist/tensorrt/ are both two levels below the package root.
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'msb_native.node');
}

let loaded: { addon: NativeAddon } | { error: string } | undefined;

/** The addon, or why it could not be loaded (not built yet, built for another platform). */
export function loadAddon(): { addon: NativeAddon } | { error: string } {
  if (!loaded) {
    const file = addonPath();
    try {
      loaded = { addon: createRequire(import.meta.url)(file) as NativeAddon };
    } catch (err) {
      loaded = {
        error: `the msb native addon ${file} could not be loaded (run \`npm run build:native\`): ${String(err)}`,
      };
    }
  }
  return loaded;
}
