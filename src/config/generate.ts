/**
 * Model signature + user options → a Triton ModelConfig, completed the way Triton's own auto-complete completes a
 * config from a model file (core `src/model_config_utils.cc` and the backends' `AutoCompleteConfig`), so that the
 * file msb writes is what Triton would have derived, stated explicitly.
 *
 * What we write and what we leave to Triton: fields Triton derives from the model (platform/backend, max_batch_size,
 * inputs/outputs, dynamic batching) are written. Fields Triton fills at load time from the serving machine or as
 * plain defaults (version_policy latest 1, instance_group names/gpus/count, default_model_filename, runtime "",
 * optimization pinned memory, preferred_batch_size = max_batch_size) are not: writing them would pin one machine's
 * GPU list into the repository. The README lists these differences.
 */

import type { ModelSignature, TensorSignature } from '../inspect/signature.js';
import { ConfigGenerateError } from './errors.js';
import type {
  DataType,
  Int64,
  ModelConfig,
  ModelInput,
  ModelInstanceGroup,
  ModelInstanceGroupKind,
  ModelOutput,
} from './model-config.js';
import { validateModelConfig } from './validate.js';

export { ConfigGenerateError } from './errors.js';

export interface GenerateOptions {
  /** Model name (the directory name in the repository). */
  name: string;
  /**
   * max_batch_size. Default: the partial config's; else 0 when the model has no batch dimension; else the plan's
   * profile maximum (TensorRT); else 4, Triton's `default-max-batch-size`.
   */
  maxBatchSize?: number;
  /** Instances per device: one instance_group with this count. Default: none written (Triton: 1 per GPU). */
  concurrency?: number;
  /** Kind of that instance group. Default: KIND_GPU for TensorRT plans, else left to Triton (KIND_AUTO). */
  instanceKind?: 'KIND_GPU' | 'KIND_CPU' | 'KIND_AUTO';
  /** label_filename of the first output. */
  labels?: string;
  /**
   * Turn on the dynamic batcher. Default: on when the model batches (max_batch_size > 1), no scheduler is
   * configured and the backend's auto-complete would turn it on (see `BATCHER_RULE`); false leaves it off.
   */
  dynamicBatching?: boolean;
  /** The user's partial config: only what it lacks is filled in; a contradiction with the model is an error. */
  partial?: ModelConfig;
}

/** Triton's `--backend-config=default-max-batch-size` default (onnxruntime/tensorrt backends' AutoCompleteMaxBatch). */
export const DEFAULT_MAX_BATCH_SIZE = 4;

/**
 * When each backend's auto-complete turns on the dynamic batcher (given max_batch_size > 1 and no scheduler):
 * - tensorrt, tensorflow: always (tensorflow_backend `AutoCompleteHelper`: "Turn on dynamic batch scheduler if batch
 *   size is greater than 1"; Triton's expected config for qa tensorrt/no_name_platform, whose user set 8).
 * - onnxruntime: unless the config already lists inputs and outputs, in which case the backend skips auto-complete
 *   altogether (onnxruntime_backend `AutoCompleteConfig`/`AutoCompleteMaxBatch`).
 * - others (openvino, python, pytorch, custom): only when max_batch_size was derived rather than stated (Triton's
 *   expected configs for openvino/dynamic_batch vs openvino/partial_config; Python's model.py decides for itself,
 *   which msb cannot see, so it gets the same rule).
 */
const BATCHER_RULE: Record<string, 'always' | 'unless-io-given'> = {
  tensorrt: 'always',
  tensorflow: 'always',
  onnxruntime: 'unless-io-given',
};

function conflict(what: string, configValue: string, modelValue: string, hint = ''): ConfigGenerateError {
  return new ConfigGenerateError(
    'MSB_CONFIG_CONFLICT',
    `${what}: the config says ${configValue} but the model has ${modelValue}${hint ? `; ${hint}` : ''}`,
    { field: what, config: configValue, model: modelValue },
  );
}

const showDims = (dims: readonly Int64[]) => `[${dims.join(', ')}]`;

