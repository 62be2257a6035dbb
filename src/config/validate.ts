/**
 * Triton's load-time rules for a model configuration, reported all at once with the field path of each problem.
 *
 * The rules mirror triton-inference-server/core `src/model_config_utils.cc` (functions named next to each check),
 * applied to the config as Triton sees it after its own normalisation: a backend filled in from a known platform,
 * a default version policy (latest 1) and a default instance group when none is given. Where Triton stops at the
 * first problem, we go on and report every one. Rules marked "msb" are ours: they catch configs Triton would accept
 * but serve wrongly. Checks that need the model file (auto-complete, shapes against the model) or the repository
 * (labels file exists, ensemble members loaded) belong to the inspect and store layers.
 */
import type {
  BatchInput,
  DataType,
  Int64,
  ModelConfig,
  ModelInput,
  ModelOutput,
  ModelSequenceBatching,
  ModelSequenceBatchingControlKind,
} from './model-config.js';

export interface ConfigProblem {
  /** Where, in config.pbtxt field names: `input[0].dims[1]`. Empty for the config as a whole. */
  path: string;
  /** Stable rule id, e.g. `io-dim-invalid`; see `CONFIG_RULES`. */
  rule: string;
  message: string;
}

export interface ValidateOptions {
  /** The model's directory name; the config's `name` must equal it. */
  modelName?: string;
  /**
   * GPU ids available where the model will be served. When given, KIND_GPU instance groups are checked against
   * them the way Triton checks against the GPUs it finds; when absent, only ids Triton can never accept (< 0) are
   * refused.
   */
  gpus?: readonly number[];
}

/** Every rule id with what it checks. Ids are stable: tests and users switch on them. */
export const CONFIG_RULES = {
  'name-required': "the config must have a 'name' (Triton fills it from the directory when the model name is known)",
  'name-matches-directory': 'the name must equal the model directory name',
  'platform-unknown': 'a platform without a backend must be one Triton knows',
  'platform-backend-mismatch': 'platform and backend must belong together',
  'runtime-escapes': 'runtime names a backend library inside the backend directory',
  'ensemble-backend': "an ensemble has platform 'ensemble' and no backend",
  'max-batch-size-negative': 'max_batch_size must be >= 0',
  'io-name-required': 'every input and output has a name',
  'io-name-duplicate': '(msb) input names are unique, and so are output names',
  'io-data-type-required': 'every input and output has a data_type',
  'io-data-type-unknown': 'data_type must be a known DataType',
  'io-dims-required': 'every input and output has dims',
  'io-dim-invalid': 'each dim is >= 1, or -1 for a variable-size dimension',
  'io-reshape-empty': 'a non-batching model cannot reshape to a scalar',
  'io-reshape-dim-invalid': 'each reshape dim is >= 1, or -1',
  'io-reshape-size': 'dims and reshape hold the same number of elements',
  'io-reshape-variable': 'dims and reshape have the same variable-size dimensions',
  'io-format-dims': 'FORMAT_NHWC/FORMAT_NCHW inputs have 3 dims',
  'io-shape-tensor-platform': 'shape tensors exist only for tensorrt_plan',
  'io-non-linear-format': 'non-linear format I/O exists only for tensorrt_plan, with 3 dims',
  'io-label-filename': '(msb) label_filename is a relative path inside the model directory',
  'batch-input-source-count': 'a batch input has exactly one source input',
  'batch-input-data-type': 'a batch input is TYPE_INT32 or TYPE_FP32',
  'batch-io-unknown-source': 'batch input and batch output sources are model inputs',
  'batch-input-kind-unknown': 'batch input kind is known',
  'batch-output-source-count': 'a batch output has exactly one source input',
  'batch-output-unknown-target': 'batch output targets are model outputs',
  'batch-output-duplicate-target': 'a batch output target is named once',
  'batch-output-kind-unknown': 'batch output kind is known',
  'version-policy-latest-zero': '(msb) a latest policy serves at least one version',
  'version-policy-specific-empty': '(msb) a specific policy lists at least one version >= 0',
  'dynamic-batching-preferred-size': 'preferred batch sizes are > 0 and <= max_batch_size',
  'dynamic-batching-priority-level': 'default and per-queue priority levels are within [1, priority_levels]',
  'dynamic-batching-preserve-ordering': 'preserve_ordering allows one priority level and no DELAY timeout action',
  'sequence-batching-response-cache': 'the response cache does not serve sequence-batched models',
  'sequence-control': 'sequence batching controls are named, unique, and typed correctly',
  'sequence-corrid-data-type':
    'CONTROL_SEQUENCE_CORRID is TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 or TYPE_STRING',
  'sequence-oldest-preferred-size': 'oldest-strategy preferred batch sizes are > 0 and <= max_batch_size',
  'sequence-direct-slot-utilization': 'minimum_slot_utilization is within [0, 1]',
  'ensemble-platform': "ensemble scheduling belongs to platform 'ensemble' and back",
  'ensemble-not-allowed': 'an ensemble has no instance_group, optimization or model_warmup',
  'ensemble-steps': 'an ensemble has steps, each with model_name, input_map and output_map',
  'ensemble-tensor-producers': 'each ensemble tensor is written by one step',
  'ensemble-input-mapping': 'a step input is mapped to one ensemble tensor',
  'ensemble-io-unused': 'every ensemble input and output is connected',
  'ensemble-output-not-written': 'every ensemble output is written from the ensemble inputs',
  'ensemble-tensor-unused': 'every ensemble tensor is consumed',
  'response-cache-decoupled': 'the response cache does not serve decoupled models',
  'model-metrics': 'metric controls name a family and histogram buckets',
  'instance-group-gpus': 'GPU ids belong to KIND_GPU groups and exist',
  'instance-group-profile': 'optimization profiles are non-negative integers, for tensorrt_plan only',
} as const;

