import { TextFormatError } from './errors.js';

/**
 * Tokens of protobuf text format, following the rules of protobuf's own tokenizer
 * (google/protobuf/io/tokenizer.cc): `#` comments, identifiers, decimal/hex/octal integers, floats with exponent and
 * optional `f` suffix, strings in either quote with C escapes, and single-character symbols. A `-` is its own
 * symbol; the parser applies it to the number that follows.
 */
export type TokenKind = 'ident' | 'int' | 'float' | 'string' | 'symbol' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Source text of the token (for strings: including quotes). */
  text: string;
  /** Decoded bytes of a string token. */
  bytes?: Uint8Array;
  line: number;
  column: number;
}

const isDigit = (c: string) => c >= '0' && c <= '9';
const isHex = (c: string) => /^[0-9a-fA-F]$/.test(c);
const isIdentStart = (c: string) => /^[A-Za-z_]$/.test(c);
const isIdentPart = (c: string) => /^[A-Za-z0-9_]$/.test(c);

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  '\\': 0x5c,
  '?': 0x3f,
  "'": 0x27,
  '"': 0x22,
};

/** A `#` comment as written (trailing space trimmed), with the line it is on. */
export interface CommentToken {
  text: string;
  line: number;
}

export class Tokenizer {
  private pos = 0;
  private line = 1;
  private column = 1;
  private peeked: Token | undefined;
  /** Field path the parser is reading, named in lexical errors. */
  context = '';
  /** Comments skipped since the parser last took them (only when `keepComments`). */
  pending: CommentToken[] = [];
  /** Line of the last token returned by next(). */
  lastLine = 0;
  /** Record comments in `pending` instead of dropping them. */
  keepComments = false;

  constructor(
    private readonly src: string,
    private readonly source: string | undefined,
  ) {}

  peek(): Token {
    this.peeked ??= this.read();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    this.lastLine = t.line;
    return t;
  }

  error(message: string, at: { line: number; column: number }): TextFormatError {
    return new TextFormatError('MSB_TEXTFORMAT_SYNTAX', message, {
      line: at.line,
      column: at.column,
      path: this.context,
      source: this.source,
    });
  }

  private advance(): string {
    const c = this.src[this.pos++] ?? '';
    if (c === '\n') {
      this.line++;
      this.column = 1;
    } else {
      this.column++;
    }
    return c;
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) return;
      if (c === '#') {
        const begin = this.pos;
        const line = this.line;
        while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.advance();
        if (this.keepComments) this.pending.push({ text: this.src.slice(begin, this.pos).trimEnd(), line });
      } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f') {
        this.advance();
      } else {
        return;
      }
    }
  }

  private read(): Token {
    this.skipSpaceAndComments();
    const start = { line: this.line, column: this.column };
    const begin = this.pos;
    const c = this.src[this.pos];
    if (c === undefined) return { kind: 'eof', text: '', ...start };
    if (isIdentStart(c)) {
      while (this.pos < this.src.length && isIdentPart(this.src[this.pos] as string)) this.advance();
      return { kind: 'ident', text: this.src.slice(begin, this.pos), ...start };
    }
    if (isDigit(c) || (c === '.' && isDigit(this.src[this.pos + 1] ?? ''))) return this.readNumber(start, begin);
    if (c === '"' || c === "'") return this.readString(start, begin, c);
    this.advance();
    return { kind: 'symbol', text: c, ...start };
  }

  private readNumber(start: { line: number; column: number }, begin: number): Token {
    const src = this.src;
    let kind: TokenKind = 'int';
    const first = this.advance();
    if (first === '0' && (src[this.pos] === 'x' || src[this.pos] === 'X')) {
      this.advance();
      if (!isHex(src[this.pos] ?? '')) throw this.error('"0x" must be followed by hex digits.', start);
      while (isHex(src[this.pos] ?? '')) this.advance();
    } else if (first === '0' && isDigit(src[this.pos] ?? '')) {
      while (isDigit(src[this.pos] ?? '')) {
        const d = this.advance();
        if (d > '7') throw this.error('Numbers starting with leading zero must be in octal.', start);
      }
    } else {
      if (first !== '.') while (isDigit(src[this.pos] ?? '')) this.advance();
      if (first === '.' || src[this.pos] === '.') {
        kind = 'float';
        if (first !== '.') this.advance();
        while (isDigit(src[this.pos] ?? '')) this.advance();
      }
      if (src[this.pos] === 'e' || src[this.pos] === 'E') {
        kind = 'float';
        this.advance();
        if (src[this.pos] === '+' || src[this.pos] === '-') this.advance();
        if (!isDigit(src[this.pos] ?? '')) throw this.error('"e" must be followed by exponent.', start);
        while (isDigit(src[this.pos] ?? '')) this.advance();
      }
      if (src[this.pos] === 'f' || src[this.pos] === 'F') {
        kind = 'float';
        this.advance();
      }
    }
    if (isIdentPart(src[this.pos] ?? '') || src[this.pos] === '.') {
      throw this.error('Need space between number and identifier.', { line: this.line, column: this.column });
    }
    return { kind, text: src.slice(begin, this.pos), ...start };
  }

  private readString(start: { line: number; column: number }, begin: number, quote: string): Token {
    this.advance();
    const bytes: number[] = [];
    const utf8 = new TextEncoder();
    for (;;) {
      const c = this.src[this.pos];
      if (c === undefined) throw this.error('Unexpected end of string.', start);
      if (c === '\n') throw this.error('String literals cannot cross line boundaries.', start);
      this.advance();
      if (c === quote) break;
      if (c !== '\\') {
        // Read the whole code point: a character beyond U+FFFF is two UTF-16 units and one UTF-8 sequence.
        const cp = this.src.codePointAt(this.pos - 1) as number;
        if (cp < 0x80) bytes.push(cp);
        else {
          if (cp > 0xffff) this.advance();
          bytes.push(...utf8.encode(String.fromCodePoint(cp)));
        }
        continue;
      }
      const at = { line: this.line, column: this.column - 1 };
      const e = this.advance();
      if (e in SIMPLE_ESCAPES) bytes.push(SIMPLE_ESCAPES[e] as number);
      else if (e >= '0' && e <= '7') {
        let v = Number(e);
        for (let i = 0; i < 2 && /[0-7]/.test(this.src[this.pos] ?? ''); i++) v = v * 8 + Number(this.advance());
        bytes.push(v & 0xff);
      } else if (e === 'x' || e === 'X') {
        if (!isHex(this.src[this.pos] ?? '')) throw this.error('Expected hex digits for escape sequence.', at);
        let v = 0;
        for (let i = 0; i < 2 && isHex(this.src[this.pos] ?? ''); i++) v = v * 16 + Number.parseInt(this.advance(), 16);
        bytes.push(v);
      } else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        let hex = '';
        for (let i = 0; i < n; i++) {
          const h = this.src[this.pos] ?? '';
          if (!isHex(h)) throw this.error(`Expected ${n} hex digits after \\${e}.`, at);
          hex += this.advance();
        }
        const cp = Number.parseInt(hex, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
          throw this.error(`Invalid Unicode code point \\${e}${hex}.`, at);
        bytes.push(...utf8.encode(String.fromCodePoint(cp)));
      } else {
        throw this.error(`Invalid escape sequence in string literal: "\\${e}".`, at);
      }
    }
    return { kind: 'string', text: this.src.slice(begin, this.pos), bytes: Uint8Array.from(bytes), ...start };
  }
}
