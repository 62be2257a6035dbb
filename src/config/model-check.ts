/**
 * A config against the model file it serves: the checks Triton's backends make when they load a model, as a pure
 * function of (config, signature). `msb validate` runs them on every stored version (the store reads the signature
 * with the streaming readers, no weights loaded) and `config generate --partial` refuses a partial config that
 * contradicts the model with the same rules: one rule set, two callers.
 *
 * Which rules apply depends on the backend that reads the file (taken from the signature's format, since the config
 * may name the wrong one). Sources, fetched and read for this module:
 * - onnxruntime_backend `src/onnxruntime.cc` ModelInstanceState::ValidateInputs / ValidateOutputs, and
 *   `src/onnxruntime_utils.cc` CompareDimsSupported (inputs compared with model -1 as a wildcard, outputs exactly);
 * - tensorrt_backend `src/instance_state.cc` ValidateIO / ValidateIOHelper / InitializeExecuteInputBinding /
 *   InitializeExecuteOutputBinding, `src/tensorrt_utils.cc` CompareDimsSupported (-1 on either side a wildcard) and
 *   CompareShapeDimsSupported, `src/model_state.cc` AutoCompleteConfigHelper (max_batch_size vs the engine's);
 * - tensorflow_backend `src/tensorflow.cc` savedmodel::ValidateTRITONTFModel (names, count, types, dims as ORT) and
 *   graphdef::ValidateTRITONTFModel (names only), `src/tensorflow_utils.cc` CompareDims;
 * - pytorch_backend `src/pt/model_instance_state.cc` GetNamingConvention / ValidateInputs / ValidateOutputs;
 * - backend `src/backend_common.cc` CheckAllowedModelInput / CheckAllowedModelOutput ("unexpected inference input").
 * Rules marked (msb) are ours: Triton loads such a model, but requests fail or are served differently than meant.
 */
import type { ModelSignature, TensorSignature } from '../inspect/types.js';
import type { Int64, ModelConfig, ModelInput, ModelOutput } from './model-config.js';

/** One disagreement between a config and its model file. */
export interface ModelMismatch {
  /** Stable id; see `MODEL_RULES`. */
  rule: ModelRule;
  /** `error`: the backend refuses to load the model; `warning`: it loads, but not as the config says. */
  severity: 'error' | 'warning';
  /** config.pbtxt field path: `input[0].dims`, `max_batch_size`. */
  path: string;
  /** The tensor concerned, where there is one. */
  tensor?: string;
  /** The config's value, as written. */
  config: string;
  /** The model's value. */
  model: string;
  message: string;
}

/**
 * Every rule with what it checks and where Triton checks it. `contradiction`: the config states something the model
 * contradicts (config generation refuses these too); others are conventions only a stored config can break.
 */
export const MODEL_RULES = {
  'model-platform': {
    check: "platform/backend are the ones for the model file's format",
    triton: 'core model_config_utils.cc GetBackendType; the backend then fails to read the file',
    contradiction: true,
  },
  'model-input-unknown': {
    check: 'every config input is an input of the model',
    triton: 'backend_common.cc CheckAllowedModelInput, called by each backend',
    contradiction: true,
  },
  'model-output-unknown': {
    check: 'every config output is an output of the model',
    triton: 'backend_common.cc CheckAllowedModelOutput, called by each backend',
    contradiction: true,
  },
  'model-input-missing': {
    check: 'every required model input is a config input (or batch input, sequence control or state)',
    triton: 'onnxruntime_backend ValidateInputs, tensorflow_backend savedmodel::ValidateTRITONTFModel (input count)',
    contradiction: false,
  },
  'model-data-type': {
    check: 'data_type equals the model tensor type',
    triton: 'onnxruntime_backend ValidateInputs/ValidateOutputs; tensorrt_backend InitializeExecuteInputBinding',
    contradiction: true,
  },
  'model-dims': {
    check: 'rank and fixed dims equal the model shape (reshape.shape when given), with a leading -1 when batching',
    triton: 'CompareDimsSupported (onnxruntime_backend, tensorrt_backend), CompareDims (tensorflow_backend)',
    contradiction: true,
  },
  'model-batch-dim': {
    check: 'with max_batch_size > 0, every tensor has a dynamic (-1) first dimension',
    triton: 'onnxruntime_backend CompareDimsSupported, tensorflow_backend CompareDims',
    contradiction: true,
  },
  'model-max-batch-size': {
    check: 'max_batch_size is at most the largest batch the engine accepts (its profiles)',
    triton: 'tensorrt_backend ModelState::AutoCompleteConfigHelper',
    contradiction: true,
  },
  'model-scalar-dims': {
    check: 'a scalar model tensor has config dims of 1 only',
    triton: 'onnxruntime_backend ValidateInputs/ValidateOutputs',
    contradiction: true,
  },
  'model-ragged-shape': {
    check: 'an allow_ragged_batch input is a 1-D [-1] model input',
    triton: 'onnxruntime_backend ValidateInputs, tensorrt_backend InitializeExecuteInputBinding',
    contradiction: true,
  },
  'model-optional-batching': {
    check: 'optional inputs only for models that do not batch',
    triton: 'onnxruntime_backend ValidateInputs',
    contradiction: false,
  },
  'model-shape-tensor': {
    check: 'is_shape_tensor is set exactly on the engine shape tensors, with their 0-D/1-D shape',
    triton: 'tensorrt_backend ValidateIOHelper, CompareShapeDimsSupported',
    contradiction: true,
  },
  'pytorch-io-required': {
    check: 'a PyTorch model has at least one input and one output',
    triton: 'pytorch_backend ValidateInputs/ValidateOutputs',
    contradiction: false,
  },
  'pytorch-naming': {
    check: '(msb) tensor names follow <name>__<index>, else Triton binds them in config order',
    triton: 'pytorch_backend GetNamingConvention (falls back to STRICT_CONFIG_ORDERING with a warning)',
    contradiction: false,
  },
  'pytorch-string-output': {
    check: 'a TYPE_STRING output has one dimension (batch included)',
    triton: 'pytorch_backend ValidateOutputs',
    contradiction: false,
  },
} as const;

