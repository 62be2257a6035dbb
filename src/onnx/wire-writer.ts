/**
 * A protobuf wire-format writer for rewriting ONNX models in bounded memory.
 *
 * Why hand-written rather than protobufjs (already a dependency): protobufjs encodes a message from objects that
 * hold every byte of it, so a 1 GiB model would be held (and copied) whole. Here a message is a list of pieces:
 * small encoded bytes, and references to byte ranges of a source file that are copied (or converted FP32 → FP16/
 * BF16) only while the output is written. Sizes are known up front (a converted range is exactly half its source),
 * so every length prefix is written before its payload and the output is produced in one sequential pass.
 * Encoding follows https://protobuf.dev/programming-guides/encoding/.
 */
import { open } from 'node:fs/promises';
import { convertFloats, type LowPrecision } from './half.js';

/** Bytes [offset, offset + length) of `file`, copied as they are or converted from FP32. */
export interface SourceRange {
  file: string;
  offset: number;
  length: number;
  convert?: LowPrecision;
  /** Named by `RangeExceeded` when converting to FP16 meets a value beyond FP16's range. */
  tag?: unknown;
}

/** A converted range held a value beyond FP16's range: the caller re-plans with that tensor kept FP32. */
export class RangeExceeded extends Error {
  constructor(readonly tag: unknown) {
    super('a value beyond FP16 range');
  }
}

type Piece = Uint8Array | SourceRange;

const pieceSize = (p: Piece) => (p instanceof Uint8Array ? p.length : p.convert ? p.length / 2 : p.length);

export function varintBytes(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

const WT_VARINT = 0;
const WT_LEN = 2;
const tag = (field: number, wireType: number) => varintBytes((field << 3) | wireType);

/** One message being encoded: append fields in order, then nest it or write it out. */
export class MessageWriter {
  private readonly pieces: Piece[] = [];
  private pending: number[] = [];
  size = 0;

  private flush(): void {
    if (this.pending.length) {
      this.pieces.push(Uint8Array.from(this.pending));
      this.pending = [];
    }
  }

  /** Encoded bytes appended as they are (a field copied verbatim, tag included). */
  raw(bytes: Uint8Array): this {
    if (bytes.length < 256) for (const b of bytes) this.pending.push(b);
    else {
      this.flush();
      this.pieces.push(bytes);
    }
    this.size += bytes.length;
    return this;
  }

  /** A source range appended as encoded bytes (a large field copied verbatim, tag included). */
  rawRange(range: SourceRange): this {
    this.flush();
    this.pieces.push(range);
    this.size += pieceSize(range);
    return this;
  }

  varint(field: number, value: number | bigint): this {
    return this.raw(tag(field, WT_VARINT)).raw(varintBytes(value));
  }

  bytes(field: number, payload: Uint8Array): this {
    return this.raw(tag(field, WT_LEN)).raw(varintBytes(payload.length)).raw(payload);
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** A LEN field whose payload is a source range (copied or converted while writing). */
  rangeField(field: number, range: SourceRange): this {
    this.raw(tag(field, WT_LEN)).raw(varintBytes(pieceSize(range)));
    return this.rawRange(range);
  }

  /** A nested message. */
  message(field: number, child: MessageWriter): this {
    this.raw(tag(field, WT_LEN)).raw(varintBytes(child.size));
    child.flush();
    this.flush();
    for (const p of child.pieces) this.pieces.push(p);
    this.size += child.size;
    return this;
  }

  /** The encoded message in memory; only for messages made of bytes (no source ranges). */
  encode(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.pieces) {
      if (!(p instanceof Uint8Array)) throw new Error('MessageWriter.encode: the message refers to a source range');
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * Writes the message to `path` (created or truncated), streaming source ranges in 1 MiB chunks; with `durable`
   * the file is fsynced before this returns.
   */
  async writeFile(path: string, options: { durable?: boolean } = {}): Promise<void> {
    this.flush();
    const out = await open(path, 'w');
    const sources = new Map<string, Awaited<ReturnType<typeof open>>>();
    const CHUNK = 1 << 20;
    const buf = Buffer.allocUnsafe(CHUNK);
    const conv = Buffer.allocUnsafe(CHUNK / 2);
    let fill = 0;
    const drain = async () => {
      if (fill) await out.write(buf, 0, fill);
      fill = 0;
    };
    try {
      for (const p of this.pieces) {
        if (p instanceof Uint8Array) {
          if (fill + p.length > CHUNK) await drain();
          if (p.length > CHUNK) await out.write(p);
          else {
            buf.set(p, fill);
            fill += p.length;
          }
          continue;
        }
        await drain();
        let fh = sources.get(p.file);
        if (!fh) {
          fh = await open(p.file, 'r');
          sources.set(p.file, fh);
        }
        for (let done = 0; done < p.length; ) {
          const want = Math.min(CHUNK, p.length - done);
          const { bytesRead } = await fh.read(buf, 0, want, p.offset + done);
          if (bytesRead !== want) throw new Error(`${p.file}: truncated at byte ${p.offset + done}`);
          if (p.convert) {
            if (convertFloats(buf.subarray(0, want), conv, p.convert)) throw new RangeExceeded(p.tag);
            await out.write(conv, 0, want / 2);
          } else await out.write(buf, 0, want);
          done += want;
        }
      }
      await drain();
      if (options.durable) await out.sync();
    } finally {
      await out.close();
      for (const fh of sources.values()) await fh.close();
    }
  }
}