export type ConfigRule = keyof typeof CONFIG_RULES;

/** Platform → the backend Triton fills in for it (core `src/constants.h`, AutoCompleteBackendFields). */
export const PLATFORM_BACKENDS: Readonly<Record<string, string>> = {
  tensorrt_plan: 'tensorrt',
  onnxruntime_onnx: 'onnxruntime',
  tensorflow_graphdef: 'tensorflow',
  tensorflow_savedmodel: 'tensorflow',
  pytorch_libtorch: 'pytorch',
  torch_aoti: 'pytorch',
};

/** Backends whose platform Triton pins (GetBackendType in model_config_utils.cc); others take any platform. */
const PINNED_BACKENDS = new Set(Object.values(PLATFORM_BACKENDS));

/** Backend → the platform Triton's auto-complete writes for it; tensorflow's depends on the model file. */
const BACKEND_PLATFORMS: Readonly<Record<string, string>> = {
  tensorrt: 'tensorrt_plan',
  onnxruntime: 'onnxruntime_onnx',
  pytorch: 'pytorch_libtorch',
};

/** AutoCompleteBackendFields: the backend a model file's extension implies (`default_model_filename`). */
function backendOfModelFile(file: string | undefined): string | undefined {
  const ext = file?.slice(file.lastIndexOf('.') + 1);
  return { onnx: 'onnxruntime', plan: 'tensorrt', pt: 'pytorch', graphdef: 'tensorflow', savedmodel: 'tensorflow' }[
    ext ?? ''
  ];
}

/**
 * The platform Triton will serve the model as, '' when it comes from the model file (no platform, and a backend
 * that does not pin one, or none at all: AutoCompleteBackendFields then looks at the version directory).
 */
export function effectivePlatform(config: ModelConfig): string {
  return config.platform || BACKEND_PLATFORMS[config.backend ?? ''] || '';
}

const DATA_TYPES = new Set<DataType>([
  'TYPE_BOOL',
  'TYPE_UINT8',
  'TYPE_UINT16',
  'TYPE_UINT32',
  'TYPE_UINT64',
  'TYPE_INT8',
  'TYPE_INT16',
  'TYPE_INT32',
  'TYPE_INT64',
  'TYPE_FP16',
  'TYPE_FP32',
  'TYPE_FP64',
  'TYPE_STRING',
  'TYPE_BF16',
]);

const WILDCARD = -1n;

