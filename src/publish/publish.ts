import { open } from 'node:fs/promises';
import path from 'node:path';
import { checkConfigAgainstModel, generateModelConfig, type ModelConfig, type ModelMismatch } from '../config/index.js';
import { isMsbError } from '../errors.js';
import {
  inspectModel,
  type ModelSignature,
  planSidecarPath,
  readPlanHeader,
  readPlanSidecar,
  type TensorSignature,
} from '../inspect/index.js';
import {
  checkOnnxForRelease,
  checkPlanForRelease,
  checkPlansForGpus,
  chooseRelease,
  onnxOpsetOf,
  type PlanFacts,
  parseComputeCapabilities,
  planFacts,
  ReleaseError,
  type ReleaseProblem,
  resolveRelease,
  type TritonRelease,
} from '../release/index.js';
import { checkName, ModelStore, modelFileName, putVersion, StoreError } from '../store/index.js';
import { type PublishableSource, publishableSource } from './source.js';

/**
 * What to do with the model named: `create` it (refused with `MSB_STORE_EXISTS` when it exists: `msb add`),
 * `replace` its config with the one generated from the source, or create it (`msb add --force`), `add` a version to
 * it (refused with `MSB_STORE_NOT_FOUND` when it does not exist: `msb version add`), or `create-or-add` (jobs).
 */
export type PublishMode = 'create' | 'replace' | 'add' | 'create-or-add';

/** The one request to publish a version, for every caller (CLI, jobs, library). */
export interface PublishRequest {
  /** A path, a store URI or an open store. */
  store: string | ModelStore;
  /** Redis URL for the store's leases when its server ignores conditional writes (the worker's own Redis). */
  redis?: string;
  model: string;
  /** The model file or directory; none for a version of an ensemble. */
  source?: string;
  mode: PublishMode;
  /** What the caller said the source is (`msb add --engine`, `--onnx`): refused when it is another format. */
  format?: 'tensorrt_plan' | 'onnx';
  /** Platform or backend the model must be served by; refused when the source is something else. */
  platform?: string;
  /** Tensors stated by the user, for formats that do not describe their I/O. */
  inputs?: TensorSignature[];
  outputs?: TensorSignature[];
  /** For a config generated here (a new model, or `replace`): as `msb config generate` takes them. */
  maxBatchSize?: number;
  concurrency?: number;
  /** A labels file for the first output. */
  labels?: string;
  /** The first output's labels from the source's class names (an Ultralytics engine's `names`). */
  labelsFromMetadata?: boolean;
  /** Version number; default one above the highest (1 for a new model). */
  version?: number;
  /** Idempotency: a retried publish finds its version instead of publishing a second one. */
  publishKey?: string;
  /** `link` for files nothing rewrites in place (msb's own build outputs on a local store). Default `copy`. */
  transfer?: 'copy' | 'link';
  /** A new model is created in strict mode (`version_policy: specific` lists each published version). */
  strict?: boolean;
  /**
   * Publish even when the source contradicts the model's stored config (the problems are in the result); without,
   * such a version is refused with `MSB_STORE_MODEL_MISMATCH` and nothing is written.
   */
  force?: boolean;
  /**
   * The Triton release ("25.01") the version must load in (the caller's `--triton`, else `MSB_TRITON_RELEASE`);
   * without it the store's recorded default, if any. Its errors refuse the publish (`MSB_RELEASE_INCOMPATIBLE`)
   * unless `force`; warnings (unknowns) are returned in `problems`.
   */
  triton?: string;
  /** The fleet's compute capabilities ("8.6"): each must have a plan in the version it can load. */
  gpus?: readonly string[];
}

/** A problem of the published version: against its config (`ModelMismatch`) or the release and fleet. */
export type PublishProblem = ModelMismatch | (ReleaseProblem & { path: string });

export interface PublishResult {
  store: string;
  model: string;
  version: number;
  /** Whether this publish created the model. */
  created: boolean;
  config: ModelConfig;
  /** What `validate` would say of this version against the config and the release (only ever errors with `force`). */
  problems: PublishProblem[];
}

