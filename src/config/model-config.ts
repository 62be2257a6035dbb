// Generated from proto/model_config.proto by src/config/typegen.ts (npm run gen:types). Do not edit.

import type { Int64 } from './textformat/scalars.js';

export type { Int64 } from './textformat/scalars.js';

/** Element type of a tensor. TYPE_STRING is a variable-length byte string per element. */
export type DataType = 'TYPE_INVALID' | 'TYPE_BOOL' | 'TYPE_UINT8' | 'TYPE_UINT16' | 'TYPE_UINT32' | 'TYPE_UINT64' | 'TYPE_INT8' | 'TYPE_INT16' | 'TYPE_INT32' | 'TYPE_INT64' | 'TYPE_FP16' | 'TYPE_FP32' | 'TYPE_FP64' | 'TYPE_STRING' | 'TYPE_BF16' | number;

/** Resources an instance must hold before the rate limiter lets it execute, and its priority among instances. */
export interface ModelRateLimiter {
  resources?: ModelRateLimiterResource[];
  /** Relative weight when instances compete; 0 behaves as 1. */
  priority?: number;
}

export interface ModelRateLimiterResource {
  /** Resource name, shared by all instances that ask for it. */
  name?: string;
  /** True: one pool for the whole server; false: one pool per device. */
  global?: boolean;
  /** Units of the resource one execution holds. */
  count?: number;
}

/** A group of identical model instances placed on the same kind of device. */
export interface ModelInstanceGroup {
  /** Optional group name; generated from the model name when empty. */
  name?: string;
  kind?: ModelInstanceGroupKind;
  /** Instances per listed GPU (or in total for CPU/MODEL kinds). Autocompleted to 1. */
  count?: number;
  rateLimiter?: ModelRateLimiter;
  /** GPU ids the group is placed on; empty means every available GPU. */
  gpus?: number[];
  secondaryDevices?: ModelInstanceGroupSecondaryDevice[];
  /** TensorRT optimization profile names (indices as strings) the instances may use. */
  profile?: string[];
  /** Passive instances are loaded but never scheduled by Triton's own scheduler. */
  passive?: boolean;
  /** Host policy the instances follow (NUMA placement); derived from the device when empty. */
  hostPolicy?: string;
}

export type ModelInstanceGroupKind = 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL' | number;

export interface ModelInstanceGroupSecondaryDevice {
  kind?: ModelInstanceGroupSecondaryDeviceSecondaryDeviceKind;
  deviceId?: Int64;
}

export type ModelInstanceGroupSecondaryDeviceSecondaryDeviceKind = 'KIND_NVDLA' | number;

/** The shape the model sees, when it differs from the shape clients send. */
export interface ModelTensorReshape {
  shape?: Int64[];
}

/** One input tensor of the model. */
export interface ModelInput {
  name?: string;
  dataType?: DataType;
  /** Layout hint for image inputs; informational for most backends. */
  format?: ModelInputFormat;
  /** Shape without the batch dimension when max_batch_size > 0; -1 marks a variable-size dimension. */
  dims?: Int64[];
  reshape?: ModelTensorReshape;
  /** The tensor carries a shape (TensorRT shape tensors) rather than data. */
  isShapeTensor?: boolean;
  /** Requests with different shapes may be batched together; the backend handles the ragged batch. */
  allowRaggedBatch?: boolean;
  /** Requests may omit this input. */
  optional?: boolean;
  /** TensorRT non-linear (vectorized) I/O format; the client supplies data already in that format. */
  isNonLinearFormatIo?: boolean;
}

export type ModelInputFormat = 'FORMAT_NONE' | 'FORMAT_NHWC' | 'FORMAT_NCHW' | number;

/** One output tensor of the model. */
export interface ModelOutput {
  name?: string;
  dataType?: DataType;
  /** Shape without the batch dimension when max_batch_size > 0; -1 marks a variable-size dimension. */
  dims?: Int64[];
  reshape?: ModelTensorReshape;
  /** File in the model directory with one class label per line, used for classification results. */
  labelFilename?: string;
  isShapeTensor?: boolean;
  isNonLinearFormatIo?: boolean;
}