export type ModelRule = keyof typeof MODEL_RULES;

export interface ModelCheckOptions {
  /**
   * The config is a partial one being completed (`config generate --partial`): fields it leaves out are not
   * problems, and model tensors it does not name will be added.
   */
  partial?: boolean;
}

/** How the backend that reads this format compares shapes, and what else it checks. */
interface Flavour {
  name: 'onnxruntime' | 'tensorrt' | 'savedmodel' | 'graphdef' | 'pytorch' | 'stated';
  /** Config inputs/outputs must be model tensors. */
  names: boolean;
  /** Every model input must be fed. */
  allInputs: boolean;
  /** Types and shapes are compared (graphdef: names only, Triton cannot see its shapes). */
  shapes: boolean;
  /** -1 in the config matches any model dim (TensorRT); otherwise only model -1 is a wildcard. */
  configWildcard: boolean;
  /** Outputs compared exactly (-1 must meet -1). */
  exactOutputs: boolean;
  /** With batching, the model's first dimension must be -1. */
  batchDimDynamic: boolean;
}

function flavourOf(signature: ModelSignature): Flavour {
  const stated = signature.metadata.signatureSource === 'options';
  const base = { configWildcard: false, exactOutputs: true, batchDimDynamic: true, shapes: true };
  switch (signature.format) {
    case 'onnx':
      return { ...base, name: 'onnxruntime', names: true, allInputs: true };
    case 'tf_savedmodel':
      return { ...base, name: 'savedmodel', names: true, allInputs: true };
    case 'tf_graphdef':
      return { ...base, name: 'graphdef', names: true, allInputs: false, shapes: false };
    case 'tensorrt_plan':
      return {
        name: 'tensorrt',
        names: !stated,
        allInputs: false,
        shapes: true,
        configWildcard: true,
        exactOutputs: false,
        batchDimDynamic: false,
      };
    case 'torchscript':
      return { ...base, name: 'pytorch', names: false, allInputs: false, exactOutputs: false };
    default:
      // Python, OpenVINO, custom: Triton compares nothing at load; the tensors the user stated (msb) are compared
      // like inputs, -1 in the model a wildcard.
      return { ...base, name: 'stated', names: false, allInputs: false, exactOutputs: false };
  }
}

const show = (dims: readonly (Int64 | number)[]) => `[${dims.join(', ')}]`;
type Tensor = ModelInput | ModelOutput;

/**
 * The problems Triton's backend would have loading a model with `signature` under `config` (see `MODEL_RULES`), all
 * of them rather than the first. Pure: no I/O.
 */