/**
 * The config for a model with this signature. The result always passes `validateModelConfig`; a config that would
 * not is refused with `MSB_CONFIG_GENERATED_INVALID` naming each problem.
 */
export function generateModelConfig(signature: ModelSignature, options: GenerateOptions): ModelConfig {
  const config: ModelConfig = structuredClone(options.partial ?? {});
  const backend = config.backend || signature.backend;

  if (config.name && config.name !== options.name) {
    throw new ConfigGenerateError(
      'MSB_CONFIG_CONFLICT',
      `name: the config says '${config.name}' but the model is being named '${options.name}'`,
      { field: 'name' },
    );
  }
  config.name = options.name;
  if (signature.platform) {
    if (config.platform && config.platform !== signature.platform) {
      throw conflict('platform', `'${config.platform}'`, `format ${signature.format} ('${signature.platform}')`);
    }
    config.platform = signature.platform;
  }
  if (signature.backend) {
    if (config.backend && config.backend !== signature.backend) {
      throw conflict('backend', `'${config.backend}'`, `format ${signature.format} ('${signature.backend}')`);
    }
    config.backend = signature.backend;
  }

  // Formats whose signature the user stated (Python, custom backends): the model may have tensors we cannot see,
  // so tensors the config names beyond the signature are kept, as Triton's Python auto-complete keeps them.
  const strict = signature.metadata.signatureSource !== 'options';
  if (strict) {
    checkNamesKnown('input', config.input ?? [], signature.inputs);
    checkNamesKnown('output', config.output ?? [], signature.outputs);
  }
  const ioGivenBefore = (config.input?.length ?? 0) > 0 && (config.output?.length ?? 0) > 0;
  const derivedMaxBatch = config.maxBatchSize === undefined && options.maxBatchSize === undefined;
  const maxBatchSize = resolveMaxBatchSize(signature, options, config);
  if (maxBatchSize > 0 || config.maxBatchSize !== undefined) config.maxBatchSize = maxBatchSize;
  const batching = maxBatchSize > 0;

  config.input = mergeTensors('input', config.input ?? [], signature.inputs, batching) as ModelInput[];
  config.output = mergeTensors('output', config.output ?? [], signature.outputs, batching) as ModelOutput[];
  if (config.input.length === 0) delete config.input;
  if (config.output.length === 0) delete config.output;

  if (options.labels !== undefined) {
    const first = config.output?.[0];
    if (!first) throw new ConfigGenerateError('MSB_CONFIG_NO_OUTPUT', 'labels given but the model has no output', {});
    if (first.labelFilename && first.labelFilename !== options.labels) {
      throw new ConfigGenerateError(
        'MSB_CONFIG_CONFLICT',
        `output[0].label_filename: the config says '${first.labelFilename}' but --labels says '${options.labels}'`,
        { field: 'output[0].label_filename' },
      );
    }
    first.labelFilename = options.labels;
  }

  applyInstanceGroups(config, signature, options);

  const scheduled = config.dynamicBatching || config.sequenceBatching || config.ensembleScheduling;
  if (options.dynamicBatching === true && !batching) {
    throw new ConfigGenerateError(
      'MSB_CONFIG_NOT_BATCHABLE',
      `dynamic batching asked for, but max_batch_size is 0 (${signature.batchDim ? 'set by the config' : 'the model has no batch dimension'})`,
      {},
    );
  }
  const rule = BATCHER_RULE[backend];
  const tritonWould = rule === 'always' || (rule === 'unless-io-given' ? !ioGivenBefore : derivedMaxBatch);
  if (!scheduled && maxBatchSize > 1 && options.dynamicBatching !== false && (tritonWould || options.dynamicBatching)) {
    config.dynamicBatching = {};
  }

  const problems = validateModelConfig(config, { modelName: options.name });
  if (problems.length > 0) {
    throw new ConfigGenerateError(
      'MSB_CONFIG_GENERATED_INVALID',
      `the completed config for '${options.name}' is not one Triton accepts: ${problems
        .map((p) => `${p.path || '(config)'}: ${p.message}`)
        .join('; ')}`,
      { problems },
    );
  }
  return config;
}