export function validateModelConfig(config: ModelConfig, options: ValidateOptions = {}): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, rule: ConfigRule, message: string) => problems.push({ path, rule, message });
  const name = config.name ?? '';
  const platform = config.platform ?? '';
  const maxBatch = config.maxBatchSize ?? 0;

  // ValidateModelConfig: name, platform/backend.
  // AutoCompleteBackendFields fills a missing name from the directory.
  if (!name && options.modelName === undefined) add('name', 'name-required', "model configuration must specify 'name'");
  if (options.modelName !== undefined && name && name !== options.modelName) {
    add('name', 'name-matches-directory', `model name '${name}' does not match its directory '${options.modelName}'`);
  }
  const backend =
    config.backend || PLATFORM_BACKENDS[platform] || backendOfModelFile(config.defaultModelFilename) || '';
  // Neither platform nor backend: Triton picks the backend from the files in the version directory, which the
  // store checks; the config alone is not wrong.
  if (platform && !backend && platform !== 'ensemble') {
    add('platform', 'platform-unknown', `unexpected platform type '${platform}' for ${name}`);
  } else if (
    platform &&
    !config.backend &&
    backend &&
    PLATFORM_BACKENDS[platform] !== backend &&
    platform !== 'ensemble'
  ) {
    add(
      'platform',
      'platform-backend-mismatch',
      `unexpected 'platform' and 'backend' pair, got:${platform}, ${backend}`,
    );
  } else if (platform === 'ensemble' && config.backend) {
    add(
      'backend',
      'ensemble-backend',
      `Ensemble model '${name}' must have platform type 'ensemble' and empty backend type`,
    );
  } else if (
    platform &&
    config.backend &&
    PINNED_BACKENDS.has(config.backend) &&
    PLATFORM_BACKENDS[platform] !== config.backend
  ) {
    add(
      'backend',
      'platform-backend-mismatch',
      `unexpected 'platform' and 'backend' pair, got:${platform}, ${config.backend}`,
    );
  }
  // TritonModel::ResolveBackendPaths: the runtime library must stay inside the backend directory.
  const runtime = config.runtime ?? '';
  if (runtime.startsWith('/') || runtime.split('/').includes('..')) {
    add('runtime', 'runtime-escapes', `backend library name '${runtime}' escapes backend directory`);
  }
  if (maxBatch < 0)
    add('max_batch_size', 'max-batch-size-negative', `'max_batch_size' must be non-negative value for ${name}`);

  validateVersionPolicy(config, add);
  validateIo(config, add);
  validateBatchIo(config, add);
  validateDynamicBatching(config, add);
  if (config.sequenceBatching) validateSequenceBatching(config, config.sequenceBatching, add);
  validateEnsemble(config, add);

  // ValidateModelConfig: response cache vs decoupled.
  if (config.modelTransactionPolicy?.decoupled && config.responseCache?.enable) {
    add(
      'response_cache.enable',
      'response-cache-decoupled',
      `Response Cache does not currently support model ${name} with 'decoupled' transaction policy`,
    );
  }
  // ValidateModelMetrics.
  config.modelMetrics?.metricControl?.forEach((mc, i) => {
    const p = `model_metrics.metric_control[${i}]`;
    if (!mc.metricIdentifier) add(p, 'model-metrics', "metric control must specify 'metric_identifier'");
    else if (!mc.metricIdentifier.family)
      add(`${p}.metric_identifier.family`, 'model-metrics', "metric identifier must specify non-empty 'family'");
    if (!mc.histogramOptions) add(p, 'model-metrics', "metric control must specify 'histogram_options'");
    else if (!mc.histogramOptions.buckets?.length)
      add(`${p}.histogram_options.buckets`, 'model-metrics', "histogram options must specify non-empty 'buckets'");
  });
  validateInstanceGroups(config, options, add);
  return problems;
}

type Add = (path: string, rule: ConfigRule, message: string) => void;

function big(v: Int64): bigint {
  return BigInt(v);
}

/** msb: policies under which Triton would load no version at all. */
function validateVersionPolicy(config: ModelConfig, add: Add): void {
  const vp = config.versionPolicy;
  if (vp?.latest && !vp.latest.numVersions) {
    add(
      'version_policy.latest.num_versions',
      'version-policy-latest-zero',
      'a latest version policy with num_versions 0 serves no version',
    );
  }
  if (vp?.specific) {
    const versions = vp.specific.versions ?? [];
    if (!versions.length)
      add('version_policy.specific', 'version-policy-specific-empty', 'a specific version policy must list versions');
    versions.forEach((v, i) => {
      if (big(v) < 0n)
        add(`version_policy.specific.versions[${i}]`, 'version-policy-specific-empty', `version ${v} is negative`);
    });
  }
}