/** An input the batcher synthesises from the batch (for ragged batching) instead of a client sending it. */
export interface BatchInput {
  kind?: BatchInputKind;
  /** Model input names that receive the synthesised tensor. */
  targetName?: string[];
  dataType?: DataType;
  /** Client inputs the value is computed from. */
  sourceInput?: string[];
}

export type BatchInputKind = 'BATCH_ELEMENT_COUNT' | 'BATCH_ACCUMULATED_ELEMENT_COUNT' | 'BATCH_ACCUMULATED_ELEMENT_COUNT_WITH_ZERO' | 'BATCH_MAX_ELEMENT_COUNT_AS_SHAPE' | 'BATCH_ITEM_SHAPE' | 'BATCH_ITEM_SHAPE_FLATTEN' | number;

/** An output the batcher splits back into per-request results in a way the model describes. */
export interface BatchOutput {
  targetName?: string[];
  kind?: BatchOutputKind;
  sourceInput?: string[];
}

export type BatchOutputKind = 'BATCH_SCATTER_WITH_INPUT_SHAPE' | number;

/** Which version directories Triton loads. Without a policy Triton loads the latest one. */
export interface ModelVersionPolicy {
  latest?: ModelVersionPolicyLatest;
  all?: ModelVersionPolicyAll;
  specific?: ModelVersionPolicySpecific;
}

export interface ModelVersionPolicyLatest {
  /** How many of the numerically highest versions to serve. */
  numVersions?: number;
}

export interface ModelVersionPolicyAll {
}

export interface ModelVersionPolicySpecific {
  /** Exactly these versions; listed versions without a directory are not loaded. */
  versions?: Int64[];
}

/** Backend optimisation switches. */
export interface ModelOptimizationPolicy {
  graph?: ModelOptimizationPolicyGraph;
  priority?: ModelOptimizationPolicyModelPriority;
  cuda?: ModelOptimizationPolicyCuda;
  executionAccelerators?: ModelOptimizationPolicyExecutionAccelerators;
  inputPinnedMemory?: ModelOptimizationPolicyPinnedMemoryBuffer;
  outputPinnedMemory?: ModelOptimizationPolicyPinnedMemoryBuffer;
  /** Gather inputs with a CUDA kernel when the request count exceeds this. */
  gatherKernelBufferThreshold?: number;
  /** Start the next batch before the current one finishes executing. */
  eagerBatching?: boolean;
}

export interface ModelOptimizationPolicyGraph {
  /** Graph optimisation level (backend-specific; -1 disables, 0 default, >0 more aggressive). */
  level?: number;
}

export type ModelOptimizationPolicyModelPriority = 'PRIORITY_DEFAULT' | 'PRIORITY_MAX' | 'PRIORITY_MIN' | number;

export interface ModelOptimizationPolicyCuda {
  /** Capture CUDA graphs for execution (TensorRT backend). */
  graphs?: boolean;
  busyWaitEvents?: boolean;
  graphSpec?: ModelOptimizationPolicyCudaGraphSpec[];
  /** Copy outputs on a separate CUDA stream. */
  outputCopyStream?: boolean;
}

export interface ModelOptimizationPolicyCudaGraphSpec {
  /** Batch size the CUDA graph is captured for. */
  batchSize?: number;
  /** Input shapes (without batch dimension) the graph is captured for. */
  input?: Record<string, ModelOptimizationPolicyCudaGraphSpecShape>;
  /** With a lower bound, the graph serves every shape between the bound and the spec. */
  graphLowerBound?: ModelOptimizationPolicyCudaGraphSpecLowerBound;
}

export interface ModelOptimizationPolicyCudaGraphSpecShape {
  dim?: Int64[];
}

export interface ModelOptimizationPolicyCudaGraphSpecLowerBound {
  batchSize?: number;
  input?: Record<string, ModelOptimizationPolicyCudaGraphSpecShape>;
}

export interface ModelOptimizationPolicyExecutionAccelerators {
  gpuExecutionAccelerator?: ModelOptimizationPolicyExecutionAcceleratorsAccelerator[];
  cpuExecutionAccelerator?: ModelOptimizationPolicyExecutionAcceleratorsAccelerator[];
}

