import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { detectFormat, ultralyticsLabels, unwrapEngine } from '../inspect/index.js';
import { type AddVersionOptions, StoreError } from '../store/index.js';

/** What is published for a source: the file itself, or what Triton can load made from it. */
export interface PublishableSource {
  /** The file or directory to publish. */
  path: string;
  /** Set when `path` was made from the source: recorded in the version's publish record. */
  derivedFrom?: NonNullable<AddVersionOptions['derivedFrom']>;
  /** A labels file made from the source's metadata (when asked and it has class names). */
  labels?: string;
  /** Removes whatever was made. */
  remove(): Promise<void>;
}

/**
 * The source as Triton can load it. An Ultralytics TensorRT engine (metadata prefix + plan) becomes its bare plan,
 * with msb's signature record carried over; its metadata goes to the publish record and, with `labelsFromMetadata`,
 * its `names` become a labels file (one class per line, by index). Everything else is published as it is.
 */
export async function publishableSource(
  source: string,
  options: { labelsFromMetadata?: boolean } = {},
): Promise<PublishableSource> {
  const found = await detectFormat(source);
  if (!found.ultralytics) {
    if (options.labelsFromMetadata) {
      throw new StoreError(
        'MSB_STORE_BAD_SOURCE',
        `${source} carries no class names (--labels-from-metadata reads an Ultralytics engine's metadata)`,
        { path: source },
      );
    }
    return { path: source, remove: async () => {} };
  }
  const bare = await unwrapEngine(found.path, found.ultralytics);
  const { metadata } = found.ultralytics;
  const out: PublishableSource = {
    path: bare.plan,
    derivedFrom: { source: path.resolve(source), container: 'ultralytics', metadata },
    remove: bare.remove,
  };
  if (options.labelsFromMetadata) {
    const labels = ultralyticsLabels(metadata);
    if (!labels) {
      await bare.remove();
      throw new StoreError('MSB_STORE_BAD_SOURCE', `${source}: its Ultralytics metadata has no class names`, {
        path: source,
      });
    }
    out.labels = path.join(path.dirname(bare.plan), 'labels.txt');
    await writeFile(out.labels, labels.map((l) => `${l}\n`).join(''));
  }
  return out;
}
