import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** `proto/` holds the schemas; the same relative place from `src/config` and from the built `dist/config`. */
export const protoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');

/** Path of Triton's ModelConfig schema (`proto/model_config.proto`). */
export const modelConfigProtoPath = path.join(protoDir, 'model_config.proto');

const roots = new Map<string, protobuf.Root>();

/**
 * Loads a `.proto` from `proto/` once. Field names are kept exactly as written (snake_case), because text format
 * spells them that way; the object model's camelCase keys are derived from them (see `jsonKey`).
 */
export function loadProto(file: string): protobuf.Root {
  let root = roots.get(file);
  if (!root) {
    const full = path.join(protoDir, file);
    if (!existsSync(full)) throw new Error(`msb: schema file missing: ${full}`);
    root = new protobuf.Root().loadSync(full, { keepCase: true });
    root.resolveAll();
    roots.set(file, root);
  }
  return root;
}

/** The reflected `inference.ModelConfig` type. */
export function modelConfigType(): protobuf.Type {
  return loadProto('model_config.proto').lookupType('inference.ModelConfig');
}

/** lowerCamelCase of a proto field name: the key used by the object model and the protobuf JSON mapping. */
export function jsonKey(field: protobuf.Field): string {
  return field.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}
