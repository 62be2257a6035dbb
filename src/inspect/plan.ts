/**
 * TensorRT plans (serialized engines) without TensorRT.
 *
 * A plan's layout is private to TensorRT and undocumented. What its header reveals, how sure we are and why:
 *
 * - Bytes 0..3 are the ASCII magic "ftrt". Sure for TensorRT 8 and later: Torch-TensorRT tells a raw engine from a
 *   base64 one by `startswith(b"ftrt")` (pytorch/TensorRT, py/torch_tensorrt serialization), and TensorRT refuses
 *   other files with "magicTag == kPLAN_MAGIC_TAG failed" (NVIDIA/TensorRT issues #2915, #1384).
 * - Byte 8 is the engine serialization version, which TensorRT compares with its own when deserializing ("Version
 *   tag does not match. Current Version: 213, Serialized Engine Version: 232"). Observed values: 205 = 8.2,
 *   213 = 8.4, 232 = 8.5/8.6, 239 and 240 = 10.x (NVIDIA/TensorRT #3073, #2041; FunGen #36). Fairly sure of the
 *   offset (reported by users, consistent with those messages), not of any mapping beyond those observations, so
 *   we report the raw number only.
 * - Bytes 24, 25, 26 are the major, minor and patch version of the TensorRT that built the plan, per an NVIDIA
 *   engineer's answer in NVIDIA/TensorRT #3073 (comment 1599934548), relied on by autoware_universe's
 *   tensorrt_common (TRT_MAJOR_IDX = 24). Applies to TensorRT >= 8.6 (including 10 and 11); older plans hold other
 *   bytes there, so the version is reported only when it looks like a TensorRT release (major 8..20).
 * - Nothing about inputs, outputs, shapes or optimization profiles can be read without deserializing the engine.
 *   Hence the full signature comes from msb's sidecar, the addon, or the user (see `planSignature`).
 */
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { writeFileAtomic } from '../atomic-file.js';
import { isMsbError } from '../errors.js';
import { InspectError } from './errors.js';
import {
  checkStatedTensors,
  type ModelSignature,
  PLAN_MAGIC,
  signatureFromOptions,
  type TensorSignature,
} from './signature.js';
import {
  type UltralyticsEngine,
  type UnwrappedEngine,
  ultralyticsFacts,
  unwrapUltralyticsEngine,
} from './ultralytics.js';

export interface PlanHeader {
  /** The file starts with "ftrt". */
  magic: boolean;
  /** Byte 8: TensorRT's engine serialization version (e.g. 232, 240). */
  serializationVersion?: number;
  /** "major.minor.patch" from bytes 24..26 (TensorRT >= 8.6). */
  tensorrtVersion?: string;
}

/** Reads what the first bytes of a plan reveal (see the module comment for sources and certainty). */
export function readPlanHeader(head: Uint8Array): PlanHeader {
  const magic = PLAN_MAGIC.every((b, i) => head[i] === b);
  if (!magic) return { magic };
  const header: PlanHeader = { magic };
  if (head.length > 8) header.serializationVersion = head[8];
  const [major, minor, patch] = [head[24], head[25], head[26]];
  if (major !== undefined && minor !== undefined && patch !== undefined && major >= 8 && major <= 20) {
    header.tensorrtVersion = `${major}.${minor}.${patch}`;
  }
  return header;
}

/** What msb's builder records next to every plan it builds (`model.plan` → `model.plan.msb.json`). */
export interface PlanSidecar {
  msb: 1;
  signature: ModelSignature;
  /** TensorRT version that built the plan, e.g. "10.3.0". */
  tensorrt: string;
  /** Compute capability of the GPU it was built on, e.g. "8.0". */
  computeCapability: string;
  buildOptions?: Record<string, unknown>;
  /** Size of the plan the record belongs to; a sidecar whose plan was since replaced is refused. */
  planBytes?: number;
}

/**
 * The sidecar's schema, built when a sidecar is first read: zod (about a hundred modules) then loads, and importing
 * inspect (every `msb inspect model.onnx`, every library user) does not pay for it.
 */
