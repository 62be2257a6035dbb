import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { isMsbError } from '../../src/errors.js';
import {
  detectFormat,
  inspectModel,
  type ModelSignature,
  parseTensorOption,
  planSidecarPath,
  readPlanHeader,
  readPlanSidecar,
  writePlanSidecar,
} from '../../src/inspect/index.js';
import { encodeTf } from '../fixtures/tf/encode.js';
import { runCli } from '../helpers/cli.js';
import { runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<Error> {
  let caught: unknown;
  await p.catch((e: unknown) => {
    caught = e;
  });
  assert.ok(isMsbError(caught, code), `expected ${code}, got ${String(caught)}`);
  if (message) assert.match((caught as Error).message, message);
  return caught as Error;
}

describe('parseTensorOption', () => {
  test('short and TYPE_ names, -1 dims, brackets, names with colons', () => {
    assert.deepEqual(parseTensorOption('images:FP32:3,224,224'), {
      name: 'images',
      dataType: 'TYPE_FP32',
      dims: [3, 224, 224],
    });
    assert.deepEqual(parseTensorOption('x:TYPE_INT64:[-1, 128]'), {
      name: 'x',
      dataType: 'TYPE_INT64',
      dims: [-1, 128],
    });
    assert.deepEqual(parseTensorOption('serving_default_x:0:fp16:-1'), {
      name: 'serving_default_x:0',
      dataType: 'TYPE_FP16',
      dims: [-1],
    });
    assert.deepEqual(parseTensorOption('text:BYTES:'), { name: 'text', dataType: 'TYPE_STRING', dims: [] });
    assert.deepEqual(parseTensorOption('FP32:-1,16'), { name: '', dataType: 'TYPE_FP32', dims: [-1, 16] });
  });

  test('bad specs name the problem', () => {
    for (const [spec, why] of [
      ['x:FP33:1', /unknown type 'FP33'/],
      ['x:FP32:1,a', /'a' is not an integer/],
      ['x:FP32:0', /positive size or -1/],
      ['x:FP32:-2', /positive size or -1/],
      ['justaname', /missing ":TYPE:DIMS"/],
      [':FP32:1', /the name is empty/],
    ] as const) {
      assert.throws(
        () => parseTensorOption(spec),
        (e: unknown) => isMsbError(e, 'MSB_INSPECT_BAD_TENSOR_OPTION') && why.test((e as Error).message),
        spec,
      );
    }
  });
});

describe('format detection', () => {
  test('by content: plan magic, zip, ELF backend libraries; by name where there is no magic', async () => {
    const dir = await tempDir();
    const plan = path.join(dir, 'weird-name.bin');
    await writeFile(plan, Buffer.concat([Buffer.from('ftrt'), Buffer.alloc(60)]));
    assert.equal((await detectFormat(plan)).format, 'tensorrt_plan');
    const lib = path.join(dir, 'libtriton_identity.so');
    await copyFile('/bin/true', lib); // a real ELF shared object header
    assert.deepEqual(
      { ...(await detectFormat(lib)), head: undefined },
      { format: 'custom', path: lib, head: undefined, backend: 'identity' },
    );
    const other = path.join(dir, 'libfoo.so');
    await copyFile('/bin/true', other);
    await rejectsWith(detectFormat(other), 'MSB_INSPECT_UNKNOWN_FORMAT', /not a Triton backend/);
    const py = path.join(dir, 'model.py');
    await writeFile(py, 'import triton_python_backend_utils as pb_utils\n');
    assert.equal((await detectFormat(py)).format, 'python');
    const xml = path.join(dir, 'model.xml');
    await writeFile(xml, '<?xml version="1.0"?>\n<net name="m" version="11"><layers/></net>\n');
    assert.equal((await detectFormat(xml)).format, 'openvino');
  });

  test('empty, missing and unknown files give typed errors', async () => {
    const dir = await tempDir();
    const empty = path.join(dir, 'empty.onnx');
    await writeFile(empty, '');
    await rejectsWith(detectFormat(empty), 'MSB_INSPECT_UNKNOWN_FORMAT', /empty/);
    await rejectsWith(detectFormat(path.join(dir, 'nope.onnx')), 'MSB_INSPECT_NOT_FOUND');
    const junk = path.join(dir, 'notes.txt');
    await writeFile(junk, 'hello world');
    await rejectsWith(detectFormat(junk), 'MSB_INSPECT_UNKNOWN_FORMAT', /first bytes 68656c6c6f/);
    const junkDir = path.join(dir, 'junk');
    await mkdir(junkDir);
    await writeFile(path.join(junkDir, 'a.txt'), 'x');
    await rejectsWith(detectFormat(junkDir), 'MSB_INSPECT_UNKNOWN_FORMAT', /no saved_model.pb/);
  });

  test('a version directory resolves to its one model file', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'model.py'), 'pass\n');
    const found = await detectFormat(dir);
    assert.equal(found.format, 'python');
    assert.equal(found.path, path.join(dir, 'model.py'));
  });
});

