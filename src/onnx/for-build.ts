/**
 * The conversion step of a TensorRT 11 build asking for FP16/BF16: TensorRT 11 removed the builder's precision flags
 * (networks are strongly typed, see ../shared/notes/precision-and-numerics.md), so the ONNX model itself must carry
 * the types. The converted model is cached by the source's digest and the conversion options, so the same conversion
 * never runs twice, and it comes with its compare report (ONNX Runtime, original vs converted).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type CompareReport, compareModels } from './compare.js';
import { convertModel } from './convert.js';
import { OnnxError } from './errors.js';
import type { LowPrecision } from './half.js';

/** Bump when convert's decisions change, so older cached conversions are not reused. */
const CONVERTER_REVISION = 1;
/** The build's comparison tolerance (FP16 against FP32; the corpus criterion of issue 15). */
const BUILD_TOLERANCE = 1e-2;

export interface BuildConversion {
  precision: LowPrecision;
  /** The conversion came from the cache. */
  cached: boolean;
  key: string;
  lowShare: number;
  keptFp32: number;
  castsInserted: number;
  /** Original vs converted at atol = rtol = 1e-2, or why it was not run. */
  compare: Pick<CompareReport, 'atol' | 'rtol' | 'seed' | 'pass' | 'outputs'> | { skipped: string };
}

/**
 * The low precision a build must convert to first: on TensorRT 11 or later, the first of fp16/bf16 it asks for.
 * undefined on TensorRT 10 (its precision flags still apply) or when no such precision is asked.
 */
export function conversionFor(tensorrt: string, precision: readonly string[] | undefined): LowPrecision | undefined {
  if (Number(tensorrt.split('.')[0]) < 11) return undefined;
  return precision?.find((p): p is LowPrecision => p === 'fp16' || p === 'bf16');
}

/**
 * Converts `source` (digest `sourceDigest`) with --keep-io-types (the config and clients stay as they are), or
 * returns the cached conversion. Caches under `cacheDir/<key>/` (model.onnx [+ .data], report.json), made in a temp
 * folder and renamed into place, so concurrent workers never see half a conversion.
 */
export async function convertForBuild(
  source: string,
  sourceDigest: string,
  precision: LowPrecision,
  cacheDir: string,
): Promise<{ onnx: string; conversion: BuildConversion }> {
  const options = { precision, keepIoTypes: true, revision: CONVERTER_REVISION };
  const key = createHash('sha256')
    .update(`convert\n${sourceDigest}\n${JSON.stringify(options)}`)
    .digest('hex');
  const dir = path.join(cacheDir, key);
  const onnx = path.join(dir, 'model.onnx');
  const cached = await readReport(dir);
  if (cached) return { onnx, conversion: { ...cached, cached: true } };

  await mkdir(cacheDir, { recursive: true });
  const tmp = path.join(cacheDir, `.${key}.${randomBytes(6).toString('hex')}.msb-tmp`);
  await mkdir(tmp);
  try {
    let calibrate = true;
    let compare: BuildConversion['compare'];
    const report = await convertModel(source, path.join(tmp, 'model.onnx'), {
      precision,
      keepIoTypes: true,
      durable: true,
    }).catch(async (err: unknown) => {
      // Without ONNX Runtime the data-range rule cannot be measured: convert by the other rules and say so.
      if (!(err instanceof OnnxError && err.code === 'MSB_ONNX_RUNTIME_MISSING')) throw err;
      calibrate = false;
      return convertModel(source, path.join(tmp, 'model.onnx'), {
        precision,
        keepIoTypes: true,
        calibrate: false,
        durable: true,
      });
    });
    if (!calibrate) compare = { skipped: 'ONNX Runtime (onnxruntime-node) is not installed' };
    else {
      try {
        const c = await compareModels(source, path.join(tmp, 'model.onnx'), {
          atol: BUILD_TOLERANCE,
          rtol: BUILD_TOLERANCE,
        });
        compare = { atol: c.atol, rtol: c.rtol, seed: c.seed, pass: c.pass, outputs: c.outputs };
      } catch (err) {
        if (!(err instanceof OnnxError)) throw err;
        compare = { skipped: err.message };
      }
    }
    const conversion: BuildConversion = {
      precision,
      cached: false,
      key,
      lowShare: report.lowShare,
      keptFp32: report.kept.length,
      castsInserted: report.castsInserted,
      compare,
    };
    await writeFile(path.join(tmp, 'report.json'), `${JSON.stringify(conversion, null, 2)}\n`);
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another worker finished the same conversion first: theirs is as good.
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw err;
      await rm(tmp, { recursive: true, force: true });
    }
    return { onnx, conversion };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function readReport(dir: string): Promise<BuildConversion | undefined> {
  try {
    const report = JSON.parse(await readFile(path.join(dir, 'report.json'), 'utf8')) as BuildConversion;
    await stat(path.join(dir, 'model.onnx'));
    return report;
  } catch {
    return undefined;
  }
}
