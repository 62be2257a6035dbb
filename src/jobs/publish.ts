import { mkdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { ModelConfig } from '../config/index.js';
import { type PlanSidecar, planSidecarPath } from '../inspect/index.js';
import { ModelStore, parseStoreUri, publishModel } from '../store/index.js';

export interface PublishRequest {
  /** A path, a store URI or an open store. */
  store: string | ModelStore;
  /** Redis URL for the store's leases when its server ignores conditional writes (the worker's own Redis). */
  redis?: string;
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
 * Publishes `source` as a version of `model` through the store's one publish flow (atomic, locked, idempotent per
 * publishKey), creating the model with `config` when it does not exist. Refuses to add a version to a model served
 * by another platform or backend (`MSB_STORE_MODEL_MISMATCH`).
 */
export async function publishToStore(req: PublishRequest): Promise<number> {
  const store = await ModelStore.open(req.store, { create: true, ...(req.redis ? { redis: req.redis } : {}) });
  try {
    return await publishTo(store, req);
  } finally {
    if (store !== req.store) await store.close();
  }
}

async function publishTo(store: ModelStore, req: PublishRequest): Promise<number> {
  const result = await publishModel(store, {
    model: req.model,
    config: req.config,
    source: req.source,
    publishKey: req.publishKey,
    existing: 'add',
    ...(req.version !== undefined ? { version: req.version } : {}),
    ...(req.transfer ? { transfer: req.transfer } : {}),
    ...(req.files ? { files: req.files } : {}),
  });
  return result.version;
}

/**
 * Built plans by plan key, beside the store (never inside: Triton would take a directory there as a model), so a
 * plan built once is published again without rebuilding. Each entry is `<key>.plan` with its record
 * `<key>.plan.msb.json`, both appearing by rename.
 */
export class PlanCache {
  readonly dir: string;

  /**
   * Beside a local store; for an object store (nothing to hard-link to, and every worker has its own disk) in the
   * worker's local cache: `$MSB_CACHE_DIR/plans`, default `~/.cache/msb/plans`. Plans reach an object store by upload.
   */
  constructor(storeRoot: string) {
    const loc = parseStoreUri(storeRoot);
    if (loc.kind === 'local') {
      this.dir = path.join(path.dirname(loc.path), `.${path.basename(loc.path)}.msb-cache`, 'plans');
    } else {
      this.dir = path.join(process.env.MSB_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'msb'), 'plans');
    }
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
