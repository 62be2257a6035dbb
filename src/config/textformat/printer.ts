/**
 * Canonical protobuf text-format printer, driven by protobufjs reflection. Written by hand for msb (no maintained npm
 * library prints text format). Output matches protobuf's own printer (google/protobuf/text_format.cc, as used by
 * `protoc --decode`): two-space indentation, fields in field-number order, proto3 default values left out except
 * oneof members, repeated fields repeated, map entries sorted by key with both key and value printed, strings C-escaped
 * with octal escapes for non-printable bytes, and floats in their shortest round-trip `%g` form.
 *
 * Objects are checked against the schema while printing: an unknown key, a value of the wrong type or out of range,
 * or two members of one oneof fail with a `TextFormatError` naming the field path, so a typo in a hand-edited
 * config object is caught before it reaches disk.
 */
import type protobuf from 'protobufjs';
import { jsonKey } from '../schema.js';
import { TextFormatError } from './errors.js';
import {
  enumOf,
  fitInteger,
  isDefaultValue,
  isIntegerKind,
  mapKeyType,
  messageOf,
  realOneof,
  type ScalarKind,
  scalarKind,
} from './scalars.js';

export function printTextFormat(type: protobuf.Type, message: Record<string, unknown>): string {
  const lines: string[] = [];
  printMessage(type, message, '', '', lines);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function objectError(code: string, message: string, path: string): TextFormatError {
  return new TextFormatError(code, message, { line: 0, column: 0, path });
}

/** Fields of a message sorted by number: the order protobuf prints and serializes them in. */
const orderCache = new WeakMap<protobuf.Type, protobuf.Field[]>();
export function fieldsByNumber(type: protobuf.Type): protobuf.Field[] {
  let fields = orderCache.get(type);
  if (!fields) {
    fields = [...type.fieldsArray].sort((a, b) => a.id - b.id);
    orderCache.set(type, fields);
  }
  return fields;
}

/** Maps an object's keys to fields, refusing keys the schema does not have and oneofs set twice. */
export function fieldsOf(
  type: protobuf.Type,
  message: Record<string, unknown>,
  path: string,
): [protobuf.Field, unknown][] {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw objectError('MSB_TEXTFORMAT_TYPE', `Expected an object for message ${type.name}.`, path);
  }
  const byKey = new Map<string, protobuf.Field>();
  for (const f of type.fieldsArray) byKey.set(jsonKey(f), f);
  for (const key of Object.keys(message)) {
    if (!byKey.has(key) && message[key] !== undefined) {
      throw objectError(
        'MSB_TEXTFORMAT_UNKNOWN_FIELD',
        `Message type "${type.fullName.slice(1)}" has no field "${key}".`,
        join(path, key),
      );
    }
  }
  const out: [protobuf.Field, unknown][] = [];
  const oneofs = new Map<string, string>();
  for (const field of fieldsByNumber(type)) {
    const value = message[jsonKey(field)];
    if (value === undefined) continue;
    const oneof = realOneof(field);
    if (oneof) {
      const other = oneofs.get(oneof.name);
      if (other) {
        throw objectError(
          'MSB_TEXTFORMAT_DUPLICATE',
          `Fields "${other}" and "${field.name}" are both set, but they are members of oneof "${oneof.name}".`,
          join(path, jsonKey(field)),
        );
      }
      oneofs.set(oneof.name, field.name);
    }
    out.push([field, value]);
  }
  return out;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function printMessage(
  type: protobuf.Type,
  message: Record<string, unknown>,
  indent: string,
  path: string,
  lines: string[],
): void {
  for (const [field, value] of fieldsOf(type, message, path)) {
    const p = join(path, jsonKey(field));
    if (field.map) {
      printMap(field, value, indent, p, lines);
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw objectError('MSB_TEXTFORMAT_TYPE', `Expected an array for ${field.name}.`, p);
      value.forEach((v, i) => {
        printField(field, v, indent, `${p}[${i}]`, lines);
      });
    } else if (realOneof(field) || messageOf(field) || !isDefaultValue(field, checkedScalar(field, value, p))) {
      printField(field, value, indent, p, lines);
    }
  }
}

function printField(field: protobuf.Field, value: unknown, indent: string, path: string, lines: string[]): void {
  const sub = messageOf(field);
  if (sub) {
    lines.push(`${indent}${field.name} {`);
    printMessage(sub, value as Record<string, unknown>, `${indent}  `, path, lines);
    lines.push(`${indent}}`);
  } else {
    lines.push(`${indent}${field.name}: ${formatScalar(field, checkedScalar(field, value, path))}`);
  }
}

function printMap(field: protobuf.Field, value: unknown, indent: string, path: string, lines: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw objectError('MSB_TEXTFORMAT_TYPE', `Expected an object (map) for ${field.name}.`, path);
  }
  const keyKind = scalarKind(mapKeyType(field)) as ScalarKind;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, mapKeyValue(keyKind, k, `${path}[${JSON.stringify(k)}]`), v] as const);
  entries.sort((a, b) => compareKeys(a[1], b[1]));
  const valueType = messageOf(field);
  const inner = `${indent}  `;
  for (const [k, key, v] of entries) {
    const p = `${path}[${JSON.stringify(k)}]`;
    lines.push(`${indent}${field.name} {`);
    lines.push(`${inner}key: ${typeof key === 'string' ? quote(Buffer.from(key, 'utf8')) : String(key)}`);
    if (valueType) {
      lines.push(`${inner}value {`);
      printMessage(valueType, v as Record<string, unknown>, `${inner}  `, p, lines);
      lines.push(`${inner}}`);
    } else {
      lines.push(`${inner}value: ${formatScalar(field, checkedScalar(field, v, p))}`);
    }
    lines.push(`${indent}}`);
  }
}

