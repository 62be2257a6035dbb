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

import type { ModelSignature, TensorSignature } from '../inspect/types.js';
import { ConfigGenerateError } from './errors.js';
import { checkConfigAgainstModel, MODEL_RULES } from './model-check.js';
import type {
  DataType,
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

/** Refuses the first contradiction between the (partial) config and the model, by the rules of model-check.ts. */
function refuseContradictions(config: ModelConfig, signature: ModelSignature): void {
  const problems = checkConfigAgainstModel(config, signature, { partial: true }).filter(
    (p) => MODEL_RULES[p.rule].contradiction,
  );
  const first = problems[0];
  if (!first) return;
  throw new ConfigGenerateError('MSB_CONFIG_CONFLICT', first.message, {
    field: first.path,
    rule: first.rule,
    config: first.config,
    model: first.model,
    ...(first.tensor !== undefined ? { tensor: first.tensor } : {}),
    problems,
  });
}

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
  const ioGivenBefore = (config.input?.length ?? 0) > 0 && (config.output?.length ?? 0) > 0;
  const derivedMaxBatch = config.maxBatchSize === undefined && options.maxBatchSize === undefined;
  const maxBatchSize = resolveMaxBatchSize(signature, options, config);
  // What the partial config states must agree with the model by the rules `msb validate` applies to stored configs.
  // Tensors the config names beyond a signature the user stated (Python, custom backends) are kept, as Triton's
  // Python auto-complete keeps them: the model may have tensors msb cannot see.
  refuseContradictions({ ...config, maxBatchSize }, signature);
  if (signature.platform) config.platform = signature.platform;
  if (signature.backend) config.backend = signature.backend;
  if (maxBatchSize > 0 || config.maxBatchSize !== undefined) config.maxBatchSize = maxBatchSize;
  const batching = maxBatchSize > 0;

  config.input = mergeTensors(config.input ?? [], signature.inputs, batching) as ModelInput[];
  config.output = mergeTensors(config.output ?? [], signature.outputs, batching) as ModelOutput[];
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
  // A stated size is checked against the model with the other contradictions (see refuseContradictions).
  const asked = fromConfig ?? options.maxBatchSize;
  if (asked !== undefined) return asked;
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

function mergeTensors(given: Tensor[], model: TensorSignature[], batching: boolean): Tensor[] {
  const out: Tensor[] = [];
  given.forEach((t) => {
    const sig = model.find((m) => m.name === t.name);
    if (!sig) {
      out.push(t); // only where the signature is not the whole truth (see refuseContradictions)
      return;
    }
    // Contradictions were refused before (refuseContradictions): only what the config leaves out is filled in.
    const expected = configShape(sig, batching);
    const merged = { ...t };
    if (merged.dataType === undefined || merged.dataType === 'TYPE_INVALID') merged.dataType = sig.dataType as DataType;
    if (merged.dims === undefined || merged.dims.length === 0) {
      merged.dims = expected.dims;
      if (expected.reshape && !merged.reshape) merged.reshape = expected.reshape;
    }
    if (sig.shapeTensor && merged.isShapeTensor === undefined) merged.isShapeTensor = true;
    out.push(merged);
  });
  for (const sig of model) {
    if (given.some((t) => t.name === sig.name)) continue;
    out.push({
      name: sig.name,
      dataType: sig.dataType as DataType,
      ...configShape(sig, batching),
      ...(sig.shapeTensor ? { isShapeTensor: true } : {}),
    });
  }
  return out;
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