describe('TensorRT plans', () => {
  // No TensorRT here, so no real plan: a file with the documented header layout stands in for one (see plan.ts
  // for the sources of each offset).
  function planBytes(serialization: number, version: [number, number, number]): Buffer {
    const b = Buffer.alloc(256, 0xab);
    b.write('ftrt', 0, 'latin1');
    b[8] = serialization;
    [b[24], b[25], b[26]] = version;
    return b;
  }

  test('header: magic, serialization version, TensorRT version', () => {
    assert.deepEqual(readPlanHeader(planBytes(240, [10, 3, 0])), {
      magic: true,
      serializationVersion: 240,
      tensorrtVersion: '10.3.0',
    });
    // Pre-8.6 plans hold other bytes at 24..26: no version claimed.
    assert.deepEqual(readPlanHeader(planBytes(205, [171, 3, 0])), { magic: true, serializationVersion: 205 });
    assert.deepEqual(readPlanHeader(Buffer.from('ONNX')), { magic: false });
  });

  test('without sidecar, addon or options: SIGNATURE_REQUIRED naming all three remedies', async () => {
    const dir = await tempDir();
    const plan = path.join(dir, 'model.plan');
    await writeFile(plan, planBytes(240, [10, 3, 0]));
    const err = await rejectsWith(inspectModel(plan), 'MSB_INSPECT_SIGNATURE_REQUIRED');
    assert.match(err.message, /TensorRT 10\.3\.0/);
    assert.match(err.message, /model\.plan\.msb\.json/);
    assert.match(err.message, /TensorRT is installed/);
    assert.match(err.message, /--input NAME:TYPE:DIMS/);
  });

  test('options give the signature; the header facts stay in metadata', async () => {
    const dir = await tempDir();
    const plan = path.join(dir, 'model.plan');
    await writeFile(plan, planBytes(240, [10, 3, 0]));
    const sig = await inspectModel(plan, {
      inputs: [parseTensorOption('INPUT0:FP32:-1,16')],
      outputs: [parseTensorOption('OUTPUT0:FP32:-1,16')],
    });
    assert.equal(sig.platform, 'tensorrt_plan');
    assert.equal(sig.batchDim, true);
    assert.equal(sig.metadata.tensorrtVersion, '10.3.0');
    assert.equal(sig.metadata.signatureSource, 'options');
  });

  test('sidecar round trip, stale and invalid sidecars refused', async () => {
    const dir = await tempDir();
    const plan = path.join(dir, 'model.plan');
    await writeFile(plan, planBytes(240, [10, 3, 0]));
    const signature: ModelSignature = {
      format: 'tensorrt_plan',
      platform: 'tensorrt_plan',
      backend: 'tensorrt',
      inputs: [{ name: 'INPUT0', dataType: 'TYPE_FP32', dims: [-1, 16] }],
      outputs: [{ name: 'OUTPUT0', dataType: 'TYPE_FP32', dims: [-1, 16] }],
      batchDim: true,
      maxBatchSize: 8,
      metadata: {},
    };
    await writePlanSidecar(plan, { msb: 1, signature, tensorrt: '10.3.0', computeCapability: '8.0' });
    assert.equal(planSidecarPath(plan), `${plan}.msb.json`);
    const back = await readPlanSidecar(plan);
    assert.equal(back?.planBytes, 256);
    const sig = await inspectModel(plan);
    assert.equal(sig.maxBatchSize, 8);
    assert.deepEqual(sig.inputs, signature.inputs);
    assert.equal(sig.metadata.signatureSource, 'sidecar');
    assert.equal(sig.metadata.computeCapability, '8.0');
    // Stated tensors must agree with the record.
    assert.equal((await inspectModel(plan, { inputs: [parseTensorOption('INPUT0:FP32:-1,16')] })).maxBatchSize, 8);
    await rejectsWith(
      inspectModel(plan, { inputs: [parseTensorOption('INPUT0:FP16:-1,16')] }),
      'MSB_INSPECT_CONFLICT',
      /--input INPUT0:FP16:-1,16 contradicts its msb record, which has INPUT0:FP32:-1,16/,
    );

    await writeFile(plan, planBytes(240, [10, 3, 0]).subarray(0, 200)); // the plan was replaced
    await rejectsWith(inspectModel(plan), 'MSB_INSPECT_SIDECAR_STALE', /200/);
    await writeFile(planSidecarPath(plan), '{"msb": 2}');
    await rejectsWith(readPlanSidecar(plan), 'MSB_INSPECT_SIDECAR_INVALID');
  });
});