export function checkConfigAgainstModel(
  config: ModelConfig,
  signature: ModelSignature,
  options: ModelCheckOptions = {},
): ModelMismatch[] {
  const out: ModelMismatch[] = [];
  const flavour = flavourOf(signature);
  const partial = options.partial ?? false;
  const add = (
    rule: ModelRule,
    path: string,
    tensor: string | undefined,
    configValue: string,
    modelValue: string,
    hint = '',
    severity: ModelMismatch['severity'] = 'error',
  ) =>
    out.push({
      rule,
      severity,
      path,
      ...(tensor !== undefined ? { tensor } : {}),
      config: configValue,
      model: modelValue,
      message: `${label(path, tensor)}: the config says ${configValue} but the model has ${modelValue}${hint ? `; ${hint}` : ''}`,
    });

  if (signature.platform && config.platform && config.platform !== signature.platform) {
    add('model-platform', 'platform', undefined, `'${config.platform}'`, fileKind(signature, signature.platform));
  }
  if (signature.backend && config.backend && config.backend !== signature.backend) {
    add('model-platform', 'backend', undefined, `'${config.backend}'`, fileKind(signature, signature.backend));
  }

  const maxBatch = Number(config.maxBatchSize ?? 0);
  const batching = maxBatch > 0;
  const inputs = config.input ?? [];
  const outputs = config.output ?? [];
  const optionalInputs = signature.optionalInputs ?? [];
  const batchOutputs = new Set((config.batchOutput ?? []).flatMap((b) => b.targetName ?? []));

  if (flavour.name === 'pytorch') checkPyTorch(config, add);

  const where = (kind: string, i: number, field: string) => `${kind}[${i}]${field ? `.${field}` : ''}`;
  /**
   * max_batch_size > 0 over a tensor without a batch dimension (`model-batch-dim`): a fixed first dimension, or a
   * scalar (onnxruntime loads batching over a scalar, which then fails batched requests: a warning).
   */
  const noBatch = (kind: string, tensor: string | undefined, dims: number[], severity?: ModelMismatch['severity']) =>
    add(
      'model-batch-dim',
      'max_batch_size',
      tensor,
      String(maxBatch),
      `${kind} '${tensor}' ${dims.length ? `of shape ${show(dims)}` : 'as a scalar'}: no batch dimension` +
        (dims.length ? ' (its first dimension is fixed)' : ''),
      `${severity === 'warning' ? 'Triton loads it, but requests batched together fail; ' : ''}use max_batch_size 0`,
      severity,
    );

  // Names first, as the backends do (tensorrt_backend ValidateIO, tensorflow_backend), then each tensor.
  const pairs: [kind: 'input' | 'output', index: number, tensor: Tensor, sig: TensorSignature][] = [];
  for (const [kind, given, model] of [
    ['input', inputs, [...signature.inputs, ...optionalInputs]],
    ['output', outputs, signature.outputs],
  ] as const) {
    given.forEach((t, i) => {
      const sig = model.find((m) => m.name === t.name);
      if (sig) pairs.push([kind, i, t, sig]);
      else if (flavour.names) {
        const all = model.map((m) => `'${m.name}'`).join(', ') || 'none';
        add(`model-${kind}-unknown`, where(kind, i, 'name'), t.name, `'${t.name ?? ''}'`, `${kind}s ${all}`);
      }
    });
  }
  if (flavour.shapes) for (const [kind, i, t, sig] of pairs) checkTensor(kind, i, t, sig);
  if (batching && flavour.shapes && flavour.batchDimDynamic) {
    // Model tensors a partial config leaves out are added with a batch dimension, and so are all of them when the
    // config lists none (the backend's auto-complete): they must have one.
    for (const [kind, model, given] of [
      ['input', signature.inputs, inputs],
      ['output', signature.outputs, outputs],
    ] as const) {
      if (!partial && given.length > 0) continue;
      for (const m of model) {
        if (given.some((t) => t.name === m.name) || (m.dims.length > 0 && m.dims[0] === -1)) continue;
        noBatch(kind, m.name, m.dims);
      }
    }
  }

  function checkTensor(kind: 'input' | 'output', i: number, t: Tensor, sig: TensorSignature): void {
    const name = t.name;
    if (t.dataType !== undefined && t.dataType !== 'TYPE_INVALID' && t.dataType !== sig.dataType) {
      add('model-data-type', where(kind, i, 'data_type'), name, String(t.dataType), String(sig.dataType));
    }
    if (flavour.name === 'tensorrt') {
      const marked = t.isShapeTensor === true;
      const is = sig.shapeTensor === true;
      if (marked !== is && !(partial && t.isShapeTensor === undefined)) {
        add(
          'model-shape-tensor',
          where(kind, i, 'is_shape_tensor'),
          name,
          String(marked),
          is ? 'a shape tensor' : 'an execution tensor, not a shape tensor',
        );
      }
      if (is) {
        checkShapeTensorDims(kind, i, t, sig);
        return;
      }
    }
    if (kind === 'input' && flavour.name === 'onnxruntime' && (t as ModelInput).optional && batching) {
      add(
        'model-optional-batching',
        where(kind, i, 'optional'),
        name,
        'true',
        `max_batch_size ${maxBatch}`,
        'onnxruntime supports optional inputs only for models that do not batch (max_batch_size 0)',
      );
    }
    const shape = t.reshape ? (t.reshape.shape ?? []) : (t.dims ?? []);
    const field = t.reshape ? 'reshape.shape' : 'dims';
    if (kind === 'input' && (t as ModelInput).allowRaggedBatch) {
      const ok =
        flavour.name === 'tensorrt'
          ? sig.dims.length === 1 && sig.dims[0] === Number(shape[0])
          : sig.dims.length === 1 && sig.dims[0] === -1;
      if (!ok) {
        add(
          'model-ragged-shape',
          where(kind, i, 'allow_ragged_batch'),
          name,
          'true',
          `shape ${show(sig.dims)}`,
          'a ragged input is a 1-D model input of shape [-1]',
        );
      }
      return;
    }
    if (kind === 'output' && batchOutputs.has(name ?? '')) return; // a batch output's shape is not the model's
    if (partial && !t.reshape && (t.dims === undefined || t.dims.length === 0)) return; // generation fills it
    if (sig.dims.length === 0 && flavour.name !== 'tensorrt') {
      // onnxruntime: a scalar model tensor is compared only by its config dims, which must all be 1. With batching
      // it loads, but a batch of more than one cannot be fed to a scalar (msb: a warning).
      if (batching) {
        noBatch(kind, name, sig.dims, 'warning');
      }
      if (shape.some((d) => Number(d) !== 1)) {
        add(
          'model-scalar-dims',
          where(kind, i, field),
          name,
          show(shape),
          'a scalar (shape [])',
          'a scalar is given as dims [1]',
        );
      }
      return;
    }
    if (batching) {
      if (sig.dims.length === 0) {
        noBatch(kind, name, sig.dims);
        return;
      }
      if (flavour.batchDimDynamic && sig.dims[0] !== -1) {
        noBatch(kind, name, sig.dims);
        return;
      }
    }
    const exact = kind === 'output' && flavour.exactOutputs;
    const full = batching ? [-1, ...shape.map(Number)] : shape.map(Number);
    const agree =
      full.length === sig.dims.length &&
      full.every((d, k) => {
        const m = sig.dims[k] as number;
        if (batching && k === 0) return true; // checked above (the batch dimension)
        if (exact) return m === d;
        return m === -1 || (flavour.configWildcard && d === -1) || m === d;
      });
    if (!agree) {
      const modelDims = batching ? sig.dims.slice(1) : sig.dims;
      add(
        'model-dims',
        where(kind, i, field),
        name,
        show(shape),
        `${show(modelDims)}${batching ? ` (file shape ${show(sig.dims)} less the batch dimension)` : ''}`,
        exact && full.length === sig.dims.length ? 'outputs must match exactly, -1 included' : '',
      );
    }
  }

  /** tensorrt_backend CompareShapeDimsSupported: a shape tensor is 0-D or 1-D, its length given without the batch. */
  function checkShapeTensorDims(kind: 'input' | 'output', i: number, t: Tensor, sig: TensorSignature): void {
    const dims = (t.reshape ? (t.reshape.shape ?? []) : (t.dims ?? [])).map(Number);
    const offset = batching ? 1 : 0;
    const bad =
      dims.length !== sig.dims.length ||
      sig.dims.length > 1 ||
      (sig.dims.length === 1 && (dims[0] === -1 || (dims[0] ?? 0) + offset !== sig.dims[0]));
    if (bad && !(partial && dims.length === 0)) {
      add(
        'model-shape-tensor',
        where(kind, i, 'dims'),
        t.name,
        show(dims),
        `shape tensor of shape ${show(sig.dims)}`,
        'a shape tensor is 0-D or 1-D',
      );
    }
  }

  // The backend's largest batch (TensorRT: over its optimization profiles; for a fixed first dimension that size).
  if (batching && flavour.name === 'tensorrt') {
    const engineMax = engineMaxBatch(signature);
    if (engineMax !== undefined && maxBatch > engineMax) {
      add(
        'model-max-batch-size',
        'max_batch_size',
        undefined,
        String(maxBatch),
        engineMax === 0 ? 'no batch dimension' : `a largest batch of ${engineMax} (its optimization profiles)`,
      );
    }
  } else if (batching && flavour.name !== 'graphdef' && signature.maxBatchSize !== undefined) {
    if (maxBatch > signature.maxBatchSize) {
      add(
        'model-max-batch-size',
        'max_batch_size',
        undefined,
        String(maxBatch),
        `a largest batch of ${signature.maxBatchSize}`,
      );
    }
  }

  // An empty input list is filled from the model by the backend's auto-complete (onnxruntime_backend
  // ModelState::AutoCompleteConfig/AutoCompleteIO, tensorflow_backend likewise): nothing is missing then.
  const autoCompleted = inputs.length + (config.batchInput?.length ?? 0) === 0;
  if (flavour.allInputs && !partial && !autoCompleted) {
    const fed = new Set<string>([
      ...inputs.map((t) => t.name ?? ''),
      ...(config.batchInput ?? []).flatMap((b) => b.targetName ?? []),
      ...(config.sequenceBatching?.controlInput ?? []).map((c) => c.name ?? ''),
      ...(config.sequenceBatching?.state ?? []).map((s) => s.inputName ?? ''),
    ]);
    for (const m of signature.inputs) {
      if (fed.has(m.name)) continue;
      add(
        'model-input-missing',
        'input',
        m.name,
        inputs.length ? `inputs ${inputs.map((t) => `'${t.name ?? ''}'`).join(', ')}` : 'no inputs',
        `input '${m.name}' (${m.dataType} ${show(m.dims)})`,
        'Triton refuses the model: configuration expects fewer inputs than the model provides',
      );
    }
  }
  return out;
}