/** ValidateModelInput / ValidateModelOutput / ValidateIOShape / ValidateNonLinearFormatIO. */
function validateIo(config: ModelConfig, add: Add): void {
  const maxBatch = config.maxBatchSize ?? 0;
  // Platform-dependent checks wait until the platform is known (it may come from the model file).
  const platform = effectivePlatform(config);
  const check = (io: ModelInput | ModelOutput, path: string, what: 'input' | 'output', names: Set<string>) => {
    const label = `model ${what} '${io.name ?? ''}'`;
    if (!io.name) add(`${path}.name`, 'io-name-required', `model ${what} must specify 'name'`);
    else if (names.has(io.name)) add(`${path}.name`, 'io-name-duplicate', `${label} is declared more than once`);
    else names.add(io.name);
    if (io.dataType === undefined || io.dataType === 'TYPE_INVALID' || io.dataType === 0) {
      add(`${path}.data_type`, 'io-data-type-required', `${label} must specify 'data_type'`);
    } else if (!DATA_TYPES.has(io.dataType)) {
      add(`${path}.data_type`, 'io-data-type-unknown', `${label} has unknown data_type ${io.dataType}`);
    }
    const dims = io.dims ?? [];
    if (!dims.length) add(`${path}.dims`, 'io-dims-required', `${label} must specify 'dims'`);
    dims.forEach((d, i) => {
      if (big(d) < 1n && big(d) !== WILDCARD) {
        add(
          `${path}.dims[${i}]`,
          'io-dim-invalid',
          `${label} dimension must be integer >= 1, or -1 to indicate a variable-size dimension`,
        );
      }
    });
    if (io.reshape) checkReshape(dims, io.reshape.shape ?? [], maxBatch, label, `${path}.reshape`, add);
    if ('format' in io && (io.format === 'FORMAT_NHWC' || io.format === 'FORMAT_NCHW') && dims.length !== 3) {
      add(`${path}.format`, 'io-format-dims', 'model input NHWC/NCHW require 3 dims');
    }
    if (io.isShapeTensor && platform && platform !== 'tensorrt_plan') {
      add(
        `${path}.is_shape_tensor`,
        'io-shape-tensor-platform',
        'shape tensors are only supported for TensorRT platform',
      );
    }
    if (io.isNonLinearFormatIo) {
      if (platform && platform !== 'tensorrt_plan') {
        add(
          `${path}.is_non_linear_format_io`,
          'io-non-linear-format',
          'Non-linear IO format is only supported for the TensorRT platform',
        );
      } else if (dims.length !== 3) {
        add(`${path}.dims`, 'io-non-linear-format', `Non-linear IO format ${what} requires 3 dims`);
      }
    }
    const labels = 'labelFilename' in io ? io.labelFilename : undefined;
    if (labels && (labels.startsWith('/') || labels.split('/').includes('..') || labels.includes('\0'))) {
      add(
        `${path}.label_filename`,
        'io-label-filename',
        `${label} label_filename '${labels}' must be a relative path inside the model directory`,
      );
    }
  };
  const inputs = new Set<string>();
  const outputs = new Set<string>();
  config.input?.forEach((io, i) => {
    check(io, `input[${i}]`, 'input', inputs);
  });
  config.output?.forEach((io, i) => {
    check(io, `output[${i}]`, 'output', outputs);
  });
}

/** ValidateIOShape, reshape part: element counts must match, trunk by trunk between variable-size dims. */
function checkReshape(dims: Int64[], shape: Int64[], maxBatch: number, label: string, path: string, add: Add): void {
  if (!shape.length && maxBatch === 0) {
    add(
      path,
      'io-reshape-empty',
      `${label} cannot have empty reshape for non-batching model as scalar tensors are not supported`,
    );
    return;
  }
  let bad = false;
  shape.forEach((d, i) => {
    if (big(d) < 1n && big(d) !== WILDCARD) {
      add(
        `${path}.shape[${i}]`,
        'io-reshape-dim-invalid',
        `${label} reshape dimensions must be integer >= 1, or -1 to indicate a variable-size dimension`,
      );
      bad = true;
    }
  });
  if (bad || dims.some((d) => big(d) < 1n && big(d) !== WILDCARD)) return;
  const count = (ds: Int64[]) =>
    ds.some((d) => big(d) === WILDCARD) ? -1n : ds.reduce<bigint>((a, d) => a * big(d), 1n);
  const dimsSize = count(dims);
  const reshapeSize = shape.length ? count(shape) : 0n;
  if (dimsSize !== reshapeSize && (reshapeSize !== 0n || dimsSize !== 1n)) {
    add(path, 'io-reshape-size', `${label} has different size for dims and reshape`);
    return;
  }
  if (dimsSize === WILDCARD) {
    const trunks = (ds: Int64[]) => {
      const out: bigint[] = [];
      let cur = 1n;
      for (const d of ds) {
        if (big(d) === WILDCARD) {
          out.push(cur);
          cur = 1n;
        } else cur *= big(d);
      }
      out.push(cur);
      return out;
    };
    const a = trunks(dims);
    const b = trunks(shape);
    if (a.length !== b.length)
      add(
        path,
        'io-reshape-variable',
        `${label} has different number of variable-size dimensions for dims and reshape`,
      );
    else if (a.some((x, i) => x !== b[i]))
      add(path, 'io-reshape-size', `${label} has different size for dims and reshape`);
  }
}

