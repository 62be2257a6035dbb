import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ConfigComments, type ModelConfig, parseModelConfig, TextFormatError } from '../config/index.js';
import { LlmError } from './errors.js';
import type { LlmProblem } from './problems.js';
import { splitSets } from './sets.js';
import { fillTemplate, templateProblems } from './templates.js';
import { TOKENIZER_FILES } from './vllm.js';

/**
 * TensorRT-LLM repositories: the user's copy of the `inflight_batcher_llm` models (NVIDIA's templates; msb ships
 * none of them) filled from the engine's `config.json`, the tokenizer directory and `--set`, checked against the
 * engine, and published as one change.
 */

/** The models of `inflight_batcher_llm`: the four an ensemble needs, and the optional BLS. */
export const TRTLLM_MODELS = ['preprocessing', 'tensorrt_llm', 'postprocessing', 'ensemble'] as const;
export const TRTLLM_OPTIONAL_MODELS = ['tensorrt_llm_bls'] as const;

/** What msb reads from an engine directory's `config.json` (the shape `trtllm-build` writes). */
export interface TrtllmEngine {
  dir: string;
  /** `build_config.max_batch_size`: the most requests the engine holds in flight. */
  maxBatchSize: number;
  /** `build_config.max_beam_width`. */
  maxBeamWidth: number;
  /** `pretrained_config.dtype`: the weights' and activations' type. */
  dtype: string;
  /** `pretrained_config.logits_dtype` (TensorRT-LLM's default `float32` when absent). */
  logitsDtype: string;
  /** `pretrained_config.mapping.world_size` (default 1). */
  worldSize: number;
  /** The `version` of TensorRT-LLM that wrote it, when it says. */
  version?: string;
}

/** TensorRT-LLM's dtype names → Triton's data types. */
const TRITON_TYPES: Record<string, string> = {
  float32: 'TYPE_FP32',
  float16: 'TYPE_FP16',
  bfloat16: 'TYPE_BF16',
};

/** Reads `<dir>/config.json` (MSB_LLM_ENGINE when it is missing or not of TensorRT-LLM's engine shape). */
export async function readTrtllmEngine(dir: string): Promise<TrtllmEngine> {
  const abs = path.resolve(dir);
  const file = path.join(abs, 'config.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LlmError(
      'MSB_LLM_ENGINE',
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `${abs} is not a TensorRT-LLM engine directory: it has no config.json`
        : `${file}: ${code ? `cannot read it: ${(err as Error).message}` : `not JSON: ${(err as Error).message}`}`,
      { path: file },
    );
  }
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const root = obj(json);
  const build = obj(root?.build_config);
  const pretrained = obj(root?.pretrained_config);
  const shape = (what: string) =>
    new LlmError(
      'MSB_LLM_ENGINE',
      `${file} is not a TensorRT-LLM engine config: ${what} (trtllm-build writes build_config and pretrained_config)`,
      { path: file },
    );
  if (!build || !pretrained) throw shape('no build_config or pretrained_config object');
  const positive = (key: string): number => {
    const v = build[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw shape(`build_config.${key} is ${JSON.stringify(v)}, not a positive integer`);
    }
    return v;
  };
  const dtype = pretrained.dtype;
  if (typeof dtype !== 'string') throw shape(`pretrained_config.dtype is ${JSON.stringify(dtype)}, not a string`);
  const logitsDtype = pretrained.logits_dtype ?? 'float32';
  if (typeof logitsDtype !== 'string' || TRITON_TYPES[logitsDtype] === undefined) {
    throw shape(
      `pretrained_config.logits_dtype is ${JSON.stringify(logitsDtype)}, not one of ${Object.keys(TRITON_TYPES).join(', ')}`,
    );
  }
  const world = obj(pretrained.mapping)?.world_size;
  return {
    dir: abs,
    maxBatchSize: positive('max_batch_size'),
    maxBeamWidth: positive('max_beam_width'),
    dtype,
    logitsDtype,
    worldSize: typeof world === 'number' && Number.isInteger(world) && world > 0 ? world : 1,
    ...(typeof root?.version === 'string' ? { version: root.version } : {}),
  };
}

/** Triton's data type for a TensorRT-LLM dtype name, or undefined. */
export function tritonTypeOf(dtype: string): string | undefined {
  return TRITON_TYPES[dtype];
}

/**
 * The values msb fills in, by the keys NVIDIA's templates and `fill_template.py` examples use: from the engine
 * (batch size, beam width, logits and input-feature types), the directories, and defaults for what the engine
 * does not say (`--set` overrides each). `decoupled_mode` is true when streaming is asked for.
 */
