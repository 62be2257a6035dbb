import type { ModelConfig } from '../config/index.js';
import { isMsbError } from '../errors.js';
import { StoreError } from './errors.js';
import type { AddVersionOptions } from './model.js';
import { checkName } from './names.js';
import type { ModelStore } from './store.js';

/**
 * What the store writes for one publish: the model's config and a version's files, already decided. The publish use
 * case (`publish` in src/publish) inspects, unwraps and checks the source and then calls {@link putVersion}; nothing
 * else writes a version.
 */
export interface PutVersionRequest {
  model: string;
  /** The config for the model: used when it is created, and by `replace` on an existing one. */
  config: ModelConfig;
  /** The model file or directory (none for an ensemble). */
  source: string | undefined;
  /** Version number; default: 1 for a new model, one above the highest for an existing one. */
  version?: number;
  /** Idempotency: a retried publish finds its version instead of publishing a second one. */
  publishKey?: string;
  /** `link` for msb's own build outputs on a local store, which nothing rewrites in place. */
  transfer?: AddVersionOptions['transfer'];
  /** More files for the version directory (e.g. the plan's signature record), name → source. */
  files?: Record<string, string>;
  /** What `source` was made from (an Ultralytics engine whose metadata prefix was taken off): kept in the record. */
  derivedFrom?: AddVersionOptions['derivedFrom'];
  /** A labels file for an output of `config` (which names it in its `label_filename`). */
  labels?: { output: string; fileName: string; source: string };
  /**
   * When the model exists: `add` a version to it (refused with `MSB_STORE_MODEL_MISMATCH` when it is served by
   * another platform or backend), `replace` its config (and the version `version` names) then add, or `refuse`
   * (`MSB_STORE_EXISTS`).
   */
  existing: 'add' | 'replace' | 'refuse';
  /** A new model is created in strict mode (`version_policy: specific` as the commit point). */
  strict?: boolean;
}

export interface PutVersionResult {
  model: string;
  /** The version this publish made (or, with `publishKey`, found). */
  version: number;
  created: boolean;
  config: ModelConfig;
}

const served = (c: ModelConfig) => c.platform || c.backend || '';

/**
 * The store's one create-or-add write, under the publish use case. A new model appears with its labels and
 * first version and then its config (see the commit order); when another writer creates the same model at the same
 * time, the loser adds its version to the winner's model as `existing` says, so two concurrent creates never fail
 * for the wrong reason nor lose a version.
 */
export async function putVersion(store: ModelStore, req: PutVersionRequest): Promise<PutVersionResult> {
  checkName('model', req.model);
  const versionOptions: AddVersionOptions = {
    ...(req.version !== undefined ? { version: req.version } : {}),
    ...(req.publishKey !== undefined ? { publishKey: req.publishKey } : {}),
    ...(req.transfer !== undefined ? { transfer: req.transfer } : {}),
    ...(req.files !== undefined ? { files: req.files } : {}),
    ...(req.derivedFrom !== undefined ? { derivedFrom: req.derivedFrom } : {}),
  };
  if (!(await store.hasModel(req.model))) {
    try {
      const model = await store.createModel(req.model, {
        config: req.config,
        version: { source: req.source, ...versionOptions },
        ...(req.labels ? { files: { [req.labels.fileName]: req.labels.source } } : {}),
        ...(req.strict ? { strict: true } : {}),
      });
      return { model: model.name, version: req.version ?? 1, created: true, config: model.config };
    } catch (err) {
      if (!isMsbError(err, 'MSB_STORE_EXISTS')) throw err;
      // Another writer created it meanwhile: go on as for an existing model.
    }
  }
  if (req.existing === 'refuse') {
    throw new StoreError(
      'MSB_STORE_EXISTS',
      `model ${req.model} already exists in ${store.root}; use \`msb version add\` for a new version, or --force to replace its config`,
      { model: req.model },
    );
  }
  const model = await store.getModel(req.model);
  if (req.publishKey !== undefined) {
    const found = await model.findPublished(req.publishKey);
    if (found !== undefined) return { model: model.name, version: found, created: false, config: model.config };
  }
  if (req.existing === 'add' && served(model.config) !== served(req.config)) {
    throw new StoreError(
      'MSB_STORE_MODEL_MISMATCH',
      `model ${req.model} in ${store.root} is served as ${served(model.config)}, but this publishes a ${served(req.config)} model`,
      { model: req.model },
    );
  }
  if (req.existing === 'replace') {
    const first = req.labels ? req.config.output?.find((o) => o.name === req.labels?.output) : undefined;
    if (req.labels && first) {
      // The config without those labels first, then the labels file with its label_filename: never a missing file
      // named.
      const output = (req.config.output ?? []).map((o) => {
        if (o !== first) return o;
        const { labelFilename: _named, ...bare } = o;
        return bare;
      });
      await model.update(() => ({ ...req.config, output }), { force: true });
      await model.setLabels(req.labels.output, { file: req.labels.source }, { fileName: req.labels.fileName });
    } else {
      await model.update(() => req.config, { force: true });
    }
    if (req.version !== undefined && (await model.listVersions()).includes(req.version)) {
      await model.removeVersion(req.version);
    }
  }
  const version = await model.addVersion(req.source, versionOptions);
  return { model: model.name, version, created: false, config: model.config };
}