export interface ModelOptimizationPolicyExecutionAcceleratorsAccelerator {
  /** e.g. "tensorrt" or "openvino"; meaning depends on the backend. */
  name?: string;
  parameters?: Record<string, string>;
}

export interface ModelOptimizationPolicyPinnedMemoryBuffer {
  enable?: boolean;
}

/** How a scheduler queue treats requests that wait too long or arrive when it is full. */
export interface ModelQueuePolicy {
  timeoutAction?: ModelQueuePolicyTimeoutAction;
  /** 0 means requests never time out in the queue. */
  defaultTimeoutMicroseconds?: Int64;
  /** Requests may set their own timeout. */
  allowTimeoutOverride?: boolean;
  /** 0 means unbounded. */
  maxQueueSize?: number;
}

export type ModelQueuePolicyTimeoutAction = 'REJECT' | 'DELAY' | number;

/** The dynamic batcher: combines independent requests into batches up to max_batch_size. */
export interface ModelDynamicBatching {
  /** Batch sizes the batcher prefers to form; each must be <= max_batch_size. */
  preferredBatchSize?: number[];
  /** How long a request may wait for a batch to fill. */
  maxQueueDelayMicroseconds?: Int64;
  /** Responses leave in the order requests arrived. */
  preserveOrdering?: boolean;
  /** Number of priority levels; 0 disables priorities. Level 1 is the highest. */
  priorityLevels?: Int64;
  /** Level for requests that name none; must be within priority_levels. */
  defaultPriorityLevel?: Int64;
  defaultQueuePolicy?: ModelQueuePolicy;
  /** Queue policy per priority level. */
  priorityQueuePolicy?: Record<string, ModelQueuePolicy>;
}

/** The sequence batcher: routes every request of a sequence (same correlation ID) to the same instance slot. */
export interface ModelSequenceBatching {
  direct?: ModelSequenceBatchingStrategyDirect;
  oldest?: ModelSequenceBatchingStrategyOldest;
  /** A sequence with no request for this long is ended and its slot freed. */
  maxSequenceIdleMicroseconds?: Int64;
  controlInput?: ModelSequenceBatchingControlInput[];
  state?: ModelSequenceBatchingState[];
  /** The model re-enqueues requests itself (iterative generation). */
  iterativeSequence?: boolean;
}

export interface ModelSequenceBatchingControl {
  kind?: ModelSequenceBatchingControlKind;
  /** The [false, true] values of the control signal, in exactly one of these typed forms. */
  int32FalseTrue?: number[];
  fp32FalseTrue?: number[];
  boolFalseTrue?: boolean[];
  /** For CONTROL_SEQUENCE_CORRID: the correlation ID's type (TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32, TYPE_STRING). */
  dataType?: DataType;
}

export type ModelSequenceBatchingControlKind = 'CONTROL_SEQUENCE_START' | 'CONTROL_SEQUENCE_READY' | 'CONTROL_SEQUENCE_END' | 'CONTROL_SEQUENCE_CORRID' | number;

export interface ModelSequenceBatchingControlInput {
  /** Model input that receives the control signal. */
  name?: string;
  control?: ModelSequenceBatchingControl[];
}

export interface ModelSequenceBatchingInitialState {
  dataType?: DataType;
  dims?: Int64[];
  zeroData?: boolean;
  /** File under the model's initial_state/ directory. */
  dataFile?: string;
  name?: string;
}

/** Implicit state carried between the requests of a sequence. */
export interface ModelSequenceBatchingState {
  inputName?: string;
  outputName?: string;
  dataType?: DataType;
  dims?: Int64[];
  initialState?: ModelSequenceBatchingInitialState[];
  useSameBufferForInputOutput?: boolean;
  useGrowableMemory?: boolean;
}

/** Each sequence owns a batch slot until it ends. */
export interface ModelSequenceBatchingStrategyDirect {
  maxQueueDelayMicroseconds?: Int64;
  minimumSlotUtilization?: number;
}

/** The oldest request of each candidate sequence is batched dynamically. */
export interface ModelSequenceBatchingStrategyOldest {
  maxCandidateSequences?: number;
  preferredBatchSize?: number[];
  maxQueueDelayMicroseconds?: Int64;
  preserveOrdering?: boolean;
}