const BATCH_INPUT_KINDS = new Set<BatchInput['kind']>([
  undefined,
  'BATCH_ELEMENT_COUNT',
  'BATCH_ACCUMULATED_ELEMENT_COUNT',
  'BATCH_ACCUMULATED_ELEMENT_COUNT_WITH_ZERO',
  'BATCH_MAX_ELEMENT_COUNT_AS_SHAPE',
  'BATCH_ITEM_SHAPE',
  'BATCH_ITEM_SHAPE_FLATTEN',
]);

/** ValidateBatchIO. */
function validateBatchIo(config: ModelConfig, add: Add): void {
  const inputs = new Set((config.input ?? []).map((i) => i.name ?? ''));
  const outputs = new Set((config.output ?? []).map((o) => o.name ?? ''));
  config.batchInput?.forEach((bi, i) => {
    const p = `batch_input[${i}]`;
    const kind = bi.kind ?? 'BATCH_ELEMENT_COUNT';
    if (!BATCH_INPUT_KINDS.has(bi.kind))
      add(`${p}.kind`, 'batch-input-kind-unknown', `unknown batch input kind '${kind}'`);
    const sources = bi.sourceInput ?? [];
    if (sources.length !== 1)
      add(
        `${p}.source_input`,
        'batch-input-source-count',
        `batch input kind '${kind}' expects 1 source input, got ${sources.length}`,
      );
    if (bi.dataType !== 'TYPE_INT32' && bi.dataType !== 'TYPE_FP32') {
      add(`${p}.data_type`, 'batch-input-data-type', 'batch input data type must be TYPE_INT32 or TYPE_FP32');
    }
    sources.forEach((s, j) => {
      if (!inputs.has(s)) add(`${p}.source_input[${j}]`, 'batch-io-unknown-source', `unknown source input name '${s}'`);
    });
  });
  config.batchOutput?.forEach((bo, i) => {
    const p = `batch_output[${i}]`;
    const kind = bo.kind ?? 'BATCH_SCATTER_WITH_INPUT_SHAPE';
    if (kind !== 'BATCH_SCATTER_WITH_INPUT_SHAPE')
      add(`${p}.kind`, 'batch-output-kind-unknown', `unknown batch output kind '${kind}'`);
    const sources = bo.sourceInput ?? [];
    if (sources.length !== 1)
      add(
        `${p}.source_input`,
        'batch-output-source-count',
        `batch output kind '${kind}' expects 1 source input, got ${sources.length}`,
      );
    sources.forEach((s, j) => {
      if (!inputs.has(s)) add(`${p}.source_input[${j}]`, 'batch-io-unknown-source', `unknown source input name '${s}'`);
    });
    const seen = new Set<string>();
    bo.targetName?.forEach((t, j) => {
      if (!outputs.has(t))
        add(`${p}.target_name[${j}]`, 'batch-output-unknown-target', `unknown target output name '${t}'`);
      else if (seen.has(t))
        add(
          `${p}.target_name[${j}]`,
          'batch-output-duplicate-target',
          `target output name '${t}' can only be specified once`,
        );
      seen.add(t);
    });
  });
}

/** Preferred batch sizes (dynamic batcher, oldest-first sequence batcher): each > 0 and <= max_batch_size. */
function checkPreferredSizes(
  sizes: number[] | undefined,
  path: string,
  rule: ConfigRule,
  what: string,
  config: ModelConfig,
  add: Add,
): void {
  const name = config.name ?? '';
  sizes?.forEach((size, i) => {
    if (size <= 0) add(`${path}[${i}]`, rule, `${what} must be positive for ${name}`);
    else if (size > (config.maxBatchSize ?? 0))
      add(`${path}[${i}]`, rule, `${what} must be <= max batch size for ${name}`);
  });
}