function makeSidecarSchema(zod: typeof z) {
  const tensorSchema = zod.object({
    name: zod.string().min(1),
    dataType: zod.string().startsWith('TYPE_'),
    dims: zod.array(zod.number().int().min(-1)),
    dimParams: zod.array(zod.string().nullable()).optional(),
  });

  return zod.object({
    msb: zod.literal(1),
    signature: zod.object({
      format: zod.literal('tensorrt_plan'),
      platform: zod.string().optional(),
      backend: zod.string(),
      inputs: zod.array(tensorSchema),
      outputs: zod.array(tensorSchema),
      batchDim: zod.boolean(),
      maxBatchSize: zod.number().int().min(0).optional(),
      metadata: zod.record(zod.string(), zod.string()),
    }),
    tensorrt: zod.string(),
    computeCapability: zod.string(),
    buildOptions: zod.record(zod.string(), zod.unknown()).optional(),
    planBytes: zod.number().int().min(0).optional(),
  });
}
let sidecarSchema: Promise<{ zod: typeof z; schema: ReturnType<typeof makeSidecarSchema> }> | undefined;

export function planSidecarPath(planPath: string): string {
  return `${planPath}.msb.json`;
}

/**
 * Writes the sidecar atomically and durably (writeFileAtomic), so a reader sees the old record or the new one. `planBytes`
 * is filled from the plan on disk when absent.
 */
export async function writePlanSidecar(planPath: string, record: PlanSidecar): Promise<void> {
  const full: PlanSidecar = { ...record, planBytes: record.planBytes ?? (await stat(planPath)).size };
  await writeFileAtomic(planSidecarPath(planPath), `${JSON.stringify(full, null, 2)}\n`);
}

/**
 * The sidecar of a plan, or undefined when there is none. A sidecar that is not valid JSON of the right shape, or
 * that records a different plan size, is an error (`MSB_INSPECT_SIDECAR_INVALID`, `MSB_INSPECT_SIDECAR_STALE`):
 * trusting it would describe some other engine.
 */
export async function readPlanSidecar(planPath: string): Promise<PlanSidecar | undefined> {
  const file = planSidecarPath(planPath);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  sidecarSchema ??= import('zod').then(({ z: zod }) => ({ zod, schema: makeSidecarSchema(zod) }));
  const { zod, schema } = await sidecarSchema;
  let parsed: z.infer<ReturnType<typeof makeSidecarSchema>>;
  try {
    parsed = schema.parse(JSON.parse(text));
  } catch (err) {
    const why =
      err instanceof zod.ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : String(err);
    throw new InspectError(
      'MSB_INSPECT_SIDECAR_INVALID',
      `${file}: not a valid msb plan record: ${why}`,
      { path: file },
      {
        cause: err,
      },
    );
  }
  if (parsed.planBytes !== undefined) {
    const size = (await stat(planPath)).size;
    if (size !== parsed.planBytes) {
      throw new InspectError(
        'MSB_INSPECT_SIDECAR_STALE',
        `${file} records a plan of ${parsed.planBytes} bytes but ${planPath} has ${size}: the plan was replaced; ` +
          'rebuild it with msb or remove the stale record',
        { path: file },
      );
    }
  }
  return parsed as PlanSidecar;
}

export interface PlanSignatureOptions {
  inputs?: TensorSignature[];
  outputs?: TensorSignature[];
}

/**
 * The signature of a plan, from (1) msb's sidecar, (2) the TensorRT addon when TensorRT is installed,
 * (3) explicit inputs and outputs. The header's facts go into `metadata` in every case.
 */
