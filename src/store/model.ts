import path from 'node:path';
import {
  type ConfigComments,
  type ModelConfig,
  type ModelDynamicBatching,
  type ModelInstanceGroup,
  type ModelInstanceGroupKind,
  type ModelVersionPolicy,
  parseModelConfig,
  printModelConfig,
  validateModelConfig,
} from '../config/index.js';
import { isMsbError } from '../errors.js';
import { StoreError } from './errors.js';
import { checkName, checkVersion, tritonVersionOf } from './names.js';
import { isDirectoryModel, isEnsemble, modelFileName } from './platforms.js';
import { VERSION_RECORD, type VersionRecord } from './record.js';
import { resolveSource } from './sources.js';
import {
  type LockOptions,
  type ModelSource,
  type PlacedFiles,
  type RepositoryStorage,
  readAll,
  type StagingArea,
  type Transfer,
} from './storage.js';
import { modelProblems, type RepositoryProblem } from './validate.js';

export { VERSION_RECORD, type VersionRecord };

export interface AddVersionOptions {
  /** Version number to create; refused with `MSB_STORE_EXISTS` when taken. Default: one above the highest. */
  version?: number;
  /**
   * Idempotency key (e.g. a job id): when a version with this key was already published, its number is returned
   * and nothing is written. Default: none.
   */
  publishKey?: string;
  /**
   * `copy` (default) clones the file when the filesystem supports reflinks, else copies it in the kernel, and
   * fsyncs; the version is a private copy. `link` hardlinks when on the same filesystem: O(1), but the version then
   * shares the file with the source, so only use it for files nothing rewrites in place (msb's own build outputs).
   */
  transfer?: Transfer;
  /**
   * Name of the model file in the version directory. Default: `default_model_filename`, else Triton's default for
   * the platform/backend, else the source's own name (custom backends).
   */
  fileName?: string;
  /**
   * More files for the version directory, name → source path: e.g. plans per compute capability named in
   * `cc_model_filenames`, or an OpenVINO `model.bin` (found automatically next to a `.xml` source).
   */
  files?: Record<string, string>;
  /**
   * The file `source` was made from, when it is derived (the bare plan of an Ultralytics engine, see
   * `publishableSource`): recorded as the version's source, with the container's metadata.
   */
  derivedFrom?: { source: string; container: string; metadata: Record<string, unknown> };
}

/** How a config edit ({@link StoredModel.update}, {@link StoredModel.save}) treats problems it would add. */
export interface EditOptions {
  /** Save a config the model checks refuse (the problems are returned). Default false: `MSB_STORE_CONFIG`. */
  force?: boolean;
  /**
   * The comments of the new config, when it replaces the stored one from another text (`msb config set FILE`).
   * Default: the stored file's comments, each kept with its field.
   */
  comments?: ConfigComments;
}

/** What {@link StoredModel.describe} returns. */
export interface ModelInfo {
  name: string;
  config: ModelConfig;
  versions: { version: number; files: { path: string; size: number }[]; publishKey?: string; publishedAt?: string }[];
  labels: { output: string; file: string; lines?: number }[];
}

const KINDS: Record<string, ModelInstanceGroupKind> = {
  gpu: 'KIND_GPU',
  cpu: 'KIND_CPU',
  auto: 'KIND_AUTO',
  model: 'KIND_MODEL',
};

/** Shared plumbing the model needs from its store. */
export interface StoreContext {
  storage: RepositoryStorage;
  lockOptions: LockOptions;
}

/**
 * One model directory. `config` is the in-memory config (as read when the object was made, or as created); edit it
 * directly or with the helpers, then `save()`. `update(fn)` is the read-modify-write under the model's lock.
 */
export class StoredModel {
  readonly name: string;
  config: ModelConfig;
  /** The config.pbtxt text this object last read or wrote; `save()` refuses to overwrite anything else. */
  private baseText: string | undefined;
  private readonly ctx: StoreContext;

  /** @internal made by ModelStore */
  constructor(ctx: StoreContext, name: string, config: ModelConfig, baseText: string | undefined) {
    this.ctx = ctx;
    this.name = name;
    this.config = config;
    this.baseText = baseText;
  }

