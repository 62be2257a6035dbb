import type { ModelConfig } from '../model-config.js';
import type { Problems } from './problems.js';

/** Platform and backend names from Triton core `src/constants.h`. */
export const ENSEMBLE_PLATFORM = 'ensemble';
export const TENSORRT_PLATFORM = 'tensorrt_plan';
const TF_GRAPHDEF = 'tensorflow_graphdef';
const TF_SAVEDMODEL = 'tensorflow_savedmodel';
const ONNX_PLATFORM = 'onnxruntime_onnx';
const LIBTORCH_PLATFORM = 'pytorch_libtorch';
const LIBTORCH_PLATFORM_ALT = 'libtorch';
const AOTI_PLATFORM = 'torch_aoti';

/** What Triton works with after `AutoCompleteBackendFields`: the name, platform and backend it fills in. */
export interface Identity {
  name: string;
  platform: string;
  backend: string;
  /**
   * True when Triton would pick platform/backend by looking at the files in the first version directory (the config
   * names none of platform, backend, default_model_filename): unknown to a config-only check, so the
   * platform-dependent rules are skipped.
   */
  fromFiles: boolean;
}

// Triton: model_config_utils.cc AutoCompleteBackendFields, the part that reads only the config and the model name
// (its version-directory probing is the store's business; `fromFiles` marks where it would happen).
function completeBackendFields(config: ModelConfig, modelName: string | undefined): Identity {
  const name = config.name || modelName || '';
  let platform = config.platform ?? '';
  let backend = config.backend ?? '';
  const file = config.defaultModelFilename ?? '';
  const undetermined = platform === '' && backend === '' && file === '';

  if (platform === '' && (backend === '' || backend === 'tensorflow')) {
    if (file === 'model.savedmodel') platform = TF_SAVEDMODEL;
    else if (file === 'model.graphdef') platform = TF_GRAPHDEF;
  }
  if (platform === TF_SAVEDMODEL || platform === TF_GRAPHDEF) {
    return { name, platform, backend: backend || 'tensorflow', fromFiles: false };
  }
  // The TensorFlow backend without a platform: Triton tells savedmodel from graphdef by the version directory.
  if (backend === 'tensorflow' && platform === '') return { name, platform, backend, fromFiles: true };
  if (backend === '' && (platform === TENSORRT_PLATFORM || file === 'model.plan')) backend = 'tensorrt';
  if (backend === 'tensorrt') return { name, platform: platform || TENSORRT_PLATFORM, backend, fromFiles: false };
  if (backend === '' && (platform === ONNX_PLATFORM || file === 'model.onnx')) backend = 'onnxruntime';
  if (backend === 'onnxruntime') return { name, platform: platform || ONNX_PLATFORM, backend, fromFiles: false };
  if (backend === '' && file === 'model.xml') backend = 'openvino';
  if (backend === 'openvino') return { name, platform, backend, fromFiles: false };
  if (backend === '') {
    const torch = [LIBTORCH_PLATFORM, LIBTORCH_PLATFORM_ALT, AOTI_PLATFORM].includes(platform);
    if (torch || file === 'model.pt' || file === 'model.pt2') backend = 'pytorch';
  }
  if (backend === 'pytorch') return { name, platform: platform || LIBTORCH_PLATFORM, backend, fromFiles: false };
  if (backend === '' && file === 'model.py') backend = 'python';
  if (undetermined) {
    // A custom backend named by the model name 'model.<backend>'; otherwise Triton probes the version directory.
    const dot = (modelName ?? '').indexOf('.');
    if (modelName !== undefined && dot >= 0)
      return { name, platform, backend: modelName.slice(dot + 1), fromFiles: false };
    return { name, platform, backend, fromFiles: true };
  }
  return { name, platform, backend, fromFiles: false };
}

type BackendType = 'tensorflow' | 'tensorrt' | 'onnxruntime' | 'pytorch' | 'torch_aoti' | 'unknown';

// Triton: model_config_utils.cc GetBackendTypeFromPlatform. The alternative 'libtorch' platform is unknown here.
function backendTypeOfPlatform(platform: string): BackendType {
  if (platform === TF_GRAPHDEF || platform === TF_SAVEDMODEL) return 'tensorflow';
  if (platform === TENSORRT_PLATFORM) return 'tensorrt';
  if (platform === ONNX_PLATFORM) return 'onnxruntime';
  if (platform === LIBTORCH_PLATFORM) return 'pytorch';
  if (platform === AOTI_PLATFORM) return 'torch_aoti';
  return 'unknown';
}

// Triton: model_config_utils.cc GetBackendType. kPyTorchAotiBackend is also "pytorch", so 'pytorch' always reads as
// the libtorch type: Triton refuses torch_aoti + pytorch, and we mirror that.
function backendType(backend: string): BackendType {
  if (backend === 'tensorflow' || backend === 'tensorrt' || backend === 'onnxruntime' || backend === 'pytorch') {
    return backend;
  }
  return 'unknown';
}

/** Name, platform and backend checks; returns what Triton would work with for the remaining rules. */
export function checkIdentity(config: ModelConfig, modelName: string | undefined, problems: Problems): Identity {
  const id = completeBackendFields(config, modelName);

  // Triton: model_config_utils.cc ValidateModelConfig "model configuration must specify 'name'" (the name is filled
  // from the directory by AutoCompleteBackendFields, so it can only be missing without one).
  if (id.name === '') problems.add('name', 'name-missing', "the config has no 'name' and no model name was given");
  // Triton: model_repository_manager.cc ModelRepositoryManager (model info loading) "directory name must equal model
  // name".
  if (modelName !== undefined && config.name && config.name !== modelName) {
    problems.add(
      'name',
      'name-mismatch',
      `name '${config.name}' differs from the model directory name '${modelName}'; Triton requires them equal`,
    );
  }

  // Triton: model_config_utils.cc ValidateModelConfig, backend empty: only an ensemble may have no backend
  // ("unexpected platform type"); an ensemble must have none.
  if (id.backend === '' && id.platform !== ENSEMBLE_PLATFORM && !id.fromFiles) {
    if (id.platform === '') {
      problems.add(
        'platform',
        'platform-backend-missing',
        `neither 'platform' nor 'backend' is set, and default_model_filename '${config.defaultModelFilename ?? ''}' names no known framework`,
      );
    } else {
      problems.add(
        'platform',
        'platform-unknown',
        `unknown platform '${id.platform}' and no backend; known platforms: ensemble, onnxruntime_onnx, pytorch_libtorch, tensorflow_graphdef, tensorflow_savedmodel, tensorrt_plan, torch_aoti`,
      );
    }
  } else if (id.backend !== '' && id.platform === ENSEMBLE_PLATFORM) {
    problems.add('backend', 'ensemble-backend-set', `an ensemble must have no backend, got '${id.backend}'`);
  } else {
    // Triton: model_config_utils.cc ValidateModelConfig "unexpected 'platform' and 'backend' pair" (any platform is
    // allowed with a backend Triton does not know).
    const type = backendType(id.backend);
    if (type !== 'unknown' && type !== backendTypeOfPlatform(id.platform)) {
      problems.add(
        config.platform ? 'platform' : 'backend',
        'platform-backend-mismatch',
        `platform '${id.platform}' does not belong to backend '${id.backend}'`,
      );
    }
  }
  return id;
}
