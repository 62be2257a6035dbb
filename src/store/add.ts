import path from 'node:path';
import { generateModelConfig } from '../config/generate.js';
import type { ModelConfig } from '../config/index.js';
import { inspectModel, parseTensorOption, planSidecarPath, readPlanSidecar } from '../inspect/index.js';
import { StoreError } from './errors.js';
import { checkName } from './names.js';
import { modelFileName } from './platforms.js';
import { type PublishableSource, publishableSource } from './publishable.js';
import { ModelStore } from './store.js';

export interface AddModelOptions {
  storePath: string;
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
  const source = publishable.path;
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
  // A plan's signature record travels with it (`<version>/model.plan.msb.json`), so the version stays inspectable.
  const fileName = modelFileName(config);
  const sidecar =
    signature.format === 'tensorrt_plan' && fileName && (await readPlanSidecar(source))
      ? { files: { [path.basename(planSidecarPath(fileName))]: planSidecarPath(source) } }
      : {};
  const versionOptions = {
    ...(options.version !== undefined ? { version: options.version } : {}),
    ...sidecar,
    ...(publishable.derivedFrom ? { derivedFrom: publishable.derivedFrom } : {}),
  };
  if (!(await store.hasModel(options.name))) {
    const model = await store.createModel(options.name, {
      config,
      version: { source, ...versionOptions },
      ...(options.labels !== undefined && labelsName !== undefined ? { files: { [labelsName]: options.labels } } : {}),
    });
    return { store: store.root, model: model.name, version: options.version ?? 1, config: model.config };
  }
  if (!options.force) {
    throw new StoreError(
      'MSB_STORE_EXISTS',
      `model ${options.name} already exists in ${store.root}; use \`msb version add\` for a new version, or --force to replace its config`,
      { model: options.name },
    );
  }
  const model = await store.getModel(options.name);
  const first = config.output?.[0];
  if (first?.labelFilename !== undefined && options.labels !== undefined) {
    // The config without labels first, then the labels file with its label_filename: never a missing file named.
    const { labelFilename: _named, ...bare } = first;
    await model.update(() => ({ ...config, output: [bare, ...(config.output ?? []).slice(1)] }));
    await model.setLabels(first.name ?? '', { file: options.labels }, { fileName: first.labelFilename });
  } else {
    await model.update(() => config);
  }
  if (options.version !== undefined && (await model.listVersions()).includes(options.version)) {
    await model.removeVersion(options.version);
  }
  const version = await model.addVersion(source, versionOptions);
  return { store: store.root, model: model.name, version, config: model.config };
}