const SAVED_MODEL = `
saved_model_schema_version: 1
meta_graphs {
  meta_info_def { tags: "train" }
  signature_def { key: "serving_default" value { inputs { key: "wrong" value { name: "w:0" dtype: DT_FLOAT } } } }
}
meta_graphs {
  meta_info_def { tags: "serve" tensorflow_version: "2.15.0" }
  graph_def {
    node { name: "big" op: "Const" attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_content: "${'\\000'.repeat(4096)}" } } } }
  }
  signature_def {
    key: "__saved_model_init_op"
    value { outputs { key: "__saved_model_init_op" value { name: "NoOp" } } }
  }
  signature_def {
    key: "serving_default"
    value {
      inputs { key: "images" value { name: "serving_default_images:0" dtype: DT_HALF tensor_shape { dim { size: -1 } dim { size: 3 } dim { size: 224 } dim { size: 224 } } } }
      inputs { key: "ids" value { name: "serving_default_ids:0" dtype: DT_INT64 tensor_shape { dim { size: -1 } dim { size: -1 } } } }
      outputs { key: "probs" value { name: "StatefulPartitionedCall:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 1000 } } } }
      method_name: "tensorflow/serving/predict"
    }
  }
  signature_def {
    key: "embed"
    value {
      inputs { key: "text" value { name: "embed_text:0" dtype: DT_STRING tensor_shape { dim { size: 1 } } } }
      outputs { key: "vector" value { name: "StatefulPartitionedCall_1:0" dtype: DT_FLOAT tensor_shape { dim { size: 1 } dim { size: 512 } } } }
    }
  }
}
`;