  private get storage(): RepositoryStorage {
    return this.ctx.storage;
  }

  /** Runs `fn` holding this model's cross-process lock; `MSB_STORE_NOT_FOUND` when the model is gone. */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const lock = await this.storage.lock(this.name, this.ctx.lockOptions);
    try {
      // The model may have been removed while we waited for its lock.
      if ((await this.storage.list(this.name)) === undefined) {
        throw new StoreError('MSB_STORE_NOT_FOUND', `model ${this.name} does not exist`, { model: this.name });
      }
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /**
   * Writes `config` after the checks of {@link update} (refused, or with `force` saved anyway; the problems are
   * returned). Refused with `MSB_STORE_CONFLICT` when config.pbtxt changed on disk since this object read it, so a
   * concurrent writer's update is never lost silently; use `update()` for read-modify-write.
   */
  async save(options: EditOptions = {}): Promise<RepositoryProblem[]> {
    return this.withLock(async () => {
      const current = await this.readCurrent();
      if (current.text !== this.baseText) throw this.conflict();
      const problems = await this.checkEdit(current.text, this.config, options);
      if (!(await this.writeConfig(this.config, current.etag, current.comments))) throw this.conflict();
      return problems;
    });
  }

  /**
   * The checks before a config edit is saved: Triton's config rules (`MSB_STORE_CONFIG`, always), then the model
   * checks `validate` applies to this model with the new config (each version's model file against it, labels
   * files, the version policy). An error the stored config did not already have refuses the edit
   * (`MSB_STORE_CONFIG`, every such problem in `details.problems`) unless `force`; problems the model had before
   * do not block an edit (it may be the one that fixes them). Returns every problem of the model with the new
   * config.
   */
  private async checkEdit(
    beforeText: string | undefined,
    next: ModelConfig,
    options: EditOptions,
  ): Promise<RepositoryProblem[]> {
    const text = renderConfig(this.name, next);
    const key = (p: RepositoryProblem) => `${p.rule} ${p.path} ${p.message}`;
    const before = new Set((await modelProblems(this.storage, this.name, beforeText)).map(key));
    const after = await modelProblems(this.storage, this.name, text);
    const added = after.filter((p) => p.severity === 'error' && !before.has(key(p)));
    if (added.length > 0 && !options.force) {
      throw new StoreError(
        'MSB_STORE_CONFIG',
        `config of model ${this.name} not saved, Triton would refuse it: ${added
          .map((p) => `${p.path}: ${p.rule}: ${p.message}`)
          .join('; ')} (--force saves it anyway)`,
        { model: this.name, problems: added },
      );
    }
    return after;
  }

  private conflict(): StoreError {
    return new StoreError(
      'MSB_STORE_CONFLICT',
      `config of model ${this.name} changed in the store since it was read; reload it or use update()`,
      { model: this.name },
    );
  }

  private get configKey(): string {
    return `${this.name}/config.pbtxt`;
  }

  /**
   * The one read–modify–write of the config, under the model's lock: `fn` gets the config as it is in the store
   * now; what it returns is checked as {@link checkEdit} says (refused, or with `force` saved anyway) and written
   * with the stored file's comments kept (each with its field; see src/config/textformat/comments.ts). Returns the
   * model's problems with the new config. The write is conditional on the config not having changed since it was
   * read (S3 `If-Match`), so a writer that does not honour the lock is never overwritten: `fn` is then applied
   * again to the newer config.
   */
  async update(
    fn: (config: ModelConfig) => ModelConfig | undefined | Promise<ModelConfig | undefined>,
    options: EditOptions = {},
  ): Promise<RepositoryProblem[]> {
    return this.withLock(async () => {
      for (let attempt = 0; ; attempt++) {
        const current = await this.readCurrent();
        const next = (await fn(current.config)) ?? current.config;
        const problems = await this.checkEdit(current.text, next, options);
        if (await this.writeConfig(next, current.etag, options.comments ?? current.comments)) return problems;
        if (attempt >= 20) throw this.conflict();
      }
    });
  }

  private async readCurrent(): Promise<{
    config: ModelConfig;
    etag: string | undefined;
    text: string | undefined;
    comments: ConfigComments;
  }> {
    const current = await this.storage.readTagged(this.configKey);
    const text = current?.data.toString('utf8');
    const comments: ConfigComments = new Map();
    return {
      config: text !== undefined ? parseStored(this.name, text, comments) : { name: this.name },
      etag: current?.etag,
      text,
      comments,
    };
  }

  /** Re-reads config.pbtxt from the store into `config`. */
  async reload(): Promise<void> {
    const text = await this.readText();
    this.config = text === undefined ? { name: this.name } : parseStored(this.name, text);
    this.baseText = text;
  }

  private async readText(): Promise<string | undefined> {
    return (await this.storage.read(this.configKey))?.toString('utf8');
  }

  /**
   * Writes the config, with `comments` put back, when it is still the one tagged `etag` (none: still absent); false
   * when it changed.
   */
  private async writeConfig(
    config: ModelConfig,
    etag: string | undefined,
    comments: ConfigComments | undefined,
  ): Promise<boolean> {
    if (config.name !== undefined && config.name !== '' && config.name !== this.name) {
      // Triton requires the config's name to be the directory's: a new name here would be silently dropped.
      throw new StoreError(
        'MSB_STORE_RENAME',
        `the name of model ${this.name} is the name of its directory and cannot be set to ${JSON.stringify(config.name)} ` +
          `in its config. To rename it, publish it anew under the new name (msb add ... --name ${config.name}) and ` +
          `remove the old one (msb rm), or move the directory (mv <store>/${this.name} <store>/${config.name}) and ` +
          'then set the name in the config',
        { model: this.name, name: config.name },
      );
    }
    const text = renderConfig(this.name, config, comments);
    const ok = await this.storage.write(
      this.configKey,
      text,
      etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: etag },
    );
    if (!ok) return false;
    this.config = parseStored(this.name, text);
    this.baseText = text;
    return true;
  }