export async function inspectPlan(
  planPath: string,
  head: Uint8Array,
  options: PlanSignatureOptions,
  ultralytics?: UltralyticsEngine,
): Promise<ModelSignature> {
  const header = readPlanHeader(ultralytics ? await readAt(planPath, ultralytics.planOffset, head.length) : head);
  if (!header.magic) {
    // Every plan TensorRT 8 and later writes starts with "ftrt" (module comment), and TensorRT refuses any other
    // file; what Triton cannot load is never described, published or given a config, whatever tensors were stated.
    throw new InspectError(
      'MSB_INSPECT_CORRUPT',
      `${planPath}: not a TensorRT plan: ${ultralytics ? 'the plan inside this Ultralytics engine' : 'it'} does not start with TensorRT's magic "ftrt"`,
      { path: planPath },
    );
  }
  const metadata: Record<string, string> = { planMagic: 'ftrt' };
  if (ultralytics) Object.assign(metadata, ultralyticsFacts(ultralytics));
  if (header.serializationVersion !== undefined) metadata.serializationVersion = String(header.serializationVersion);
  if (header.tensorrtVersion) metadata.tensorrtVersion = header.tensorrtVersion;

  const sidecar = await readPlanSidecar(planPath);
  if (sidecar) {
    checkStatedTensors(planPath, sidecar.signature, options, 'its msb record');
    return {
      ...sidecar.signature,
      metadata: {
        ...sidecar.signature.metadata,
        ...metadata,
        tensorrtVersion: sidecar.tensorrt,
        computeCapability: sidecar.computeCapability,
        signatureSource: 'sidecar',
      },
    };
  }

  let addonUnavailable: string | undefined;
  const fromAddon = await signatureFromAddon(planPath, ultralytics).catch((err: unknown) => {
    // TensorRT is installed but cannot read plans on this machine (no CUDA device): the header, msb's record or the
    // stated tensors still answer.
    if (!isMsbError(err, 'MSB_TENSORRT_UNAVAILABLE')) throw err;
    addonUnavailable = err.message;
    return undefined;
  });
  if (fromAddon) {
    checkStatedTensors(planPath, fromAddon, options, 'TensorRT');
    return { ...fromAddon, metadata: { ...fromAddon.metadata, ...metadata, signatureSource: 'tensorrt' } };
  }

  if (options.inputs?.length && options.outputs?.length) {
    return signatureFromOptions('tensorrt_plan', options.inputs, options.outputs, metadata);
  }
  throw new InspectError(
    'MSB_INSPECT_SIGNATURE_REQUIRED',
    `${planPath}: a TensorRT plan does not reveal its inputs and outputs without TensorRT` +
      `${header.tensorrtVersion ? ` (built by TensorRT ${header.tensorrtVersion})` : ''}. Either rebuild it with msb ` +
      `(which records ${path.basename(planSidecarPath(planPath))} beside it), run msb where TensorRT is installed, ` +
      'or give every tensor with --input NAME:TYPE:DIMS and --output NAME:TYPE:DIMS' +
      `${addonUnavailable ? ` (TensorRT is installed here but cannot read the plan: ${addonUnavailable})` : ''}`,
    // What the file does say, for `msb inspect` to show when no tensors were asked for.
    { path: planPath, format: 'tensorrt_plan', metadata, ...(addonUnavailable ? { tensorrt: addonUnavailable } : {}) },
  );
}

/**
 * The addon's reading of the engine, only when TensorRT is present (the module is loaded on demand). An Ultralytics
 * engine's plan is copied out of its container first: TensorRT reads a plan from its first byte.
 */
async function signatureFromAddon(
  planPath: string,
  ultralytics: UltralyticsEngine | undefined,
): Promise<ModelSignature | undefined> {
  const trt = await import('../tensorrt/index.js');
  // The runtime is enough to read a plan (TensorRT's lean runtime has no builder).
  if (!trt.tensorrt.status().runtime) return undefined;
  const bare = ultralytics ? await unwrapUltralyticsEngine(planPath, ultralytics) : undefined;
  try {
    return trt.engineToModelSignature(await trt.inspectEngine(bare?.plan ?? planPath));
  } finally {
    await bare?.remove();
  }
}

/** `length` bytes of `file` from `offset` (fewer at its end). */
async function readAt(file: string, offset: number, length: number): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * The bare plan of an Ultralytics engine (see ultralytics.ts), in a temporary directory, with msb's record carried
 * over (its size the plan's) when the engine had one: what is published instead of the engine file.
 */
export async function unwrapEngine(file: string, engine: UltralyticsEngine): Promise<UnwrappedEngine> {
  const bare = await unwrapUltralyticsEngine(file, engine);
  try {
    const record = await readPlanSidecar(file);
    if (record) await writePlanSidecar(bare.plan, { ...record, planBytes: (await stat(bare.plan)).size });
    return bare;
  } catch (err) {
    await bare.remove();
    throw err;
  }
}
