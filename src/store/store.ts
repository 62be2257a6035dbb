import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigComments, ModelConfig } from '../config/index.js';
import { chooseRelease } from '../release/index.js';
import { StoreError } from './errors.js';
import { LocalStorage } from './local-storage.js';
import { type AddVersionOptions, parseStored, renderConfig, StoredModel, VERSION_RECORD } from './model.js';
import { checkName, checkVersion, tritonVersionOf } from './names.js';
import { resolveSource } from './sources.js';
import type { LockOptions, ModelSource, RepositoryStorage, StagedTree, StagingArea } from './storage.js';
import { parseStoreUri } from './uri.js';
import { type RepositoryProblem, type ValidateOptions, validateRepository } from './validate.js';

export interface OpenOptions {
  /** Create the repository (directory, or its marker under an object-store prefix) when missing. Default false. */
  create?: boolean;
  /**
   * Redis URL for leases on object stores whose server ignores conditional writes (s3rver, some S3-compatible
   * servers). Default: `REDIS_URL` from the environment; without one, such stores warn that concurrent writers are not
   * coordinated.
   */
  redis?: string;
  /** Told once when concurrent writers cannot be coordinated. Default: a line on stderr. */
  warn?: (message: string) => void;
  /**
   * Where files are assembled before they appear in the repository; must be on the repository's filesystem and
   * outside it. Default: `<parent>/.<repository name>.msb-staging`.
   */
  stagingDir?: string;
  /** Lock waiting and lease settings for every model of this store. */
  lock?: LockOptions;
  /**
   * For reads (`msb ls`, `show`, `validate`, `config get`): check the store is there and create, clean and write
   * nothing (no staging directory, no lock). Writes through such a store are not refused by it, so open one only to
   * read. Default false.
   */
  readOnly?: boolean;
  /** Another storage behind the same contract. Default: the local directory `root`. */
  storage?: RepositoryStorage;
}

export interface CreateModelOptions {
  platform?: string;
  backend?: string;
  /** The rest of the config (name and platform/backend are filled in). Default: none. */
  config?: ModelConfig;
  /** When the name is taken, use the first free `<name>_<n>` (n = 0, 1, ...) instead of failing. Default false. */
  force?: boolean;
  /**
   * A first version to publish together with the model, so the model directory appears with its config and a
   * loadable version in one rename (Triton never sees a model without versions). Default: none.
   */
  version?: { source: string | undefined } & AddVersionOptions;
  /** Files for the model directory itself, name → source path (e.g. the labels file a `label_filename` names). */
  files?: Record<string, string>;
  /**
   * Strict mode: the config gets `version_policy { specific { versions: [...] } }` listing the first version, and
   * from then on a version appears exactly when msb lists it there (see `docs/storage.md`). Default false.
   */
  strict?: boolean;
  /** Comments for the config (from the text it was parsed from), each put back with its field. Default: none. */
  comments?: ConfigComments;
}

/**
 * A Triton model repository. Every subdirectory of the root is a model (as Triton sees it). Writers may run in
 * several processes at once: each model has a cross-process lock, and everything appears by atomic renames from a
 * staging directory outside the repository.
 */
export class ModelStore {
  readonly root: string;
  private readonly storage: RepositoryStorage;
  private readonly lockOptions: LockOptions;

  private constructor(storage: RepositoryStorage, lockOptions: LockOptions) {
    this.storage = storage;
    this.root = storage.location;
    this.lockOptions = lockOptions;
  }

  /**
   * Opens (or with `create`, creates) a repository and cleans what crashed writers left behind. `target` is a path,
   * a store URI (`file://`, `s3://bucket/prefix`, `s3://http://host:port/bucket/prefix`, `gs://bucket/prefix`: see
   * {@link parseStoreUri}) or an open store (returned as is).
   */
  static async open(target: string | ModelStore, options: OpenOptions = {}): Promise<ModelStore> {
    if (target instanceof ModelStore) return target;
    const storage = options.storage ?? (await openStorage(target, options));
    // A model directory, a version directory or a file given as the store is named as such, with its store, before
    // anything is created beside it.
    await refuseNonStore(storage);
    await storage.prepare(options.create ?? false, { readOnly: options.readOnly ?? false });
    return new ModelStore(storage, options.lock ?? {});
  }

  /** The storage behind this store, for tools that read it directly (ranged reads of model files, artifacts). */
  get repository(): RepositoryStorage {
    return this.storage;
  }

  /** Releases connections (object-store clients, Redis); local stores hold none. */
  async close(): Promise<void> {
    await this.storage.close();
  }

  /** Names of every subdirectory of the root, sorted (each is a model to Triton, whatever its name). */
  async listModels(): Promise<string[]> {
    return ((await this.storage.list('')) ?? []).filter((e) => e.type === 'dir').map((e) => e.name);
  }

