/**
 * The protobuf JSON mapping (https://protobuf.dev/programming-guides/json/) for schema messages: lowerCamelCase
 * keys, 64-bit integers as decimal strings, bytes as base64, enums by name, NaN/±Infinity as strings, default values
 * left out. Reading accepts what the mapping allows: original field names too, integers as numbers or strings,
 * enum numbers, `null` for "not set".
 */
import type protobuf from 'protobufjs';
import { jsonKey } from './schema.js';
import { TextFormatError } from './textformat/errors.js';
import { checkedScalar, fieldsOf, mapKeyValue } from './textformat/printer.js';
import {
  enumOf,
  isDefaultValue,
  mapKeyType,
  messageOf,
  realOneof,
  type ScalarKind,
  scalarKind,
} from './textformat/scalars.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function jsonError(message: string, path: string): TextFormatError {
  return new TextFormatError('MSB_TEXTFORMAT_TYPE', message, { line: 0, column: 0, path });
}

export function messageToJson(type: protobuf.Type, message: Record<string, unknown>, path = ''): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [field, value] of fieldsOf(type, message, path)) {
    const key = jsonKey(field);
    const p = path ? `${path}.${key}` : key;
    if (field.map) {
      const entries: Record<string, Json> = {};
      const kind = scalarKind(mapKeyType(field)) as ScalarKind;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        mapKeyValue(kind, k, `${p}[${JSON.stringify(k)}]`);
        entries[k] = valueToJson(field, v, `${p}[${JSON.stringify(k)}]`);
      }
      out[key] = entries;
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw jsonError(`Expected an array for ${field.name}.`, p);
      if (value.length) out[key] = value.map((v, i) => valueToJson(field, v, `${p}[${i}]`));
    } else if (realOneof(field) || messageOf(field) || !isDefaultValue(field, checkedScalar(field, value, p))) {
      out[key] = valueToJson(field, value, p);
    }
  }
  return out;
}

function valueToJson(field: protobuf.Field, value: unknown, path: string): Json {
  const sub = messageOf(field);
  if (sub) return messageToJson(sub, value as Record<string, unknown>, path);
  const v = checkedScalar(field, value, path);
  if (enumOf(field)) return v as string | number;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    const kind = scalarKind(field.type);
    return kind === 'int64' || kind === 'uint64' ? String(v) : v;
  }
  return v as Json;
}

export function messageFromJson(type: protobuf.Type, json: unknown, path = ''): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw jsonError(`Expected a JSON object for message ${type.name}.`, path);
  }
  const out: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(json as Record<string, unknown>)) {
    const field = type.fields[k] ?? type.fieldsArray.find((f) => jsonKey(f) === k);
    const key = field ? jsonKey(field) : k;
    const p = path ? `${path}.${key}` : key;
    if (!field) {
      throw new TextFormatError(
        'MSB_TEXTFORMAT_UNKNOWN_FIELD',
        `Message type "${type.fullName.slice(1)}" has no field "${k}".`,
        {
          line: 0,
          column: 0,
          path: p,
        },
      );
    }
    if (raw === null) continue;
    if (out[key] !== undefined)
      throw jsonError(`Field "${field.name}" is given twice (as "${field.name}" and "${key}").`, p);
    if (field.map) {
      if (typeof raw !== 'object' || Array.isArray(raw))
        throw jsonError(`Expected an object (map) for ${field.name}.`, p);
      const kind = scalarKind(mapKeyType(field)) as ScalarKind;
      const map: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(raw as Record<string, unknown>)) {
        const mp = `${p}[${JSON.stringify(mk)}]`;
        mapKeyValue(kind, mk, mp);
        map[mk] = valueFromJson(field, mv, mp);
      }
      out[key] = map;
    } else if (field.repeated) {
      if (!Array.isArray(raw)) throw jsonError(`Expected an array for ${field.name}.`, p);
      out[key] = raw.map((v, i) => valueFromJson(field, v, `${p}[${i}]`));
    } else {
      out[key] = valueFromJson(field, raw, p);
    }
  }
  // Reuse the object checks of the printer (oneof conflicts, ranges) on the converted message.
  fieldsOf(type, out, path);
  return out;
}

function valueFromJson(field: protobuf.Field, raw: unknown, path: string): unknown {
  const sub = messageOf(field);
  if (sub) return messageFromJson(sub, raw, path);
  if (enumOf(field)) return checkedScalar(field, raw, path);
  const kind = scalarKind(field.type) as ScalarKind;
  let v = raw;
  if (kind === 'bytes') {
    if (typeof raw !== 'string') throw jsonError(`Expected base64 text for bytes field ${field.name}.`, path);
    v = new Uint8Array(Buffer.from(raw, 'base64'));
  } else if ((kind === 'float' || kind === 'double') && typeof raw === 'string') {
    const named: Record<string, number> = {
      NaN: Number.NaN,
      Infinity: Number.POSITIVE_INFINITY,
      '-Infinity': -Infinity,
    };
    v = named[raw] ?? (raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw);
  } else if (kind !== 'string' && kind !== 'bool' && kind !== 'float' && kind !== 'double') {
    if (typeof raw === 'string' && /^-?\d+$/.test(raw)) v = BigInt(raw);
    else if (typeof raw === 'number' && Number.isInteger(raw)) v = BigInt(raw);
  }
  return checkedScalar(field, v, path);
}