/** ValidateModelConfig, dynamic batching part. */
function validateDynamicBatching(config: ModelConfig, add: Add): void {
  const db = config.dynamicBatching;
  if (!db) return;
  const name = config.name ?? '';
  checkPreferredSizes(
    db.preferredBatchSize,
    'dynamic_batching.preferred_batch_size',
    'dynamic-batching-preferred-size',
    'dynamic batching preferred size',
    config,
    add,
  );
  const levels = big(db.priorityLevels ?? 0);
  if (levels !== 0n) {
    const def = big(db.defaultPriorityLevel ?? 0);
    if (def === 0n || def > levels) {
      add(
        'dynamic_batching.default_priority_level',
        'dynamic-batching-priority-level',
        `default priority level must be in range [1, ${levels}] for ${name}`,
      );
    }
    for (const key of Object.keys(db.priorityQueuePolicy ?? {})) {
      if (BigInt(key) === 0n || BigInt(key) > levels) {
        add(
          `dynamic_batching.priority_queue_policy[${key}]`,
          'dynamic-batching-priority-level',
          `priority queue policy must have priority level in range [1, ${levels}] for ${name}`,
        );
      }
    }
  }
  if (db.preserveOrdering) {
    if (levels > 1n)
      add(
        'dynamic_batching.priority_levels',
        'dynamic-batching-preserve-ordering',
        `Only one priority level is allowed when 'preserve_ordering' is true for ${name}`,
      );
    const policies = [
      ['default_queue_policy', db.defaultQueuePolicy] as const,
      ...Object.entries(db.priorityQueuePolicy ?? {}).map(([k, v]) => [`priority_queue_policy[${k}]`, v] as const),
    ];
    for (const [where, policy] of policies) {
      if (policy && big(policy.defaultTimeoutMicroseconds ?? 0) !== 0n && policy.timeoutAction === 'DELAY') {
        add(
          `dynamic_batching.${where}.timeout_action`,
          'dynamic-batching-preserve-ordering',
          `Queue policy can not have DELAY as timeout action when 'preserve_ordering' is true for ${name}`,
        );
      }
    }
  }
}

const CONTROL_KINDS: ModelSequenceBatchingControlKind[] = [
  'CONTROL_SEQUENCE_START',
  'CONTROL_SEQUENCE_END',
  'CONTROL_SEQUENCE_READY',
  'CONTROL_SEQUENCE_CORRID',
];

/** ValidateModelConfig, sequence batching part, with GetBooleanSequenceControlProperties / GetTypedSequenceControlProperties. */
function validateSequenceBatching(config: ModelConfig, sb: ModelSequenceBatching, add: Add): void {
  const name = config.name ?? '';
  if (config.responseCache?.enable) {
    add(
      'response_cache.enable',
      'sequence-batching-response-cache',
      `Response Cache does not currently support model ${name} with sequence batching scheduler`,
    );
  }
  const seenTensors = new Set<string>();
  const seenKinds = new Set<string>();
  sb.controlInput?.forEach((ci, i) => {
    const p = `sequence_batching.control_input[${i}]`;
    if (!ci.name) add(`${p}.name`, 'sequence-control', `sequence batching control tensor must have a name for ${name}`);
    else if (seenTensors.has(ci.name))
      add(
        `${p}.name`,
        'sequence-control',
        `sequence batching control tensor '${ci.name}' is specified for multiple control kinds for ${name}`,
      );
    else seenTensors.add(ci.name);
    ci.control?.forEach((c, j) => {
      const cp = `${p}.control[${j}]`;
      const kind = (c.kind ?? 'CONTROL_SEQUENCE_START') as string;
      if (!CONTROL_KINDS.includes(kind as ModelSequenceBatchingControlKind)) return;
      if (seenKinds.has(kind))
        add(cp, 'sequence-control', `sequence batching specifies multiple ${kind} tensors for ${name}`);
      seenKinds.add(kind);
      const lists = [c.int32FalseTrue, c.fp32FalseTrue, c.boolFalseTrue].filter((l) => l?.length);
      if (kind === 'CONTROL_SEQUENCE_CORRID') {
        if (lists.length)
          add(
            cp,
            'sequence-control',
            `sequence batching must not specify either 'int32_false_true', 'fp32_false_true' or 'bool_false_true' for ${kind} for ${name}`,
          );
        const dt = c.dataType ?? 'TYPE_INVALID';
        if (!['TYPE_UINT64', 'TYPE_INT64', 'TYPE_UINT32', 'TYPE_INT32', 'TYPE_STRING'].includes(dt as string)) {
          add(
            `${cp}.data_type`,
            'sequence-corrid-data-type',
            `unexpected data type for control CONTROL_SEQUENCE_CORRID for ${name}. Allowed data types are TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING`,
          );
        }
      } else if (lists.length === 0) {
        add(
          cp,
          'sequence-control',
          `sequence batching must specify either 'int32_false_true', 'fp32_false_true' or 'bool_false_true' for ${kind} for ${name}`,
        );
      } else if (lists.length > 1) {
        add(
          cp,
          'sequence-control',
          `sequence batching specifies more than one from 'int32_false_true', 'fp32_false_true' and 'bool_false_true' for ${kind} for ${name}`,
        );
      } else if (lists[0]?.length !== 2) {
        add(
          cp,
          'sequence-control',
          `sequence batching control false/true values must have exactly 2 entries for ${kind} for ${name}`,
        );
      }
    });
  });
  checkPreferredSizes(
    sb.oldest?.preferredBatchSize,
    'sequence_batching.oldest.preferred_batch_size',
    'sequence-oldest-preferred-size',
    'sequence batching preferred batch size',
    config,
    add,
  );
  const util = sb.direct?.minimumSlotUtilization ?? 0;
  if (util < 0 || util > 1) {
    add(
      'sequence_batching.direct.minimum_slot_utilization',
      'sequence-direct-slot-utilization',
      `sequence batching minimum slot utilization must be in range (0.0, 1.0] for ${name}`,
    );
  }
}

