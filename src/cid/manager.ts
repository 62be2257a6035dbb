import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataType, ModelConfig } from '../config/index.js';
import { ModelStore, putVersion } from '../store/index.js';
import type { IdKind } from './client.js';
import { CidError } from './errors.js';
import { checkMillis, checkModelName } from './names.js';

/**
 * The Python-backend model msb ships as the correlation-ID manager (`src/cid/triton-model/model.py`, in the package's
 * `files`). Resolved from this module, which sits two levels below the package root both as src/cid/*.ts and as
 * dist/cid/*.js.
 */
export const MANAGER_MODEL_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'src',
  'cid',
  'triton-model',
  'model.py',
);

export interface ManagerModelOptions {
  /** The manager's model name in the repository (what clients send their requests to). */
  name: string;
  /** `msb serve`'s URL as Triton's host reaches it; the model calls its `/v1/sequences` API. */
  apiUrl: string;
  /** The ID kind it hands out (its CORRID output type). Default: the targets', else `uint64`. */
  kind?: IdKind;
  /**
   * The sequence models it serves. When given, each must be in the store with a CONTROL_SEQUENCE_CORRID control
   * (whose type decides the kind), and the manager refuses requests for any other model. Empty: any model.
   */
  targets?: string[];
  /** Lease length in ms when a request has no TTL_MS input. @default 30000 */
  ttl?: number;
  /** How long one call to `msb serve` may take, in ms, before the request fails as unavailable. @default 5000 */
  timeoutMs?: number;
  /** The environment variable of the Triton server that holds the API token (scope `enqueue`). @default MSB_CID_TOKEN */
  tokenEnv?: string;
  /** Model instances: requests one Triton serves at once (each instance handles one at a time). @default 2 */
  instances?: number;
}

export interface AddManagerOptions extends ManagerModelOptions {
  /** A path, a store URI or an open store. */
  store: string | ModelStore;
  /** Replace the config of an existing manager model (and add a version). Default: `MSB_STORE_EXISTS`. */
  force?: boolean;
}

export interface AddManagerResult {
  store: string;
  model: string;
  version: number;
  kind: IdKind;
  targets: string[];
  config: ModelConfig;
}

/**
 * The ID kind a sequence model's CORRID control asks for; `undefined` for a sequence model without one, which
 * takes either kind (the manager's `kind` decides). Throws for a model without sequence batching or a CORRID type
 * the manager cannot hand out.
 */
export function corridKind(config: ModelConfig, model: string): IdKind | undefined {
  if (!config.sequenceBatching) {
    throw new CidError('MSB_CID_OPTION', `target ${model} has no sequence_batching: it takes no correlation IDs`, {
      model,
    });
  }
  const control = config.sequenceBatching.controlInput
    ?.flatMap((c) => c.control ?? [])
    .find((c) => c.kind === 'CONTROL_SEQUENCE_CORRID');
  if (!control) return undefined;
  const type = control.dataType ?? 'TYPE_UINT64';
  if (type === 'TYPE_UINT64') return 'uint64';
  if (type === 'TYPE_STRING') return 'string';
  throw new CidError(
    'MSB_CID_KIND',
    `target ${model} takes ${String(type)} correlation IDs; the manager hands out TYPE_UINT64 (1..2^64-1) or TYPE_STRING IDs`,
    { model, dataType: type },
  );
}

const ID_TYPE: Record<IdKind, DataType> = { uint64: 'TYPE_UINT64', string: 'TYPE_STRING' };
const one = [1];

/**
 * The manager's config: a Python-backend model without batching whose request names the action and target
 * (inputs `ACTION`, `MODEL`, and for renew/release `CORRID` + `TOKEN`; `TTL_MS` optional) and whose answer is the
 * lease (`CORRID` [1] of the kind, `TOKEN`, `EXPIRES_AT`). What model.py needs comes as string parameters; the token
 * never does (Triton serves configs to any client), only the name of the variable holding it.
 */
