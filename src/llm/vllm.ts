import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelConfig } from '../config/index.js';
import { LlmError } from './errors.js';
import type { LlmProblem } from './problems.js';
import { splitSets } from './sets.js';
import table from './vllm-engine-args.json' with { type: 'json' };

/**
 * vLLM repositories: the backend (triton-inference-server/vllm_backend, src/model.py) reads `<version>/model.json`
 * and builds `AsyncEngineArgs(**model_json)`, so a key that is not a field of that dataclass fails the load with a
 * TypeError; its auto-complete adds the inputs and outputs, and it asserts a decoupled transaction policy.
 */

/** The JSON type an engine argument admits (scripts/vllm-engine-args.py reads it from the dataclass annotation). */
export interface EngineArgType {
  type: 'bool' | 'int' | 'float' | 'str' | 'any';
  nullable?: boolean;
}

interface EngineArgsTable {
  source: string;
  versions: Record<string, Record<string, EngineArgType>>;
}

// Imported (not read from disk) so tsc emits the JSON into dist beside this module.
const engineArgs = table as EngineArgsTable;

/** Where the engine-argument table comes from. */
export const VLLM_ENGINE_ARGS_SOURCE = engineArgs.source;

const byVersion = (a: string, b: string) => {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10));
  const pb = b.split('.').map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
};

/** The vLLM versions whose engine arguments msb knows, oldest first. */
export function vllmVersions(): string[] {
  return Object.keys(engineArgs.versions).sort(byVersion);
}

/** The newest vLLM version of the table: what the checks use when no Triton release or vLLM version is given. */
export function newestVllmVersion(): string {
  return vllmVersions().at(-1) as string;
}

/** The engine arguments of a vLLM version, or undefined when the table does not have it. */
export function vllmEngineArgs(version: string): Readonly<Record<string, EngineArgType>> | undefined {
  return engineArgs.versions[version];
}

/** The name of the file of engine arguments in a version directory (vllm_backend `_VLLM_ENGINE_ARGS_FILENAME`). */
export const VLLM_MODEL_JSON = 'model.json';

/**
 * The config `msb add --vllm` writes: backend `vllm`, one `KIND_MODEL` instance (the engine places itself on the
 * GPUs it is given: the backend refuses `KIND_GPU` for more than one GPU) and the decoupled transaction policy the
 * backend asserts. Inputs, outputs and `max_batch_size: 0` come from the backend's auto-complete.
 */
export function vllmModelConfig(name: string, options: { instanceCount?: number } = {}): ModelConfig {
  return {
    name,
    backend: 'vllm',
    instanceGroup: [{ count: options.instanceCount ?? 1, kind: 'KIND_MODEL' }],
    modelTransactionPolicy: { decoupled: true },
  };
}

export interface EngineArgsCheckOptions {
  /** The vLLM version whose engine arguments the keys are checked against. Default: the newest of the table. */
  vllmVersion?: string;
  /** The model's config: its instance groups and `GPU_DEVICE_IDS` parameter are checked against the parallelism. */
  config?: ModelConfig;
  /** GPU ids of the serving machine: tensor × pipeline parallelism must fit in them. */
  gpus?: readonly number[];
}

const jsonKind = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v;

function fitsType(value: unknown, t: EngineArgType): boolean {
  if (value === null) return t.nullable === true || t.type === 'any';
  switch (t.type) {
    case 'bool':
      return typeof value === 'boolean';
    case 'int':
      return typeof value === 'number' && Number.isInteger(value);
    case 'float':
      return typeof value === 'number' && Number.isFinite(value);
    case 'str':
      return typeof value === 'string';
    default:
      return true;
  }
}

/**
 * The problems of a `model.json` (already parsed): keys against the engine arguments of the vLLM version, their
 * JSON types, the ranges vLLM enforces at start-up (`gpu_memory_utilization` in (0, 1], parallel sizes ≥ 1), and
 * tensor × pipeline parallelism against the instance groups (the backend refuses `KIND_GPU` for more than one GPU,
 * and `GPU_DEVICE_IDS` must list exactly that many GPUs) and the GPUs given.
 */
