/**
 * Protobuf text-format parser, driven by protobufjs reflection.
 *
 * Written by hand for msb: no maintained npm library reads protobuf text format. The grammar and its error cases
 * follow protobuf's reference parser (google/protobuf/text_format.cc), which is what Triton uses to read
 * config.pbtxt, and the differential tests hold us to `protoc --encode`.
 */
import type protobuf from 'protobufjs';
import { jsonKey } from '../schema.js';
import { type ConfigComments, END } from './comments.js';
import { TextFormatError, type TextFormatErrorCode } from './errors.js';
import {
  enumOf,
  fitInteger,
  isIntegerKind,
  mapKeyType,
  messageOf,
  realOneof,
  type ScalarKind,
  scalarKind,
} from './scalars.js';
import { type Token, Tokenizer } from './tokenizer.js';

export type PlainMessage = Record<string, unknown>;

const TRUE_WORDS = new Set(['true', 'True', 't']);
const FALSE_WORDS = new Set(['false', 'False', 'f']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses `text` as a `type` message into a plain object (see `ModelConfig` for the object conventions). With
 * `comments`, the text's comments are added to it by field path (see comments.ts).
 */
export function parseTextFormat(
  type: protobuf.Type,
  text: string,
  options: { source?: string; comments?: ConfigComments } = {},
): PlainMessage {
  const tok = new Tokenizer(text, options.source);
  tok.keepComments = options.comments !== undefined;
  const parser = new Parser(tok, options.source, options.comments);
  const msg = parser.message(type, undefined, '');
  return msg;
}

class Parser {
  constructor(
    private readonly tok: Tokenizer,
    private readonly source: string | undefined,
    private readonly comments: ConfigComments | undefined,
  ) {}

  /** Comments skipped so far go before the field (or message end) `key`. */
  private takeBefore(key: string): void {
    if (!this.comments || this.tok.pending.length === 0) return;
    const entry = this.comments.get(key) ?? { before: [] };
    entry.before.push(...this.tok.pending.map((c) => c.text));
    this.comments.set(key, entry);
    this.tok.pending = [];
  }

  /** After field `key`: a comment on the line its last token is on is its trailing comment. */
  private takeAfter(key: string): void {
    if (!this.comments) return;
    this.tok.peek();
    const first = this.tok.pending[0];
    if (first === undefined || first.line !== this.tok.lastLine) return;
    this.tok.pending.shift();
    const entry = this.comments.get(key) ?? { before: [] };
    entry.after = first.text;
    this.comments.set(key, entry);
  }

  private fail(code: TextFormatErrorCode, message: string, at: Token, path: string): TextFormatError {
    return new TextFormatError(code, message, { line: at.line, column: at.column, path, source: this.source });
  }

  private describe(t: Token): string {
    return t.kind === 'eof' ? 'end of input' : `"${t.text}"`;
  }

  private expect(symbol: string, path: string): Token {
    const t = this.tok.next();
    if (t.kind !== 'symbol' || t.text !== symbol) {
      throw this.fail('MSB_TEXTFORMAT_SYNTAX', `Expected "${symbol}", found ${this.describe(t)}.`, t, path);
    }
    return t;
  }

  private trySymbol(symbol: string): boolean {
    const t = this.tok.peek();
    if (t.kind === 'symbol' && t.text === symbol) {
      this.tok.next();
      return true;
    }
    return false;
  }

  /** Fields until `close` (or end of input for the top level). */
  message(type: protobuf.Type, close: string | undefined, path: string): PlainMessage {
    const out: PlainMessage = {};
    const seen = new Set<string>();
    const oneofs = new Map<string, string>();
    for (;;) {
      const t = this.tok.peek();
      if (close === undefined ? t.kind === 'eof' : t.kind === 'symbol' && t.text === close) {
        this.takeBefore(`${path}${END}`);
        this.tok.next();
        return out;
      }
      if (t.kind === 'eof') {
        throw this.fail(
          'MSB_TEXTFORMAT_SYNTAX',
          `Expected "${close}" to close the message, found end of input.`,
          t,
          path,
        );
      }
      const key = this.field(type, out, seen, oneofs, path);
      if (!this.trySymbol(';')) this.trySymbol(',');
      this.takeAfter(key);
    }
  }

  private field(
    type: protobuf.Type,
    out: PlainMessage,
    seen: Set<string>,
    oneofs: Map<string, string>,
    parentPath: string,
  ): string {
    const nameTok = this.tok.next();
    if (nameTok.kind !== 'ident') {
      const what =
        nameTok.text === '[' ? 'Extension and Any fields are not part of this schema' : 'Expected a field name';
      throw this.fail('MSB_TEXTFORMAT_SYNTAX', `${what}, found ${this.describe(nameTok)}.`, nameTok, parentPath);
    }
    const field = type.fields[nameTok.text];
    const path = parentPath ? `${parentPath}.${nameTok.text}` : nameTok.text;
    if (!field) {
      throw this.fail(
        'MSB_TEXTFORMAT_UNKNOWN_FIELD',
        `Message type "${type.fullName.slice(1)}" has no field named "${nameTok.text}".`,
        nameTok,
        parentPath,
      );
    }
    const key = jsonKey(field);
    this.tok.context = path;
    const repeated = field.repeated || field.map;
    // The comments above a field are its own; an element of a repeated field is named by its index.
    const commentKey = repeated ? `${path}[${this.count(out, key, field)}]` : path;
    this.takeBefore(commentKey);
    if (!repeated) {
      if (seen.has(field.name)) {
        throw this.fail(
          'MSB_TEXTFORMAT_DUPLICATE',
          `Non-repeated field "${field.name}" is specified multiple times.`,
          nameTok,
          path,
        );
      }
      seen.add(field.name);
      const oneof = realOneof(field);
      if (oneof) {
        const other = oneofs.get(oneof.name);
        if (other !== undefined) {
          throw this.fail(
            'MSB_TEXTFORMAT_DUPLICATE',
            `Field "${field.name}" is specified along with field "${other}", another member of oneof "${oneof.name}".`,
            nameTok,
            path,
          );
        }
        oneofs.set(oneof.name, field.name);
      }
    }

    const valueType = field.map ? undefined : messageOf(field);
    const hasColon = this.trySymbol(':');
    if (!field.map && !valueType && !hasColon) {
      const t = this.tok.peek();
      throw this.fail(
        'MSB_TEXTFORMAT_SYNTAX',
        `Expected ":" after field "${field.name}", found ${this.describe(t)}.`,
        t,
        path,
      );
    }

    const readOne = (index: number | undefined): unknown => {
      const p = index === undefined ? path : `${path}[${index}]`;
      if (field.map) return this.mapEntry(field, p);
      if (valueType) return this.nestedMessage(valueType, p);
      return this.scalar(field, p);
    };

    if (this.tok.peek().kind === 'symbol' && this.tok.peek().text === '[') {
      const open = this.tok.next();
      if (!repeated) {
        throw this.fail(
          'MSB_TEXTFORMAT_SYNTAX',
          `Field "${field.name}" is not repeated and cannot take a list.`,
          open,
          path,
        );
      }
      if (!this.trySymbol(']')) {
        for (;;) {
          this.store(field, key, out, readOne(this.count(out, key, field)));
          if (this.trySymbol(']')) break;
          this.expect(',', path);
        }
      }
      if (!field.map && out[key] === undefined) out[key] = [];
      return commentKey;
    }
    this.store(field, key, out, readOne(repeated ? this.count(out, key, field) : undefined));
    return commentKey;
  }

  private count(out: PlainMessage, key: string, field: protobuf.Field): number {
    const v = out[key];
    if (field.map) return v ? Object.keys(v as object).length : 0;
    return Array.isArray(v) ? v.length : 0;
  }

  private store(field: protobuf.Field, key: string, out: PlainMessage, value: unknown): void {
    if (field.map) {
      const [k, v] = value as [string, unknown];
      out[key] ??= {};
      // Later entries with the same key replace earlier ones, as protobuf's map fields do.
      (out[key] as Record<string, unknown>)[k] = v;
    } else if (field.repeated) {
      out[key] ??= [];
      (out[key] as unknown[]).push(value);
    } else {
      out[key] = value;
    }
  }

  private nestedMessage(type: protobuf.Type, path: string): PlainMessage {
    const open = this.tok.next();
    if (open.kind !== 'symbol' || (open.text !== '{' && open.text !== '<')) {
      throw this.fail(
        'MSB_TEXTFORMAT_SYNTAX',
        `Expected "{" or "<" to open a message, found ${this.describe(open)}.`,
        open,
        path,
      );
    }
    return this.message(type, open.text === '{' ? '}' : '>', path);
  }

  /** A map entry `{ key: K value: V }`, returned as [key-as-string, value]. */
  private mapEntry(field: protobuf.Field, path: string): [string, unknown] {
    const open = this.tok.next();
    if (open.kind !== 'symbol' || (open.text !== '{' && open.text !== '<')) {
      throw this.fail(
        'MSB_TEXTFORMAT_SYNTAX',
        `Expected "{" or "<" to open a map entry, found ${this.describe(open)}.`,
        open,
        path,
      );
    }
    const close = open.text === '{' ? '}' : '>';
    const keyKind = scalarKind(mapKeyType(field)) as ScalarKind;
    const valueType = messageOf(field);
    let key: unknown;
    let value: unknown;
    for (;;) {
      const t = this.tok.next();
      if (t.kind === 'symbol' && t.text === close) break;
      if (t.kind !== 'ident' || (t.text !== 'key' && t.text !== 'value')) {
        throw this.fail(
          t.kind === 'ident' ? 'MSB_TEXTFORMAT_UNKNOWN_FIELD' : 'MSB_TEXTFORMAT_SYNTAX',
          `Map entry of "${field.name}" has only "key" and "value", found ${this.describe(t)}.`,
          t,
          path,
        );
      }
      const sub = `${path}.${t.text}`;
      if ((t.text === 'key' ? key : value) !== undefined) {
        throw this.fail(
          'MSB_TEXTFORMAT_DUPLICATE',
          `Non-repeated field "${t.text}" is specified multiple times.`,
          t,
          sub,
        );
      }
      const colon = this.trySymbol(':');
      if (t.text === 'key') {
        if (!colon) this.expect(':', sub);
        key = this.scalarOfKind(keyKind, mapKeyType(field), undefined, sub);
      } else if (valueType) {
        value = this.nestedMessage(valueType, sub);
      } else {
        if (!colon) this.expect(':', sub);
        value = this.scalar(field, sub);
      }
      if (!this.trySymbol(';')) this.trySymbol(',');
    }
    return [mapKeyString(key ?? defaultKey(keyKind)), value ?? (valueType ? {} : defaultScalar(field))];
  }

  private scalar(field: protobuf.Field, path: string): unknown {
    const en = enumOf(field);
    if (en) return this.enumValue(en, path);
    return this.scalarOfKind(scalarKind(field.type) as ScalarKind, field.type, field, path);
  }

  private enumValue(en: protobuf.Enum, path: string): string | number {
    const negative = this.trySymbol('-');
    const t = this.tok.next();
    if (t.kind === 'ident' && !negative) {
      if (en.values[t.text] === undefined) {
        throw this.fail(
          'MSB_TEXTFORMAT_ENUM',
          `Unknown enumeration value of "${t.text}" for enum "${en.name}".`,
          t,
          path,
        );
      }
      return t.text;
    }
    if (t.kind === 'int') {
      const n = fitInteger('int32', negative ? -parseIntegerToken(t.text) : parseIntegerToken(t.text));
      if (n === undefined)
        throw this.fail('MSB_TEXTFORMAT_TYPE', `Enum value ${t.text} is out of the int32 range.`, t, path);
      // Proto3 enums are open: a number without a name is kept as the number, as protobuf does.
      return en.valuesById[n as number] ?? (n as number);
    }
    throw this.fail(
      'MSB_TEXTFORMAT_ENUM',
      `Expected an enum name or number for "${en.name}", found ${this.describe(t)}.`,
      t,
      path,
    );
  }

  private scalarOfKind(kind: ScalarKind, protoType: string, field: protobuf.Field | undefined, path: string): unknown {
    if (kind === 'string' || kind === 'bytes') {
      const first = this.tok.next();
      if (first.kind !== 'string') {
        throw this.fail(
          'MSB_TEXTFORMAT_TYPE',
          `Expected a string for ${protoType} field, found ${this.describe(first)}.`,
          first,
          path,
        );
      }
      const parts = [first.bytes as Uint8Array];
      while (this.tok.peek().kind === 'string') parts.push(this.tok.next().bytes as Uint8Array);
      const bytes = Buffer.concat(parts);
      if (kind === 'bytes') return new Uint8Array(bytes);
      try {
        return utf8.decode(bytes);
      } catch {
        throw this.fail('MSB_TEXTFORMAT_TYPE', 'String field holds bytes that are not valid UTF-8.', first, path);
      }
    }
    const negative = this.trySymbol('-');
    const t = this.tok.next();
    if (kind === 'bool') {
      if (!negative && t.kind === 'ident' && TRUE_WORDS.has(t.text)) return true;
      if (!negative && t.kind === 'ident' && FALSE_WORDS.has(t.text)) return false;
      if (!negative && t.kind === 'int' && (t.text === '0' || t.text === '1')) return t.text === '1';
      throw this.fail('MSB_TEXTFORMAT_TYPE', `Invalid value for boolean field: ${this.describe(t)}.`, t, path);
    }
    if (kind === 'float' || kind === 'double') {
      let v: number;
      if (t.kind === 'int') v = Number(parseIntegerToken(t.text));
      else if (t.kind === 'float') v = Number.parseFloat(t.text.replace(/[fF]$/, ''));
      else if (t.kind === 'ident' && /^(inf|infinity)$/i.test(t.text)) v = Number.POSITIVE_INFINITY;
      else if (t.kind === 'ident' && /^nan$/i.test(t.text)) v = Number.NaN;
      else
        throw this.fail(
          'MSB_TEXTFORMAT_TYPE',
          `Expected a number for ${protoType} field, found ${this.describe(t)}.`,
          t,
          path,
        );
      if (negative) v = -v;
      return kind === 'float' ? Math.fround(v) : v;
    }
    if (isIntegerKind(kind)) {
      if (t.kind !== 'int') {
        throw this.fail(
          'MSB_TEXTFORMAT_TYPE',
          `Expected integer for ${protoType} field, got: ${this.describe(t)}.`,
          t,
          path,
        );
      }
      const raw = parseIntegerToken(t.text);
      const v = fitInteger(kind, negative ? -raw : raw);
      if (v === undefined) {
        throw this.fail(
          'MSB_TEXTFORMAT_TYPE',
          `Integer ${negative ? '-' : ''}${t.text} is out of range for ${protoType} field.`,
          t,
          path,
        );
      }
      return v;
    }
    throw this.fail(
      'MSB_TEXTFORMAT_TYPE',
      `Unsupported field type ${protoType}${field ? ` of ${field.name}` : ''}.`,
      t,
      path,
    );
  }
}

function parseIntegerToken(text: string): bigint {
  if (/^0[xX]/.test(text)) return BigInt(text);
  if (text.length > 1 && text.startsWith('0')) return BigInt(`0o${text.slice(1)}`);
  return BigInt(text);
}

/** Map keys are object keys: integers in decimal, bools as "true"/"false". */
export function mapKeyString(key: unknown): string {
  return typeof key === 'string' ? key : String(key);
}

function defaultKey(kind: ScalarKind): unknown {
  return kind === 'string' ? '' : kind === 'bool' ? false : 0;
}

function defaultScalar(field: protobuf.Field): unknown {
  const en = enumOf(field);
  if (en) return en.valuesById[0] ?? 0;
  const kind = scalarKind(field.type);
  if (kind === 'string') return '';
  if (kind === 'bytes') return new Uint8Array();
  if (kind === 'bool') return false;
  return 0;
}