  async hasModel(name: string): Promise<boolean> {
    checkName('model', name);
    return (await this.storage.list(name)) !== undefined;
  }

  /** Reads a model; `MSB_STORE_NOT_FOUND` when there is no such directory, `MSB_STORE_CONFIG` for a broken config. */
  async getModel(name: string): Promise<StoredModel> {
    checkName('model', name);
    if (!(await this.hasModel(name))) {
      throw new StoreError('MSB_STORE_NOT_FOUND', `model ${name} does not exist in ${this.root}`, { model: name });
    }
    const text = (await this.storage.read(`${name}/config.pbtxt`))?.toString('utf8');
    const config = text === undefined ? { name } : parseStored(name, text);
    return new StoredModel(this.ctx(), name, config, text);
  }

  private ctx() {
    return { storage: this.storage, lockOptions: this.lockOptions };
  }

  /**
   * Creates a model directory with its config.pbtxt (and optionally its first version), appearing at once.
   * `MSB_STORE_EXISTS` when the name is taken, unless `force` picks `<name>_0`, `<name>_1`, ...
   */
  async createModel(name: string, options: CreateModelOptions = {}): Promise<StoredModel> {
    checkName('model', name);
    const modelFiles = await this.modelFiles(options.files);
    for (let n = -1; ; n++) {
      const candidate = n < 0 ? name : checkName('model', `${name}_${n}`);
      const { model, staged } = await this.stageModel(candidate, modelFiles, options);
      let created: boolean;
      try {
        created = await this.commitModel(candidate, staged);
      } finally {
        await staged.discard();
      }
      if (created) {
        await model.reload();
        return model;
      }
      if (!options.force) {
        throw new StoreError('MSB_STORE_EXISTS', `model ${candidate} already exists in ${this.root}`, {
          model: candidate,
        });
      }
    }
  }

  /**
   * Creates several models as one change: an ensemble with the models it calls (`msb add --tensorrt-llm`). Every
   * name is checked free and every model is staged (configs rendered and validated, all files copied) before the
   * first one appears; then they appear one by one in the order given, each as {@link createModel} makes one
   * appear. Callers list the models an ensemble (or a BLS model) calls before it, so a polling Triton never reads a
   * config that names a model not yet there, and an explicit-mode Triton finds them all once the call returns. When
   * a name is taken meanwhile by another writer, the models this call already made are removed again (they are its
   * own, new) and `MSB_STORE_EXISTS` names it: nothing that was stored before is touched. `force` is not taken here.
   */
  async createModels(specs: readonly ({ name: string } & Omit<CreateModelOptions, 'force'>)[]): Promise<StoredModel[]> {
    const taken: string[] = [];
    for (const spec of specs) if (await this.hasModel(spec.name)) taken.push(spec.name);
    if (taken.length > 0) {
      throw new StoreError(
        'MSB_STORE_EXISTS',
        `${taken.length === 1 ? 'model' : 'models'} ${taken.join(', ')} already ${taken.length === 1 ? 'exists' : 'exist'} in ${this.root}; nothing was written`,
        { models: taken },
      );
    }
    const staged: { model: StoredModel; staged: StagedTree }[] = [];
    const made: string[] = [];
    try {
      for (const spec of specs) {
        const { name, ...options } = spec;
        staged.push(await this.stageModel(name, await this.modelFiles(options.files), options));
      }
      for (const s of staged) {
        if (!(await this.commitModel(s.model.name, s.staged))) {
          throw new StoreError(
            'MSB_STORE_EXISTS',
            `model ${s.model.name} was created in ${this.root} by another writer meanwhile; the models this publish had made (${made.join(', ') || 'none'}) were removed again`,
            { model: s.model.name },
          );
        }
        made.push(s.model.name);
      }
    } catch (err) {
      // Removal in reverse: the ensemble (committed last) goes first.
      for (const name of made.reverse()) await this.storage.removeTree(name).catch(() => {});
      throw err;
    } finally {
      for (const s of staged) await s.staged.discard();
    }
    for (const s of staged) await s.model.reload();
    return staged.map((s) => s.model);
  }

  private async modelFiles(files: Record<string, string> | undefined): Promise<[string, ModelSource][]> {
    const modelFiles: [string, ModelSource][] = [];
    for (const [file, src] of Object.entries(files ?? {})) {
      if (checkName('model directory file', file) === 'config.pbtxt' || tritonVersionOf(file).kind !== 'not-numeric') {
        throw new StoreError('MSB_STORE_INVALID_NAME', `${file} cannot be a file of the model directory`, {
          name: file,
        });
      }
      modelFiles.push([file, await resolveSource(src)]);
    }
    return modelFiles;
  }