export function checkVllmEngineArgs(json: unknown, options: EngineArgsCheckOptions = {}): LlmProblem[] {
  const problems: LlmProblem[] = [];
  const add = (rule: string, severity: LlmProblem['severity'], message: string, key?: string) =>
    problems.push({ rule, severity, message, ...(key !== undefined ? { key } : {}) });
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    add('vllm-model-json', 'error', `model.json must be a JSON object of engine arguments, not ${jsonKind(json)}`);
    return problems;
  }
  const args = json as Record<string, unknown>;
  const version = options.vllmVersion ?? newestVllmVersion();
  const known = vllmEngineArgs(version);
  if (!known) {
    add(
      'vllm-version-unknown',
      'warning',
      `msb has no engine-argument table for vLLM ${version} (it has ${vllmVersions().join(', ')}): keys and types not checked`,
    );
  }
  if (typeof args.model !== 'string' || args.model === '') {
    add(
      'vllm-model-missing',
      'error',
      'model.json names no "model": vLLM would serve its default (facebook/opt-125m) instead',
      'model',
    );
  }
  for (const [key, value] of Object.entries(args)) {
    if (!known) break;
    const t = known[key];
    if (!t) {
      const elsewhere = vllmVersions().filter((v) => v !== version && vllmEngineArgs(v)?.[key]);
      add(
        'vllm-engine-arg-unknown',
        'error',
        `"${key}" is not an engine argument of vLLM ${version}: AsyncEngineArgs(**model.json) fails with "unexpected keyword argument '${key}'"` +
          (elsewhere.length ? ` (vLLM ${elsewhere.join(', ')} ${elsewhere.length > 1 ? 'have' : 'has'} it)` : ''),
        key,
      );
      continue;
    }
    // The backend reads enable_lora as a string too (`str(value).lower() == "true"`).
    const loraString = key === 'enable_lora' && typeof value === 'string' && /^(true|false)$/i.test(value);
    if (!fitsType(value, t) && !loraString) {
      add(
        'vllm-engine-arg-type',
        'error',
        `"${key}" is ${t.type}${t.nullable ? ' or null' : ''} in vLLM ${version}, not ${jsonKind(value)} ${JSON.stringify(value)}`,
        key,
      );
    }
  }
  const gmu = args.gpu_memory_utilization;
  if (typeof gmu === 'number' && !(gmu > 0 && gmu <= 1)) {
    add(
      'vllm-gpu-memory-utilization',
      'error',
      `"gpu_memory_utilization" is ${gmu}: it is the fraction of GPU memory for the engine, in (0, 1]`,
      'gpu_memory_utilization',
    );
  }
  const size = (key: string): number | undefined => {
    const v = args[key];
    if (v === undefined) return 1;
    if (typeof v !== 'number' || !Number.isInteger(v)) return undefined; // reported as a type above
    if (v < 1) {
      add('vllm-parallel-size', 'error', `"${key}" is ${v}: it is a number of GPUs, at least 1`, key);
      return undefined;
    }
    return v;
  };
  const tp = size('tensor_parallel_size');
  const pp = size('pipeline_parallel_size');
  if (tp !== undefined && pp !== undefined) {
    const world = tp * pp;
    for (const [i, g] of (options.config?.instanceGroup ?? []).entries()) {
      if (g.kind === 'KIND_GPU' && world > 1) {
        add(
          'vllm-instance-kind',
          'error',
          `instance_group[${i}] is KIND_GPU but the engine spans ${world} GPUs (tensor_parallel_size ${tp} × pipeline_parallel_size ${pp}): the vLLM backend refuses KIND_GPU for multi-GPU models; use KIND_MODEL`,
          'tensor_parallel_size',
        );
      }
    }
    const ids = options.config?.parameters?.GPU_DEVICE_IDS?.stringValue;
    if (ids !== undefined && ids !== '') {
      const n = ids.split(',').length;
      if (n !== world) {
        add(
          'vllm-gpu-device-ids',
          'error',
          `parameter GPU_DEVICE_IDS lists ${n} GPU${n === 1 ? '' : 's'} (${ids}) but tensor_parallel_size ${tp} × pipeline_parallel_size ${pp} = ${world}: the backend requires them equal`,
          'tensor_parallel_size',
        );
      }
    }
    if (options.gpus !== undefined && world > options.gpus.length) {
      add(
        'vllm-parallel-gpus',
        'error',
        `the engine spans ${world} GPUs (tensor_parallel_size ${tp} × pipeline_parallel_size ${pp}) but the machine has ${options.gpus.length}`,
        'tensor_parallel_size',
      );
    }
  }
  return problems;
}

