/**
 * LLM repositories without a GPU: vLLM models (`config.pbtxt` + `model.json` of engine arguments checked against the
 * vLLM version a Triton release ships) and TensorRT-LLM's `inflight_batcher_llm` ensembles filled from the user's
 * templates and the engine's `config.json`. Pure checks and preparation: `publish` writes through the store.
 */
export { LLM_ERROR_RETRYABLE, LlmError, type LlmErrorCode } from './errors.js';
export type { LlmProblem } from './problems.js';
export {
  fillTemplate,
  findPlaceholders,
  type Placeholder,
  type PlaceholderKind,
  REQUIRED_KEYS,
  templateProblems,
} from './templates.js';
export {
  crossCheckTrtllm,
  parseSetOptions,
  prepareTensorrtLlm,
  readTrtllmEngine,
  TRTLLM_MODELS,
  TRTLLM_OPTIONAL_MODELS,
  type TrtllmEngine,
  type TrtllmModel,
  type TrtllmPrepared,
  type TrtllmRequest,
  tritonTypeOf,
  trtllmValues,
} from './tensorrt-llm.js';
export {
  checkCheckpoint,
  checkVllmEngineArgs,
  checkVllmModelJson,
  type EngineArgsCheckOptions,
  type EngineArgType,
  isLocalPath,
  newestVllmVersion,
  parseEngineArgSets,
  prepareVllm,
  TOKENIZER_FILES,
  VLLM_ENGINE_ARGS_SOURCE,
  VLLM_MODEL_JSON,
  type VllmPrepared,
  type VllmRequest,
  vllmEngineArgs,
  vllmModelConfig,
  vllmVersions,
} from './vllm.js';
