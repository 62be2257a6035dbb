/**
 * A streaming reader of protobuf wire format over a file, for model formats that are bare protobuf messages (ONNX,
 * TF GraphDef). It reads through a small window and seeks past length-delimited fields it is told to skip, so the
 * bytes of weights are never read: a multi-GB model is inspected in constant memory and a handful of reads.
 *
 * Every length is checked against the enclosing message and the file size before it is used, every varint is
 * bounded to 10 bytes, and strings are capped, so corrupt or hostile input ends in an `InspectError`
 * (`MSB_INSPECT_CORRUPT`) rather than a huge allocation, a hang or a crash.
 */
import { open } from 'node:fs/promises';
import { InspectError } from './errors.js';

/** Wire types (https://protobuf.dev/programming-guides/encoding/). */
export const WIRE = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

export interface FieldHeader {
  field: number;
  wireType: number;
  /** Offset of the field's tag in the file. */
  at: number;
}

/** Random access to bytes: a file, memory, or ranged GETs of an object. */
export interface ByteSource {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

const WINDOW = 64 * 1024;
/** Files up to this size are read whole, in one read (`msb inspect` of a small ONNX model). */
const WHOLE_FILE = 4 * 1024 * 1024;

/** `size` bytes of an open file from its start (a short read continues until the end). */
async function readWhole(fh: import('node:fs/promises').FileHandle, size: number): Promise<Uint8Array> {
  const buf = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    const { bytesRead } = await fh.read(buf, got, size - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

export class WireReader {
  /** Offset of the next byte to decode. */
  position = 0;
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  private constructor(
    private readonly source: ByteSource,
    /** Total size in bytes. */
    readonly size: number,
    /** Named in errors. */
    readonly name: string,
  ) {}

  /** Opens a file for reading; `close()` it when done. */
  static async open(path: string): Promise<WireReader> {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size <= WHOLE_FILE) {
        // A small model is read in one read and decoded from memory: no window refills, no file handle left open.
        const bytes = await readWhole(fh, size);
        await fh.close();
        return WireReader.fromBytes(bytes, path);
      }
      return new WireReader(
        {
          read: async (b, o, l, p) => (await fh.read(b, o, l, p)).bytesRead,
          close: () => fh.close(),
        },
        size,
        path,
      );
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** A reader over any random-access source (e.g. ranged GETs of an object in a store). */
  static fromSource(source: ByteSource, size: number, name: string): WireReader {
    return new WireReader(source, size, name);
  }

  /** A reader over bytes already in memory (the window is the bytes themselves: nothing is copied). */
  static fromBytes(bytes: Uint8Array, name = '<bytes>'): WireReader {
    const reader = new WireReader(
      {
        read: async (b, o, l, p) => {
          const part = bytes.subarray(p, p + l);
          b.set(part, o);
          return part.length;
        },
        close: async () => {},
      },
      bytes.length,
      name,
    );
    reader.window = bytes;
    return reader;
  }

  close(): Promise<void> {
    return this.source.close();
  }

  corrupt(message: string, at = this.position): InspectError {
    return new InspectError('MSB_INSPECT_CORRUPT', `${this.name}: ${message} at byte ${at}`, {
      path: this.name,
      offset: at,
    });
  }

  /** Makes at least `n` bytes from `position` available in the window (fewer only at end of file). */
  private async ensure(n: number): Promise<void> {
    const off = this.position - this.windowStart;
    if (off >= 0 && off + n <= this.window.length) return;
    const want = Math.min(Math.max(n, WINDOW), this.size - this.position);
    const buf = new Uint8Array(Math.max(want, 0));
    let got = 0;
    while (got < want) {
      const r = await this.source.read(buf, got, want - got, this.position + got);
      if (r === 0) break;
      got += r;
    }
    this.window = buf.subarray(0, got);
    this.windowStart = this.position;
  }

  private byteAt(i: number): number | undefined {
    return this.window[this.position - this.windowStart + i];
  }

  /** The next field header before `end`, or undefined when the message ends there. */
  async next(end: number): Promise<FieldHeader | undefined> {
    if (this.position >= end) {
      if (this.position > end) throw this.corrupt('a field runs past the end of its message');
      return undefined;
    }
    const at = this.position;
    const tag = await this.varint(end);
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (field === 0 || field > 0x1fffffff) throw this.corrupt(`invalid field number ${field}`, at);
    if (wireType === 6 || wireType === 7) throw this.corrupt(`invalid wire type ${wireType}`, at);
    return { field, wireType, at };
  }

  /** A varint that must end before `end`. */
  async varint(end: number = this.size): Promise<bigint> {
    await this.ensure(10);
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.position + i >= end) throw this.corrupt('truncated varint');
      const b = this.byteAt(i);
      if (b === undefined) throw this.corrupt('truncated varint');
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (!(b & 0x80)) {
        this.position += i + 1;
        return BigInt.asUintN(64, result);
      }
    }
    throw this.corrupt('varint longer than 10 bytes');
  }

  /** A varint read as a signed 64-bit integer (int64/int32 fields: negatives take 10 bytes). */
  async int64(end: number = this.size): Promise<bigint> {
    return BigInt.asIntN(64, await this.varint(end));
  }

  /** The length prefix of a LEN field, checked to fit in its message: returns the payload's end offset. */
  async lengthEnd(end: number): Promise<number> {
    const len = await this.varint(end);
    const payloadEnd = this.position + Number(len);
    if (len > BigInt(end - this.position) || payloadEnd > this.size) {
      throw this.corrupt(`a length of ${len} bytes runs past the end of its message`);
    }
    return payloadEnd;
  }

  /** The payload of a LEN field as bytes; refuses payloads over `max` bytes. */
  async bytes(end: number, max: number): Promise<Uint8Array> {
    const payloadEnd = await this.lengthEnd(end);
    const n = payloadEnd - this.position;
    if (n > max) throw this.corrupt(`a field of ${n} bytes is larger than the ${max} bytes expected here`);
    await this.ensure(n);
    const off = this.position - this.windowStart;
    const out = this.window.slice(off, off + n);
    if (out.length < n) throw this.corrupt('truncated field');
    this.position = payloadEnd;
    return out;
  }

  /**
   * The bytes in [start, end) of the source, wherever the read position is (which does not move): used to copy a
   * field verbatim, tag included, when rewriting a message. Refuses ranges over `max` bytes.
   */
  async slice(start: number, end: number, max: number): Promise<Uint8Array> {
    if (start < 0 || end < start || end > this.size) throw this.corrupt(`a range [${start}, ${end}) outside the file`);
    if (end - start > max)
      throw this.corrupt(`a field of ${end - start} bytes is larger than the ${max} bytes expected here`);
    const saved = this.position;
    this.position = start;
    try {
      await this.ensure(end - start);
      const off = start - this.windowStart;
      const out = this.window.slice(off, off + end - start);
      if (out.length < end - start) throw this.corrupt('truncated field', start);
      return out;
    } finally {
      this.position = saved;
    }
  }

  /** The payload of a LEN field as UTF-8 text. */
  async string(end: number, max = 1 << 20): Promise<string> {
    return Buffer.from(await this.bytes(end, max)).toString('utf8');
  }

  /** Skips a field's value without reading a LEN payload: a seek. */
  async skip(header: FieldHeader, end: number): Promise<void> {
    switch (header.wireType) {
      case WIRE.VARINT:
        await this.varint(end);
        return;
      case WIRE.I64:
        return this.advance(8, end);
      case WIRE.I32:
        return this.advance(4, end);
      case WIRE.LEN:
        this.position = await this.lengthEnd(end);
        return;
      case WIRE.SGROUP: {
        // Groups are obsolete but legal: skip to the matching end-group tag.
        for (;;) {
          const inner = await this.next(end);
          if (!inner) throw this.corrupt('unterminated group', header.at);
          if (inner.wireType === WIRE.EGROUP) {
            if (inner.field !== header.field) throw this.corrupt('mismatched end of group', inner.at);
            return;
          }
          await this.skip(inner, end);
        }
      }
      default:
        throw this.corrupt(`unexpected wire type ${header.wireType}`, header.at);
    }
  }

  private advance(n: number, end: number): void {
    if (this.position + n > end) throw this.corrupt('truncated fixed-width field');
    this.position += n;
  }

  /**
   * Reads the packed or unpacked elements of a repeated varint field into `out` (both encodings are legal for
   * the same field).
   */
  async repeatedVarint(header: FieldHeader, end: number, out: bigint[], signed = true): Promise<void> {
    const read = (e: number) => (signed ? this.int64(e) : this.varint(e));
    if (header.wireType === WIRE.VARINT) {
      out.push(await read(end));
    } else if (header.wireType === WIRE.LEN) {
      const packedEnd = await this.lengthEnd(end);
      while (this.position < packedEnd) out.push(await read(packedEnd));
    } else {
      throw this.corrupt(`wire type ${header.wireType} for a varint field`, header.at);
    }
  }

  /** Expects `header` to have the given wire type. */
  expect(header: FieldHeader, wireType: number, what: string): void {
    if (header.wireType !== wireType) {
      throw this.corrupt(
        `${what} (field ${header.field}) has wire type ${header.wireType}, expected ${wireType}`,
        header.at,
      );
    }
  }
}