describe('TensorFlow SavedModel', () => {
  async function savedModel(text: string): Promise<string> {
    const dir = path.join(await tempDir(), 'model.savedmodel');
    await mkdir(dir);
    await writeFile(path.join(dir, 'saved_model.pb'), encodeTf('SavedModel', text));
    return dir;
  }

  test('serving_default of the serve MetaGraphDef, named by signature keys, graph skipped', async () => {
    const dir = await savedModel(SAVED_MODEL);
    const sig = await inspectModel(dir);
    assert.deepEqual(sig, {
      format: 'tf_savedmodel',
      platform: 'tensorflow_savedmodel',
      backend: 'tensorflow',
      inputs: [
        { name: 'images', dataType: 'TYPE_FP16', dims: [-1, 3, 224, 224] },
        { name: 'ids', dataType: 'TYPE_INT64', dims: [-1, -1] },
      ],
      outputs: [{ name: 'probs', dataType: 'TYPE_FP32', dims: [-1, 1000] }],
      batchDim: true,
      metadata: {
        signatureName: 'serving_default',
        tags: 'serve',
        savedModelSchemaVersion: '1',
        methodName: 'tensorflow/serving/predict',
        tensorflowVersion: '2.15.0',
      },
    });
    // saved_model.pb itself, and the version directory holding model.savedmodel/, lead to the same model.
    assert.deepEqual(await inspectModel(path.join(dir, 'saved_model.pb')), sig);
    assert.deepEqual(await inspectModel(path.dirname(dir)), sig);
  });

  test('a named signature; a missing one lists those there', async () => {
    const dir = await savedModel(SAVED_MODEL);
    const sig = await inspectModel(dir, { signatureName: 'embed' });
    assert.deepEqual(sig.inputs, [{ name: 'text', dataType: 'TYPE_STRING', dims: [1] }]);
    assert.equal(sig.batchDim, false);
    await rejectsWith(
      inspectModel(dir, { signatureName: 'nope' }),
      'MSB_INSPECT_SIGNATURE_NOT_FOUND',
      /'__saved_model_init_op', 'serving_default', 'embed'/,
    );
  });

  test('without serving_default, the first serving signature (as Triton falls back)', async () => {
    const dir = await savedModel(SAVED_MODEL.replace('key: "serving_default"\n    value', 'key: "predict"\n    value'));
    assert.equal((await inspectModel(dir)).metadata.signatureName, 'predict');
  });

  test('unsupported dtypes, unknown rank, sparse tensors, no serve tag, corrupt bytes', async () => {
    const one = (info: string) =>
      `meta_graphs { meta_info_def { tags: "serve" } signature_def { key: "serving_default" value { inputs { key: "x" value { ${info} } } } } }`;
    await rejectsWith(
      inspectModel(await savedModel(one('name: "x:0" dtype: DT_COMPLEX64 tensor_shape { dim { size: 1 } }'))),
      'MSB_INSPECT_UNSUPPORTED_TYPE',
      /'x' has type DT_COMPLEX64/,
    );
    await rejectsWith(
      inspectModel(await savedModel(one('name: "x:0" dtype: DT_BFLOAT16'))),
      'MSB_INSPECT_UNSUPPORTED_TYPE',
      /DT_BFLOAT16/,
    );
    await rejectsWith(
      inspectModel(await savedModel(one('name: "x:0" dtype: DT_FLOAT tensor_shape { unknown_rank: true }'))),
      'MSB_INSPECT_SIGNATURE_REQUIRED',
      /unknown rank/,
    );
    await rejectsWith(
      inspectModel(await savedModel(one('coo_sparse { values_tensor_name: "v" } dtype: DT_FLOAT'))),
      'MSB_INSPECT_UNSUPPORTED_TYPE',
      /sparse/,
    );
    await rejectsWith(
      inspectModel(await savedModel('meta_graphs { meta_info_def { tags: "train" } }')),
      'MSB_INSPECT_SIGNATURE_REQUIRED',
      /no MetaGraphDef tagged 'serve'/,
    );
    const bytes = encodeTf('SavedModel', SAVED_MODEL);
    const dir = path.join(await tempDir(), 'cut');
    await mkdir(dir);
    await writeFile(path.join(dir, 'saved_model.pb'), bytes.subarray(0, bytes.length - 100));
    await rejectsWith(inspectModel(dir), 'MSB_INSPECT_CORRUPT');
  });
});

