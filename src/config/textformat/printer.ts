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
import { type ConfigComments, END } from './comments.js';
import { TextFormatError, type TextFormatErrorCode } from './errors.js';
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

/** Prints `message` canonically; with `comments` (from the parser, see comments.ts) each goes back by its field. */
export function printTextFormat(
  type: protobuf.Type,
  message: Record<string, unknown>,
  comments?: ConfigComments,
): string {
  const lines: string[] = [];
  const out = new Out(lines, comments);
  printMessage(type, message, '', '', lines, out, '');
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Places comments around the printed lines, and keeps those whose field is not printed (see comments.ts). */
class Out {
  private readonly used = new Set<string>();

  constructor(
    private readonly lines: string[],
    private readonly comments: ConfigComments | undefined,
  ) {}

  /** Comment lines that go above field `key`. */
  before(key: string, indent: string): void {
    const c = this.comments?.get(key);
    if (!c) return;
    this.used.add(key);
    for (const text of c.before) this.lines.push(`${indent}${text}`);
  }

  /** The trailing comment of field `key`, appended to the last line printed. */
  after(key: string): void {
    const c = this.comments?.get(key)?.after;
    if (c === undefined || this.lines.length === 0) return;
    this.lines[this.lines.length - 1] += `  ${c}`;
  }

  /** At the end of message `key` (`''`: the file): the comments of its fields not printed, then its closing ones. */
  end(key: string, indent: string): void {
    if (!this.comments) return;
    const own = `${key}${END}`;
    for (const [k, c] of this.comments) {
      if (k === own || this.used.has(k) || !(key === '' || k.startsWith(`${key}.`))) continue;
      this.used.add(k);
      for (const text of [...c.before, ...(c.after !== undefined ? [c.after] : [])]) {
        this.lines.push(`${indent}${text}`);
      }
    }
    this.before(own, indent);
  }
}

function objectError(code: TextFormatErrorCode, message: string, path: string): TextFormatError {
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

/** `key` is the comment path (proto field names, see comments.ts); `path` the object path named in errors. */
function printMessage(
  type: protobuf.Type,
  message: Record<string, unknown>,
  indent: string,
  path: string,
  lines: string[],
  out: Out,
  key: string,
): void {
  for (const [field, value] of fieldsOf(type, message, path)) {
    const p = join(path, jsonKey(field));
    const k = join(key, field.name);
    if (field.map) {
      printMap(field, value, indent, p, lines, out, k);
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw objectError('MSB_TEXTFORMAT_TYPE', `Expected an array for ${field.name}.`, p);
      value.forEach((v, i) => {
        printField(field, v, indent, `${p}[${i}]`, lines, out, `${k}[${i}]`);
      });
    } else if (messageOf(field)) {
      printField(field, value, indent, p, lines, out, k);
    } else {
      const checked = checkedScalar(field, value, p);
      if (realOneof(field) || !isDefaultValue(field, checked)) {
        out.before(k, indent);
        lines.push(scalarLine(field, checked, indent));
        out.after(k);
      }
    }
  }
  out.end(key, indent);
}

function printField(
  field: protobuf.Field,
  value: unknown,
  indent: string,
  path: string,
  lines: string[],
  out: Out,
  key: string,
): void {
  const sub = messageOf(field);
  out.before(key, indent);
  if (sub) {
    lines.push(`${indent}${field.name} {`);
    printMessage(sub, value as Record<string, unknown>, `${indent}  `, path, lines, out, key);
    lines.push(`${indent}}`);
  } else {
    lines.push(scalarLine(field, checkedScalar(field, value, path), indent));
  }
  out.after(key);
}

/** `name: value` for a scalar already checked against its field. */
function scalarLine(field: protobuf.Field, checked: unknown, indent: string): string {
  return `${indent}${field.name}: ${formatScalar(field, checked)}`;
}

function printMap(
  field: protobuf.Field,
  value: unknown,
  indent: string,
  path: string,
  lines: string[],
  out: Out,
  key: string,
): void {
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
  for (const [i, [k, mapKey, v]] of entries.entries()) {
    const p = `${path}[${JSON.stringify(k)}]`;
    // Map entries are named by position (in key order, as printed).
    const ck = `${key}[${i}]`;
    out.before(ck, indent);
    lines.push(`${indent}${field.name} {`);
    lines.push(`${inner}key: ${typeof mapKey === 'string' ? quote(Buffer.from(mapKey, 'utf8')) : String(mapKey)}`);
    if (valueType) {
      lines.push(`${inner}value {`);
      printMessage(valueType, v as Record<string, unknown>, `${inner}  `, p, lines, out, `${ck}.value`);
      lines.push(`${inner}}`);
    } else {
      lines.push(`${inner}value: ${formatScalar(field, checkedScalar(field, v, p))}`);
    }
    out.end(ck, inner);
    lines.push(`${indent}}`);
    out.after(ck);
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
  if (kind === 'float') return formatFloat(value as number, 6, 9, readsBackAsFloat);
  if (kind === 'double') return formatFloat(value as number, 15, 17, (text, v) => Number.parseFloat(text) === v);
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
export function formatFloat(
  v: number,
  short: number,
  long: number,
  readsBack: (text: string, v: number) => boolean,
): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Number.POSITIVE_INFINITY) return 'inf';
  if (v === Number.NEGATIVE_INFINITY) return '-inf';
  const s = printfG(v, short);
  return readsBack(s, v) ? s : printfG(v, long);
}

/** Smallest positive normal float (FLT_MIN). */
const FLT_MIN = 2 ** -126;

/**
 * Whether `text` reads back as the float `v` the way protobuf's safe_strtof checks it: strtof reports ERANGE for a
 * subnormal result, which counts as a failed read, so subnormal floats always get the long form.
 */
function readsBackAsFloat(text: string, v: number): boolean {
  const back = Math.fround(Number.parseFloat(text));
  return back === Math.fround(v) && (back === 0 || Math.abs(back) >= FLT_MIN);
}

/**
 * C's `%.{p}g`, rounding the value's exact binary expansion half-to-even as glibc's printf does (JS's toExponential
 * rounds exact ties up: -1685876.625 to 9 digits is "-1685876.62" in C, "-1685876.63" in JS).
 */
function printfG(v: number, p: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const sign = v < 0 ? '-' : '';
  const [digits, exp] = roundedDigits(Math.abs(v), p);
  if (exp < -4 || exp >= p) {
    const m = stripZeros(digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits);
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed =
    exp >= 0 ? `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}` : `0.${'0'.repeat(-exp - 1)}${digits}`;
  return sign + stripZeros(fixed);
}

/** The first `p` significant decimal digits of a positive finite double, exactly rounded half-to-even, and the decimal exponent of the first. */
function roundedDigits(v: number, p: number): [string, number] {
  // v = mantissa * 2^e exactly; scale to an integer numerator over a power-of-ten denominator.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, v);
  const bits = view.getBigUint64(0);
  const rawExp = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mantissa = rawExp === 0 ? frac : frac | (1n << 52n);
  const e2 = (rawExp === 0 ? 1 : rawExp) - 1075;
  let num = e2 >= 0 ? mantissa << BigInt(e2) : mantissa * 5n ** BigInt(-e2);
  const fracDigits = e2 >= 0 ? 0 : -e2;
  const all = num.toString();
  // Keep p digits: divide by 10^(len - p) with half-even rounding (len ≥ p is ensured by padding).
  const drop = all.length - p;
  let exp = all.length - 1 - fracDigits;
  if (drop <= 0) return [all.padEnd(p, '0'), exp];
  const div = 10n ** BigInt(drop);
  let q = num / div;
  const r = num % div;
  const twice = r * 2n;
  if (twice > div || (twice === div && q % 2n === 1n)) q += 1n;
  num = q;
  let out = num.toString();
  if (out.length > p) {
    out = out.slice(0, p);
    exp += 1;
  }
  return [out, exp];
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}