function resolveMaxBatchSize(signature: ModelSignature, options: GenerateOptions, config: ModelConfig): number {
  const fromConfig = config.maxBatchSize;
  if (fromConfig !== undefined && options.maxBatchSize !== undefined && fromConfig !== options.maxBatchSize) {
    throw new ConfigGenerateError(
      'MSB_CONFIG_CONFLICT',
      `max_batch_size: the config says ${fromConfig} but --max-batch-size says ${options.maxBatchSize}`,
      { field: 'max_batch_size' },
    );
  }
  const asked = fromConfig ?? options.maxBatchSize;
  if (asked !== undefined) {
    // A signature with no tensors (an ensemble, or a backend described by its config alone) cannot contradict it.
    const known = signature.inputs.length + signature.outputs.length > 0;
    if (asked > 0 && !signature.batchDim && known) {
      throw conflict(
        'max_batch_size',
        String(asked),
        'no batch dimension (some input or output lacks a dynamic leading dimension)',
        'use max_batch_size 0',
      );
    }
    if (asked > 0 && signature.maxBatchSize !== undefined && asked > signature.maxBatchSize) {
      throw conflict(
        'max_batch_size',
        String(asked),
        `a largest batch of ${signature.maxBatchSize} (its optimization profiles)`,
      );
    }
    return asked;
  }
  if (!signature.batchDim) return 0;
  // The shapes a partial config states are a hint (tensorrt_backend ModelState::AutoCompleteConfigHelper and
  // ExtractBatchHintFromIOConfig): a tensor stated one dimension short of the model's, or allowing ragged batches,
  // hints batching; stated shapes none of which hint it mean no batching (qa autofill_noplatform_success/tensorrt/
  // hint_for_no_batch, whose dims keep the leading -1).
  const all = [...signature.inputs, ...signature.outputs];
  let ragged = false;
  const batchHinted: string[] = [];
  const noBatchHinted: string[] = [];
  for (const t of [...(config.input ?? []), ...(config.output ?? [])]) {
    const sig = all.find((s) => s.name === t.name);
    if (!sig) continue;
    if ('allowRaggedBatch' in t && t.allowRaggedBatch) {
      ragged = true;
      continue;
    }
    const shape = t.reshape ? (t.reshape.shape ?? []) : (t.dims ?? []);
    if (shape.length === 0) continue;
    (shape.length === sig.dims.length - 1 ? batchHinted : noBatchHinted).push(t.name ?? '');
  }
  if (batchHinted.length > 0 && noBatchHinted.length > 0) {
    throw new ConfigGenerateError(
      'MSB_CONFIG_CONFLICT',
      `the config's shapes contradict each other on batching: ${batchHinted.join(', ')} leave out the model's first ` +
        `dimension (batching) but ${noBatchHinted.join(', ')} keep it (no batching)`,
      { field: 'dims' },
    );
  }
  if (noBatchHinted.length > 0 && !ragged) return 0;
  return signature.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
}

type Tensor = ModelInput | ModelOutput;

/** The dims Triton's config states for a tensor: the batch dimension dropped when batching; a scalar as [1]. */
function configShape(t: TensorSignature, batching: boolean): { dims: number[]; reshape?: { shape?: number[] } } {
  const dims = batching ? t.dims.slice(1) : [...t.dims];
  if (dims.length > 0) return { dims };
  // onnxruntime_backend AutoCompleteIO: a scalar becomes dims [1] with an empty reshape, except without batching,
  // where an empty reshape would describe a scalar Triton cannot serve.
  // An empty repeated field is absent, so the empty reshape is `{}` (what parsing `reshape { }` gives).
  return batching ? { dims: [1], reshape: {} } : { dims: [1] };
}

function dimsAgree(config: readonly Int64[], model: readonly number[]): boolean {
  return config.length === model.length && config.every((d, i) => model[i] === -1 || Number(d) === model[i]);
}