/** A field path with the tensor's name, for people: `input[0] 'images'.dims`. */
function label(path: string, tensor: string | undefined): string {
  return tensor ? path.replace(/^((?:input|output)\[\d+\])/, `$1 '${tensor}'`) : path;
}

function fileKind(signature: ModelSignature, served: string): string {
  return `format ${signature.format} ('${served}')`;
}

/**
 * The largest batch a TensorRT engine accepts: the signature's (from its profiles) when known; for inputs whose
 * first dimension is fixed, the smallest of those sizes (what tensorrt_backend GetProfileMaxBatchSize reads from a
 * static profile); unknown otherwise.
 */
function engineMaxBatch(signature: ModelSignature): number | undefined {
  if (signature.maxBatchSize !== undefined) return signature.maxBatchSize;
  const data = signature.inputs.filter((t) => !t.shapeTensor);
  if (data.length === 0) return undefined;
  if (data.some((t) => t.dims.length === 0)) return 0;
  if (data.some((t) => t.dims[0] === -1)) return undefined;
  return Math.min(...data.map((t) => t.dims[0] as number));
}

type Add = (
  rule: ModelRule,
  path: string,
  tensor: string | undefined,
  configValue: string,
  modelValue: string,
  hint?: string,
  severity?: ModelMismatch['severity'],
) => void;

