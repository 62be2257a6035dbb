import path from 'node:path';
import {
  checkConfigAgainstModel,
  type ModelConfig,
  parseModelConfig,
  TextFormatError,
  validateModelConfig,
} from '../config/index.js';
import { isMsbError } from '../errors.js';
import { InspectError } from '../inspect/errors.js';
import type { ModelSignature } from '../inspect/types.js';
import { checkVllmModelJson, type LlmProblem, templateProblems, VLLM_MODEL_JSON } from '../llm/index.js';
import {
  checkOnnxForRelease,
  checkPlanForRelease,
  checkPlansForGpus,
  onnxOpsetOf,
  type PlanFacts,
  planFacts,
  type ReleaseProblem,
  type TritonRelease,
} from '../release/index.js';
import { tritonVersionOf } from './names.js';
import { AUTOFILL_FILES, isDirectoryModel, modelFileName, platformOfFile } from './platforms.js';
import { VERSION_RECORD, type VersionRecord } from './record.js';
import { storedSignature } from './signature.js';
import type { RepositoryStorage, StorageEntry } from './storage.js';

/** One reason Triton would not load (part of) the repository, or would load it differently than intended. */
export interface RepositoryProblem {
  /** Relative to the repository root: `my_nn/config.pbtxt`, `my_nn/3/model.onnx`, `.hidden`. */
  path: string;
  /** Stable id: `config-missing`, `config-syntax`, `config-invalid`, `name-mismatch`, `hidden-model`, ... */
  rule: string;
  /** `error`: Triton fails to load the model (or loads the wrong thing); `warning`: Triton loads it but warns. */
  severity: 'error' | 'warning';
  message: string;
  /** Config against model file (rules of `MODEL_RULES`): the version, tensor, and both sides' values. */
  version?: number;
  /**
   * For a problem of one version: whether Triton's version policy loads that version. Every version present is
   * checked; a problem of a version the policy does not load is a warning (Triton does not read it, but a policy
   * change or `msb rm` of the newer version would make it the one served).
   */
  loaded?: boolean;
  tensor?: string;
  config?: string;
  model?: string;
}

export interface ValidateOptions {
  /**
   * The vLLM version whose engine arguments a vLLM model's `model.json` is checked against (the Triton release's,
   * src/release). Default: the newest vLLM of msb's table.
   */
  vllmVersion?: string;
  /**
   * The Triton release to check against: each version's files must load in it (a plan built by another TensorRT, an
   * ONNX opset above its ONNX Runtime's are errors; unknowns are warnings; src/release/check.ts).
   */
  release?: TritonRelease;
  /** The fleet's compute capabilities ("8.6"): each GPU needs a plan it can load in every version. */
  gpus?: readonly string[];
}

/**
 * The repository as Triton reads it: every subdirectory of the root is a model (dot-directories included); its
 * `config.pbtxt` is parsed and must name the directory; version directories follow `VersionsToLoad` (see
 * `tritonVersionOf`); each version the policy loads must hold the model file(s) for the platform/backend (or
 * `default_model_filename`, `cc_model_filenames`); labels files named by outputs must exist.
 */
export async function validateRepository(
  storage: RepositoryStorage,
  options: ValidateOptions = {},
): Promise<RepositoryProblem[]> {
  const problems: RepositoryProblem[] = [];
  const add: Add = (path, rule, severity, message, more = {}) =>
    problems.push({ path, rule, severity, message, ...more });
  for (const entry of (await storage.list('')) ?? []) {
    if (entry.type !== 'dir') continue;
    await validateModel(storage, entry.name, add, undefined, options);
  }
  for (const p of (await storage.storageProblems?.()) ?? []) add(p.key, p.rule, p.severity, p.message);
  return problems;
}

type Add = (
  path: string,
  rule: string,
  severity: RepositoryProblem['severity'],
  message: string,
  more?: Pick<RepositoryProblem, 'version' | 'tensor' | 'config' | 'model' | 'loaded'>,
) => void;

/**
 * The problems of one model as `validateRepository` reports them, with `configText` in place of its stored
 * config.pbtxt (undefined: none): what a config edit would leave, checked before it is saved.
 */
export async function modelProblems(
  storage: RepositoryStorage,
  name: string,
  configText: string | undefined,
  options: ValidateOptions = {},
): Promise<RepositoryProblem[]> {
  const problems: RepositoryProblem[] = [];
  await validateModel(
    storage,
    name,
    (path, rule, severity, message, more = {}) => problems.push({ path, rule, severity, message, ...more }),
    { text: configText },
    options,
  );
  return problems;
}