/** ValidateEnsembleSchedulingConfig and BuildEnsembleGraph: steps, then the tensor data flow. */
function validateEnsemble(config: ModelConfig, add: Add): void {
  const name = config.name ?? '';
  const es = config.ensembleScheduling;
  if (!es) {
    if (config.platform === 'ensemble')
      add(
        'ensemble_scheduling',
        'ensemble-platform',
        `ensemble scheduling must be set for ensemble ${name} whose platform is ensemble`,
      );
    return;
  }
  if (config.platform !== 'ensemble') {
    add(
      'platform',
      'ensemble-platform',
      `ensemble scheduling cannot be set for model '${name}' whose platform is not ensemble`,
    );
    return;
  }
  if (config.instanceGroup?.length)
    add('instance_group', 'ensemble-not-allowed', `instance group should not be specified for ensemble '${name}'`);
  if (config.optimization)
    add('optimization', 'ensemble-not-allowed', `optimization should not be specified for ensemble '${name}'`);
  if (config.modelWarmup?.length)
    add('model_warmup', 'ensemble-not-allowed', `model_warmup can not be specified for ensemble '${name}'`);
  const steps = es.step ?? [];
  if (!steps.length) {
    add('ensemble_scheduling.step', 'ensemble-steps', `must specify 'step' for ensemble '${name}'`);
    return;
  }

  interface Tensor {
    producers: number;
    prev: Set<string>;
    next: Set<string>;
    ready: boolean;
  }
  const tensors = new Map<string, Tensor>();
  const tensor = (t: string) => {
    let node = tensors.get(t);
    if (!node) {
      node = { producers: 0, prev: new Set(), next: new Set(), ready: false };
      tensors.set(t, node);
    }
    return node;
  };
  let graphOk = true;
  steps.forEach((step, i) => {
    const p = `ensemble_scheduling.step[${i}]`;
    const inputMap = Object.entries(step.inputMap ?? {});
    const outputMap = Object.entries(step.outputMap ?? {});
    if (!step.modelName)
      add(`${p}.model_name`, 'ensemble-steps', `must specify 'model_name' in step ${i} of ensemble '${name}'`);
    if (!inputMap.length)
      add(`${p}.input_map`, 'ensemble-steps', `must specify 'input_map' in step ${i} of ensemble '${name}'`);
    if (!outputMap.length)
      add(`${p}.output_map`, 'ensemble-steps', `must specify 'output_map' in step ${i} of ensemble '${name}'`);
    if (!step.modelName || !inputMap.length || !outputMap.length) {
      graphOk = false;
      return;
    }
    for (const [, t] of outputMap) {
      const node = tensor(t);
      if (++node.producers > 1) {
        add(
          `${p}.output_map`,
          'ensemble-tensor-producers',
          `ensemble tensor '${t}' can appear in an output map only once for ensemble '${name}' step ${i}`,
        );
        graphOk = false;
      }
    }
    // Object keys are unique, so a step input mapped twice can only come from JSON/text duplicates, which the
    // parser already resolves (last wins, as Triton's map does); `ensemble-input-mapping` guards values instead.
    for (const [modelInput, t] of inputMap) {
      if (!t)
        add(
          `${p}.input_map[${JSON.stringify(modelInput)}]`,
          'ensemble-input-mapping',
          `input '${modelInput}' of step ${i} is mapped to an empty tensor name`,
        );
      tensor(t);
      for (const [, out] of outputMap) {
        tensor(out).prev.add(t);
        tensor(t).next.add(out);
      }
    }
  });
  if (!graphOk) return;

  // Data flow from the ensemble inputs (ValidateEnsembleSchedulingConfig).
  const queue: string[] = [];
  config.input?.forEach((io, i) => {
    const node = tensors.get(io.name ?? '');
    if (!node) {
      add(`input[${i}]`, 'ensemble-io-unused', `ensemble input '${io.name}' for ensemble ${name}' is not used`);
      return;
    }
    node.ready = true;
    queue.push(io.name ?? '');
  });
  while (queue.length) {
    const cur = tensors.get(queue.shift() as string) as Tensor;
    for (const n of cur.next) {
      const next = tensors.get(n) as Tensor;
      if (!next.ready && [...next.prev].every((pr) => tensors.get(pr)?.ready)) {
        next.ready = true;
        queue.push(n);
      }
    }
  }
  // Ensemble outputs are reported above when not written; they need no consumer.
  const outputs = new Set((config.output ?? []).map((io) => io.name ?? ''));
  config.output?.forEach((io, i) => {
    const node = tensors.get(io.name ?? '');
    if (!node)
      add(`output[${i}]`, 'ensemble-io-unused', `ensemble output '${io.name}' for ensemble ${name}' is not used`);
    else if (!node.ready)
      add(`output[${i}]`, 'ensemble-output-not-written', `output '${io.name}' for ensemble '${name}' is not written`);
  });
  for (const [t, node] of tensors) {
    if (outputs.has(t)) continue;
    if (!node.ready || node.next.size === 0) {
      add('ensemble_scheduling', 'ensemble-tensor-unused', `ensemble tensor '${t}' is unused in ensemble '${name}'`);
    }
  }
}