export function trtllmValues(
  engine: TrtllmEngine,
  tokenizerDir: string,
  options: { streaming?: boolean } = {},
): Record<string, string> {
  return {
    triton_max_batch_size: String(engine.maxBatchSize),
    max_beam_width: String(engine.maxBeamWidth),
    logits_datatype: TRITON_TYPES[engine.logitsDtype] as string,
    encoder_input_features_data_type: TRITON_TYPES[engine.dtype] ?? 'TYPE_FP16',
    engine_dir: engine.dir,
    tokenizer_dir: path.resolve(tokenizerDir),
    triton_backend: 'tensorrtllm',
    decoupled_mode: options.streaming ? 'true' : 'false',
    batching_strategy: 'inflight_fused_batching',
    // Triton's own default: no wait for a fuller batch.
    max_queue_delay_microseconds: '0',
    preprocessing_instance_count: '1',
    postprocessing_instance_count: '1',
    bls_instance_count: '1',
  };
}

/** `KEY=VALUE` options into values; MSB_LLM_TEMPLATES for one without `=` or with an empty key. */
export function parseSetOptions(sets: readonly string[]): Record<string, string> {
  const pairs = splitSets(
    sets,
    (s) =>
      new LlmError(
        'MSB_LLM_TEMPLATES',
        `--set ${s}: expected KEY=VALUE with KEY a template key such as triton_max_batch_size`,
        { set: s },
      ),
  );
  return Object.fromEntries(pairs);
}

/** One model of the repository, filled and parsed, with what its version directory holds. */
export interface TrtllmModel {
  name: string;
  config: ModelConfig;
  /** The template's comments, kept with their fields. */
  comments: ConfigComments;
  /** The filled text. */
  text: string;
  /** `<templates>/<name>/1`, when the template has it: its files are the version's. */
  versionDir?: string;
}

export interface TrtllmPrepared {
  engine: TrtllmEngine;
  /** Members first, then the BLS, the ensemble last: the order they are committed in. */
  models: TrtllmModel[];
  /** Warnings: placeholders left unset (the backend uses its defaults). */
  warnings: LlmProblem[];
}