/** GetNamingConvention's test: after the first `__`, only digits. */
function namedIndex(name: string): boolean {
  const at = name.indexOf('__');
  return at >= 0 && /^\d*$/.test(name.slice(at + 2));
}

/** pytorch_backend: inputs and outputs are bound by `<name>__<index>`, else by their order in the config. */
function checkPyTorch(config: ModelConfig, add: Add): void {
  const batching = Number(config.maxBatchSize ?? 0) > 0;
  for (const kind of ['input', 'output'] as const) {
    const list: Tensor[] = (kind === 'input' ? config.input : config.output) ?? [];
    if (list.length === 0) {
      add(
        'pytorch-io-required',
        kind,
        undefined,
        `no ${kind}s`,
        `inputs and outputs Triton binds by the config, which must list at least one ${kind}`,
      );
      continue;
    }
    const off = list.filter((t) => !namedIndex(t.name ?? ''));
    if (off.length > 0) {
      add(
        'pytorch-naming',
        kind,
        off[0]?.name,
        off.map((t) => `'${t.name ?? ''}'`).join(', '),
        `${kind}s bound by <name>__<index> (e.g. ${kind.toUpperCase()}__0)`,
        `Triton falls back to binding ${kind}s in config order${kind === 'input' ? ' unless every name is an argument of forward()' : ''}`,
        'warning',
      );
    }
  }
  (config.output ?? []).forEach((t, i) => {
    if (t.dataType !== 'TYPE_STRING') return;
    const dims = t.reshape ? (t.reshape.shape ?? []) : (t.dims ?? []);
    if (dims.length + (batching ? 1 : 0) > 1) {
      add('pytorch-string-output', `output[${i}].dims`, t.name, show(dims), 'string outputs as 1-D lists only');
    }
  });
}
