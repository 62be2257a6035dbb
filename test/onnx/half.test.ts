import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { bf16BitsToNumber, convertFloats, f16BitsToNumber, f32BitsToF16 } from '../../src/onnx/half.js';
import { pythonHasOnnx, runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

/** FP32 bit patterns that exercise every path: each exponent, ties, subnormals, the FP16 limit, inf and NaN. */
function patterns(): Uint32Array {
  const out: number[] = [];
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (let e = 0; e < 256; e++)
    for (let k = 0; k < 2048; k++) {
      const sign = k & 1 ? 0x80000000 : 0;
      // Mantissas: random, exact ties at the FP16 rounding bit (0x1000) with odd/even kept bits, and neighbours.
      const tie = [0x1000, 0xfff, 0x1001, 0] as const;
      const m = k < 1024 ? rand() & 0x7fffff : ((k << 13) & 0x7fe000) | tie[(k & 3) as 0 | 1 | 2 | 3];
      out.push((sign | (e << 23) | m) >>> 0);
    }
  for (const f of [65504, 65519.99, 65520, 65536, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -14, 1e-8, 0])
    out.push(new DataView(Float32Array.of(f).buffer).getUint32(0, true));
  return Uint32Array.from(out);
}

test('FP32 → FP16: the fast loop equals the general path, and both equal numpy (round to nearest even)', async (t) => {
  const bits = patterns();
  const src = new Uint8Array(bits.buffer);
  const dst = new Uint8Array(bits.length * 2);
  const over = convertFloats(src, dst, 'fp16');
  const got = new Uint16Array(dst.buffer);
  for (const [i, b] of bits.entries()) assert.equal(got[i], f32BitsToF16(b), `bits ${b.toString(16)}`);
  assert.equal(over, true, 'values beyond 65504 are reported');
  assert.equal(convertFloats(new Uint8Array(Float32Array.of(1, -65504, 0.5).buffer), new Uint8Array(6), 'fp16'), false);

  if (!pythonHasOnnx()) return t.skip('python3 with numpy is not installed');
  const dir = await tempDir('msb-half-');
  await writeFile(path.join(dir, 'in'), src);
  runPython(
    'import numpy as np, sys; np.fromfile(sys.argv[1] + "/in", dtype=np.float32).astype(np.float16).tofile(sys.argv[1] + "/out")',
    [dir],
  );
  const ref = new Uint16Array(new Uint8Array(await readFile(path.join(dir, 'out'))).buffer);
  let diff = 0;
  for (const [i, b] of bits.entries()) {
    const nan = (b & 0x7fffffff) > 0x7f800000;
    // NaN payloads may differ; both must be NaN.
    if (nan) assert.ok(Number.isNaN(f16BitsToNumber(got[i] ?? 0)) && Number.isNaN(f16BitsToNumber(ref[i] ?? 0)));
    else if (got[i] !== ref[i]) diff++;
  }
  assert.equal(diff, 0);
});

test('FP32 → BF16 rounds to nearest even and keeps NaN', () => {
  const values = Float32Array.of(1, 1.00390625, 1.01171875, -3.140625, 3.3e38, Number.NaN, Number.POSITIVE_INFINITY);
  const dst = new Uint8Array(values.length * 2);
  convertFloats(new Uint8Array(values.buffer), dst, 'bf16');
  const got = [...new Uint16Array(dst.buffer)].map(bf16BitsToNumber);
  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even (1) wins; 1 + 3 * 2^-8 ties up to 1 + 2^-6.
  assert.deepEqual(got.slice(0, 4), [1, 1, 1.015625, -3.140625]);
  assert.ok(Math.abs((got[4] as number) - 3.3e38) / 3.3e38 < 2 ** -8);
  assert.ok(Number.isNaN(got[5]));
  assert.equal(got[6], Number.POSITIVE_INFINITY);
});