/**
 * Publishes a version: inspect the source (a corrupt or unrecognised file is refused with `MSB_INSPECT_*` and
 * nothing is written), unwrap a container Triton cannot load (an Ultralytics engine becomes its bare plan), check it
 * against the model's stored config with the rules `validate` applies (refused, or published with `force` and the
 * problems returned), then write it through the store (atomic, locked, idempotent per `publishKey`). A new model
 * (or `replace`) gets the config generated from the source.
 */
export async function publish(req: PublishRequest): Promise<PublishResult> {
  checkName('model', req.model);
  // An unknown release is bad input: refused before a store is created or a file inspected.
  const named = req.triton ? resolveRelease(req.triton) : undefined;
  if (req.gpus?.length) parseComputeCapabilities(req.gpus.join(','));
  if (req.labels !== undefined && req.labelsFromMetadata) {
    throw new StoreError('MSB_STORE_BAD_SOURCE', 'give --labels or --labels-from-metadata, not both', {});
  }
  // What Triton can load (an Ultralytics engine's bare plan), published in place of the source.
  const publishable =
    req.source === undefined
      ? undefined
      : await publishableSource(req.source, { labelsFromMetadata: req.labelsFromMetadata ?? false });
  try {
    const signature = req.source === undefined ? undefined : await inspectSource(req, req.source);
    const facts = publishable && signature ? await sourceFacts(publishable.path, signature) : undefined;
    // The release named by the caller, and the fleet for a model whose config is generated here (no
    // cc_model_filenames), are checked before the store is opened: a refusal creates no store.
    const early: PublishProblem[] = [];
    if (facts && named) early.push(...fileProblems(req, named, facts));
    const newConfig = req.mode === 'create' || req.mode === 'replace';
    if (facts && req.gpus?.length && newConfig) early.push(...gpuProblems(req, req.gpus, facts, undefined, {}));
    refuseIncompatible(req, early);
    const store = await ModelStore.open(req.store, {
      create: req.mode !== 'add',
      ...(req.redis ? { redis: req.redis } : {}),
    });
    try {
      return await publishTo(store, req, publishable, signature, { early, facts, named, newConfig });
    } finally {
      if (store !== req.store) await store.close();
    }
  } finally {
    await publishable?.remove();
  }
}

/**
 * The source's signature, or undefined where it cannot be known here (a plan without msb's record and no TensorRT,
 * added to a model whose config already says what it is: `validate` cannot check it either).
 */
async function inspectSource(req: PublishRequest, source: string): Promise<ModelSignature | undefined> {
  let signature: ModelSignature;
  try {
    signature = await inspectModel(source, {
      ...(req.inputs?.length ? { inputs: req.inputs } : {}),
      ...(req.outputs?.length ? { outputs: req.outputs } : {}),
    });
  } catch (err) {
    if (req.mode === 'add' && isMsbError(err, 'MSB_INSPECT_SIGNATURE_REQUIRED')) return undefined;
    throw err;
  }
  if (req.format && signature.format !== req.format) {
    const flag = req.format === 'tensorrt_plan' ? 'engine' : 'onnx';
    throw new StoreError(
      'MSB_STORE_BAD_SOURCE',
      `--${flag} ${source} is a ${signature.format} model, not a ${req.format}`,
      {
        path: source,
      },
    );
  }
  if (req.platform && req.platform !== signature.platform && req.platform !== signature.backend) {
    throw new StoreError(
      'MSB_STORE_BAD_SOURCE',
      `--platform ${req.platform}: ${source} is a ${signature.format} model (${signature.platform ?? signature.backend})`,
      { path: source },
    );
  }
  return signature;
}

const served = (c: ModelConfig) => c.platform || c.backend || '';

/** The release checks of one publish: those done before the store was opened, and what they need after. */
interface ReleaseChecks {
  early: PublishProblem[];
  facts: SourceFacts | undefined;
  named: TritonRelease | undefined;
  newConfig: boolean;
}