async function validateModel(
  storage: RepositoryStorage,
  name: string,
  add: Add,
  override?: { text: string | undefined },
  options: ValidateOptions = {},
): Promise<void> {
  if (name.startsWith('.')) {
    add(name, 'hidden-model', 'error', `hidden directory ${name} is loaded by Triton as a model`);
  }
  const entries = (await storage.list(name)) ?? [];
  const configPath = `${name}/config.pbtxt`;
  const text = override ? override.text : (await storage.read(configPath))?.toString('utf8');
  let config: ModelConfig | undefined;
  if (text === undefined) {
    // Triton's auto-complete (on unless --disable-auto-complete-config) then starts from an empty config.
    add(
      configPath,
      'config-missing',
      'warning',
      `model ${name} has no config.pbtxt; Triton must auto-complete one from the model file`,
    );
    config = {};
  } else {
    try {
      config = parseModelConfig(text, { source: configPath });
    } catch (err) {
      if (!(err instanceof TextFormatError)) throw err;
      // A template key never filled (`max_batch_size: ${triton_max_batch_size}`) is named with its fix, not reported
      // as the parser's "got: $".
      const keys = templateProblems(text, configPath).filter((p) => p.severity === 'error');
      if (keys.length === 0) add(`${configPath}:${err.line}:${err.column}`, 'config-syntax', 'error', err.message);
      for (const p of keys) addLlm(add, configPath, p);
    }
    // Keys that parse (inside strings) are checked too: a required one, or one outside a parameter, fails the load.
    if (config && text.includes('${')) for (const p of templateProblems(text, configPath)) addLlm(add, configPath, p);
  }
  if (config) {
    if (config.name !== undefined && config.name !== '' && config.name !== name) {
      add(
        `${configPath}:name`,
        'name-mismatch',
        'error',
        `config name ${JSON.stringify(config.name)} is not the directory name ${JSON.stringify(name)}`,
      );
    }
    // An auto-completed config is Triton's to fill; its rules apply to a config that is there.
    const checked =
      text === undefined ? [] : validateModelConfig({ ...config, name: config.name || name }, { modelName: name });
    for (const p of checked) {
      if (p.rule === 'name-matches-directory') continue; // reported above with the directory's view
      add(`${configPath}${p.path ? `:${p.path}` : ''}`, `config-invalid:${p.rule}`, 'error', p.message);
    }
    for (const [i, out] of (config.output ?? []).entries()) {
      if (!out.labelFilename) continue;
      const e = entries.find((x) => x.name === out.labelFilename);
      if (e?.type !== 'file') {
        add(
          `${name}/${out.labelFilename}`,
          'labels-missing',
          'error',
          `output[${i}] ${out.name ?? ''} names labels file ${out.labelFilename}, which does not exist`,
        );
      }
    }
  }
  const versions = new Map<bigint, string[]>();
  for (const e of entries) {
    if (e.type !== 'dir') continue;
    const v = tritonVersionOf(e.name);
    const p = `${name}/${e.name}`;
    if (v.kind === 'leading-zero')
      add(p, 'version-leading-zero', 'warning', `${p} is ignored by Triton: leading zeros`);
    else if (v.kind === 'not-numeric')
      add(p, 'version-not-numeric', 'warning', `${p} is ignored by Triton: not a version number`);
    else if (v.kind === 'out-of-range')
      add(p, 'version-out-of-range', 'error', `${p} is beyond int64: Triton's std::stoll throws out_of_range`);
    else if (v.kind === 'version') {
      if (v.version <= 0n)
        add(p, 'version-not-positive', 'error', `${p} is version ${v.version}; versions are positive`);
      if (v.exact) versions.set(v.version, [e.name, ...(versions.get(v.version) ?? [])]);
      else versions.set(v.version, [...(versions.get(v.version) ?? []), e.name]);
    }
  }
  // Triton keeps a set of numbers and backends open `<model>/<number>`: a directory read as a number it does not
  // spell (`2abc`, ` 2`, `+2`) is shadowed by the exact one, or, alone, makes Triton open a directory that is not there.
  for (const [v, dirs] of versions) {
    const exact = dirs[0] === String(v);
    for (const d of exact ? dirs.slice(1) : dirs) {
      add(
        `${name}/${d}`,
        'version-inexact',
        exact ? 'warning' : 'error',
        exact
          ? `${name}/${d} reads as version ${v} and is shadowed by ${name}/${v}`
          : `${name}/${d} reads as version ${v}, but Triton loads ${name}/${v}, which does not exist`,
      );
    }
    versions.set(v, exact ? [String(v)] : []);
  }
  if (versions.size === 0) {
    add(name, 'no-versions', 'error', `model ${name} has no version directory`);
    return;
  }
  if (!config) return;
  const loaded = versionsToLoad(config, [...versions.keys()]);
  if (loaded.length === 0) {
    add(
      `${configPath}:version_policy`,
      'policy-loads-nothing',
      'error',
      `the version policy of ${name} selects none of its versions`,
    );
  }
  let file = modelFileName(config);
  const ccFiles = Object.values(config.ccModelFilenames ?? {});
  if (!config.platform && !config.backend) {
    // AutoCompleteBackendFields (core model_config_utils.cc) picks the backend from default_model_filename, else
    // from the default files in the lexically first subdirectory of the model (whatever it is).
    const first = entries.find((e) => e.type === 'dir');
    const inFirst = first ? ((await storage.list(`${name}/${first.name}`)) ?? []) : [];
    file = [config.defaultModelFilename ?? '', ...AUTOFILL_FILES].find(
      (f) =>
        AUTOFILL_FILES.includes(f) &&
        (f === config.defaultModelFilename ||
          inFirst.some((x) => x.name === f && x.type === (isDirectoryModel(f) ? 'dir' : 'file'))),
    );
    if (file === undefined) {
      add(
        configPath,
        'backend-unknown',
        'error',
        `${name} names no platform or backend, and ${first ? `${name}/${first.name}` : 'the model'} holds no model file Triton could tell one from`,
      );
    }
  }
  // Every version present is checked, the ones the policy loads as errors, the others as warnings.
  const loadedSet = new Set(loaded);
  const present = [...versions.keys()].filter((v) => v > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const outer = add;
  for (const v of present) {
    const isLoaded = loadedSet.has(v);
    const add: Add = (p, rule, severity, message, more = {}) =>
      outer(
        p,
        rule,
        isLoaded ? severity : 'warning',
        isLoaded ? message : `${message} (version ${v} is not loaded by the version policy)`,
        { version: Number(v), ...more, loaded: isLoaded },
      );
    for (const dir of versions.get(v) ?? []) {
      const vEntries = (await storage.list(`${name}/${dir}`)) ?? [];
      const has = (f: string) =>
        vEntries.some((x) => x.name === f && x.type === (isDirectoryModel(f) ? 'dir' : 'file'));
      if (file !== undefined && !has(file)) {
        add(
          `${name}/${dir}/${file}`,
          'model-file-missing',
          ccFiles.length > 0 ? 'warning' : 'error',
          `version ${v} of ${name} has no ${file}${isDirectoryModel(file) ? ' directory' : ''}`,
        );
      }
      for (const f of ccFiles) {
        if (!has(f))
          add(
            `${name}/${dir}/${f}`,
            'cc-model-file-missing',
            'error',
            `version ${v} of ${name} has no ${f} (cc_model_filenames)`,
          );
      }
      await checkRecord(storage, `${name}/${dir}`, vEntries, add);
      if (config.backend === 'vllm' && text !== undefined)
        await checkVllmVersion(storage, `${name}/${dir}`, config, options, add);
      // An auto-completed config is Triton's to derive from the file; a written one must agree with it.
      const signature =
        text !== undefined && file !== undefined && has(file)
          ? await checkAgainstModel(storage, `${name}/${dir}/${file}`, config, Number(v), add)
          : undefined;
      if (options.release || options.gpus?.length) {
        await checkServing(storage, `${name}/${dir}`, config, file, has, signature, Number(v), add, options);
      }
    }
  }
}

/** A finding of the LLM checks as a repository problem: `file:line:column` where it has one. */
function addLlm(add: Add, file: string, p: LlmProblem): void {
  const at = p.line !== undefined ? `${p.file ?? file}:${p.line}:${p.column ?? 1}` : (p.file ?? file);
  add(at, p.rule, p.severity, p.message);
}

/**
 * A vLLM version's `model.json`: the backend asserts it is there and builds `AsyncEngineArgs(**json)` from it, so its
 * keys, types and ranges are checked against the vLLM version (and a local checkpoint's files, where it is here).
 */
async function checkVllmVersion(
  storage: RepositoryStorage,
  dir: string,
  config: ModelConfig,
  options: ValidateOptions,
  add: Add,
): Promise<void> {
  const key = `${dir}/${VLLM_MODEL_JSON}`;
  const text = (await storage.read(key))?.toString('utf8');
  if (text === undefined) {
    add(
      key,
      'vllm-model-json-missing',
      'error',
      `${key} is missing: the vLLM backend reads the engine arguments from it`,
    );
    return;
  }
  const found = await checkVllmModelJson(text, {
    config,
    ...(options.vllmVersion !== undefined ? { vllmVersion: options.vllmVersion } : {}),
  });
  for (const p of found) add(key, p.rule, p.severity, p.message);
}

/** What serves the formats msb reads a signature from (ONNX, TensorRT plans, SavedModel, GraphDef). */
const READ_SERVED = new Set([
  'onnxruntime_onnx',
  'onnxruntime',
  'tensorrt_plan',
  'tensorrt',
  'tensorflow_savedmodel',
  'tensorflow_graphdef',
]);

/**
 * The model file's signature, read the way `msb inspect` reads it (streaming, no weights loaded); undefined when it
 * cannot be known here (a plan without msb's record and no TensorRT). On an object store an ONNX file is read through
 * ranged reads and a plan through its `.msb.json` record (`storedSignature`); other formats are not checked there.
 * A GraphDef does not say which nodes are outputs: the config's are taken, and each must be a node of the graph.
 */
export async function readStoredSignature(
  storage: RepositoryStorage,
  key: string,
  config: ModelConfig,
): Promise<ModelSignature | undefined> {
  // Loaded here: the store's other commands (msb ls, add a version) never read a model's signature.
  const { detectFormat, inspectModel, signatureFromOptions } = await import('../inspect/index.js');
  // A config naming neither is completed from the model file's name (core AutoCompleteBackendFields).
  const served = config.platform || config.backend || platformOfFile(path.posix.basename(key)) || '';
  // PyTorch's convention rules need no file (a TorchScript archive does not describe forward() anyway).
  if ((served === 'pytorch_libtorch' || served === 'pytorch') && key.endsWith('.pt')) {
    return signatureFromOptions('torchscript', [], []);
  }
  if (!READ_SERVED.has(served)) return undefined;
  const file = storage.localPath(key);
  if (file === undefined) return storedSignature(storage, key);
  const signatureName = config.parameters?.TF_SIGNATURE_DEF?.stringValue;
  const outputs = /\.graphdef$/.test(key)
    ? (config.output ?? []).map((o) => ({ name: o.name ?? '', dataType: o.dataType ?? 'TYPE_INVALID', dims: [] }))
    : [];
  try {
    return await inspectModel(file, {
      ...(signatureName ? { signatureName } : {}),
      ...(outputs.length ? { outputs } : {}),
    });
  } catch (err) {
    if (!isMsbError(err, 'MSB_INSPECT_SIGNATURE_REQUIRED')) throw err;
    // Without a signature, a plan's container is still known: Triton cannot load an Ultralytics engine as it is.
    const found = await detectFormat(file);
    return found.ultralytics ? signatureFromOptions('tensorrt_plan', [], [], { container: 'ultralytics' }) : undefined;
  }
}

/** Each disagreement between the config and a version's model file (see `checkConfigAgainstModel`). */
async function checkAgainstModel(
  storage: RepositoryStorage,
  key: string,
  config: ModelConfig,
  version: number,
  add: Add,
): Promise<ModelSignature | undefined> {
  const configPath = `${key.split('/')[0]}/config.pbtxt`;
  let signature: ModelSignature | undefined;
  try {
    signature = await readStoredSignature(storage, key, config);
  } catch (err) {
    if (!(err instanceof InspectError)) throw err;
    const tensor = typeof err.details.tensor === 'string' ? err.details.tensor : undefined;
    if (err.code === 'MSB_INSPECT_TENSOR_NOT_FOUND' && tensor !== undefined) {
      const message = `version ${version}: output '${tensor}' is not a node of ${key} (a GraphDef)`;
      add(`${configPath}:output`, 'model-output-unknown', 'error', message, {
        version,
        tensor,
        config: `'${tensor}'`,
        model: 'no such node',
      });
    } else {
      add(key, 'model-unreadable', 'error', `version ${version}: ${err.message}`, { version });
    }
    return undefined;
  }
  if (!signature) return undefined;
  if (signature.metadata.container === 'ultralytics') {
    add(
      key,
      'plan-container',
      'error',
      `version ${version}: ${key} is an Ultralytics engine (a metadata prefix before the plan), which TensorRT ` +
        'refuses ("magic tag does not match"); publish it with msb version add, which strips the prefix',
      { version },
    );
    return signature;
  }
  for (const m of checkConfigAgainstModel(config, signature)) {
    add(`${configPath}:${m.path}`, m.rule, m.severity, `version ${version}: ${m.message}`, {
      version,
      ...(m.tensor !== undefined ? { tensor: m.tensor } : {}),
      config: m.config,
      model: m.model,
    });
  }
  return signature;
}

/** The release and fleet checks of one version directory `dir` (see `ValidateOptions`). */
async function checkServing(
  storage: RepositoryStorage,
  dir: string,
  config: ModelConfig,
  file: string | undefined,
  has: (f: string) => boolean,
  signature: ModelSignature | undefined,
  version: number,
  add: Add,
  options: ValidateOptions,
): Promise<void> {
  const report = (p: string, found: ReleaseProblem[]) => {
    for (const f of found) add(p, f.rule, f.severity, `version ${version}: ${f.message}`, { version });
  };
  const served = config.platform || config.backend || (file ? platformOfFile(file) : undefined) || '';
  if (served === 'tensorrt_plan' || served === 'tensorrt') {
    const files = [...new Set([file, ...Object.values(config.ccModelFilenames ?? {})])].filter(
      (f): f is string => f !== undefined && has(f),
    );
    const facts = new Map<string, PlanFacts>();
    for (const f of files) {
      const read = await storedPlanFacts(storage, `${dir}/${f}`);
      if (read) facts.set(f, read);
    }
    if (options.release) {
      for (const [f, fact] of facts) report(`${dir}/${f}`, checkPlanForRelease(options.release, fact));
    }
    if (options.gpus?.length) {
      const plans = new Map(files.map((f) => [f, facts.get(f) ?? {}]));
      report(
        dir,
        checkPlansForGpus(options.gpus, file, config.ccModelFilenames ?? {}, (f) => plans.get(f)),
      );
    }
  } else if (options.release && signature?.format === 'onnx' && file !== undefined) {
    report(`${dir}/${file}`, checkOnnxForRelease(options.release, onnxOpsetOf(signature.metadata.opsets)));
  }
}

/**
 * What the stored plan at `key` says of itself: its header's TensorRT version (the first 32 bytes, read without
 * TensorRT) and msb's record beside it. Undefined when the file is not a bare plan (an Ultralytics engine is reported
 * by `plan-container`).
 */
async function storedPlanFacts(storage: RepositoryStorage, key: string): Promise<PlanFacts | undefined> {
  const { readPlanHeader, planSidecarPath } = await import('../inspect/index.js');
  const head = await storage.read(key, { start: 0, end: 32 });
  if (!head) return undefined;
  const header = readPlanHeader(head);
  if (!header.magic) return undefined;
  let record: unknown;
  try {
    record = JSON.parse((await storage.read(planSidecarPath(key)))?.toString('utf8') ?? 'null');
  } catch {
    record = undefined; // an unreadable record tells nothing: the facts it would give stay unknown
  }
  return planFacts(header.tensorrtVersion, record);
}

/** A version whose files no longer match msb's publish record was changed after publishing (e.g. a hardlinked source rewritten). */
async function checkRecord(storage: RepositoryStorage, dir: string, entries: StorageEntry[], add: Add): Promise<void> {
  if (!entries.some((e) => e.name === VERSION_RECORD)) return;
  let record: VersionRecord;
  try {
    record = JSON.parse((await storage.read(`${dir}/${VERSION_RECORD}`))?.toString('utf8') ?? '') as VersionRecord;
  } catch {
    add(
      `${dir}/${VERSION_RECORD}`,
      'version-record-unreadable',
      'warning',
      `${dir}/${VERSION_RECORD} is not msb's JSON record`,
    );
    return;
  }
  for (const f of record.files ?? []) {
    const parts = f.path.split('/');
    const listed = await storage.list([dir, ...parts.slice(0, -1)].join('/'));
    const now = listed?.find((e) => e.name === parts.at(-1));
    if (now?.size !== f.size) {
      add(
        `${dir}/${f.path}`,
        'version-changed',
        'warning',
        `${dir}/${f.path} is ${now ? `${now.size} bytes` : 'gone'}; ${f.size} bytes were published`,
      );
    }
  }
}

/** Versions Triton loads under the policy (default: latest 1). */
function versionsToLoad(config: ModelConfig, available: bigint[]): bigint[] {
  const sorted = available.filter((v) => v > 0n).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const p = config.versionPolicy;
  if (p?.all) return sorted;
  if (p?.specific) {
    const want = new Set((p.specific.versions ?? []).map((v) => BigInt(v)));
    return sorted.filter((v) => want.has(v));
  }
  return sorted.slice(0, p?.latest?.numVersions ?? 1);
}
