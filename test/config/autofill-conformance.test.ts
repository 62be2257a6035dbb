/**
 * Conformance with Triton's auto-complete: Triton's own test suite (qa/L0_model_config/autofill_noplatform_success)
 * gives, per case, a partial config.pbtxt, a model file, and the `expected` config Triton completed. We rebuild a
 * model with the same signature (real ONNX files written by the reference `onnx` library; a plan with msb's sidecar,
 * since there is no TensorRT here; TorchScript/OpenVINO/Python/backend files with the signature stated as
 * --input/--output, as a user would), run our generator from the same partial config, and compare with Triton's
 * expected config field for field.
 *
 * msb writes the config file; Triton then applies its load-time defaults to it. Those defaults are not written by
 * msb on purpose (README: "Deliberate differences"), so before comparing, `tritonLoadTimeDefaults` applies them
 * exactly as Triton core does (functions cited there) with one GPU (id 0), as on the machine that produced the
 * expected files.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type GenerateOptions,
  generateModelConfig,
  type ModelConfig,
  type ModelInstanceGroup,
  parseModelConfig,
  printModelConfig,
} from '../../src/config/index.js';
import { inspectModel, type ModelSignature, parseTensorOption, signatureFromOptions } from '../../src/inspect/index.js';
import { type OnnxTensorSpec, writeOnnxWithSignature } from '../fixtures/onnx-signature.js';
import { planWithSignature } from '../fixtures/plan-signature.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { runPython } from '../helpers/python.js';
import { tempDir } from '../helpers/tmp.js';

const SUITE = testdata('triton-configs', 'triton-server', 'qa', 'L0_model_config', 'autofill_noplatform_success');
const GPUS = [0];

/** Triton core `src/constants.h`: default model file per backend; other backends use `model.<backend>`. */
const DEFAULT_FILE: Record<string, string> = {
  tensorrt: 'model.plan',
  onnxruntime: 'model.onnx',
  pytorch: 'model.pt',
  openvino: 'model.xml',
  python: 'model.py',
};
const PLATFORM_BACKEND: Record<string, string> = {
  tensorrt_plan: 'tensorrt',
  onnxruntime_onnx: 'onnxruntime',
  pytorch_libtorch: 'pytorch',
  tensorflow_savedmodel: 'tensorflow',
  tensorflow_graphdef: 'tensorflow',
};

/** The instance group a backend asks for when the config has none (OpenVINO runs on CPU only). */
const PREFERRED_KIND: Record<string, ModelInstanceGroup['kind']> = { openvino: 'KIND_CPU' };

/**
 * Triton's load-time completion of a config file, mirroring core `src/model_config_utils.cc` at 73aad7c:
 * `AutoCompleteBackendFields` (backend from platform, default_model_filename), `NormalizeModelConfig` (version
 * policy latest 1, preferred_batch_size = max_batch_size for an empty dynamic_batching, pinned memory on),
 * `NormalizeInstanceGroup` + `SetDefaultInstanceCount` (a group named after the model; unnamed groups
 * `<model>_<i>`; KIND_AUTO → KIND_GPU when a GPU exists; count 1, or 2 for CPU groups of tensorflow/onnxruntime;
 * all GPUs listed), and for ensembles `ensemble_utils.cc` setting model_transaction_policy from the members.
 */
function tritonLoadTimeDefaults(generated: ModelConfig): ModelConfig {
  const c = structuredClone(generated);
  const ensemble = c.ensembleScheduling !== undefined;
  if (!c.backend && c.platform) {
    const b = PLATFORM_BACKEND[c.platform];
    if (b) c.backend = b;
  }
  if (!ensemble && !c.defaultModelFilename && c.backend) {
    c.defaultModelFilename = DEFAULT_FILE[c.backend] ?? `model.${c.backend}`;
  }
  c.versionPolicy ??= { latest: { numVersions: 1 } };
  if (c.dynamicBatching && !c.dynamicBatching.preferredBatchSize?.length && (c.maxBatchSize ?? 0) > 0) {
    c.dynamicBatching.preferredBatchSize = [c.maxBatchSize ?? 0];
  }
  if (ensemble) {
    c.modelTransactionPolicy ??= {};
    return c;
  }
  c.optimization ??= {};
  c.optimization.inputPinnedMemory ??= { enable: true };
  c.optimization.outputPinnedMemory ??= { enable: true };
  if (!c.instanceGroup?.length) {
    const group: ModelInstanceGroup = { name: c.name ?? '' };
    const kind = PREFERRED_KIND[c.backend ?? ''];
    if (kind) group.kind = kind;
    c.instanceGroup = [group];
  }
  c.instanceGroup.forEach((g, i) => {
    if (!g.name) g.name = `${c.name}_${i}`;
    if (g.kind === undefined || g.kind === 'KIND_AUTO') g.kind = GPUS.length ? 'KIND_GPU' : 'KIND_CPU';
    if (!g.count) {
      g.count = g.kind === 'KIND_CPU' && (c.backend === 'tensorflow' || c.backend === 'onnxruntime') ? 2 : 1;
    }
    if (g.kind === 'KIND_GPU' && !g.gpus?.length) g.gpus = [...GPUS];
  });
  return c;
}

