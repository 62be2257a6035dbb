/**
 * Renders `model-config.ts`, the TypeScript face of `proto/model_config.proto`, from the schema itself so the two
 * cannot drift (a test compares the committed file with this output; `npm run gen:types` rewrites it).
 * Conventions are those of the object model: lowerCamelCase keys, enums by name (or number when the name is not
 * known: proto3 enums are open), 64-bit integers as `Int64`, maps as records, every field optional.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { modelConfigProtoPath } from './schema.js';
import { scalarKind } from './textformat/scalars.js';

const TS_SCALAR: Record<string, string> = {
  int32: 'number',
  uint32: 'number',
  int64: 'Int64',
  uint64: 'Int64',
  float: 'number',
  double: 'number',
  bool: 'boolean',
  string: 'string',
  bytes: 'Uint8Array',
};

/** `inference.ModelInstanceGroup.Kind` → `ModelInstanceGroupKind`. */
function tsName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\.inference\./, '').replace(/\./g, '');
}

function doc(comment: string | null, indent: string): string {
  if (!comment) return '';
  const lines = comment
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.length === 1
    ? `${indent}/** ${lines[0]} */\n`
    : `${indent}/**\n${lines.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

function fieldType(f: protobuf.Field): string {
  const base = f.resolvedType ? tsName(f.resolvedType) : (TS_SCALAR[scalarKind(f.type) ?? ''] ?? 'never');
  if (f.map) return `Record<string, ${base}>`;
  return f.repeated ? `${base}[]` : base;
}

export function renderModelConfigTypes(): string {
  const root = new protobuf.Root().loadSync(modelConfigProtoPath, { keepCase: true, alternateCommentMode: true });
  root.resolveAll();
  const ns = root.lookup('inference') as protobuf.Namespace;
  const out: string[] = [
    `// Generated from proto/${path.basename(modelConfigProtoPath)} by src/config/typegen.ts (npm run gen:types). Do not edit.`,
    '',
    "import type { Int64 } from './textformat/scalars.js';",
    '',
    "export type { Int64 } from './textformat/scalars.js';",
  ];
  const visit = (n: protobuf.NamespaceBase) => {
    for (const child of n.nestedArray) {
      if (child instanceof protobuf.Enum) {
        const names = Object.keys(child.values).map((v) => `'${v}'`);
        out.push('', `${doc(child.comment, '')}export type ${tsName(child)} = ${[...names, 'number'].join(' | ')};`);
      } else if (child instanceof protobuf.Type) {
        out.push('', `${doc(child.comment, '')}export interface ${tsName(child)} {`);
        for (const f of child.fieldsArray) {
          const key = f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
          out.push(`${doc(f.comment, '  ')}  ${key}?: ${fieldType(f)};`);
        }
        out.push('}');
        visit(child);
      }
    }
  };
  visit(ns);
  return `${out.join('\n')}\n`;
}
