import { InspectError } from './errors.js';
import type { TensorSignature } from './signature.js';
import type { DataType } from './types.js';

/** Triton's data types by short name. `BYTES` is the name Triton's inference protocol uses for TYPE_STRING. */
const SHORT_TYPES: Record<string, DataType> = {
  BOOL: 'TYPE_BOOL',
  UINT8: 'TYPE_UINT8',
  UINT16: 'TYPE_UINT16',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16',
  FP32: 'TYPE_FP32',
  FP64: 'TYPE_FP64',
  BF16: 'TYPE_BF16',
  STRING: 'TYPE_STRING',
  BYTES: 'TYPE_STRING',
};

function bad(spec: string, why: string): InspectError {
  return new InspectError(
    'MSB_INSPECT_BAD_TENSOR_OPTION',
    `bad tensor '${spec}': ${why} (expected NAME:TYPE:DIMS, e.g. input:FP32:-1,3,224,224)`,
    { spec },
  );
}

/**
 * Parses a `--input`/`--output` value: `NAME:TYPE:DIMS`.
 *
 * - NAME may itself contain `:` (TensorFlow names such as `images:0`): the type and dims are the last two fields.
 *   It may be left out (`FP32:3,224,224`) for formats that name tensors by position: TorchScript's tensors then
 *   get Triton's `INPUT__<i>`/`OUTPUT__<i>` names; the other formats refuse an unnamed tensor.
 * - TYPE is a Triton data type with or without its `TYPE_` prefix, any case (`FP32`, `TYPE_FP32`, `int64`);
 *   `BYTES` is accepted for `TYPE_STRING`.
 * - DIMS is the full shape the model sees, comma-separated, optionally in brackets: `3,224,224`, `[-1,128]`.
 *   A leading `-1` is a batch dimension Triton can batch along. `-1` marks any dynamic dimension. An empty
 *   DIMS (`x:FP32:` or `x:FP32:[]`) is a scalar.
 */
export function parseTensorOption(spec: string): TensorSignature {
  const last = spec.lastIndexOf(':');
  let mid = last > 0 ? spec.lastIndexOf(':', last - 1) : -1;
  // `TYPE:DIMS` with no name: the format names it by position (TorchScript's INPUT__0 convention).
  const unnamed =
    mid === -1 &&
    last > 0 &&
    SHORT_TYPES[
      spec
        .slice(0, last)
        .trim()
        .toUpperCase()
        .replace(/^TYPE_/, '')
    ];
  if (unnamed) mid = -1;
  else if (mid <= 0) throw bad(spec, mid === 0 ? 'the name is empty' : 'missing ":TYPE:DIMS"');
  const name = unnamed ? '' : spec.slice(0, mid);
  const typeText = spec
    .slice(mid + 1, last)
    .trim()
    .toUpperCase();
  const dataType = SHORT_TYPES[typeText.replace(/^TYPE_/, '')];
  if (!dataType) {
    throw bad(spec, `unknown type '${spec.slice(mid + 1, last)}'; one of ${Object.keys(SHORT_TYPES).join(', ')}`);
  }
  let dimsText = spec.slice(last + 1).trim();
  if (dimsText.startsWith('[') && dimsText.endsWith(']')) dimsText = dimsText.slice(1, -1).trim();
  const dims =
    dimsText === ''
      ? []
      : dimsText.split(',').map((d) => {
          const t = d.trim();
          if (!/^-?\d+$/.test(t)) throw bad(spec, `dimension '${t}' is not an integer`);
          const n = Number(t);
          if (n === 0 || n < -1 || !Number.isSafeInteger(n)) {
            throw bad(spec, `dimension ${t} must be a positive size or -1 for a dynamic one`);
          }
          return n;
        });
  return { name, dataType, dims };
}