/** ValidateInstanceGroup (after NormalizeInstanceGroup: KIND_GPU without gpus means all GPUs). */
function validateInstanceGroups(config: ModelConfig, options: ValidateOptions, add: Add): void {
  if (config.ensembleScheduling) return;
  const name = config.name ?? '';
  const available = options.gpus ? new Set(options.gpus) : undefined;
  config.instanceGroup?.forEach((group, i) => {
    const p = `instance_group[${i}]`;
    const groupName = group.name || `${name}_${i}`;
    const kind = group.kind ?? 'KIND_AUTO';
    const gpus = group.gpus ?? [];
    if ((kind === 'KIND_CPU' || kind === 'KIND_MODEL') && gpus.length) {
      add(
        `${p}.gpus`,
        'instance-group-gpus',
        `instance group ${groupName} of model ${name} has kind ${kind} but specifies one or more GPUs`,
      );
    } else if (kind === 'KIND_GPU' || kind === 'KIND_AUTO') {
      if (kind === 'KIND_GPU' && available && available.size === 0) {
        add(
          `${p}.kind`,
          'instance-group-gpus',
          `instance group ${groupName} of model ${name} has kind KIND_GPU but no GPUs are available`,
        );
      }
      gpus.forEach((gid, j) => {
        if (gid < 0 || (available && available.size > 0 && !available.has(gid))) {
          add(
            `${p}.gpus[${j}]`,
            'instance-group-gpus',
            `instance group ${groupName} of model ${name} specifies invalid or unsupported gpu id ${gid}`,
          );
        }
      });
    }
    group.profile?.forEach((profile, j) => {
      const platform = effectivePlatform(config);
      if (platform && platform !== 'tensorrt_plan') {
        add(
          `${p}.profile[${j}]`,
          'instance-group-profile',
          `instance group ${groupName} of model ${name} specifies profile field which is only supported for TensorRT models`,
        );
      } else if (!/^\d+$/.test(profile)) {
        add(
          `${p}.profile[${j}]`,
          'instance-group-profile',
          `instance group ${groupName} of model ${name} specifies invalid profile ${profile}`,
        );
      }
    });
  });
}