/**
 * Files any one of which lets Hugging Face's AutoTokenizer load a tokenizer from a directory: the fast tokenizer's
 * `tokenizer.json`, a SentencePiece model, a BPE or WordPiece vocabulary, Mistral's `tekken.json`.
 */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer.model',
  'spiece.model',
  'vocab.json',
  'vocab.txt',
  'tekken.json',
];

/** True when `model` names a path rather than a Hugging Face model id (`org/name`). */
export function isLocalPath(model: string): boolean {
  return (
    path.isAbsolute(model) ||
    model.startsWith('./') ||
    model.startsWith('../') ||
    model === '.' ||
    model.startsWith('~')
  );
}

async function entriesOf(dir: string): Promise<string[] | undefined> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) return undefined;
  return readdir(dir);
}

/**
 * The problems of a local checkpoint directory as vLLM loads it: `config.json` (the model's architecture) and, unless
 * `skip_tokenizer_init`, a tokenizer (in `tokenizer` when it names a local directory, else in the checkpoint). A
 * path that is not on this machine is a warning (it may be the serving machine's).
 */
export async function checkCheckpoint(
  dir: string,
  options: { tokenizer?: string; skipTokenizer?: boolean; missing?: 'error' | 'warning' } = {},
): Promise<LlmProblem[]> {
  const problems: LlmProblem[] = [];
  const entries = await entriesOf(dir);
  if (entries === undefined) {
    const exists = await stat(dir).catch(() => undefined);
    problems.push({
      rule: 'vllm-checkpoint-missing',
      severity: exists ? 'error' : (options.missing ?? 'warning'),
      message: exists
        ? `${dir} is not a directory: vLLM loads a checkpoint directory`
        : `${dir} is not on this machine: its config.json and tokenizer are not checked`,
      key: 'model',
      file: dir,
    });
    return problems;
  }
  if (!entries.includes('config.json')) {
    problems.push({
      rule: 'vllm-checkpoint-config',
      severity: 'error',
      message: `${dir} has no config.json: vLLM reads the model's architecture from it`,
      key: 'model',
      file: dir,
    });
  }
  if (options.skipTokenizer) return problems;
  const tokDir = options.tokenizer !== undefined && isLocalPath(options.tokenizer) ? options.tokenizer : dir;
  const tokEntries = tokDir === dir ? entries : await entriesOf(tokDir);
  if (tokEntries === undefined) {
    problems.push({
      rule: 'vllm-tokenizer-missing',
      severity: options.missing ?? 'warning',
      message: `tokenizer ${tokDir} is not a directory on this machine: not checked`,
      key: 'tokenizer',
      file: tokDir,
    });
  } else if (!TOKENIZER_FILES.some((f) => tokEntries.includes(f))) {
    problems.push({
      rule: 'vllm-tokenizer-files',
      severity: 'error',
      message: `${tokDir} has no tokenizer (none of ${TOKENIZER_FILES.join(', ')}): vLLM loads one at start-up unless "skip_tokenizer_init" is true`,
      key: tokDir === dir ? 'model' : 'tokenizer',
      file: tokDir,
    });
  }
  return problems;
}

/** Every problem of one `model.json` text: parse, engine arguments, and a local checkpoint's files. */
export async function checkVllmModelJson(
  text: string,
  options: EngineArgsCheckOptions & { missingCheckpoint?: 'error' | 'warning' } = {},
): Promise<LlmProblem[]> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return [
      {
        rule: 'vllm-model-json',
        severity: 'error',
        message: `model.json is not JSON: ${(err as Error).message} (the backend's json.load fails)`,
      },
    ];
  }
  const problems = checkVllmEngineArgs(json, options);
  const args = json !== null && typeof json === 'object' ? (json as Record<string, unknown>) : {};
  if (typeof args.model === 'string' && isLocalPath(args.model)) {
    problems.push(
      ...(await checkCheckpoint(args.model, {
        ...(typeof args.tokenizer === 'string' ? { tokenizer: args.tokenizer } : {}),
        skipTokenizer: args.skip_tokenizer_init === true,
        ...(options.missingCheckpoint ? { missing: options.missingCheckpoint } : {}),
      })),
    );
  }
  return problems;
}

