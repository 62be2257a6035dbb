/**
 * FP32 ↔ FP16/BF16 conversion of little-endian element buffers (Node 20 has no Float16Array). FP32 → FP16 and
 * FP32 → BF16 round to nearest, ties to even, as numpy's `astype(np.float16)` and ONNX's reference do; values beyond
 * FP16's range become ±inf (convert keeps such tensors FP32 before it gets here), NaN stays NaN.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One FP32 bit pattern → FP16 bits. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return half;
}

/** One FP32 bit pattern → BF16 bits (the upper half, rounded to nearest even). */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** FP16 bits → number. */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** BF16 bits → number. */
export function bf16BitsToNumber(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0] as number;
}

export type LowPrecision = 'fp16' | 'bf16';

/**
 * Converts `src` (FP32 little-endian bytes, length a multiple of 4) into `dst` (half as long). The caller keeps
 * both buffers; the loop reads through an aligned copy when `src` is not 4-byte aligned. Returns true when an FP16
 * conversion met a value beyond FP16's largest finite value (65504, or ±inf), so the caller can keep that tensor
 * FP32 instead of storing inf (convert's initializer-range rule, checked while converting: no separate pass).
 */
export function convertFloats(src: Uint8Array, dst: Uint8Array, to: LowPrecision): boolean {
  const n = src.length >>> 2;
  const aligned = src.byteOffset % 4 === 0 ? src : src.slice();
  const inp = new Uint32Array(aligned.buffer, aligned.byteOffset, n);
  if (dst.byteOffset % 2 !== 0) throw new Error('convertFloats: unaligned output');
  const out = new Uint16Array(dst.buffer, dst.byteOffset, n);
  if (to === 'fp16') return toF16(inp, out, n);
  for (let i = 0; i < n; i++) out[i] = f32BitsToBf16(inp[i] as number);
  return false;
}

/** 65504, FP16's largest finite value, as FP32 bits. */
const F16_MAX_BITS = 0x477fe000;

/**
 * The FP16 loop, with the common case inline: a value in FP16's normal range is rebiased and rounded to nearest
 * even by integer adds on its bits (the rounding bias 0xfff plus the kept mantissa's lowest bit; a carry rounds up
 * into the exponent, up to inf), the method of F. Giesen's `float_to_half_fast3_rtne`. Subnormals, inf and NaN take
 * the general path. Same results as `f32BitsToF16` for every input (see test/onnx/half.test.ts).
 */
function toF16(inp: Uint32Array, out: Uint16Array, n: number): boolean {
  let over = false;
  for (let i = 0; i < n; i++) {
    const x = inp[i] as number;
    const f = x & 0x7fffffff;
    if (f >= 0x38800000 && f <= F16_MAX_BITS) {
      out[i] = ((x >>> 16) & 0x8000) | ((f - 0x38000000 + 0xfff + ((f >>> 13) & 1)) >>> 13);
    } else {
      if (f > F16_MAX_BITS && f <= 0x7f800000) over = true;
      out[i] = f32BitsToF16(x);
    }
  }
  return over;
}

/** The largest |x| over FP32 little-endian bytes (NaN ignored; ±inf counts as infinite). */
export function maxAbsFloats(src: Uint8Array): number {
  const n = src.length >>> 2;
  const aligned = src.byteOffset % 4 === 0 ? src : src.slice();
  const v = new Float32Array(aligned.buffer, aligned.byteOffset, n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(v[i] as number);
    if (a > max) max = a;
  }
  return max;
}
