import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { type InspectError, inspectModel, inspectOnnx } from '../../src/inspect/index.js';
import { repoRoot, skipWithout, testdata } from '../helpers/paths.js';
import { python } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const fixtureScripts = path.join(repoRoot, 'test', 'fixtures', 'onnx');

/** ONNX element type names → Triton data types, as Triton's ONNX Runtime backend maps them. */
const TRITON_TYPE: Record<string, string> = {
  FLOAT: 'TYPE_FP32',
  UINT8: 'TYPE_UINT8',
  INT8: 'TYPE_INT8',
  UINT16: 'TYPE_UINT16',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  STRING: 'TYPE_STRING',
  BOOL: 'TYPE_BOOL',
  FLOAT16: 'TYPE_FP16',
  DOUBLE: 'TYPE_FP64',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  BFLOAT16: 'TYPE_BF16',
};

interface Reference {
  irVersion: number;
  producer: string;
  opsets: Record<string, number>;
  inputs: {
    name: string;
    kind: string;
    elem?: string;
    shape?: ({ value?: number; param?: string } | Record<string, never>)[] | null;
  }[];
  outputs: Reference['inputs'];
}

function reference(files: string[]): Record<string, Reference> {
  const out = execFileSync(python, [path.join(fixtureScripts, 'reference_signature.py'), ...files], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out.toString());
}

function onnxFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? onnxFiles(p) : n.endsWith('.onnx') ? [p] : [];
  });
}

const fixtures = await tempDir('msb-onnx-fixtures-');
execFileSync(python, [path.join(fixtureScripts, 'make_fixtures.py'), fixtures]);

/** Compares our signature with the reference library's reading of the same file. */
async function assertMatchesReference(file: string, ref: Reference): Promise<void> {
  const info = await inspectOnnx(file);
  const expect = (list: Reference['inputs']) =>
    list.map((t) => {
      const shape = t.shape ?? [];
      const out: Record<string, unknown> = {
        name: t.name,
        dataType: TRITON_TYPE[t.elem ?? ''],
        dims: shape.map((d) => ('value' in d && d.value !== undefined ? d.value : -1)),
      };
      if (shape.some((d) => 'param' in d)) out.dimParams = shape.map((d) => ('param' in d ? d.param : null));
      return out;
    });
  assert.deepEqual(info.signature.inputs, expect(ref.inputs), `${file}: inputs`);
  assert.deepEqual(info.signature.outputs, expect(ref.outputs), `${file}: outputs`);
  assert.equal(info.irVersion, ref.irVersion, `${file}: ir_version`);
  assert.equal(info.producerName, ref.producer, `${file}: producer`);
  assert.deepEqual(info.opsets, ref.opsets, `${file}: opsets`);
}

describe('ONNX signature equals the reference onnx library’s', () => {
  test('every real model in ../shared/testdata/onnx', { skip: skipWithout(testdata('onnx')) }, async () => {
    const files = onnxFiles(testdata('onnx'));
    assert.ok(files.length >= 124, `found ${files.length}`);
    const refs = reference(files);
    for (const file of files) await assertMatchesReference(file, refs[file] as Reference);
    process.stdout.write(`# ${files.length} real ONNX models agree with the reference library\n`);
  });

  test('generated fixtures: dynamic and symbolic dims, several I/O, weights listed as inputs, external data', async () => {
    const names = ['dynamic', 'mixed_batch', 'fixed', 'weights_as_inputs', 'external'];
    const files = names.map((n) => path.join(fixtures, `${n}.onnx`));
    const refs = reference(files);
    for (const file of files) await assertMatchesReference(file, refs[file] as Reference);
  });

  test('every ONNX element type Triton has maps to it', async () => {
    for (const [onnxName, triton] of Object.entries(TRITON_TYPE)) {
      const info = await inspectOnnx(path.join(fixtures, `types_${onnxName}.onnx`));
      assert.equal(info.signature.inputs[0]?.dataType, triton, onnxName);
    }
  });
});