export interface VllmRequest {
  /** A local Hugging Face checkpoint directory, or a model id (`org/name`) written as it is. */
  source: string;
  /** Model name in the store. Default: the last component of the source. */
  name?: string;
  /** Engine arguments over `model`, `KEY=VALUE` (a VALUE that parses as JSON is taken as JSON: 0.85, true, {…}). */
  set?: readonly string[];
  /** The vLLM version to check against. Default: the newest of the table. */
  vllmVersion?: string;
  /** Instances of the KIND_MODEL group. Default 1. */
  instanceCount?: number;
}

export interface VllmPrepared {
  name: string;
  config: ModelConfig;
  /** The text of `1/model.json`. */
  modelJson: string;
  /** Warnings (an unknown vLLM version); errors are thrown. */
  warnings: LlmProblem[];
}

/** `KEY=VALUE` engine arguments; a VALUE that parses as JSON is JSON, anything else a string. */
export function parseEngineArgSets(sets: readonly string[]): Record<string, unknown> {
  const pairs = splitSets(
    sets,
    (s) =>
      new LlmError(
        'MSB_LLM_ENGINE_ARGS',
        `--set ${s}: expected KEY=VALUE with KEY an engine argument such as gpu_memory_utilization`,
        { set: s },
      ),
  );
  return Object.fromEntries(
    pairs.map(([key, raw]) => {
      try {
        return [key, JSON.parse(raw)];
      } catch {
        return [key, raw]; // a plain string (a path, a dtype name)
      }
    }),
  );
}

/**
 * The config and `model.json` of a vLLM model, checked as `validate` checks them; nothing is written. A local
 * checkpoint is written as its absolute path (the backend's working directory is not the model's) and must hold
 * config.json and a tokenizer (MSB_LLM_CHECKPOINT); engine arguments the vLLM version refuses are MSB_LLM_ENGINE_ARGS.
 */
export async function prepareVllm(req: VllmRequest): Promise<VllmPrepared> {
  const local = await stat(req.source).catch(() => undefined);
  let model: string;
  if (local !== undefined || isLocalPath(req.source)) {
    model = path.resolve(req.source);
  } else if (/^[\w.-]+(\/[\w.-]+)?$/.test(req.source)) {
    model = req.source;
  } else {
    throw new LlmError(
      'MSB_LLM_CHECKPOINT',
      `--vllm ${req.source} is neither a local directory nor a Hugging Face model id (org/name)`,
      { source: req.source },
    );
  }
  const args: Record<string, unknown> = { model, ...parseEngineArgSets(req.set ?? []) };
  const name = req.name ?? path.basename(model.replace(/\/+$/, ''));
  const config = vllmModelConfig(name, req.instanceCount !== undefined ? { instanceCount: req.instanceCount } : {});
  const modelJson = `${JSON.stringify(args, null, 2)}\n`;
  const problems = await checkVllmModelJson(modelJson, {
    ...(req.vllmVersion !== undefined ? { vllmVersion: req.vllmVersion } : {}),
    config,
    // At publish time the checkpoint is here: one that is missing is an error, not "on another machine".
    missingCheckpoint: 'error',
  });
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) {
    const checkpoint = errors.every((p) => p.rule.startsWith('vllm-checkpoint') || p.rule.startsWith('vllm-tokenizer'));
    throw new LlmError(
      checkpoint ? 'MSB_LLM_CHECKPOINT' : 'MSB_LLM_ENGINE_ARGS',
      errors.map((p) => p.message).join('; '),
      { problems: errors },
    );
  }
  return { name, config, modelJson, warnings: problems.filter((p) => p.severity === 'warning') };
}