  /** Appends an instance group (`kind` short or KIND_* name). In memory; `save()` to write. */
  addInstanceGroup(
    kind: 'gpu' | 'cpu' | 'auto' | 'model' | ModelInstanceGroupKind,
    options: Omit<ModelInstanceGroup, 'kind'> = {},
  ): this {
    const k: ModelInstanceGroupKind =
      typeof kind === 'string' ? (KINDS[kind] ?? (kind as ModelInstanceGroupKind)) : kind;
    this.config.instanceGroup = [...(this.config.instanceGroup ?? []), { ...options, kind: k }];
    return this;
  }

  /** `'all'`, `{ latest: n }` or `{ specific: [versions] }`. In memory; `save()` to write. */
  setVersionPolicy(policy: 'all' | { latest: number } | { specific: number[] }): this {
    let p: ModelVersionPolicy;
    if (policy === 'all') p = { all: {} };
    else if ('latest' in policy) p = { latest: { numVersions: policy.latest } };
    else p = { specific: { versions: policy.specific } };
    this.config.versionPolicy = p;
    return this;
  }

  /** Turns dynamic batching on with the given settings, or off with `false`. In memory; `save()` to write. */
  setDynamicBatching(settings: ModelDynamicBatching | false): this {
    if (settings === false) delete this.config.dynamicBatching;
    else this.config.dynamicBatching = settings;
    return this;
  }

  /** Version numbers as Triton reads the directory names, ascending. */
  async listVersions(): Promise<number[]> {
    return (await this.versionDirs()).map((v) => v.version);
  }

  /**
   * Version directories, ascending. Directories Triton reads as a number they do not spell (`2abc`) are included
   * only with `inexact` (to keep new numbers above them); validate() reports them.
   */
  private async versionDirs(inexact = false): Promise<{ dir: string; version: number }[]> {
    const entries = (await this.storage.list(this.name)) ?? [];
    const out: { dir: string; version: number }[] = [];
    for (const e of entries) {
      if (e.type !== 'dir') continue;
      const v = tritonVersionOf(e.name);
      if (v.kind === 'version' && v.version > 0n && (v.exact || inexact)) {
        out.push({ dir: e.name, version: Number(v.version) });
      }
    }
    return out.sort((a, b) => a.version - b.version);
  }

