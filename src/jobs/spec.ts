import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { checkBuildTarget, ReleaseError, releaseTensorrt, resolveRelease } from '../release/index.js';
import { nameProblem } from '../store/names.js';
import { JobError } from './errors.js';

/**
 * Where a plan may run. TensorRT plans run only on the TensorRT version and GPU architecture that built them,
 * unless built hardware-compatible (`ampere+`: any GPU of compute capability ≥ 8.0, TensorRT's kAMPERE_PLUS).
 */
export interface BuildTarget {
  /** TensorRT major.minor, e.g. "10.8". */
  tensorrt: string;
  /** Compute capability "8.6", or "ampere+" for a hardware-compatible plan. */
  gpu: string;
}

const modelName = z.string().superRefine((name, ctx) => {
  const why = nameProblem(name);
  if (why) ctx.addIssue({ code: 'custom', message: `not a model name: ${why}` });
});
const path = z.string().min(1).max(4096);
const tensorOption = z.string().min(1).max(1024);

const output = z.strictObject({
  /** Model to publish to; created with a generated config when it does not exist. */
  model: modelName,
  /** Version number to publish as. Default: the next free one. */
  version: z
    .number()
    .int()
    .min(1)
    .max(2 ** 53 - 1)
    .optional(),
  maxBatchSize: z
    .number()
    .int()
    .min(0)
    .max(1 << 20)
    .optional(),
  /** instance_group count. */
  concurrency: z.number().int().min(1).max(1024).optional(),
});

/**
 * A target names its TensorRT ("10.8") or the Triton release whose TensorRT it is (`triton: "25.01"`, issue 24):
 * the release is resolved here (src/release), so the spec that is queued, hashed and routed always carries the
 * TensorRT version; one naming both is refused when they disagree.
 */
const target = z
  .strictObject({
    tensorrt: z
      .string()
      .regex(/^\d{1,3}\.\d{1,3}$/, 'TensorRT major.minor, e.g. "10.8"')
      .optional(),
    triton: z
      .string()
      .regex(/^\d{2}\.\d{2}$/, 'a Triton release such as "25.01"')
      .optional(),
    gpu: z.string().regex(/^(\d{1,2}\.\d{1,2}|ampere\+)$/, 'a compute capability such as "8.6", or "ampere+"'),
  })
  .transform((t, ctx): BuildTarget => {
    if (t.triton === undefined) {
      if (t.tensorrt !== undefined) return { tensorrt: t.tensorrt, gpu: t.gpu };
      ctx.addIssue({ code: 'custom', message: 'name the TensorRT version ("10.8") or the Triton release ("25.01")' });
      return z.NEVER;
    }
    try {
      const release = resolveRelease(t.triton, 'target.triton');
      if (t.tensorrt !== undefined) checkBuildTarget(release, t.tensorrt);
      return { tensorrt: releaseTensorrt(release), gpu: t.gpu };
    } catch (err) {
      if (!(err instanceof ReleaseError)) throw err;
      ctx.addIssue({ code: 'custom', message: `${err.code}: ${err.message}` });
      return z.NEVER;
    }
  });

const dim = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const buildOptions = z.strictObject({
  profiles: z
    .array(z.record(z.string().min(1), z.strictObject({ min: z.array(dim), opt: z.array(dim), max: z.array(dim) })))
    .max(64)
    .optional(),
  precision: z
    .array(z.enum(['fp16', 'bf16', 'int8', 'fp8']))
    .max(4)
    .optional(),
  versionCompatible: z.boolean().optional(),
  optimizationLevel: z.number().int().min(0).max(5).optional(),
  workspaceBytes: z
    .number()
    .int()
    .min(0)
    .max(2 ** 48)
    .optional(),
});

const common = {
  /**
   * SHA-256 (hex) of the source's bytes, for remote sources whose store states none; checked by the worker after
   * download. Default: computed by the client (local files, https) or taken from the object's SHA-256 checksum.
   */
  sourceDigest: z
    .string()
    .regex(/^[0-9a-f]{64}$/, '64 hex digits of SHA-256')
    .optional(),
  /** Per-job time limit; the build is cancelled when it passes. Default: none. */
  timeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .optional(),
};

export const jobSpecSchema = z.discriminatedUnion('kind', [
  /** Publish a model file as it is, with a generated config (e.g. ONNX for onnxruntime_onnx). No TensorRT needed. */
  z.strictObject({
    kind: z.literal('import'),
    source: path,
    output,
    inputs: z.array(tensorOption).max(256).optional(),
    outputs: z.array(tensorOption).max(256).optional(),
    ...common,
  }),
  /** ONNX → TensorRT plan for `target`, then publish plan + config. */
  z.strictObject({
    kind: z.literal('build'),
    source: path,
    output,
    target,
    build: buildOptions.default({}),
    ...common,
  }),
  /** Plan → signature through TensorRT, recorded beside the plan (`<plan>.msb.json`) for CPU-only use later. */
  z.strictObject({ kind: z.literal('inspect'), source: path, target, ...common }),
]);

export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type BuildJobSpec = Extract<JobSpec, { kind: 'build' }>;

/** Checks a spec; the error lists every problem with its path. Unknown fields are refused. */
export function parseJobSpec(input: unknown): JobSpec {
  const r = jobSpecSchema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`);
    throw new JobError('MSB_JOB_INVALID_SPEC', `invalid job spec: ${problems.join('; ')}`, { problems });
  }
  return r.data;
}

/**
 * BullMQ key prefix of every msb queue. The braces are a Redis Cluster hash tag: all keys of a queue (and msb's
 * own keys, see KEYS) hash to one slot, which BullMQ's multi-key scripts need on a cluster
 * (https://docs.bullmq.io/bull/patterns/redis-cluster). On one server or Sentinel it is just a name.
 */
export const QUEUE_PREFIX = '{msb}';

/** The queue for CPU work (imports). */
export const IMPORT_QUEUE = 'msb-import';

/** The queue for builds and inspections on one target: `msb-trt10.8-sm86`, `msb-trt10.8-ampere-plus`. */
export function targetQueue(t: BuildTarget): string {
  const gpu = t.gpu === 'ampere+' ? 'ampere-plus' : `sm${t.gpu.replace('.', '')}`;
  return `msb-trt${t.tensorrt}-${gpu}`;
}

export function queueOf(spec: JobSpec): string {
  return spec.kind === 'import' ? IMPORT_QUEUE : targetQueue(spec.target);
}

/** SHA-256 of a file's bytes, streamed. */
export async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new JobError(
      'MSB_JOB_SOURCE',
      `cannot read source ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
      { path: file },
    );
  }
  return hash.digest('hex');
}

/** JSON with object keys sorted, so equal options always hash the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/** What makes two builds produce the same plan: the ONNX bytes, the build options and the target. */
export function planKey(sourceDigest: string, spec: BuildJobSpec): string {
  return sha('plan', sourceDigest, canonical(spec.build), canonical(spec.target));
}

/**
 * The job id: equal requests (same bytes, same options, same target and output) get the same id, so BullMQ keeps
 * one job and a second enqueue returns the first one's result.
 */
export function jobKey(sourceDigest: string, spec: JobSpec): string {
  const { source: _source, timeoutSeconds: _timeout, ...rest } = spec;
  return sha('job', sourceDigest, canonical(rest));
}