describe('TensorFlow GraphDef', () => {
  const GRAPH = `
node { name: "input_ids" op: "Placeholder" attr { key: "shape" value { shape { dim { size: -1 } dim { size: 128 } } } } attr { key: "dtype" value { type: DT_INT32 } } }
node { name: "mask" op: "Placeholder" attr { key: "dtype" value { type: DT_BOOL } } attr { key: "shape" value { shape { dim { size: -1 } dim { size: 128 } } } } }
node { name: "w" op: "Const" attr { key: "value" value { tensor { dtype: DT_FLOAT float_val: 1 } } } }
node { name: "matmul" op: "MatMul" input: "input_ids" input: "w" }
node { name: "logits" op: "Identity" input: "matmul:0" input: "^mask" }
versions { producer: 1000 }
`;

  test('placeholders are inputs; outputs must be given, and the error suggests sink nodes', async () => {
    const file = path.join(await tempDir(), 'model.graphdef');
    await writeFile(file, encodeTf('GraphDef', GRAPH));
    await rejectsWith(inspectModel(file), 'MSB_INSPECT_SIGNATURE_REQUIRED', /nothing consumes: logits/);
    const sig = await inspectModel(file, { outputs: [parseTensorOption('logits:FP32:-1,2')] });
    assert.deepEqual(sig.inputs, [
      { name: 'input_ids', dataType: 'TYPE_INT32', dims: [-1, 128] },
      { name: 'mask', dataType: 'TYPE_BOOL', dims: [-1, 128] },
    ]);
    assert.equal(sig.platform, 'tensorflow_graphdef');
    assert.equal(sig.batchDim, true);
    await rejectsWith(
      inspectModel(file, { outputs: [parseTensorOption('nope:FP32:1')] }),
      'MSB_INSPECT_TENSOR_NOT_FOUND',
    );
  });

  test('a placeholder without a shape needs --input', async () => {
    const file = path.join(await tempDir(), 'g.pb');
    await writeFile(
      file,
      encodeTf('GraphDef', 'node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }'),
    );
    const out = [parseTensorOption('x:FP32:4')];
    await rejectsWith(inspectModel(file, { outputs: out }), 'MSB_INSPECT_SIGNATURE_REQUIRED', /--input x:TYPE:DIMS/);
    const sig = await inspectModel(file, { inputs: [parseTensorOption('x:FP32:-1,4')], outputs: out });
    assert.deepEqual(sig.inputs, [{ name: 'x', dataType: 'TYPE_FP32', dims: [-1, 4] }]);
  });
});

describe('TorchScript', () => {
  // A zip with torch.jit.save's layout, written by Python's zipfile (no torch here). The central directory is what
  // msb reads, and zipfile writes it as torch's own writer does.
  async function torchArchive(entries: string[], name = 'model.pt'): Promise<string> {
    const file = path.join(await tempDir(), name);
    runPython(
      'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], "w") as z:\n  for n in sys.argv[2:]: z.writestr(n, b"x" * 10)',
      [file, ...entries],
    );
    return file;
  }

  test('recognised by layout; tensors named INPUT__i/OUTPUT__i by position unless named', async () => {
    const file = await torchArchive([
      'model/data.pkl',
      'model/code/__torch__/net.py',
      'model/constants.pkl',
      'model/version',
      'model/data/0',
    ]);
    await rejectsWith(inspectModel(file), 'MSB_INSPECT_SIGNATURE_REQUIRED', /INPUT__0/);
    const sig = await inspectModel(file, {
      inputs: [parseTensorOption('FP32:-1,3,224,224'), parseTensorOption('INT64:-1')],
      outputs: [parseTensorOption('logits__0:FP32:-1,1000')],
    });
    assert.deepEqual(
      sig.inputs.map((t) => t.name),
      ['INPUT__0', 'INPUT__1'],
    );
    assert.deepEqual(
      sig.outputs.map((t) => t.name),
      ['logits__0'],
    );
    assert.equal(sig.platform, 'pytorch_libtorch');
    assert.equal(sig.metadata.archive, 'model');
  });

  test('another zip is not TorchScript; a truncated one is corrupt', async () => {
    const other = await torchArchive(['readme.txt', 'a/b.txt'], 'x.pt');
    await rejectsWith(inspectModel(other), 'MSB_INSPECT_UNKNOWN_FORMAT', /not a TorchScript one/);
    const checkpoint = await torchArchive(['ckpt/data.pkl', 'ckpt/data/0', 'ckpt/version', 'ckpt/byteorder'], 'w.pt');
    await rejectsWith(inspectModel(checkpoint), 'MSB_INSPECT_UNKNOWN_FORMAT', /torch\.save\(\) checkpoint/);
    const file = await torchArchive(['m/data.pkl', 'm/code/x.py']);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 30));
    await rejectsWith(inspectModel(file), 'MSB_INSPECT_CORRUPT');
  });

  test('unnamed tensors are refused for formats that name them', async () => {
    const file = path.join(await tempDir(), 'model.py');
    await writeFile(file, 'pass\n');
    await rejectsWith(
      inspectModel(file, { inputs: [parseTensorOption('FP32:4')] }),
      'MSB_INSPECT_BAD_TENSOR_OPTION',
      /only TorchScript/,
    );
    const sig = await inspectModel(file, { inputs: [parseTensorOption('INPUT0:FP32:4')] });
    assert.equal(sig.backend, 'python');
    assert.equal(sig.platform, undefined);
  });
});