  /**
   * A new model's tree, staged (nothing visible yet): its directory files, first version, then its config (the
   * options' config with their platform and backend, named `candidate`).
   */
  private async stageModel(
    candidate: string,
    modelFiles: [string, ModelSource][],
    options: Omit<CreateModelOptions, 'force'>,
  ): Promise<{ model: StoredModel; staged: StagedTree }> {
    const config: ModelConfig = {
      ...options.config,
      ...(options.platform !== undefined ? { platform: options.platform } : {}),
      ...(options.backend !== undefined ? { backend: options.backend } : {}),
      name: candidate,
    };
    if (options.strict) {
      config.versionPolicy = { specific: { versions: options.version ? [options.version.version ?? 1] : [] } };
    }
    const text = renderConfig(candidate, config, options.comments);
    const model = new StoredModel(this.ctx(), candidate, config, text);
    let stageVersion: ((stage: StagingArea) => Promise<void>) | undefined;
    if (options.version) {
      const { source, ...vopts } = options.version;
      if (vopts.version !== undefined) checkVersion(vopts.version);
      stageVersion = await model.stageVersionFor(source, vopts);
    }
    const version = options.version?.version ?? 1;
    // Commit order for a new model (object stores): the model directory's files (labels) and the version first,
    // its config last, so Triton never reads a config naming a file that is not there yet.
    const staged = await this.storage.stage(async (stage) => {
      for (const [file, src] of modelFiles) await stage.putSource(file, src, 'dependency', 'copy');
      if (stageVersion) await stageVersion(prefixed(stage, String(version)));
      await stage.writeFile('config.pbtxt', text, 'config');
    });
    return { model, staged };
  }

  /** Makes a staged model appear at `name`; false when the name is taken (nothing replaced). */
  private async commitModel(name: string, staged: StagedTree): Promise<boolean> {
    // A backend that refuses an existing name by itself (rename, If-None-Match) needs no lock here.
    const lock = (await this.storage.conditionalWrites()) ? undefined : await this.storage.lock(name, this.lockOptions);
    try {
      return await staged.commit(name);
    } finally {
      await lock?.release();
    }
  }

  /** Removes a model directory (it disappears at once, under the model's lock). */
  async removeModel(name: string): Promise<void> {
    const model = await this.getModel(name).catch((err: unknown) => {
      if (err instanceof StoreError && err.code === 'MSB_STORE_CONFIG')
        return new StoredModel(this.ctx(), name, {}, undefined);
      throw err;
    });
    await model.withLock(async () => {
      if (!(await this.storage.removeTree(name))) {
        throw new StoreError('MSB_STORE_NOT_FOUND', `model ${name} does not exist in ${this.root}`, { model: name });
      }
    });
  }

  /**
   * Every problem Triton would have loading this repository, each with its path; with `release` (and `gpus`) also
   * what Triton at that release (and each GPU of the fleet) cannot load (src/release/check.ts).
   */
  validate(options: ValidateOptions = {}): Promise<RepositoryProblem[]> {
    return validateRepository(this.storage, options);
  }

  /**
   * The store's own settings (`msb-store.json` at the root): the default Triton release its checks use when neither
   * `--triton` nor `MSB_TRITON_RELEASE` names one. A file at the root is ignored by Triton, which takes only
   * directories as models, whatever their names (a dot-name would not help: hidden directories are models too).
   */
  async settings(): Promise<StoreSettings> {
    const data = await this.storage.read(STORE_SETTINGS);
    if (data === undefined) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch {
      throw new StoreError('MSB_STORE_CONFIG', `${this.root}/${STORE_SETTINGS} is not JSON`, { path: STORE_SETTINGS });
    }
    const triton = (parsed as { triton?: unknown } | null)?.triton;
    if (triton !== undefined && typeof triton !== 'string') {
      throw new StoreError('MSB_STORE_CONFIG', `${this.root}/${STORE_SETTINGS}: "triton" is not a release name`, {
        path: STORE_SETTINGS,
      });
    }
    return triton === undefined ? {} : { triton };
  }

  /**
   * The release and fleet checks `validate` runs for this store: the release named by the flag, else the
   * environment variable, else the store's recorded default (src/release chooseRelease); `MSB_RELEASE_UNKNOWN` for a
   * name the table does not hold. No release and no GPUs: no such checks.
   */
  async checksFor(given: { flag?: string; env?: string; gpus?: readonly string[] }): Promise<ValidateOptions> {
    const chosen = chooseRelease({ flag: given.flag, env: given.env, store: (await this.settings()).triton });
    return {
      ...(chosen ? { release: chosen.release } : {}),
      // vLLM models' engine arguments are checked against the vLLM the release pairs with, where the table says.
      ...(chosen?.release.vllm ? { vllmVersion: chosen.release.vllm } : {}),
      ...(given.gpus?.length ? { gpus: given.gpus } : {}),
    };
  }