  private async readRecord(dir: string): Promise<VersionRecord | undefined> {
    const buf = await this.storage.read(`${this.name}/${dir}/${VERSION_RECORD}`);
    if (!buf) return undefined;
    try {
      return JSON.parse(buf.toString('utf8')) as VersionRecord;
    } catch {
      return undefined;
    }
  }

  /** The version published with `publishKey`, if any. */
  async findPublished(publishKey: string): Promise<number | undefined> {
    for (const v of await this.versionDirs()) {
      if ((await this.readRecord(v.dir))?.publishKey === publishKey) return v.version;
    }
    return undefined;
  }

  /**
   * Publishes a new version: the model file (or directory) is staged outside the repository with its record, then
   * appears by one atomic rename as `<version>/<model file>`. Returns the version number. `source` may be omitted
   * for ensembles. See {@link AddVersionOptions}.
   */
  async addVersion(source: string | undefined, options: AddVersionOptions = {}): Promise<number> {
    if (options.version !== undefined) checkVersion(options.version);
    const plan = await this.stageVersionFor(source, options);
    if (options.publishKey !== undefined) {
      // A retry after a completed publish costs no copy.
      const existing = await this.findPublished(options.publishKey);
      if (existing !== undefined) return existing;
    }
    // The copy happens before the lock is taken; only the choice of number and the rename are serialised.
    const staged = await this.storage.stage(plan);
    try {
      return await this.withLock(async () => {
        if (options.publishKey !== undefined) {
          const existing = await this.findPublished(options.publishKey);
          if (existing !== undefined) return existing;
        }
        const taken = await this.versionDirs(true);
        let version = options.version ?? (taken.at(-1)?.version ?? 0) + 1;
        for (;;) {
          if (options.version === undefined || !taken.some((t) => t.version === version)) {
            if (await staged.commit(`${this.name}/${version}`)) {
              await this.listInPolicy(version, true);
              return version;
            }
          }
          // Taken (by a writer that does not honour our lock, or given explicitly): never overwrite.
          if (options.version !== undefined) {
            throw new StoreError('MSB_STORE_EXISTS', `version ${version} of model ${this.name} already exists`, {
              model: this.name,
              version,
            });
          }
          version++;
        }
      });
    } finally {
      await staged.discard();
    }
  }

  /**
   * Checks names and sources up front (before the lock, before anything is written) and returns the stager.
   * @internal used by addVersion and ModelStore.createModel
   */
  async stageVersionFor(
    source: string | undefined,
    options: AddVersionOptions,
  ): Promise<(stage: StagingArea) => Promise<void>> {
    const placed: { name: string; src: ModelSource; phase: 'model' | 'dependency' | 'record' }[] = [];
    const fileName = options.fileName ?? modelFileName(this.config);
    let display: string | undefined;
    if (source !== undefined) {
      const src = await resolveSource(source);
      display = src.display;
      const name = checkName('model file', fileName ?? path.basename(src.display));
      if (isDirectoryModel(name) !== (src.kind === 'dir')) {
        throw new StoreError(
          'MSB_STORE_BAD_SOURCE',
          `model ${this.name} expects ${name} to be a ${isDirectoryModel(name) ? 'directory' : 'file'}, but ${src.display} is a ${src.kind === 'dir' ? 'directory' : 'file'}`,
          { path: src.display },
        );
      }
      placed.push({ name, src, phase: 'model' });
      const weightsName = name.replace(/\.xml$/, '.bin');
      if (name.endsWith('.xml') && /\.xml$/i.test(src.display) && !options.files?.[weightsName]) {
        // OpenVINO's IR is two files: the weights sit next to the graph with the same stem.
        const weights = await resolveSource(src.display.replace(/\.xml$/i, '.bin')).catch((err: unknown) => {
          if (isMsbError(err, 'MSB_STORE_NOT_FOUND')) return undefined;
          throw err;
        });
        if (weights) placed.push({ name: weightsName, src: weights, phase: 'dependency' });
      }
    } else if (!isEnsemble(this.config) && fileName !== undefined) {
      throw new StoreError(
        'MSB_STORE_BAD_SOURCE',
        `model ${this.name} needs a model file (${fileName}) for a version`,
        {
          model: this.name,
        },
      );
    }
    for (const [name, p] of Object.entries(options.files ?? {})) {
      // msb's records (a plan's `.msb.json` signature) come after the model file; other files before it.
      const phase = name.endsWith('.msb.json') ? 'record' : 'dependency';
      placed.push({ name: checkName('model file', name), src: await resolveSource(p), phase });
    }
    const publishedAt = new Date().toISOString();
    const record = (written: PlacedFiles): string => {
      const rec: VersionRecord = {
        msb: 1,
        ...(options.publishKey !== undefined ? { publishKey: options.publishKey } : {}),
        ...(display !== undefined ? { source: options.derivedFrom?.source ?? display } : {}),
        ...(options.derivedFrom
          ? { container: { kind: options.derivedFrom.container, metadata: options.derivedFrom.metadata } }
          : {}),
        publishedAt,
        files: placed.flatMap(({ name, src }) =>
          src.entries
            .filter((e) => e.kind === 'file')
            .map((e) => {
              const rel = e.rel ? `${name}/${e.rel}` : name;
              const sha256 = written[rel]?.sha256;
              return { path: rel, size: e.size, ...(sha256 !== undefined ? { sha256 } : {}) };
            }),
        ),
      };
      return `${JSON.stringify(rec, null, 2)}\n`;
    };
    return async (stage) => {
      for (const { name, src, phase } of placed) await stage.putSource(name, src, phase, options.transfer ?? 'copy');
      await stage.writeFile(VERSION_RECORD, record, 'record');
    };
  }