test('a 3 GB sparse file is refused quickly and typed, whatever its name', async () => {
  const dir = await tempDir();
  const { open: openFile } = await import('node:fs/promises');
  for (const name of ['model.graphdef', 'model.pt', 'model.plan', 'junk.bin']) {
    const file = path.join(dir, name);
    const fh = await openFile(file, 'w');
    await fh.truncate(3 * 2 ** 30);
    await fh.close();
    let caught: unknown;
    await inspectModel(file).catch((e: unknown) => {
      caught = e;
    });
    assert.ok(isMsbError(caught), `${name}: ${String(caught)}`);
  }
});

test('mutated SavedModel and GraphDef bytes give a signature or a typed error, never a crash', async () => {
  const fc = (await import('fast-check')).default;
  const dir = await tempDir();
  const saved = encodeTf('SavedModel', SAVED_MODEL);
  const graph = encodeTf(
    'GraphDef',
    'node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } attr { key: "shape" value { shape { dim { size: -1 } } } } }',
  );
  const smDir = path.join(dir, 'sm');
  await mkdir(smDir);
  const gd = path.join(dir, 'g.graphdef');
  const outputs = [parseTensorOption('x:FP32:-1')];
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.nat(),
      async (isSaved, flips, cut) => {
        runs++;
        const bytes = Buffer.from(isSaved ? saved : graph);
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        const data = cut % 4 === 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
        if (isSaved) await writeFile(path.join(smDir, 'saved_model.pb'), data);
        else await writeFile(gd, data);
        try {
          await inspectModel(isSaved ? smDir : gd, isSaved ? {} : { outputs });
        } catch (err) {
          if (!isMsbError(err)) throw err;
        }
      },
    ),
    { numRuns: 300, seed: 42 },
  );
  assert.equal(runs, 300);
});

describe('files that are not regular files', () => {
  test('a character device or a FIFO is refused by type, never read (it reports size 0 and may never end)', async () => {
    await rejectsWith(inspectModel('/dev/urandom'), 'MSB_INSPECT_NOT_A_FILE', /character device/);
    const fifo = path.join(await tempDir(), 'model.onnx');
    runPython(`import os; os.mkfifo(${JSON.stringify(fifo)})`);
    await rejectsWith(detectFormat(fifo), 'MSB_INSPECT_NOT_A_FILE', /FIFO/);
    const cli = await runCli(['inspect', '/dev/urandom']);
    assert.equal(cli.code, 2);
    assert.match(cli.stderr, /^msb: MSB_INSPECT_NOT_A_FILE: \/dev\/urandom is a character device/);
  });
});