async function publishTo(
  store: ModelStore,
  req: PublishRequest,
  publishable: PublishableSource | undefined,
  signature: ModelSignature | undefined,
  checks: ReleaseChecks,
): Promise<PublishResult> {
  const exists = await store.hasModel(req.model);
  if (req.mode === 'add' && !exists) {
    throw new StoreError('MSB_STORE_NOT_FOUND', `model ${req.model} does not exist in ${store.root}`, {
      model: req.model,
    });
  }
  if (req.mode === 'create' && exists) throw existsError(store, req.model);
  // Without a release named by the caller, the store's recorded default (src/release chooseRelease: flag or
  // environment first); an unknown name is refused here, before anything is written.
  const fromStore = checks.named ? undefined : chooseRelease({ store: (await store.settings()).triton })?.release;
  const labelsFile = req.labels ?? publishable?.labels;
  // A version of an existing model is checked against its stored config; a new (or replaced) config is the one
  // generated from the source, which agrees with it by construction.
  const stored =
    exists && (req.mode === 'add' || req.mode === 'create-or-add')
      ? (await store.getModel(req.model)).config
      : undefined;
  let config: ModelConfig;
  let problems: PublishProblem[] = [];
  if (stored) {
    config = stored;
    if (signature) {
      const kinds = [signature.platform, signature.backend].filter((k) => k !== undefined && k !== '');
      if (served(stored) && !kinds.includes(served(stored))) {
        throw new StoreError(
          'MSB_STORE_MODEL_MISMATCH',
          `model ${req.model} in ${store.root} is served as ${served(stored)}, but ${req.source} is a ${signature.format} model (${kinds.join('/')})`,
          { model: req.model },
        );
      }
      problems = checkConfigAgainstModel(stored, signature);
      const errors = problems.filter((p) => p.severity === 'error');
      if (errors.length > 0 && !req.force) {
        throw new StoreError(
          'MSB_STORE_MODEL_MISMATCH',
          `${req.source} does not fit the config of model ${req.model} (Triton would refuse the version): ${errors
            .map((p) => `${p.path}: ${p.rule}: ${p.message}`)
            .join('; ')} (--force publishes it anyway)`,
          { model: req.model, problems: errors },
        );
      }
    }
  } else {
    if (!signature) {
      // Only a version of an existing model may go without a signature (see inspectSource); an ensemble has none.
      throw new StoreError('MSB_STORE_BAD_SOURCE', `model ${req.model} needs a model file to generate its config`, {
        model: req.model,
      });
    }
    const labelsName = labelsFile === undefined ? undefined : checkName('labels file', path.basename(labelsFile));
    config = generateModelConfig(signature, {
      name: req.model,
      ...(req.maxBatchSize !== undefined ? { maxBatchSize: req.maxBatchSize } : {}),
      ...(req.concurrency !== undefined ? { concurrency: req.concurrency } : {}),
      ...(labelsName !== undefined ? { labels: labelsName } : {}),
    });
  }
  const first = config.output?.[0]?.name;
  if (stored && labelsFile !== undefined && first === undefined) {
    throw new StoreError('MSB_STORE_NOT_FOUND', `model ${req.model} has no output to label`, { model: req.model });
  }
  const source = publishable?.path;
  // A plan's signature record travels with it (`<version>/model.plan.msb.json`), so the version stays inspectable.
  const fileName = modelFileName(config);
  const sidecar =
    source !== undefined && signature?.format === 'tensorrt_plan' && fileName && (await readPlanSidecar(source))
      ? { files: { [path.basename(planSidecarPath(fileName))]: planSidecarPath(source) } }
      : {};
  const { facts } = checks;
  const late: PublishProblem[] = [];
  if (facts && fromStore) late.push(...fileProblems(req, fromStore, facts));
  if (facts && req.gpus?.length && !checks.newConfig) {
    late.push(...gpuProblems(req, req.gpus, facts, fileName, config.ccModelFilenames ?? {}));
  }
  refuseIncompatible(req, late);
  problems = [...problems, ...checks.early, ...late];
  const labelsForNew =
    !stored && labelsFile !== undefined && first !== undefined
      ? { labels: { output: first, fileName: checkName('labels file', path.basename(labelsFile)), source: labelsFile } }
      : {};
  const result = await putVersion(store, {
    model: req.model,
    config,
    source,
    existing: req.mode === 'create' ? 'refuse' : req.mode === 'replace' ? 'replace' : 'add',
    ...(publishable?.derivedFrom ? { derivedFrom: publishable.derivedFrom } : {}),
    // A file made here (the bare plan) is a private temp file: copied, never linked.
    ...(req.transfer && !publishable?.derivedFrom ? { transfer: req.transfer } : {}),
    ...(req.strict ? { strict: true } : {}),
    ...(req.version !== undefined ? { version: req.version } : {}),
    ...(req.publishKey !== undefined ? { publishKey: req.publishKey } : {}),
    ...sidecar,
    ...labelsForNew,
  });
  if (stored && labelsFile !== undefined && first !== undefined) {
    // Labels of an existing model: the file first, then the output's label_filename (see setLabels).
    await (await store.getModel(req.model)).setLabels(first, { file: labelsFile });
  }
  return {
    store: store.root,
    model: result.model,
    version: result.version,
    created: result.created,
    config: result.config,
    problems,
  };
}