  /** Records the store's settings (atomically replaces `msb-store.json`; `triton: undefined` removes the default). */
  async setSettings(settings: StoreSettings): Promise<void> {
    const body = { msb: 1, ...(settings.triton !== undefined ? { triton: settings.triton } : {}) };
    await this.storage.write(STORE_SETTINGS, `${JSON.stringify(body, null, 2)}\n`);
  }
}

/** The file at the repository root holding the store's settings (Triton ignores files at the root). */
export const STORE_SETTINGS = 'msb-store.json';

/** What a store records about itself. */
export interface StoreSettings {
  /** Default Triton release ("25.01") for the release checks. */
  triton?: string;
}

function prefixed(stage: StagingArea, dir: string): StagingArea {
  return {
    writeFile: (rel, data, phase) =>
      stage.writeFile(
        `${dir}/${rel}`,
        typeof data === 'function'
          ? (placed) => data(Object.fromEntries(Object.entries(placed).map(([k, v]) => [k.slice(dir.length + 1), v])))
          : data,
        phase,
      ),
    putSource: (rel, src, phase, transfer) => stage.putSource(`${dir}/${rel}`, src, phase, transfer),
  };
}

export { VERSION_RECORD };

/** The storage for a path or store URI; object-store SDKs and Redis are loaded only when a URI needs them. */
export async function openStorage(
  target: string,
  options: Pick<OpenOptions, 'stagingDir' | 'redis' | 'warn'> = {},
): Promise<RepositoryStorage> {
  const loc = parseStoreUri(target);
  if (loc.kind === 'local') {
    return new LocalStorage(loc.path, options.stagingDir !== undefined ? { stagingDir: options.stagingDir } : {});
  }
  const [{ S3ObjectClient }, { ObjectStorage }, { RedisLeases }] = await Promise.all([
    import('./s3-client.js'),
    import('./object-storage.js'),
    import('./redis-lease.js'),
  ]);
  const redis = options.redis ?? process.env.REDIS_URL;
  return new ObjectStorage(await S3ObjectClient.create(loc), {
    prefix: loc.prefix,
    ...(redis ? { leases: new RedisLeases(redis) } : {}),
    ...(options.warn ? { warn: options.warn } : {}),
  });
}

/**
 * A path that is inside a store rather than a store: a model directory (it holds config.pbtxt, or only version
 * directories with model files and msb's version records), a version directory (it holds a version record or a
 * model file, and its parent is a model directory), or a file. `MSB_STORE_NOT_A_STORE` names the store it belongs
 * to; a missing path or a plain directory passes (the caller creates or refuses it).
 */
async function refuseNonStore(storage: RepositoryStorage): Promise<void> {
  const at = storage.location;
  const entries = await storage.list('');
  const parent = path.posix.dirname(at.replace(/\/+$/, ''));
  const grand = path.posix.dirname(parent);
  const notAStore = (what: string, store: string) =>
    new StoreError('MSB_STORE_NOT_A_STORE', `${at} is ${what}, not a model store; the store is ${store}`, {
      path: at,
      store,
    });
  if (entries === undefined) {
    if (storage instanceof LocalStorage) {
      const st = await stat(at).catch(() => undefined);
      if (st?.isFile()) {
        const inModel = await isModelDir(grand);
        const inVersion = await isModelDir(path.dirname(grand));
        if (inModel) throw notAStore(`a file of model ${path.basename(parent)}'s directory`, grand);
        if (inVersion) {
          throw notAStore(
            `a file of version ${path.basename(parent)} of model ${path.basename(grand)}`,
            path.dirname(grand),
          );
        }
        throw new StoreError('MSB_STORE_NOT_A_STORE', `model store ${at} is a file, not a directory`, { path: at });
      }
    }
    return;
  }
  const has = (name: string, type?: 'file' | 'dir') =>
    entries.some((e) => e.name === name && (!type || e.type === type));
  if (has('config.pbtxt', 'file')) throw notAStore(`the directory of model ${path.posix.basename(at)}`, parent);
  const versionLike = has(VERSION_RECORD, 'file') || entries.some((e) => e.type === 'file' && /^model\./.test(e.name));
  if (versionLike && tritonVersionOf(path.posix.basename(at)).kind === 'version') {
    throw notAStore(`version ${path.posix.basename(at)} of model ${path.posix.basename(parent)}`, grand);
  }
  async function isModelDir(dir: string): Promise<boolean> {
    return (await stat(path.join(dir, 'config.pbtxt')).catch(() => undefined))?.isFile() ?? false;
  }
}
