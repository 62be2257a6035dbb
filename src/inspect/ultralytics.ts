/**
 * TensorRT engines exported by Ultralytics (`YOLO(...).export(format="engine")`) are not bare plans: the exporter
 * writes a 4-byte little-endian length, that many bytes of JSON metadata (`json.dumps(self.metadata)`: description,
 * author, date, version, task, stride, batch, imgsz, names, args, ...), then the serialized engine
 * (ultralytics/engine/exporter.py `export_engine`; its AutoBackend reads the same prefix back). TensorRT, and so
 * Triton's TensorRT backend, reads the file from byte 0 and refuses it ("magic tag does not match", ultralytics issue
 * #4597). msb recognises the container, shows the metadata, and publishes the plan without the prefix.
 *
 * The metadata does not state tensor names or shapes reliably (the exporter's own keys, which vary by version and
 * task), so a signature still comes from msb's record, the TensorRT addon, or --input/--output.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InspectError } from './errors.js';
import { PLAN_MAGIC } from './types.js';

/** A recognised Ultralytics engine file: its metadata and where the plan starts. */
export interface UltralyticsEngine {
  metadata: Record<string, unknown>;
  /** Byte offset of the plan ("ftrt"): 4 + the metadata length. */
  planOffset: number;
}

/** More JSON than any exporter writes (names of thousands of classes are tens of KiB). */
const MAX_METADATA = 16 * 1024 * 1024;

/**
 * The container's prefix, when `file` starts with one: a positive int32 length whose JSON object is followed by the
 * plan magic. Undefined for anything else (a bare plan, another format), decided from at most the prefix's bytes.
 */
export async function readUltralyticsEngine(file: string, head: Uint8Array): Promise<UltralyticsEngine | undefined> {
  if (head.length < 5 || head[4] !== 0x7b /* { */) return undefined;
  const length = Buffer.from(head).readInt32LE(0);
  const { size } = await stat(file);
  if (length < 2 || length > MAX_METADATA || 4 + length + PLAN_MAGIC.length > size) return undefined;
  const fh = await open(file, 'r');
  let bytes: Buffer;
  try {
    bytes = Buffer.alloc(4 + length + PLAN_MAGIC.length);
    const { bytesRead } = await fh.read(bytes, 0, bytes.length, 0);
    if (bytesRead !== bytes.length) return undefined;
  } finally {
    await fh.close();
  }
  if (!PLAN_MAGIC.every((b, i) => bytes[4 + length + i] === b)) return undefined;
  let metadata: unknown;
  try {
    metadata = JSON.parse(bytes.toString('utf8', 4, 4 + length));
  } catch (err) {
    throw new InspectError(
      'MSB_INSPECT_CORRUPT',
      `${file}: a TensorRT engine behind a ${length}-byte metadata block (Ultralytics' layout), but the block is not JSON`,
      { path: file },
      { cause: err },
    );
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
  return { metadata: metadata as Record<string, unknown>, planOffset: 4 + length };
}

/** Why Triton cannot serve the file as it is (shown by `msb inspect`). */
export function ultralyticsNote(engine: UltralyticsEngine): string {
  return (
    `Triton cannot load this file as is: it starts with Ultralytics' ${engine.planOffset}-byte metadata prefix ` +
    '(a 4-byte length and JSON) before the TensorRT plan, and TensorRT refuses it ("magic tag does not match"); ' +
    '`msb add --engine` and `msb version add` publish the plan without the prefix'
  );
}

/** The metadata as signature facts: `ultralytics.<key>` = its JSON. */
export function ultralyticsFacts(engine: UltralyticsEngine): Record<string, string> {
  const facts: Record<string, string> = { container: 'ultralytics', triton: ultralyticsNote(engine) };
  for (const [k, v] of Object.entries(engine.metadata)) {
    facts[`ultralytics.${k}`] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return facts;
}

/**
 * Class names from the metadata's `names` ({"0": "person", ...} or a list), in index order, for a labels file.
 * Undefined when there are none.
 */
export function ultralyticsLabels(metadata: Record<string, unknown>): string[] | undefined {
  const names = metadata.names;
  if (Array.isArray(names)) return names.map(String);
  if (typeof names !== 'object' || names === null) return undefined;
  const entries = Object.entries(names as Record<string, unknown>)
    .map(([k, v]) => [Number(k), String(v)] as const)
    .filter(([k]) => Number.isInteger(k) && k >= 0);
  if (entries.length === 0) return undefined;
  const labels = new Array<string>(Math.max(...entries.map(([k]) => k)) + 1).fill('');
  for (const [k, v] of entries) labels[k] = v.replace(/[\r\n]+/g, ' ');
  return labels;
}

/** The bare plan of an Ultralytics engine in a private temporary directory. */
export interface UnwrappedEngine {
  /** The plan file (`model.plan`), byte for byte the engine after the prefix. */
  plan: string;
  engine: UltralyticsEngine;
  /** Removes the temporary directory. */
  remove(): Promise<void>;
}

/** Copies the plan out of an Ultralytics engine file (streamed, never held in memory). */
export async function unwrapUltralyticsEngine(file: string, engine: UltralyticsEngine): Promise<UnwrappedEngine> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msb-unwrap-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const plan = path.join(dir, 'model.plan');
    await pipeline(createReadStream(file, { start: engine.planOffset }), createWriteStream(plan, { flags: 'wx' }));
    return { plan, engine, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