/** What the file about to be published says of itself, for the release checks (src/release/check.ts). */
interface SourceFacts {
  plan?: PlanFacts;
  opset?: number;
}

async function sourceFacts(file: string, signature: ModelSignature): Promise<SourceFacts | undefined> {
  if (signature.format === 'onnx') {
    const opset = onnxOpsetOf(signature.metadata.opsets);
    return opset === undefined ? {} : { opset };
  }
  if (signature.format !== 'tensorrt_plan') return undefined;
  const handle = await open(file, 'r');
  const head = Buffer.alloc(32);
  try {
    await handle.read(head, 0, 32, 0);
  } finally {
    await handle.close();
  }
  return { plan: planFacts(readPlanHeader(head).tensorrtVersion, await readPlanSidecar(file)) };
}

/** What Triton at `release` says of the file: a plan built by another TensorRT, an opset its ONNX Runtime lacks. */
function fileProblems(req: PublishRequest, release: TritonRelease, facts: SourceFacts): PublishProblem[] {
  const found = facts.plan ? checkPlanForRelease(release, facts.plan) : checkOnnxForRelease(release, facts.opset);
  return found.map((p) => ({ ...p, path: req.source ?? req.model }));
}

/** Whether each GPU of the fleet can load the plan (`cc_model_filenames` from the model's config). */
function gpuProblems(
  req: PublishRequest,
  gpus: readonly string[],
  facts: SourceFacts,
  fileName: string | undefined,
  cc: Readonly<Record<string, string>>,
): PublishProblem[] {
  if (!facts.plan) return [];
  const plan = facts.plan;
  const file = fileName ?? 'model.plan';
  return checkPlansForGpus(gpus, file, cc, (f) => (f === file ? plan : undefined)).map((p) => ({
    ...p,
    path: req.source ?? req.model,
  }));
}

/** Release errors refuse the publish (`MSB_RELEASE_INCOMPATIBLE`, nothing written) unless `force`. */
function refuseIncompatible(req: PublishRequest, found: PublishProblem[]): void {
  const errors = found.filter((p) => p.severity === 'error');
  if (errors.length === 0 || req.force) return;
  throw new ReleaseError(
    'MSB_RELEASE_INCOMPATIBLE',
    `${req.source} cannot be served as model ${req.model}: ${errors
      .map((p) => `${p.rule}: ${p.message}`)
      .join('; ')} (--force publishes it anyway)`,
    { model: req.model, problems: errors },
  );
}

function existsError(store: ModelStore, model: string): StoreError {
  return new StoreError(
    'MSB_STORE_EXISTS',
    `model ${model} already exists in ${store.root}; use \`msb version add\` for a new version, or --force to replace its config`,
    { model },
  );
}