/** A config as protobuf sees it: print + parse drops explicit defaults such as `runtime: ""`. */
const canonical = (c: ModelConfig) => parseModelConfig(printModelConfig(c));

interface Case {
  /** Under autofill_noplatform_success/. The model name is the last part, as Triton names it after its directory. */
  dir: string;
  /** Writes the model into `version` and returns the signature msb reads from it. */
  model: (version: string) => Promise<ModelSignature>;
  options?: Partial<GenerateOptions>;
  /** What Triton's backend learns from running the model that no file format or option gives msb. */
  knownDifference?: { why: string; drop: (expected: ModelConfig) => void };
}

const t = (specs: string[]) => specs.map(parseTensorOption);

async function onnx(version: string, inputs: OnnxTensorSpec[], outputs: OnnxTensorSpec[]): Promise<ModelSignature> {
  const file = path.join(version, 'model.onnx');
  writeOnnxWithSignature(file, { inputs, outputs });
  return inspectModel(file);
}

/** No TensorRT here: a plan stand-in plus the sidecar msb's builder writes (see planWithSignature). */
const plan = planWithSignature;

async function stated(version: string, fileName: string, content: string, inputs: string[], outputs: string[]) {
  const file = path.join(version, fileName);
  await writeFile(file, content);
  return inspectModel(file, { inputs: t(inputs), outputs: t(outputs) });
}

const PY = 'import triton_python_backend_utils as pb_utils\n';
const XML = '<?xml version="1.0"?>\n<net name="model" version="11"><layers/></net>\n';
const F4 = (n: string) => `${n}:FP32:4`;
const FB4 = (n: string) => `${n}:FP32:-1,4`;
const OV_IN = ['Func/PartitionedCall/input/_0:0', 'input1'];
const OV_OUT = ['Func/PartitionedCall/output/_2:0', 'Func/PartitionedCall/output/_3:0'];

const CASES: Case[] = [
  {
    dir: 'onnx/cpu_instance',
    model: (v) =>
      onnx(
        v,
        [{ name: 'INPUT0', type: 'FLOAT16', shape: ['batch', 'h', 'w'] }],
        [{ name: 'OUTPUT0', type: 'FLOAT16', shape: ['batch', 'h', 'w'] }],
      ),
  },
  {
    dir: 'onnx/no_config_no_batch',
    model: (v) =>
      onnx(
        v,
        ['INPUT0', 'INPUT1'].map((name) => ({ name, type: 'INT32', shape: [16] })),
        ['OUTPUT0', 'OUTPUT1'].map((name) => ({ name, type: 'INT8', shape: [16] })),
      ),
  },
  { dir: 'tensorrt/empty_config', model: (v) => plan(v, [-1, 16]) },
  { dir: 'tensorrt/empty_config_variable', model: (v) => plan(v, [-1, -1]) },
  { dir: 'tensorrt/hint_for_no_batch', model: (v) => plan(v, [-1, 16]) },
  { dir: 'tensorrt/incomplete_output', model: (v) => plan(v, [-1, 16]) },
  { dir: 'tensorrt/multi_prof_max_bs', model: (v) => plan(v, [-1, -1]) },
  { dir: 'tensorrt/no_name_platform', model: (v) => plan(v, [-1, 16]) },
  {
    dir: 'tensorrt/no_config_non_linear_format_io',
    model: (v) => plan(v, [-1, -1, 2, 1]),
    knownDifference: {
      why: "the inputs' non-linear (vectorized) TensorRT formats are known only to TensorRT's engine, not the signature",
      drop: (e) => {
        for (const i of e.input ?? []) delete i.isNonLinearFormatIo;
      },
    },
  },
  {
    dir: 'pytorch/cpu_instance',
    model: async (v) => {
      const file = path.join(v, 'model.pt');
      runPython(
        'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], "w") as z:\n  for n in ["model/data.pkl", "model/code/__torch__.py", "model/constants.pkl"]: z.writestr(n, b"")',
        [file],
      );
      return inspectModel(file, {
        inputs: t(['INT32:-1,16', 'INT32:-1,16']),
        outputs: t(['INT32:-1,16', 'INT32:-1,16']),
      });
    },
  },
  {
    dir: 'python/dynamic_batching',
    model: (v) => stated(v, 'model.py', PY, ['INPUT0', 'INPUT1'].map(FB4), ['OUTPUT0', 'OUTPUT1'].map(FB4)),
  },
  {
    dir: 'python/empty_config',
    model: (v) => stated(v, 'model.py', PY, ['INPUT1', 'INPUT0'].map(F4), ['OUTPUT0', 'OUTPUT1'].map(F4)),
  },
  {
    dir: 'python/incomplete_output',
    model: (v) => stated(v, 'model.py', PY, ['INPUT0', 'INPUT1'].map(F4), ['OUTPUT0', 'OUTPUT1'].map(F4)),
  },
  {
    dir: 'python/model_transaction_policy',
    model: (v) => stated(v, 'model.py', PY, ['INPUT0', 'INPUT1'].map(FB4), ['OUTPUT0', 'OUTPUT1'].map(FB4)),
    options: { maxBatchSize: 4 },
    knownDifference: {
      why: "decoupled is declared by model.py's auto_complete_config, which msb does not run",
      drop: (e) => {
        delete e.modelTransactionPolicy;
      },
    },
  },
  {
    dir: 'python/optional_input',
    model: (v) => stated(v, 'model.py', PY, ['INPUT0', 'INPUT1'].map(F4), ['OUTPUT0', 'OUTPUT1'].map(F4)),
    knownDifference: {
      why: "optional inputs are declared by model.py's auto_complete_config, which msb does not run",
      drop: (e) => {
        for (const i of e.input ?? []) delete i.optional;
      },
    },
  },
  {
    dir: 'python/unknown_input',
    model: (v) => stated(v, 'model.py', PY, ['INPUT0', 'INPUT1'].map(F4), ['OUTPUT0', 'OUTPUT1'].map(F4)),
  },
  {
    dir: 'openvino/dynamic_batch',
    model: (v) =>
      stated(
        v,
        'model.xml',
        XML,
        OV_IN.map((n) => `${n}:INT32:-1,4`),
        OV_OUT.map((n) => `${n}:INT32:-1,4`),
      ),
  },
  {
    dir: 'openvino/empty_config',
    model: (v) =>
      stated(
        v,
        'model.xml',
        XML,
        OV_IN.map((n) => `${n}:INT32:1,4`),
        OV_OUT.map((n) => `${n}:INT32:1,4`),
      ),
  },
  {
    dir: 'openvino/no_config',
    model: (v) =>
      stated(
        v,
        'model.xml',
        XML,
        OV_IN.map((n) => `${n}:INT32:1,4`),
        OV_OUT.map((n) => `${n}:INT32:1,4`),
      ),
  },
  {
    dir: 'openvino/partial_config',
    model: (v) =>
      stated(
        v,
        'model.xml',
        XML,
        ['INPUT1', 'INPUT0'].map((n) => `${n}:INT8:-1,16`),
        ['OUTPUT0', 'OUTPUT1'].map((n) => `${n}:INT8:-1,16`),
      ),
  },
  {
    dir: 'custom/empty_config.identity',
    model: async (v) => {
      const lib = path.join(v, 'libtriton_identity.so');
      await copyFile('/bin/true', lib);
      return inspectModel(lib);
    },
  },
  ...[
    'embedded_ensemble/embedded_ensemble',
    'inconsistent_shape/inconsistent_shape',
    'inconsistent_shape_2/inconsistent_shape_2',
    'unmapped_output/unmapped_output',
  ].map((d): Case => ({ dir: `ensemble/${d}`, model: async () => signatureFromOptions('ensemble', [], []) })),
];