/** An ensemble: a pipeline of other models wired by tensor names. */
export interface ModelEnsembling {
  step?: ModelEnsemblingStep[];
  /** Bound on requests in flight inside the ensemble; 0 is unbounded. */
  maxInflightRequests?: number;
}

export interface ModelEnsemblingStep {
  modelName?: string;
  /** -1 means the latest loaded version. */
  modelVersion?: Int64;
  /** Step model input name -> ensemble tensor name. */
  inputMap?: Record<string, string>;
  /** Step model output name -> ensemble tensor name. */
  outputMap?: Record<string, string>;
  modelNamespace?: string;
}

/** A free-form parameter handed to the backend. */
export interface ModelParameter {
  stringValue?: string;
}

/** A request Triton runs against each instance before declaring the model ready. */
export interface ModelWarmup {
  name?: string;
  batchSize?: number;
  inputs?: Record<string, ModelWarmupInput>;
  /** How many times the sample is run. */
  count?: number;
}

export interface ModelWarmupInput {
  dataType?: DataType;
  /** Full shape, without the batch dimension. */
  dims?: Int64[];
  zeroData?: boolean;
  randomData?: boolean;
  /** File under the model's warmup/ directory. */
  inputDataFile?: string;
}

/** Custom operation libraries loaded before the model. */
export interface ModelOperations {
  opLibraryFilename?: string[];
}

export interface ModelTransactionPolicy {
  /** Decoupled models may send zero or many responses per request, in any order. */
  decoupled?: boolean;
}

/** Repository agents run when the model loads (e.g. decryption, checksum). */
export interface ModelRepositoryAgents {
  agents?: ModelRepositoryAgentsAgent[];
}

export interface ModelRepositoryAgentsAgent {
  name?: string;
  parameters?: Record<string, string>;
}

export interface ModelResponseCache {
  /** Use the server's response cache for this model. */
  enable?: boolean;
}

/** Per-model overrides of metric families. */
export interface ModelMetrics {
  metricControl?: ModelMetricsMetricControl[];
}

export interface ModelMetricsMetricControl {
  metricIdentifier?: ModelMetricsMetricControlMetricIdentifier;
  histogramOptions?: ModelMetricsMetricControlHistogramOptions;
}

export interface ModelMetricsMetricControlMetricIdentifier {
  family?: string;
}

export interface ModelMetricsMetricControlHistogramOptions {
  buckets?: number[];
}

/** The configuration of one model: the contents of <repository>/<model>/config.pbtxt. */
export interface ModelConfig {
  /** Must equal the model's directory name. */
  name?: string;
  /** Framework the model file belongs to (e.g. tensorrt_plan, onnxruntime_onnx); alternative to backend. */
  platform?: string;
  /** Backend that serves the model (e.g. tensorrt, onnxruntime, python); Triton fills it from platform when empty. */
  backend?: string;
  /** Backend library file name, when not the backend's default. */
  runtime?: string;
  versionPolicy?: ModelVersionPolicy;
  /** Largest batch the model accepts along a first dimension that dims leave out; 0 means no batching by Triton. */
  maxBatchSize?: number;
  input?: ModelInput[];
  output?: ModelOutput[];
  batchInput?: BatchInput[];
  batchOutput?: BatchOutput[];
  optimization?: ModelOptimizationPolicy;
  dynamicBatching?: ModelDynamicBatching;
  sequenceBatching?: ModelSequenceBatching;
  ensembleScheduling?: ModelEnsembling;
  instanceGroup?: ModelInstanceGroup[];
  /** File or directory name of the model inside a version directory, overriding the platform's default. */
  defaultModelFilename?: string;
  /** Compute capability (e.g. "8.6") -> model file name to load on GPUs of that capability. */
  ccModelFilenames?: Record<string, string>;
  /** Labels attached to every metric this model reports. */
  metricTags?: Record<string, string>;
  parameters?: Record<string, ModelParameter>;
  modelWarmup?: ModelWarmup[];
  modelOperations?: ModelOperations;
  modelTransactionPolicy?: ModelTransactionPolicy;
  modelRepositoryAgents?: ModelRepositoryAgents;
  responseCache?: ModelResponseCache;
  modelMetrics?: ModelMetrics;
}
