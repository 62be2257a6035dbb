import { type ByteSource, inspectOnnxSource, type ModelSignature, type PlanSidecar } from '../inspect/index.js';
import { StoreError } from './errors.js';
import type { RepositoryStorage } from './storage.js';

/** Random access to a stored file through ranged reads (ranged GETs on an object store). */
export function storageByteSource(storage: RepositoryStorage, key: string): ByteSource {
  return {
    read: async (buffer, offset, length, position) => {
      const got = await storage.read(key, { start: position, end: position + length });
      if (!got) throw new StoreError('MSB_STORE_NOT_FOUND', `${key} is gone from ${storage.location}`, { key });
      buffer.set(got, offset);
      return got.length;
    },
    close: async () => {},
  };
}

/**
 * The signature of a stored model file, read where it lies: an ONNX file through the streaming reader over ranged
 * reads (only its interface is fetched, never the weights), a plan through its `.msb.json` signature record.
 * `undefined` for formats msb cannot read in place. For `validate`'s config-versus-model checks.
 */
export async function storedSignature(storage: RepositoryStorage, key: string): Promise<ModelSignature | undefined> {
  if (key.endsWith('.onnx')) {
    const head = await storage.head(key);
    if (!head) return undefined;
    return (await inspectOnnxSource(storageByteSource(storage, key), head.size, `${storage.location}/${key}`))
      .signature;
  }
  if (key.endsWith('.plan')) {
    const record = await storage.read(`${key}.msb.json`);
    if (!record) return undefined;
    try {
      return (JSON.parse(record.toString('utf8')) as PlanSidecar).signature;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