export function managerModelConfig(options: ManagerModelOptions & { kind: IdKind }): ModelConfig {
  checkModelName(options.name);
  let url: URL | undefined;
  try {
    url = new URL(options.apiUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) {
    throw new CidError(
      'MSB_CID_OPTION',
      `invalid API URL ${JSON.stringify(options.apiUrl)}: msb serve's http:// or https:// URL is needed`,
      { apiUrl: options.apiUrl },
    );
  }
  if (url.username || url.password) {
    throw new CidError(
      'MSB_CID_OPTION',
      `API URL ${url.host}: credentials do not belong in it (Triton shows configs to its clients); give the token through --token-env`,
      { apiUrl: url.host },
    );
  }
  const ttl = checkMillis('MSB_CID_TTL', 'ttl', options.ttl ?? 30_000);
  const timeoutMs = checkMillis('MSB_CID_OPTION', 'timeoutMs', options.timeoutMs ?? 5000);
  const instances = options.instances ?? 2;
  if (!Number.isSafeInteger(instances) || instances < 1) {
    throw new CidError('MSB_CID_OPTION', `invalid instances ${instances}: an integer >= 1 is needed`, { instances });
  }
  const tokenEnv = options.tokenEnv ?? 'MSB_CID_TOKEN';
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(tokenEnv)) {
    throw new CidError('MSB_CID_OPTION', `invalid token variable ${JSON.stringify(tokenEnv)}`, { tokenEnv });
  }
  const targets = options.targets ?? [];
  for (const t of targets) checkModelName(t);
  const id = ID_TYPE[options.kind];
  return {
    name: options.name,
    backend: 'python',
    maxBatchSize: 0,
    input: [
      { name: 'ACTION', dataType: 'TYPE_STRING', dims: one, optional: true },
      { name: 'MODEL', dataType: 'TYPE_STRING', dims: one },
      { name: 'CORRID', dataType: id, dims: one, optional: true },
      { name: 'TOKEN', dataType: 'TYPE_STRING', dims: one, optional: true },
      { name: 'TTL_MS', dataType: 'TYPE_INT64', dims: one, optional: true },
    ],
    output: [
      { name: 'CORRID', dataType: id, dims: one },
      { name: 'TOKEN', dataType: 'TYPE_STRING', dims: one },
      { name: 'EXPIRES_AT', dataType: 'TYPE_INT64', dims: one },
    ],
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }],
    parameters: {
      api_url: { stringValue: url.href.replace(/\/$/, '') },
      ttl_ms: { stringValue: String(ttl) },
      timeout_ms: { stringValue: String(timeoutMs) },
      token_env: { stringValue: tokenEnv },
      ...(targets.length ? { targets: { stringValue: targets.join(',') } } : {}),
    },
  };
}

/**
 * `msb cid model add`: publishes the correlation-ID manager into a store with the store's
 * `putVersion` (what `publish` uses to write): its config is generated here, not from the model file (a Python model
 * says nothing of its tensors), and the store checks it like any other. Targets are read from the same store,
 * and must all take one ID kind (the manager's CORRID output has one type; publish a second manager for the other).
 */
export async function addManagerModel(options: AddManagerOptions): Promise<AddManagerResult> {
  checkModelName(options.name);
  const store = await ModelStore.open(options.store, { create: true });
  try {
    const targets = [...new Set(options.targets ?? [])];
    let kind = options.kind;
    for (const target of targets) {
      const wanted = corridKind((await store.getModel(checkModelName(target))).config, target);
      if (wanted === undefined) continue;
      if (kind !== undefined && kind !== wanted) {
        throw new CidError(
          'MSB_CID_KIND',
          `target ${target} takes ${wanted} IDs but this manager hands out ${kind} IDs: publish one manager per kind`,
          { model: target, kind, wanted },
        );
      }
      kind = wanted;
    }
    kind ??= 'uint64';
    if (kind !== 'uint64' && kind !== 'string') {
      throw new CidError('MSB_CID_KIND', `invalid ID kind ${JSON.stringify(kind)}: 'uint64' or 'string' is needed`, {
        kind,
      });
    }
    const config = managerModelConfig({ ...options, kind, targets });
    const result = await putVersion(store, {
      model: options.name,
      config,
      source: MANAGER_MODEL_FILE,
      existing: options.force ? 'replace' : 'refuse',
    });
    return { store: store.root, model: result.model, version: result.version, kind, targets, config: result.config };
  } finally {
    if (store !== options.store) await store.close();
  }
}