const tally = { agree: 0, agreeExceptListed: 0, cases: 0 };

describe("config generation agrees with Triton's auto-complete (qa/L0_model_config/autofill_noplatform_success)", {
  skip: skipWithout(SUITE),
}, () => {
  after(() => {
    process.stdout.write(
      `# autofill conformance: ${tally.agree}/${tally.cases} cases equal field for field; ${tally.agreeExceptListed} more equal except the listed difference\n`,
    );
  });

  for (const c of CASES) {
    test(c.dir, async () => {
      tally.cases++;
      const caseDir = path.join(SUITE, c.dir);
      const name = path.basename(c.dir);
      const partialText = await readFile(path.join(caseDir, 'config.pbtxt'), 'utf8').catch(() => undefined);
      const partial = partialText === undefined ? undefined : parseModelConfig(partialText);
      const version = path.join(await tempDir(), name, '1');
      await mkdir(version, { recursive: true });
      const signature = await c.model(version);
      const generated = generateModelConfig(signature, { name, ...(partial ? { partial } : {}), ...c.options });
      const ours = canonical(tritonLoadTimeDefaults(generated));
      const expected = canonical(parseModelConfig(await readFile(path.join(caseDir, 'expected'), 'utf8')));
      if (c.knownDifference) {
        assert.notDeepEqual(ours, expected, `${c.dir} now agrees fully: remove its listed difference`);
        c.knownDifference.drop(expected);
        assert.deepEqual(ours, canonical(expected), c.knownDifference.why);
        tally.agreeExceptListed++;
      } else {
        assert.deepEqual(ours, expected);
        tally.agree++;
      }
    });
  }

  test('every case of the suite is covered', async () => {
    const { readdir } = await import('node:fs/promises');
    const withExpected: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      const entries = await readdir(path.join(SUITE, rel), { withFileTypes: true });
      if (entries.some((e) => e.isFile() && e.name === 'expected')) withExpected.push(rel);
      for (const e of entries) if (e.isDirectory()) await walk(rel ? `${rel}/${e.name}` : e.name);
    };
    await walk('');
    assert.deepEqual(CASES.map((c) => c.dir).sort(), withExpected.sort());
  });
});
