import { mkdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { type PlanSidecar, planSidecarPath } from '../inspect/index.js';
import { parseStoreUri } from '../store/index.js';

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