describe('ONNX model facts', () => {
  test('a shared symbolic leading dimension is the batch dimension; others are not', async () => {
    assert.equal((await inspectOnnx(path.join(fixtures, 'dynamic.onnx'))).signature.batchDim, true);
    assert.equal((await inspectOnnx(path.join(fixtures, 'mixed_batch.onnx'))).signature.batchDim, false);
    assert.equal((await inspectOnnx(path.join(fixtures, 'fixed.onnx'))).signature.batchDim, false);
  });

  test('old IR versions list weights as inputs: they are not model inputs', async () => {
    const info = await inspectOnnx(path.join(fixtures, 'weights_as_inputs.onnx'));
    assert.deepEqual(
      info.signature.inputs.map((i) => i.name),
      ['x'],
    );
    assert.equal(info.initializerCount, 1);
  });

  test('external data is never opened', async () => {
    await rm(path.join(fixtures, 'external.onnx.data'));
    const info = await inspectOnnx(path.join(fixtures, 'external.onnx'));
    assert.deepEqual(info.signature.inputs[0]?.dims, [-1, 256]);
  });

  const resnet50 = testdata('onnx', 'onnx-backend', 'light', 'light_resnet50.onnx');
  test('inspectModel recognises ONNX and returns the Triton platform', { skip: skipWithout(resnet50) }, async () => {
    const sig = await inspectModel(resnet50);
    assert.equal(sig.platform, 'onnxruntime_onnx');
    assert.equal(sig.backend, 'onnxruntime');
    assert.match(sig.metadata.opsets ?? '', /ai\.onnx:\d+/);
  });
});

describe('ONNX errors are typed and name the problem', () => {
  const fails = async (file: string, code: string, message: RegExp) => {
    await assert.rejects(inspectOnnx(file), (err: InspectError) => {
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      return true;
    });
  };

  test('unsupported element types and non-tensor inputs name the tensor', async () => {
    await fails(
      path.join(fixtures, 'types_COMPLEX64.onnx'),
      'MSB_INSPECT_UNSUPPORTED_TYPE',
      /input 'x' has ONNX type COMPLEX64/,
    );
    await fails(path.join(fixtures, 'sequence_input.onnx'), 'MSB_INSPECT_UNSUPPORTED_TYPE', /input 's' is a sequence/);
    await fails(
      path.join(fixtures, 'no_shape.onnx'),
      'MSB_INSPECT_UNKNOWN_RANK',
      /output 'b' has no shape.*--output b:FP32:DIMS/,
    );
  });

  test('missing, empty, a directory, junk, and a 3 GB sparse file', async () => {
    const dir = await tempDir();
    await fails(path.join(dir, 'nope.onnx'), 'MSB_INSPECT_NOT_FOUND', /nope\.onnx/);
    await writeFile(path.join(dir, 'empty.onnx'), '');
    await fails(path.join(dir, 'empty.onnx'), 'MSB_INSPECT_CORRUPT', /empty/);
    await mkdir(path.join(dir, 'adir.onnx'));
    await fails(path.join(dir, 'adir.onnx'), 'MSB_INSPECT_UNREADABLE', /directory/);
    await writeFile(path.join(dir, 'junk.onnx'), 'this is not a protobuf message at all');
    await fails(path.join(dir, 'junk.onnx'), 'MSB_INSPECT_CORRUPT', /junk\.onnx/);
    const sparse = path.join(dir, 'sparse.onnx');
    await writeFile(sparse, '');
    await truncate(sparse, 3 * 1024 ** 3);
    const started = Date.now();
    await fails(sparse, 'MSB_INSPECT_CORRUPT', /sparse\.onnx/);
    assert.ok(Date.now() - started < 5000, 'a 3 GB file of zeros must be refused without reading it');
  });

  const squeezenet = testdata('onnx', 'onnx-backend', 'light', 'light_squeezenet.onnx');
  test('every truncation of a real model is a typed error, never a crash or a partial result', {
    skip: skipWithout(squeezenet),
  }, async () => {
    const bytes = await readFile(squeezenet);
    const dir = await tempDir();
    const file = path.join(dir, 'cut.onnx');
    const step = Math.max(1, Math.floor(bytes.length / 400));
    for (let n = 1; n < bytes.length; n += step) {
      await writeFile(file, bytes.subarray(0, n));
      await assert.rejects(inspectOnnx(file), (err: InspectError) => err.code === 'MSB_INSPECT_CORRUPT', `prefix ${n}`);
    }
  });
});
