import path from 'node:path';
import { generateModelConfig, type ModelConfig } from '../config/index.js';
import {
  inspectModel,
  type ModelSignature,
  parseTensorOption,
  planSidecarPath,
  readPlanSidecar,
} from '../inspect/index.js';
import { StoreError } from './errors.js';
import { checkName } from './names.js';
import { modelFileName } from './platforms.js';
import { publishModel } from './publish.js';
import { type PublishableSource, publishableSource } from './publishable.js';
import { ModelStore } from './store.js';

export interface AddModelOptions {
  /** A path, a store URI or an open store. */
  storePath: string | ModelStore;
  /** Model file or directory. */
  source: string;
  /** What the user said the source is: `engine` (TensorRT plan), `onnx`, or `model` (anything inspect knows). */
  kind: 'engine' | 'onnx' | 'model';
  name: string;
  /** Explicit tensors (`NAME:TYPE:DIMS`), for formats that do not describe their I/O. */
  inputs?: string[];
  outputs?: string[];
  version?: number;
  concurrency?: number;
  /** Platform or backend the model must be served by; refused when the file is something else. */
  platform?: string;
  maxBatchSize?: number;
  /** Labels file for the first output. */
  labels?: string;
  /** Labels of the first output from the model file's own class names (an Ultralytics engine's `names`). */
  labelsFromMetadata?: boolean;
  /** When the model exists, replace its config (and the named version). Default false: `MSB_STORE_EXISTS`. */
  force: boolean;
  /** Create the model in strict mode (`version_policy: specific` lists each version msb publishes). */
  strict?: boolean;
}

export interface AddModelResult {
  store: string;
  model: string;
  version: number;
  config: ModelConfig;
}

const KIND_FORMAT = { engine: 'tensorrt_plan', onnx: 'onnx' } as const;

/**
 * `msb add`: inspect the file, generate its config, and publish it. A new model appears with its config, labels and
 * first version in one rename; an existing one is refused unless `force`, which replaces its config (and the version
 * `version` names) and adds the version.
 */
export async function addModel(options: AddModelOptions): Promise<AddModelResult> {
  checkName('model', options.name);
  if (options.labels !== undefined && options.labelsFromMetadata) {
    throw new StoreError('MSB_STORE_BAD_SOURCE', 'give --labels or --labels-from-metadata, not both', {});
  }
  // What Triton can load (an Ultralytics engine's bare plan), published in place of the source.
  const publishable = await publishableSource(options.source, { labelsFromMetadata: options.labelsFromMetadata });
  try {
    return await addPublishable(
      { ...options, ...(publishable.labels !== undefined ? { labels: publishable.labels } : {}) },
      publishable,
    );
  } finally {
    await publishable.remove();
  }
}

async function addPublishable(options: AddModelOptions, publishable: PublishableSource): Promise<AddModelResult> {
  const inputs = (options.inputs ?? []).map(parseTensorOption);
  const outputs = (options.outputs ?? []).map(parseTensorOption);
  const signature = await inspectModel(options.source, {
    ...(inputs.length ? { inputs } : {}),
    ...(outputs.length ? { outputs } : {}),
  });
  const expected = options.kind === 'model' ? undefined : KIND_FORMAT[options.kind];
  if (expected && signature.format !== expected) {
    throw new StoreError(
      'MSB_STORE_BAD_SOURCE',
      `--${options.kind} ${options.source} is a ${signature.format} model, not a ${expected}`,
      { path: options.source },
    );
  }
  if (options.platform && options.platform !== signature.platform && options.platform !== signature.backend) {
    throw new StoreError(
      'MSB_STORE_BAD_SOURCE',
      `--platform ${options.platform}: ${options.source} is a ${signature.format} model (${signature.platform ?? signature.backend})`,
      { path: options.source },
    );
  }
  const labelsName = options.labels === undefined ? undefined : checkName('labels file', path.basename(options.labels));
  const config = generateModelConfig(signature, {
    name: options.name,
    ...(options.maxBatchSize !== undefined ? { maxBatchSize: options.maxBatchSize } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(labelsName !== undefined ? { labels: labelsName } : {}),
  });
  const store = await ModelStore.open(options.storePath, { create: true });
  try {
    return await addTo(store, options, publishable, signature, config, labelsName);
  } finally {
    if (store !== options.storePath) await store.close();
  }
}

async function addTo(
  store: ModelStore,
  options: AddModelOptions,
  publishable: PublishableSource,
  signature: ModelSignature,
  config: ModelConfig,
  labelsName: string | undefined,
): Promise<AddModelResult> {
  const source = publishable.path;
  // A plan's signature record travels with it (`<version>/model.plan.msb.json`), so the version stays inspectable.
  const fileName = modelFileName(config);
  const sidecar =
    signature.format === 'tensorrt_plan' && fileName && (await readPlanSidecar(source))
      ? { files: { [path.basename(planSidecarPath(fileName))]: planSidecarPath(source) } }
      : {};
  const first = config.output?.[0];
  const result = await publishModel(store, {
    model: options.name,
    config,
    source,
    ...(publishable.derivedFrom ? { derivedFrom: publishable.derivedFrom } : {}),
    existing: options.force ? 'replace' : 'refuse',
    ...(options.strict ? { strict: true } : {}),
    ...(options.version !== undefined ? { version: options.version } : {}),
    ...sidecar,
    ...(options.labels !== undefined && labelsName !== undefined && first?.name !== undefined
      ? { labels: { output: first.name, fileName: labelsName, source: options.labels } }
      : {}),
  });
  return { store: store.root, model: result.model, version: result.version, config: result.config };
}