export interface TrtllmRequest {
  engineDir: string;
  templatesDir: string;
  tokenizerDir: string;
  /** Template keys → values (`--set`), over msb's own. */
  set?: Record<string, string>;
  /** Streaming responses: `decoupled_mode` true (unless `set` says otherwise, which the cross-check then refuses). */
  streaming?: boolean;
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * Fills the templates and checks them; nothing is written. Refused with MSB_LLM_PLACEHOLDER naming every key left
 * where Triton would fail on it (file:line), with MSB_LLM_MISMATCH naming every contradiction between the engine
 * and the configs, with MSB_LLM_ENGINE / MSB_LLM_TEMPLATES / MSB_LLM_CHECKPOINT for the inputs themselves.
 */
export async function prepareTensorrtLlm(req: TrtllmRequest): Promise<TrtllmPrepared> {
  const engine = await readTrtllmEngine(req.engineDir);
  const tokenizerDir = path.resolve(req.tokenizerDir);
  const tokEntries = (await isDir(tokenizerDir)) ? await readdir(tokenizerDir) : undefined;
  if (!tokEntries || !TOKENIZER_FILES.some((f) => tokEntries.includes(f))) {
    throw new LlmError(
      'MSB_LLM_CHECKPOINT',
      tokEntries
        ? `tokenizer ${tokenizerDir} has none of ${TOKENIZER_FILES.join(', ')}: the pre- and postprocessing models could not load it`
        : `tokenizer ${tokenizerDir} is not a directory`,
      { path: tokenizerDir },
    );
  }
  const templates = path.resolve(req.templatesDir);
  const values = { ...trtllmValues(engine, tokenizerDir, { streaming: req.streaming ?? false }), ...req.set };
  const names: string[] = [];
  for (const name of [...TRTLLM_MODELS, ...TRTLLM_OPTIONAL_MODELS]) {
    const has = (await stat(path.join(templates, name, 'config.pbtxt')).catch(() => undefined))?.isFile() ?? false;
    if (has) names.push(name);
    else if ((TRTLLM_MODELS as readonly string[]).includes(name)) {
      throw new LlmError(
        'MSB_LLM_TEMPLATES',
        `${templates} has no ${name}/config.pbtxt: give a copy of TensorRT-LLM's inflight_batcher_llm models (${TRTLLM_MODELS.join(', ')}, optionally ${TRTLLM_OPTIONAL_MODELS.join(', ')})`,
        { path: templates },
      );
    }
  }
  const broken: LlmProblem[] = [];
  const warnings: LlmProblem[] = [];
  const models: TrtllmModel[] = [];
  for (const name of names) {
    const file = path.join(name, 'config.pbtxt');
    const text = fillTemplate(await readFile(path.join(templates, file), 'utf8'), values);
    const found = templateProblems(text, file, { fix: (key) => `--set ${key}=…` });
    broken.push(...found.filter((p) => p.severity === 'error'));
    warnings.push(...found.filter((p) => p.severity === 'warning'));
    if (found.some((p) => p.severity === 'error')) continue;
    const comments: ConfigComments = new Map();
    let config: ModelConfig;
    try {
      config = parseModelConfig(text, { source: file, comments });
    } catch (err) {
      if (!(err instanceof TextFormatError)) throw err;
      // A value msb or --set filled in that does not fit its field (max_batch_size: abc).
      throw new LlmError('MSB_LLM_TEMPLATES', `${err.message} (after filling the template)`, { file }, { cause: err });
    }
    const versionDir = path.join(templates, name, '1');
    models.push({ name, config, comments, text, ...((await isDir(versionDir)) ? { versionDir } : {}) });
  }
  if (broken.length > 0) {
    throw new LlmError(
      'MSB_LLM_PLACEHOLDER',
      `${broken.length} template key${broken.length === 1 ? '' : 's'} left where Triton fails on ${broken.length === 1 ? 'it' : 'them'}: ${broken
        .map((p) => `\${${p.key}} (${p.file}:${p.line})`)
        .join(', ')}; give each with --set KEY=VALUE`,
      { problems: broken },
    );
  }
  const mismatches = crossCheckTrtllm(engine, models, { streaming: req.streaming ?? false });
  if (mismatches.length > 0) {
    throw new LlmError('MSB_LLM_MISMATCH', mismatches.map((p) => p.message).join('; '), { problems: mismatches });
  }
  // Commit order: the models the ensemble and the BLS call first, so neither ever names a model not yet there.
  const rank = (n: string) => (n === 'ensemble' ? 2 : n === 'tensorrt_llm_bls' ? 1 : 0);
  models.sort((a, b) => rank(a.name) - rank(b.name));
  return { engine, models, warnings };
}

const mbs = (c: ModelConfig | undefined) => Number(c?.maxBatchSize ?? 0);

/**
 * Contradictions between the engine and the filled configs, each of which Triton or the backend would fail on (at
 * load or at the first request): batch sizes, beam width, the logits' data type, decoupled mode against streaming.
 */
export function crossCheckTrtllm(
  engine: TrtllmEngine,
  models: readonly Pick<TrtllmModel, 'name' | 'config'>[],
  options: { streaming?: boolean } = {},
): LlmProblem[] {
  const problems: LlmProblem[] = [];
  const get = (n: string) => models.find((m) => m.name === n)?.config;
  const add = (rule: string, file: string, message: string, key?: string) =>
    problems.push({ rule, severity: 'error', message, file: `${file}/config.pbtxt`, ...(key ? { key } : {}) });
  const trt = get('tensorrt_llm');
  if (trt && mbs(trt) > engine.maxBatchSize) {
    add(
      'trtllm-batch-size',
      'tensorrt_llm',
      `tensorrt_llm max_batch_size ${mbs(trt)} is above the engine's build_config.max_batch_size ${engine.maxBatchSize}`,
      'triton_max_batch_size',
    );
  }
  const ens = get('ensemble');
  for (const step of ens?.ensembleScheduling?.step ?? []) {
    const member = step.modelName ? get(step.modelName) : undefined;
    if (member && mbs(ens) > mbs(member)) {
      add(
        'trtllm-ensemble-batch-size',
        'ensemble',
        `ensemble max_batch_size ${mbs(ens)} is above ${step.modelName}'s ${mbs(member)}: Triton refuses an ensemble that batches more than a step`,
        'triton_max_batch_size',
      );
    }
  }
  const beam = trt?.parameters?.max_beam_width?.stringValue;
  if (beam !== undefined && /^\d+$/.test(beam) && Number(beam) > engine.maxBeamWidth) {
    add(
      'trtllm-beam-width',
      'tensorrt_llm',
      `tensorrt_llm max_beam_width ${beam} is above the engine's build_config.max_beam_width ${engine.maxBeamWidth}`,
      'max_beam_width',
    );
  }
  const logits = TRITON_TYPES[engine.logitsDtype];
  for (const m of models) {
    for (const o of m.config.output ?? []) {
      if ((o.name === 'context_logits' || o.name === 'generation_logits') && o.dataType !== logits) {
        add(
          'trtllm-logits-datatype',
          m.name,
          `${m.name} output ${o.name} is ${String(o.dataType)}, but the engine's logits are ${engine.logitsDtype} (${logits})`,
          'logits_datatype',
        );
      }
    }
  }
  const decoupled = (c: ModelConfig | undefined) => c?.modelTransactionPolicy?.decoupled === true;
  if (trt && options.streaming && !decoupled(trt)) {
    add(
      'trtllm-decoupled',
      'tensorrt_llm',
      'streaming was asked for, but tensorrt_llm is not decoupled: the backend sends one response per request then',
      'decoupled_mode',
    );
  }
  const bls = get('tensorrt_llm_bls');
  if (trt && bls && decoupled(bls) !== decoupled(trt)) {
    add(
      'trtllm-decoupled',
      'tensorrt_llm_bls',
      `tensorrt_llm_bls is ${decoupled(bls) ? '' : 'not '}decoupled but tensorrt_llm is ${decoupled(trt) ? '' : 'not '}: the BLS streams only what the model it calls streams`,
      'decoupled_mode',
    );
  }
  return problems;
}
