import protobuf from 'protobufjs';

/** A 64-bit proto integer: `number` while exactly representable (|v| ≤ 2^53−1), `bigint` beyond. */
export type Int64 = number | bigint;

export type ScalarKind = 'int32' | 'uint32' | 'int64' | 'uint64' | 'float' | 'double' | 'bool' | 'string' | 'bytes';

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** The scalar family of a proto field type (sint/sfixed/fixed variants share their plain type's range). */
export function scalarKind(protoType: string): ScalarKind | undefined {
  switch (protoType) {
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return 'int32';
    case 'uint32':
    case 'fixed32':
      return 'uint32';
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return 'int64';
    case 'uint64':
    case 'fixed64':
      return 'uint64';
    case 'float':
    case 'double':
    case 'bool':
    case 'string':
    case 'bytes':
      return protoType;
    default:
      return undefined;
  }
}

export function isIntegerKind(kind: ScalarKind): kind is 'int32' | 'uint32' | 'int64' | 'uint64' {
  return kind in INT_RANGES;
}

/** Range-checks an integer for its kind; undefined when out of range. 64-bit kinds come back as Int64. */
export function fitInteger(kind: 'int32' | 'uint32' | 'int64' | 'uint64', v: bigint): number | bigint | undefined {
  const [lo, hi] = INT_RANGES[kind] as [bigint, bigint];
  if (v < lo || v > hi) return undefined;
  return toInt64(v);
}

/** bigint → number when exact, else the bigint itself. */
export function toInt64(v: bigint): Int64 {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** The enum a field refers to, or undefined. */
export function enumOf(field: protobuf.Field): protobuf.Enum | undefined {
  return field.resolvedType instanceof protobuf.Enum ? field.resolvedType : undefined;
}

/** The message type a field refers to, or undefined. */
export function messageOf(field: protobuf.Field): protobuf.Type | undefined {
  return field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
}

/** The oneof a field belongs to; proto3 `optional` fields sit in a synthetic oneof that is not a real choice. */
export function realOneof(field: protobuf.Field): protobuf.OneOf | undefined {
  const o = field.partOf;
  return o && !(o.fieldsArray.length === 1 && o.name.startsWith('_')) ? o : undefined;
}

/**
 * Whether a singular proto3 field holds its default and so is absent on the wire and in print.
 * -0.0 is not the default: protobuf compares floats by their bits when deciding presence.
 */
export function isDefaultValue(field: protobuf.Field, value: unknown): boolean {
  const en = enumOf(field);
  if (en) return value === 0 || (typeof value === 'string' && en.values[value] === 0);
  if (messageOf(field)) return false;
  if (typeof value === 'number') return value === 0 && !Object.is(value, -0);
  if (typeof value === 'bigint') return value === 0n;
  if (typeof value === 'string') return value === '';
  if (typeof value === 'boolean') return !value;
  if (value instanceof Uint8Array) return value.length === 0;
  return false;
}

/** The key type of a map field (protobufjs types MapField apart from Field, though every map field is one). */
export function mapKeyType(field: protobuf.Field): string {
  return (field as unknown as { keyType: string }).keyType;
}
