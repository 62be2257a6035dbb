/**
 * TorchScript archives (`torch.jit.save`): a zip file whose entries sit under one top-level folder —
 * `<archive>/data.pkl` (the pickled module), `<archive>/constants.pkl`, `<archive>/code/...` (the TorchScript
 * source), `<archive>/version`, `<archive>/data/<n>` (tensor storages). The archive records no reliable description
 * of forward()'s inputs and outputs, so the signature comes from the user, named by Triton's PyTorch convention.
 */
import { open } from 'node:fs/promises';
import { InspectError } from './errors.js';
import { type ModelSignature, signatureFromOptions, type TensorSignature } from './signature.js';

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CDH_SIG = 0x02014b50;
/** End-of-central-directory record (22 bytes) plus the longest comment zip allows. */
const EOCD_SEARCH = 22 + 0xffff;

function corrupt(file: string, why: string): InspectError {
  return new InspectError('MSB_INSPECT_CORRUPT', `${file}: not a readable zip archive: ${why}`, { path: file });
}

/** Names of the entries of a zip archive, read from its central directory (zip64 included) without inflating. */
export async function listZipEntries(file: string): Promise<string[]> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const read = async (pos: number, len: number): Promise<Buffer> => {
      if (pos < 0 || len < 0 || pos + len > size)
        throw corrupt(file, `a record points outside the file (${pos}+${len})`);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (bytesRead !== len) throw corrupt(file, 'truncated');
      return buf;
    };
    const tailStart = Math.max(0, size - EOCD_SEARCH);
    const tail = await read(tailStart, size - tailStart);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw corrupt(file, 'no end-of-central-directory record (truncated?)');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || count === 0xffff) {
      const locAt = tailStart + eocd - 20;
      const loc = await read(locAt, 20);
      if (loc.readUInt32LE(0) !== ZIP64_LOCATOR_SIG) throw corrupt(file, 'zip64 locator missing');
      const z64 = await read(Number(loc.readBigUInt64LE(8)), 56);
      if (z64.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw corrupt(file, 'zip64 end record missing');
      count = Number(z64.readBigUInt64LE(32));
      cdSize = Number(z64.readBigUInt64LE(40));
      cdOffset = Number(z64.readBigUInt64LE(48));
    }
    const cd = await read(cdOffset, cdSize);
    const names: string[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CDH_SIG)
        throw corrupt(file, `central directory entry ${i} is damaged`);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      if (p + 46 + nameLen > cd.length) throw corrupt(file, `central directory entry ${i} is truncated`);
      names.push(cd.toString('utf8', p + 46, p + 46 + nameLen));
      p += 46 + nameLen + extraLen + commentLen;
    }
    return names;
  } finally {
    await fh.close();
  }
}

/** True when the entries have TorchScript's layout: one top folder holding data.pkl and code/ (or constants.pkl). */
export function isTorchScriptLayout(names: readonly string[]): boolean {
  const has = (re: RegExp) => names.some((n) => re.test(n));
  return has(/^[^/]+\/data\.pkl$/) && (has(/^[^/]+\/code\//) || has(/^[^/]+\/constants\.pkl$/));
}

/** Triton's PyTorch backend convention for tensors without names: `INPUT__<i>` and `OUTPUT__<i>`. */
function nameByPosition(tensors: TensorSignature[], prefix: string): TensorSignature[] {
  return tensors.map((t, i) => (t.name === '' ? { ...t, name: `${prefix}__${i}` } : t));
}

export async function inspectTorchScript(
  file: string,
  options: { inputs?: TensorSignature[]; outputs?: TensorSignature[] },
): Promise<ModelSignature> {
  const names = await listZipEntries(file);
  if (!isTorchScriptLayout(names)) {
    // torch.save() writes the same zip layout minus code/ and constants.pkl: weights without the program.
    const checkpoint = names.some((n) => /^[^/]+\/data\.pkl$/.test(n));
    throw new InspectError(
      'MSB_INSPECT_UNKNOWN_FORMAT',
      checkpoint
        ? `${file}: a torch.save() checkpoint (weights, no TorchScript code); Triton's PyTorch backend needs a ` +
            'module saved with torch.jit.save(torch.jit.script(model)) or torch.jit.trace'
        : `${file}: a zip archive, but not a TorchScript one (no <archive>/data.pkl with code/ or constants.pkl)`,
      { path: file },
    );
  }
  const archive = names[0]?.split('/')[0] ?? '';
  if (!options.inputs?.length || !options.outputs?.length) {
    throw new InspectError(
      'MSB_INSPECT_SIGNATURE_REQUIRED',
      `${file}: a TorchScript archive does not describe forward()'s inputs and outputs; give each with ` +
        "--input TYPE:DIMS / --output TYPE:DIMS (named INPUT__0, OUTPUT__0, ... by position, as Triton's PyTorch " +
        'backend expects) or NAME:TYPE:DIMS',
      { path: file },
    );
  }
  return signatureFromOptions(
    'torchscript',
    nameByPosition(options.inputs, 'INPUT'),
    nameByPosition(options.outputs, 'OUTPUT'),
    {
      archive,
      entries: String(names.length),
    },
  );
}
