import type { ModelConfig } from '../config/index.js';

/**
 * Triton's default model file (or directory) name in a version directory per platform and per backend (core
 * `src/constants.h`: kTensorRTPlanFilename, kOnnxRuntimeOnnxFilename, kPyTorchLibTorchFilename, kTorchAOTIFilename,
 * kTensorFlowGraphDefFilename, kTensorFlowSavedModelFilename, kOpenVINORuntimeOpenVINOFilename, kPythonFilename).
 */
const PLATFORM_FILES: Record<string, string> = {
  tensorrt_plan: 'model.plan',
  onnxruntime_onnx: 'model.onnx',
  pytorch_libtorch: 'model.pt',
  libtorch: 'model.pt',
  torch_aoti: 'model.pt2',
  tensorflow_graphdef: 'model.graphdef',
  tensorflow_savedmodel: 'model.savedmodel',
};
const BACKEND_FILES: Record<string, string> = {
  tensorrt: 'model.plan',
  onnxruntime: 'model.onnx',
  pytorch: 'model.pt',
  openvino: 'model.xml',
  python: 'model.py',
};

/** The platform whose default model file this is (how auto-complete picks a backend for a config naming none). */
export function platformOfFile(fileName: string): string | undefined {
  return Object.entries(PLATFORM_FILES).find(([, f]) => f === fileName)?.[0];
}

/** Model "files" that are directories (TF SavedModel); everything else is a single file. */
export function isDirectoryModel(fileName: string): boolean {
  return fileName.endsWith('.savedmodel');
}

/**
 * The name the model takes inside a version directory: `default_model_filename` when set, else Triton's default for
 * the platform/backend. `undefined` for ensembles (no model file) and custom backends (the backend decides).
 */
export function modelFileName(config: ModelConfig): string | undefined {
  if (config.defaultModelFilename) return config.defaultModelFilename;
  if (config.platform === 'ensemble') return undefined;
  if (config.platform && PLATFORM_FILES[config.platform]) return PLATFORM_FILES[config.platform];
  if (config.backend && BACKEND_FILES[config.backend]) return BACKEND_FILES[config.backend];
  return undefined;
}

/**
 * The files Triton's auto-complete recognises when a config names neither platform nor backend (core
 * `AutoCompleteBackendFields`); `model.py` is not among them.
 */
export const AUTOFILL_FILES = [
  'model.savedmodel',
  'model.graphdef',
  'model.plan',
  'model.onnx',
  'model.xml',
  'model.pt',
  'model.pt2',
];

/** Platforms and backends msb knows by name (anything else is a custom backend, which is allowed). */
export const KNOWN_PLATFORMS = [...Object.keys(PLATFORM_FILES), 'ensemble'];

/** True for configs with no model file at all: ensembles. */
export function isEnsemble(config: ModelConfig): boolean {
  return config.platform === 'ensemble';
}