  /**
   * Strict mode: a model whose config has `version_policy { specific { versions: [...] } }` loads only the versions
   * listed, so msb makes that list the commit point: a new version's files are written first (unlisted, Triton
   * ignores them), then one config write lists it; a removed version is unlisted first. Under the model's lock.
   */
  private async listInPolicy(version: number, listed: boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const { config, etag, comments } = await this.readCurrent();
      const specific = config.versionPolicy?.specific;
      if (!specific) return;
      const versions = (specific.versions ?? []).map(Number).filter((v) => v !== version);
      if (listed) versions.push(version);
      config.versionPolicy = { specific: { versions: versions.sort((a, b) => a - b) } };
      if (await this.writeConfig(config, etag, comments)) return;
      if (attempt >= 20) throw this.conflict();
    }
  }

  /** Removes a version directory (it disappears at once). */
  async removeVersion(version: number): Promise<void> {
    checkVersion(version);
    await this.withLock(async () => {
      const dirs = (await this.versionDirs()).filter((v) => v.version === version);
      if (dirs.length === 0) {
        throw new StoreError('MSB_STORE_NOT_FOUND', `model ${this.name} has no version ${version}`, {
          model: this.name,
          version,
        });
      }
      // Removal in reverse: in strict mode the config stops listing the version before its files go.
      await this.listInPolicy(version, false);
      for (const d of dirs) await this.storage.removeTree(`${this.name}/${d.dir}`);
    });
  }

  /**
   * Sets the labels of `output`: the labels file (one label per line) is written first, then the output's
   * `label_filename`, so the config never names a missing file. `fileName` defaults to the one the output already
   * has, else `<output>_labels.txt`.
   */
  async setLabels(
    output: string,
    labels: string[] | { file: string },
    options: { fileName?: string } = {},
  ): Promise<string> {
    let content: Buffer;
    if (Array.isArray(labels)) {
      content = Buffer.from(labels.map((l) => `${l}\n`).join(''), 'utf8');
    } else {
      const src = await resolveSource(labels.file);
      const e = src.entries[0];
      if (src.kind !== 'file' || !e) {
        throw new StoreError('MSB_STORE_BAD_SOURCE', `labels ${src.display} is not a file`, { path: src.display });
      }
      content = await readAll(e.open());
    }
    return this.withLock(async () => {
      const { config, etag, comments } = await this.readCurrent();
      const out = config.output?.find((o) => o.name === output);
      if (!out) {
        throw new StoreError('MSB_STORE_NOT_FOUND', `model ${this.name} has no output ${JSON.stringify(output)}`, {
          model: this.name,
          output,
        });
      }
      const fileName = checkName('labels file', options.fileName ?? out.labelFilename ?? `${output}_labels.txt`);
      if (fileName === 'config.pbtxt')
        throw new StoreError('MSB_STORE_INVALID_NAME', 'labels cannot be named config.pbtxt');
      // Labels before the config that names them: the config never names a missing file. A replaced file under
      // another name is kept: a Triton that read the previous config may still be about to read it, and deleting it
      // then made that load fail (test/store/s3-writers.test.ts's poller saw it). Triton ignores files no config
      // names; `removeLabels` still deletes its own.
      await this.storage.write(`${this.name}/${fileName}`, content);
      out.labelFilename = fileName;
      if (!(await this.writeConfig(config, etag, comments))) throw this.conflict();
      return fileName;
    });
  }

  /** Drops `output`'s label_filename, then its file when no other output uses it. */
  async removeLabels(output: string): Promise<void> {
    await this.withLock(async () => {
      const { config, etag, comments } = await this.readCurrent();
      const out = config.output?.find((o) => o.name === output);
      if (!out?.labelFilename) {
        throw new StoreError(
          'MSB_STORE_NOT_FOUND',
          `output ${JSON.stringify(output)} of model ${this.name} has no labels`,
          {
            model: this.name,
            output,
          },
        );
      }
      const file = out.labelFilename;
      delete out.labelFilename;
      // Removal in reverse: the config stops naming the file before the file goes.
      if (!(await this.writeConfig(config, etag, comments))) throw this.conflict();
      if (!config.output?.some((o) => o.labelFilename === file)) {
        await this.storage.delete(`${this.name}/${checkName('labels file', file)}`);
      }
    });
  }

  /** Config, versions with their files and records, and labels files. */
  async describe(): Promise<ModelInfo> {
    const versions: ModelInfo['versions'] = [];
    for (const v of await this.versionDirs()) {
      const rec = await this.readRecord(v.dir);
      const files = await this.listFiles(`${this.name}/${v.dir}`, '');
      versions.push({
        version: v.version,
        files,
        ...(rec?.publishKey !== undefined ? { publishKey: rec.publishKey } : {}),
        ...(rec?.publishedAt !== undefined ? { publishedAt: rec.publishedAt } : {}),
      });
    }
    const labels: ModelInfo['labels'] = [];
    for (const o of this.config.output ?? []) {
      if (!o.labelFilename) continue;
      const buf = await this.storage.read(`${this.name}/${o.labelFilename}`);
      labels.push({
        output: o.name ?? '',
        file: o.labelFilename,
        ...(buf
          ? {
              lines: buf
                .toString('utf8')
                .split('\n')
                .filter((l) => l !== '').length,
            }
          : {}),
      });
    }
    return { name: this.name, config: this.config, versions, labels };
  }

  private async listFiles(key: string, prefix: string): Promise<{ path: string; size: number }[]> {
    const out: { path: string; size: number }[] = [];
    for (const e of (await this.storage.list(key)) ?? []) {
      if (e.name === VERSION_RECORD) continue;
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.type === 'dir') out.push(...(await this.listFiles(`${key}/${e.name}`, rel)));
      else out.push({ path: rel, size: e.size });
    }
    return out;
  }
}

/**
 * Canonical config.pbtxt text for a model: name forced to the directory name, validated first; `comments` (from
 * the text it replaces) put back by field.
 */
export function renderConfig(modelName: string, config: ModelConfig, comments?: ConfigComments): string {
  const named: ModelConfig = { ...config, name: modelName };
  const problems = validateModelConfig(named, { modelName });
  if (problems.length > 0) {
    throw new StoreError(
      'MSB_STORE_CONFIG',
      `config of model ${modelName} is invalid: ${problems.map((p) => `${p.path || '(config)'}: ${p.message}`).join('; ')}`,
      { model: modelName, problems },
    );
  }
  return printModelConfig(named, comments ? { comments } : {});
}

export function parseStored(modelName: string, text: string, comments?: ConfigComments): ModelConfig {
  try {
    return parseModelConfig(text, { source: `${modelName}/config.pbtxt`, ...(comments ? { comments } : {}) });
  } catch (err) {
    throw new StoreError(
      'MSB_STORE_CONFIG',
      `${modelName}/config.pbtxt: ${(err as Error).message}`,
      { model: modelName },
      { cause: err },
    );
  }
}
