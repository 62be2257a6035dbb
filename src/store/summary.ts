/**
 * What a store holds and what is wrong with one model, as `msb ls`, the API (`/v1/models`) and the dashboard show
 * it: one reading each, so the three never disagree.
 */
import { isMsbError } from '../errors.js';
import type { ModelStore } from './store.js';
import type { RepositoryProblem, ValidateOptions } from './validate.js';

/** One model of a store: what its config says it is and which versions and labels it has. */
export interface ModelSummary {
  name: string;
  platform?: string;
  backend?: string;
  versions: number[];
  /** Labels files named by its outputs. */
  labels: string[];
  /** Set when the model cannot be read (a broken config): it is still listed, `validate` says what is wrong. */
  error?: string;
}

/** Every model of `store`, sorted by name; a model msb cannot read is listed with its `error`. */
export async function summary(store: ModelStore): Promise<ModelSummary[]> {
  return Promise.all(
    (await store.listModels()).map(async (name): Promise<ModelSummary> => {
      try {
        const info = await (await store.getModel(name)).describe();
        return {
          name,
          ...(info.config.platform ? { platform: info.config.platform } : {}),
          ...(info.config.backend ? { backend: info.config.backend } : {}),
          versions: info.versions.map((v) => v.version),
          labels: info.labels.map((l) => l.file),
        };
      } catch (err) {
        return { name, versions: [], labels: [], error: isMsbError(err) ? `${err.code}: ${err.message}` : String(err) };
      }
    }),
  );
}

/**
 * What `validate` reports for the model `name` and the files under it. The repository's rules are the store's
 * (`validate()`); this is the part of them a page or a request about one model shows.
 */
export async function problems(
  store: ModelStore,
  name: string,
  options: ValidateOptions = {},
): Promise<RepositoryProblem[]> {
  return (await store.validate(options)).filter((p) => p.path === name || p.path.startsWith(`${name}/`));
}
