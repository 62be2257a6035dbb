/**
 * Property tests of the text-format codec against protobuf's reference implementation (protoc): random
 * `inference.ModelConfig` messages, generated from the schema itself, are printed canonically and in random
 * non-canonical spellings; protoc must read every spelling to the same message we read, and our canonical print
 * must be exactly protoc's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { type ModelConfig, parseModelConfig, printModelConfig } from '../../src/config/index.js';
import { jsonKey, modelConfigType } from '../../src/config/schema.js';
import { toInt64 } from '../../src/config/textformat/scalars.js';
import { protocCanonical } from '../helpers/protoc.js';

const RUNS = Number(process.env.MSB_PROPERTY_RUNS ?? 120);

function scalarArb(field: protobuf.Field): fc.Arbitrary<unknown> {
  if (field.resolvedType instanceof protobuf.Enum) return fc.constantFrom(...Object.keys(field.resolvedType.values));
  switch (field.type) {
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'uint32':
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case 'int64':
      return fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n).map(toInt64);
    case 'uint64':
      return fc.bigInt(0n, 2n ** 64n - 1n).map(toInt64);
    case 'float':
      return fc.float();
    case 'double':
      return fc.double();
    case 'bool':
      return fc.boolean();
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 8 });
    default:
      throw new Error(`no arbitrary for ${field.type}`);
  }
}

const MAX_DEPTH = 4;

function messageArb(type: protobuf.Type, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of type.fieldsArray) {
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (sub && depth >= MAX_DEPTH) continue;
    const one = sub ? fc.constant(null).chain(() => messageArb(sub, depth + 1)) : scalarArb(field);
    if (field.map) {
      const keyType = (field as unknown as { keyType: string }).keyType;
      const key =
        keyType === 'string' ? fc.string({ unit: 'binary', maxLength: 4 }) : fc.bigInt(0n, 2n ** 64n - 1n).map(String);
      model[jsonKey(field)] = fc.dictionary(key, one, { maxKeys: 3, noNullPrototype: true });
    } else {
      model[jsonKey(field)] = field.repeated ? fc.array(one, { maxLength: 3 }) : one;
    }
  }
  return fc.record(model, { requiredKeys: [] }).map((msg) => {
    // At most one member per oneof, as the schema allows.
    for (const oneof of type.oneofsArray) {
      const present = oneof.fieldsArray.filter((f) => msg[jsonKey(f)] !== undefined);
      for (const f of present.slice(1)) delete msg[jsonKey(f)];
    }
    return msg;
  });
}

/** A tiny deterministic PRNG, so a failing spelling is reproduced from the seed fast-check reports. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) as number;
  };
}

/** Prints a message in a random legal spelling: whitespace, comments, separators, delimiters, number forms, escapes. */
function spell(type: protobuf.Type, msg: Record<string, unknown>, pick: (n: number) => number): string {
  const ws = () => [' ', '\n', '  ', '\t', ' # comment\n', '\n\n'][pick(6)] as string;
  const sep = () => ['', ';', ','][pick(3)] as string;
  const choose = <T>(...xs: T[]) => xs[pick(xs.length)] as T;

  const integer = (v: number | bigint): string => {
    const big = BigInt(v);
    const abs = big < 0n ? -big : big;
    const form = abs === 0n ? '0' : choose(abs.toString(), `0x${abs.toString(16)}`, `0${abs.toString(8)}`);
    return big < 0n ? `-${choose('', ' ')}${form}` : form;
  };
  const float = (v: number): string => {
    if (Number.isNaN(v)) return choose('nan', 'NaN');
    if (!Number.isFinite(v)) return `${v < 0 ? '-' : ''}${choose('inf', 'infinity', 'Infinity')}`;
    const text = Object.is(v, -0) ? '-0' : String(v);
    return /[.e]/.test(text) && pick(2) ? `${text}${choose('f', 'F')}` : text;
  };
  const str = (s: string): string => {
    const q = choose('"', "'");
    let out = q;
    for (const ch of s) {
      const cp = ch.codePointAt(0) as number;
      if (pick(8) === 0) out += `${q}${ws()}${q}`; // adjacent literals concatenate
      if (ch === q || ch === '\\') out += `\\${ch}`;
      else if (cp >= 0x20 && cp < 0x7f) out += pick(4) ? ch : `\\x${cp.toString(16)}`;
      else if (cp === 0x0a) out += choose('\\n', '\\012');
      else if (cp < 0x80) out += `\\${cp.toString(8).padStart(3, '0')}`;
      else {
        const form = pick(4);
        if (form === 0 && cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
        else if (form === 1) out += `\\U${cp.toString(16).padStart(8, '0')}`;
        else if (form === 2) out += ch;
        else for (const b of Buffer.from(ch, 'utf8')) out += `\\${b.toString(8)}`;
      }
    }
    return out + q;
  };
  const scalar = (field: protobuf.Field, v: unknown): string => {
    if (field.resolvedType instanceof protobuf.Enum) {
      return pick(2) ? String(v) : String(field.resolvedType.values[v as string]);
    }
    if (typeof v === 'boolean') return v ? choose('true', 'True', 't', '1') : choose('false', 'False', 'f', '0');
    if (typeof v === 'string') return str(v);
    if (field.type === 'float' || field.type === 'double') return float(v as number);
    return integer(v as number | bigint);
  };
  const block = (t: protobuf.Type, m: Record<string, unknown>) => {
    const [open, close] = choose(['{', '}'], ['<', '>']);
    return `${open}${ws()}${spell(t, m, pick)}${ws()}${close}`;
  };

  const parts: string[] = [];
  const fields = [...type.fieldsArray].sort(() => pick(3) - 1);
  for (const field of fields) {
    const v = msg[jsonKey(field)];
    if (v === undefined) continue;
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const colon = () => (sub ? choose('', ':') : ':');
    if (field.map) {
      for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
        const keyText = (field as unknown as { keyType: string }).keyType === 'string' ? str(k) : integer(BigInt(k));
        const valueText = sub ? `value ${block(sub, val as Record<string, unknown>)}` : `value: ${scalar(field, val)}`;
        const entry = pick(2) ? `key: ${keyText}${ws()}${valueText}` : `${valueText}${ws()}key: ${keyText}`;
        parts.push(`${field.name} { ${entry} }${sep()}`);
      }
    } else if (field.repeated) {
      const items = v as unknown[];
      const one = (x: unknown) => (sub ? block(sub, x as Record<string, unknown>) : scalar(field, x));
      if (pick(2)) parts.push(`${field.name}${colon()}${ws()}[${items.map(one).join(`,${ws()}`)}]${sep()}`);
      else for (const x of items) parts.push(`${field.name}${colon()}${ws()}${one(x)}${sep()}`);
    } else {
      parts.push(
        `${field.name}${colon()}${ws()}${sub ? block(sub, v as Record<string, unknown>) : scalar(field, v)}${sep()}`,
      );
    }
  }
  return parts.join(ws());
}

const configs = messageArb(modelConfigType(), 0) as fc.Arbitrary<ModelConfig>;

test('random ModelConfig messages: our canonical print is exactly protoc’s, and reads back to itself', () => {
  fc.assert(
    fc.property(configs, (config) => {
      const printed = printModelConfig(config);
      const reference = protocCanonical(printed);
      assert.ok(reference.ok, `protoc rejected our output:\n${printed}\n${reference.ok ? '' : reference.error}`);
      assert.equal(printed, reference.text);
      assert.equal(printModelConfig(parseModelConfig(printed)), printed);
    }),
    { numRuns: RUNS },
  );
});

test('random spellings of random messages read the same as protoc reads them', () => {
  fc.assert(
    fc.property(configs, fc.integer(), (config, seed) => {
      const text = spell(modelConfigType(), config as Record<string, unknown>, prng(seed));
      const reference = protocCanonical(text);
      assert.ok(reference.ok, `protoc rejected the spelling:\n${text}\n${reference.ok ? '' : reference.error}`);
      assert.equal(printModelConfig(parseModelConfig(text)), reference.text, `spelling:\n${text}`);
      assert.equal(reference.text, printModelConfig(config));
    }),
    { numRuns: RUNS },
  );
});
