import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ModelConfig } from '../config/index.js';
import {
  LlmError,
  type LlmProblem,
  prepareTensorrtLlm,
  prepareVllm,
  type TrtllmRequest,
  VLLM_MODEL_JSON,
  type VllmRequest,
} from '../llm/index.js';
import { tritonRelease } from '../release/index.js';
import { ModelStore, modelFileName, putVersion, StoreError } from '../store/index.js';

/** `msb add --vllm`: one vLLM model, written through the store as any version is. */
export interface VllmPublishRequest extends VllmRequest {
  /** A path, a store URI or an open store. */
  store: string | ModelStore;
  /**
   * The Triton release that will serve it (YY.MM): its vLLM version (src/release) is the one the engine arguments
   * are checked against, unless `vllmVersion` is given. Default: the store's recorded release (`msb init --triton`),
   * else the newest vLLM of msb's table.
   */
  triton?: string;
  /** Replace the config (and version 1's model.json) of an existing model of that name; default: refuse. */
  force?: boolean;
}

export interface LlmPublishResult {
  store: string;
  /** The models written, in the order they appeared. */
  models: string[];
  /** What the checks warn about (placeholders left unset, an unknown vLLM version). */
  warnings: LlmProblem[];
}

/**
 * The store's recorded default release (`msb init --triton`), where the store exists: the release a request that
 * names none is checked against, as `validate` and `publish` do. Opening it read-only creates nothing.
 */
async function storeRelease(target: string | ModelStore): Promise<string | undefined> {
  let store: ModelStore;
  try {
    store = await ModelStore.open(target, { readOnly: true });
  } catch (e) {
    if (e instanceof StoreError && e.code === 'MSB_STORE_NOT_FOUND') return undefined;
    throw e;
  }
  try {
    return (await store.settings()).triton;
  } finally {
    if (store !== target) await store.close();
  }
}

/**
 * The vLLM version a request is checked against: its own, else that of its Triton release (the request's, else the
 * store's default), else the table's newest.
 */
async function vllmVersionOf(req: VllmPublishRequest): Promise<{ version?: string; warnings: LlmProblem[] }> {
  if (req.vllmVersion !== undefined) return { version: req.vllmVersion, warnings: [] };
  const triton = req.triton ?? (await storeRelease(req.store));
  if (triton === undefined) return { warnings: [] };
  const release = tritonRelease(triton);
  if (release?.vllm) return { version: release.vllm, warnings: [] };
  return {
    warnings: [
      {
        rule: 'vllm-version-unknown',
        severity: 'warning',
        message: release
          ? `the release table does not say which vLLM Triton ${triton} ships: checked against the newest vLLM msb knows`
          : `Triton ${triton} is not in the release table (docs/release.md): checked against the newest vLLM msb knows`,
      },
    ],
  };
}

/**
 * Publishes a vLLM model: `config.pbtxt` (backend vllm, KIND_MODEL, decoupled) and `1/model.json`, checked first
 * (engine arguments against the vLLM version, a local checkpoint's files) so nothing is written for a model the
 * backend would refuse. The model appears with its first version at once (store `putVersion`).
 */
export async function publishVllm(req: VllmPublishRequest): Promise<LlmPublishResult> {
  const { version, warnings } = await vllmVersionOf(req);
  const prepared = await prepareVllm({ ...req, ...(version !== undefined ? { vllmVersion: version } : {}) });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'msb-vllm-'));
  try {
    const file = path.join(tmp, VLLM_MODEL_JSON);
    await writeFile(file, prepared.modelJson);
    const store = await ModelStore.open(req.store, { create: true });
    try {
      await putVersion(store, {
        model: prepared.name,
        config: prepared.config,
        source: undefined,
        files: { [VLLM_MODEL_JSON]: file },
        existing: req.force ? 'replace' : 'refuse',
        ...(req.force ? { version: 1 } : {}),
      });
      return { store: store.root, models: [prepared.name], warnings: [...warnings, ...prepared.warnings] };
    } finally {
      if (store !== req.store) await store.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** `msb add --tensorrt-llm`: the whole `inflight_batcher_llm` repository. */
export interface TrtllmPublishRequest extends TrtllmRequest {
  store: string | ModelStore;
}

/** A version directory of a template as the store takes it: the backend's model file, and every other file. */
async function versionFiles(
  name: string,
  config: ModelConfig,
  dir: string | undefined,
): Promise<{ source: string | undefined; files: Record<string, string> }> {
  const files: Record<string, string> = {};
  // Hidden files (.gitkeep, editor leftovers) stay behind; Triton reads none of them.
  for (const e of dir ? await readdir(dir) : []) if (!e.startsWith('.')) files[e] = path.join(dir as string, e);
  const main = modelFileName(config);
  if (main === undefined) return { source: undefined, files };
  const source = files[main];
  if (source === undefined || !(await stat(source)).isFile()) {
    throw new LlmError(
      'MSB_LLM_TEMPLATES',
      `${name} is served by the ${config.backend ?? config.platform} backend, but the template has no ${name}/1/${main}`,
      { model: name },
    );
  }
  delete files[main];
  return { source, files };
}

/**
 * Publishes a TensorRT-LLM repository: the templates filled and checked (`prepareTensorrtLlm`: nothing is written
 * for a placeholder Triton would fail on, or a contradiction with the engine), then every model created as one
 * change (`ModelStore.createModels`): the models the ensemble and the BLS call appear first, the ensemble last.
 */
export async function publishTensorrtLlm(req: TrtllmPublishRequest): Promise<LlmPublishResult> {
  const prepared = await prepareTensorrtLlm(req);
  const specs = [];
  for (const m of prepared.models) {
    const { source, files } = await versionFiles(m.name, m.config, m.versionDir);
    specs.push({ name: m.name, config: m.config, comments: m.comments, version: { source, files } });
  }
  const store = await ModelStore.open(req.store, { create: true });
  try {
    const made = await store.createModels(specs);
    return { store: store.root, models: made.map((m) => m.name), warnings: prepared.warnings };
  } finally {
    if (store !== req.store) await store.close();
  }
}
