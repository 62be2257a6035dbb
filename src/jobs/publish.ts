import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { ModelConfig } from '../config/index.js';
import { isMsbError } from '../errors.js';
import { type PlanSidecar, planSidecarPath } from '../inspect/index.js';
import { ModelStore } from '../store/index.js';
import { JobError } from './errors.js';

export interface PublishRequest {
  store: string;
  model: string;
  /** The generated config, used when the model does not exist yet. */
  config: ModelConfig;
  source: string;
  /** Idempotency: a retried job finds its version instead of publishing a second one. */
  publishKey: string;
  version?: number;
  /** `link` for msb's own build outputs, which nothing rewrites in place. */
  transfer?: 'copy' | 'link';
  /** More files for the version directory (e.g. the plan's signature record). */
  files?: Record<string, string>;
}

/**
 * Publishes `source` as a version of `model` through the store (atomic, locked, idempotent per publishKey),
 * creating the model with `config` when it does not exist. Refuses to add a version to a model served by another
 * platform or backend.
 */
export async function publishToStore(req: PublishRequest): Promise<number> {
  const store = await ModelStore.open(req.store, { create: true });
  const options = {
    publishKey: req.publishKey,
    ...(req.version !== undefined ? { version: req.version } : {}),
    ...(req.transfer ? { transfer: req.transfer } : {}),
    ...(req.files ? { files: req.files } : {}),
  };
  if (!(await store.hasModel(req.model))) {
    try {
      const created = await store.createModel(req.model, {
        config: req.config,
        version: { source: req.source, ...options },
      });
      return Math.max(...(await created.listVersions()));
    } catch (err) {
      // Another worker created it meanwhile: add the version to theirs.
      if (!isMsbError(err, 'MSB_STORE_EXISTS')) throw err;
    }
  }
  const model = await store.getModel(req.model);
  const have = model.config;
  const served = (c: ModelConfig) => c.platform || c.backend || '';
  if (served(have) !== served(req.config)) {
    throw new JobError(
      'MSB_JOB_MODEL_MISMATCH',
      `model ${req.model} in ${req.store} is served as ${served(have)}, but this job publishes a ${served(req.config)} model`,
      { model: req.model },
    );
  }
  return model.addVersion(req.source, options);
}

/**
 * Built plans by plan key, beside the store (never inside: Triton would take a directory there as a model), so a
 * plan built once is published again without rebuilding. Each entry is `<key>.plan` with its record
 * `<key>.plan.msb.json`, both appearing by rename.
 */
export class PlanCache {
  readonly dir: string;

  constructor(storeRoot: string) {
    const root = path.resolve(storeRoot);
    this.dir = path.join(path.dirname(root), `.${path.basename(root)}.msb-cache`, 'plans');
  }

  planPath(key: string): string {
    return path.join(this.dir, `${key}.plan`);
  }

  /** The cached plan's path and record, or undefined. */
  async get(key: string): Promise<{ plan: string; record: PlanSidecar } | undefined> {
    const plan = this.planPath(key);
    try {
      const record = JSON.parse(await readFile(planSidecarPath(plan), 'utf8')) as PlanSidecar;
      if ((await stat(plan)).size !== record.planBytes) return undefined;
      return { plan, record };
    } catch {
      return undefined;
    }
  }

  /** Stores a plan and its record: plan first, record last, so a record always describes a complete plan. */
  async put(key: string, bytes: Uint8Array, record: PlanSidecar): Promise<{ plan: string; record: PlanSidecar }> {
    await mkdir(this.dir, { recursive: true });
    const plan = this.planPath(key);
    const full: PlanSidecar = { ...record, planBytes: bytes.byteLength };
    await writeFileAtomic(plan, bytes);
    await writeFileAtomic(planSidecarPath(plan), `${JSON.stringify(full, null, 2)}\n`);
    return { plan, record: full };
  }
}
