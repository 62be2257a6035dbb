import { type ByteSource, inspectOnnxSource, type ModelSignature } from '../inspect/index.js';
import { StoreError } from './errors.js';
import { parseStoreUri } from './uri.js';

/** True for `s3://…` and `gs://…` (an object, or a store). */
export function isObjectUri(target: string): boolean {
  return /^(s3|gs):\/\//i.test(target);
}

/**
 * Inspects an ONNX object where it lies (`msb inspect s3://bucket/path/model.onnx`): the streaming reader runs over
 * ranged GETs, so a multi-GB model costs a few 64 KiB reads. `bytesFetched` counts what came over the wire.
 */
export async function inspectObject(uri: string): Promise<{ signature: ModelSignature; bytesFetched: number }> {
  const loc = parseStoreUri(uri);
  if (loc.kind === 'local') throw new StoreError('MSB_STORE_URI', `${uri} is not an object URI`);
  if (!loc.prefix.endsWith('.onnx')) {
    throw new StoreError(
      'MSB_STORE_URI',
      `${uri}: msb reads ONNX objects in place (*.onnx); download other formats first`,
      { uri },
    );
  }
  const { S3ObjectClient } = await import('./s3-client.js');
  const client = await S3ObjectClient.create(loc);
  let bytesFetched = 0;
  try {
    const head = await client.head(loc.prefix);
    if (!head) throw new StoreError('MSB_STORE_NOT_FOUND', `${uri} does not exist`, { uri });
    const source: ByteSource = {
      read: async (buffer, offset, length, position) => {
        const got = await client.get(loc.prefix, { start: position, end: Math.min(position + length, head.size) });
        if (!got) throw new StoreError('MSB_STORE_NOT_FOUND', `${uri} is gone`, { uri });
        bytesFetched += got.data.length;
        buffer.set(got.data, offset);
        return got.data.length;
      },
      close: async () => {},
    };
    const { signature } = await inspectOnnxSource(source, head.size, uri);
    return { signature, bytesFetched };
  } finally {
    client.close();
  }
}