function mergeTensors(
  kind: 'input' | 'output',
  given: Tensor[],
  model: TensorSignature[],
  batching: boolean,
): Tensor[] {
  const out: Tensor[] = [];
  given.forEach((t, i) => {
    const where = `${kind}[${i}]${t.name ? ` '${t.name}'` : ''}`;
    const sig = model.find((m) => m.name === t.name);
    if (!sig) {
      out.push(t); // only where the signature is not the whole truth: see checkNamesKnown
      return;
    }
    const expected = configShape(sig, batching);
    const merged = { ...t };
    if (merged.dataType === undefined || merged.dataType === 'TYPE_INVALID') merged.dataType = sig.dataType as DataType;
    else if (merged.dataType !== sig.dataType)
      throw conflict(`${where}.data_type`, String(merged.dataType), String(sig.dataType));
    if (merged.dims === undefined || merged.dims.length === 0) {
      merged.dims = expected.dims;
      if (expected.reshape && !merged.reshape) merged.reshape = expected.reshape;
    } else {
      // With a reshape, the model sees reshape.shape; without, it sees dims (plus the batch dimension).
      const seen = merged.reshape ? (merged.reshape.shape ?? []) : merged.dims;
      const modelDims = merged.reshape ? (batching ? sig.dims.slice(1) : sig.dims) : expected.dims;
      if (!dimsAgree(seen, modelDims)) {
        throw conflict(
          `${where}.${merged.reshape ? 'reshape.shape' : 'dims'}`,
          showDims(seen),
          `${showDims(modelDims)}${batching ? ` (file shape ${showDims(sig.dims)} less the batch dimension)` : ''}`,
        );
      }
    }
    out.push(merged);
  });
  for (const sig of model) {
    if (given.some((t) => t.name === sig.name)) continue;
    out.push({ name: sig.name, dataType: sig.dataType as DataType, ...configShape(sig, batching) });
  }
  return out;
}

/** A config naming a tensor the model does not have is refused (Triton: "unexpected inference input"). */
function checkNamesKnown(kind: 'input' | 'output', given: Tensor[], model: TensorSignature[]): void {
  given.forEach((t, i) => {
    if (model.some((m) => m.name === t.name)) return;
    throw new ConfigGenerateError(
      'MSB_CONFIG_CONFLICT',
      `${kind}[${i}]: the config names ${kind} '${t.name ?? ''}' but the model's ${kind}s are ${
        model.map((m) => `'${m.name}'`).join(', ') || 'none'
      }`,
      { field: `${kind}[${i}].name` },
    );
  });
}

function applyInstanceGroups(config: ModelConfig, signature: ModelSignature, options: GenerateOptions): void {
  if (options.concurrency === undefined && options.instanceKind === undefined) return;
  if (options.concurrency !== undefined && (!Number.isInteger(options.concurrency) || options.concurrency < 1)) {
    throw new ConfigGenerateError(
      'MSB_CONFIG_BAD_OPTION',
      `concurrency must be a positive integer, not ${options.concurrency}`,
      {},
    );
  }
  const kind: ModelInstanceGroupKind | undefined =
    options.instanceKind ?? (signature.format === 'tensorrt_plan' ? 'KIND_GPU' : undefined);
  const groups: ModelInstanceGroup[] = config.instanceGroup ?? [];
  if (groups.length === 0) {
    const group: ModelInstanceGroup = { count: options.concurrency ?? 1 };
    if (kind !== undefined && kind !== 'KIND_AUTO') group.kind = kind;
    config.instanceGroup = [group];
    return;
  }
  groups.forEach((g, i) => {
    if (options.concurrency !== undefined) {
      if (g.count !== undefined && g.count !== 0 && g.count !== options.concurrency) {
        throw new ConfigGenerateError(
          'MSB_CONFIG_CONFLICT',
          `instance_group[${i}].count: the config says ${g.count} but --concurrency says ${options.concurrency}`,
          { field: `instance_group[${i}].count` },
        );
      }
      g.count = options.concurrency;
    }
    if (options.instanceKind !== undefined) {
      if (g.kind !== undefined && g.kind !== options.instanceKind) {
        throw new ConfigGenerateError(
          'MSB_CONFIG_CONFLICT',
          `instance_group[${i}].kind: the config says ${g.kind} but the option says ${options.instanceKind}`,
          { field: `instance_group[${i}].kind` },
        );
      }
      g.kind = options.instanceKind;
    }
  });
}