/** A map key from its object-key string: the key type's value, validated. */
export function mapKeyValue(kind: ScalarKind, key: string, path: string): string | bigint | boolean {
  if (kind === 'string') return key;
  if (kind === 'bool') {
    if (key === 'true' || key === 'false') return key === 'true';
  } else if (isIntegerKind(kind) && /^-?\d+$/.test(key) && fitInteger(kind, BigInt(key)) !== undefined) {
    return BigInt(key);
  }
  throw objectError('MSB_TEXTFORMAT_TYPE', `Map key "${key}" is not a valid ${kind}.`, path);
}

function compareKeys(a: string | bigint | boolean, b: string | bigint | boolean): number {
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Checks a scalar or enum value against its field; returns it in canonical form. */
export function checkedScalar(field: protobuf.Field, value: unknown, path: string): unknown {
  const en = enumOf(field);
  if (en) {
    if (typeof value === 'string' && en.values[value] !== undefined) return value;
    if (typeof value === 'number' && Number.isInteger(value) && fitInteger('int32', BigInt(value)) !== undefined) {
      return en.valuesById[value] ?? value;
    }
    throw objectError('MSB_TEXTFORMAT_ENUM', `Invalid value ${String(value)} for enum ${en.name}.`, path);
  }
  const kind = scalarKind(field.type) as ScalarKind;
  const bad = (want: string) =>
    objectError(
      'MSB_TEXTFORMAT_TYPE',
      `Expected ${want} for ${field.type} field ${field.name}, got ${describe(value)}.`,
      path,
    );
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw bad('a string');
      return value;
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw bad('a Uint8Array');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw bad('a boolean');
      return value;
    case 'float':
    case 'double':
      if (typeof value !== 'number') throw bad('a number');
      return kind === 'float' ? Math.fround(value) : value;
    default: {
      const asBig =
        typeof value === 'bigint'
          ? value
          : typeof value === 'number' && Number.isSafeInteger(value)
            ? BigInt(value)
            : undefined;
      if (asBig === undefined) throw bad('an integer (number or bigint)');
      const v = fitInteger(kind, asBig);
      if (v === undefined) throw bad(`an integer in the ${kind} range`);
      return v;
    }
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : typeof value === 'object' ? 'an object' : String(value);
}

function formatScalar(field: protobuf.Field, value: unknown): string {
  if (enumOf(field)) return String(value);
  const kind = scalarKind(field.type) as ScalarKind;
  if (kind === 'string') return quote(Buffer.from(value as string, 'utf8'));
  if (kind === 'bytes') return quote(value as Uint8Array);
  if (kind === 'float') return formatFloat(value as number, 6, 9, Math.fround);
  if (kind === 'double') return formatFloat(value as number, 15, 17, (x) => x);
  return String(value);
}

/** C-style escaping as protobuf's CEscape does: named escapes, printable ASCII as is, other bytes as 3-digit octal. */
export function quote(bytes: Uint8Array): string {
  let s = '"';
  for (const b of bytes) {
    if (b === 0x0a) s += '\\n';
    else if (b === 0x0d) s += '\\r';
    else if (b === 0x09) s += '\\t';
    else if (b === 0x22) s += '\\"';
    else if (b === 0x27) s += "\\'";
    else if (b === 0x5c) s += '\\\\';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return `${s}"`;
}

/**
 * The shortest of `%.{short}g` and `%.{long}g` that reads back to the same value: protobuf's SimpleFtoa (float: 6
 * then 9 digits) and SimpleDtoa (double: 15 then 17 digits).
 */
export function formatFloat(v: number, short: number, long: number, round: (x: number) => number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Number.POSITIVE_INFINITY) return 'inf';
  if (v === Number.NEGATIVE_INFINITY) return '-inf';
  const s = printfG(v, short);
  return round(Number.parseFloat(s)) === round(v) ? s : printfG(v, long);
}

/** C's `%.{p}g`. */
function printfG(v: number, p: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const [mantissa, expText] = v.toExponential(p - 1).split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= p) {
    const m = stripZeros(mantissa);
    const sign = exp < 0 ? '-' : '+';
    return `${m}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return stripZeros(v.toFixed(Math.max(0, p - 1 - exp)));
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}
