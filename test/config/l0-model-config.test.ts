/**
 * Triton's own config-validation suite (qa/L0_model_config) as a conformance test: for every case Triton rejects,
 * we must reject it for the same rule. Triton's expected error text is mapped to our rule id (the rule is
 * compared, not the wording).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { type ConfigRule, parseModelConfig, validateModelConfig } from '../../src/config/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';

/** Triton's error text → the rule of ours that must fire. */
const TRITON_MESSAGES: [RegExp, ConfigRule][] = [
  [/batch input kind '.*' expects 1 source input/, 'batch-input-source-count'],
  [/batch output kind '.*' expects 1 source input/, 'batch-output-source-count'],
  [/target output name '.*' can only be specified once/, 'batch-output-duplicate-target'],
  [/unknown source input name/, 'batch-io-unknown-source'],
  [/unknown target output name/, 'batch-output-unknown-target'],
  [/sequence batching control tensor .* is specified for multiple control kinds/, 'sequence-control'],
  [/ensemble scheduling cannot be set for model .* whose platform is not ensemble/, 'ensemble-platform'],
  [/specifies invalid or unsupported gpu id/, 'instance-group-gpus'],
  [/must specify 'data_type'/, 'io-data-type-required'],
  [/priority queue policy must have priority level in range/, 'dynamic-batching-priority-level'],
  [/has different size for dims and reshape/, 'io-reshape-size'],
  [/cannot have empty reshape for non-batching model/, 'io-reshape-empty'],
  [/has different number of variable-size dimensions for dims and reshape/, 'io-reshape-variable'],
  [/dimension must be integer >= 1, or -1/, 'io-dim-invalid'],
  [/must have platform type 'ensemble' and empty backend type/, 'ensemble-backend'],
  [/model_warmup can not be specified for ensemble/, 'ensemble-not-allowed'],
  [/must specify '(input_map|output_map|model_name)' in step/, 'ensemble-steps'],
  [/ensemble tensor '.*' is unused in ensemble/, 'ensemble-tensor-unused'],
  [/ensemble input '.*' for ensemble .* is not used/, 'ensemble-io-unused'],
  [/unexpected 'platform' and 'backend' pair/, 'platform-backend-mismatch'],
  [/escapes backend directory/, 'runtime-escapes'],
];

/** GPUs of the serving machine assumed for the suite (Triton's CI machines have fewer than 42). */
const GPUS = [0, 1, 2, 3];

function ruleFor(expected: string): ConfigRule | undefined {
  return TRITON_MESSAGES.find(([re]) => re.test(expected))?.[1];
}

function cases(dir: string): { name: string; dir: string; expected: string }[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'expected')))
    .map((d) => ({
      name: d.name,
      dir: path.join(dir, d.name),
      expected: readFileSync(path.join(dir, d.name, 'expected'), 'utf8').trim(),
    }));
}

const l0 = testdata('triton-configs', 'triton-server', 'qa', 'L0_model_config');

test('noautofill_platform: every case Triton rejects, msb rejects for the same rule', { skip: skipWithout(l0) }, () => {
  const all = cases(path.join(l0, 'noautofill_platform'));
  assert.ok(all.length >= 25, `expected Triton's cases, found ${all.length}`);
  let agree = 0;
  for (const c of all) {
    const rule = ruleFor(c.expected);
    assert.ok(rule, `${c.name}: no rule of ours is mapped to Triton's message: ${c.expected}`);
    const config = parseModelConfig(readFileSync(path.join(c.dir, 'config.pbtxt'), 'utf8'));
    // Triton's test.sh runs each of these once per platform, writing the platform into the config: do the same.
    if (!config.platform && !config.backend) config.platform = 'tensorrt_plan';
    const problems = validateModelConfig(config, { modelName: c.name, gpus: GPUS });
    assert.ok(
      problems.some((p) => p.rule === rule),
      `${c.name}: Triton rejects with "${c.expected}" (${rule}); msb found ${JSON.stringify(problems)}`,
    );
    agree++;
  }
  process.stdout.write(
    `# L0_model_config/noautofill_platform: ${agree}/${all.length} cases rejected for the same rule\n`,
  );
});

/**
 * autofill_noplatform cases that fail on a pure config rule. The others need the model file (auto-complete against
 * ONNX/TensorRT/OpenVINO/Python signatures) or the repository (ensemble members' versions, shapes and types),
 * which are the inspect and store layers' checks, not a config's.
 */
test('autofill_noplatform: the cases that are pure config rules agree too', { skip: skipWithout(l0) }, () => {
  const all = cases(path.join(l0, 'autofill_noplatform', 'ensemble'));
  let checked = 0;
  for (const c of all) {
    const rule = ruleFor(c.expected);
    if (!rule) continue;
    const config = parseModelConfig(readFileSync(path.join(c.dir, 'config.pbtxt'), 'utf8'));
    const problems = validateModelConfig(config, { modelName: c.name });
    assert.ok(
      problems.some((p) => p.rule === rule),
      `${c.name}: Triton rejects with "${c.expected}" (${rule}); msb found ${JSON.stringify(problems)}`,
    );
    checked++;
  }
  assert.ok(checked >= 8, `only ${checked} ensemble cases were mapped`);
  process.stdout.write(
    `# L0_model_config/autofill_noplatform/ensemble: ${checked}/${all.length} cases are config rules and agree\n`,
  );
});

test('special_cases: the config rules agree; a missing backend library is the server’s check', {
  skip: skipWithout(l0),
}, () => {
  const all = cases(path.join(l0, 'special_cases'));
  for (const c of all.filter((x) => ruleFor(x.expected))) {
    const config = parseModelConfig(readFileSync(path.join(c.dir, 'config.pbtxt'), 'utf8'));
    const rule = ruleFor(c.expected);
    assert.ok(
      validateModelConfig(config, { modelName: c.name }).some((p) => p.rule === rule),
      `${c.name}: expected ${rule}`,
    );
  }
  assert.deepEqual(
    all.filter((c) => !ruleFor(c.expected)).map((c) => c.name),
    ['invalid_runtime'],
    'only the case about the server’s backend directory is outside a config check',
  );
});

const docs = testdata('triton-configs', 'triton-server', 'docs');

test('configs Triton loads are not rejected', { skip: skipWithout(l0, docs) }, () => {
  // Triton's completed configs (autofill_noplatform_success expected files) and the documentation examples.
  const accepted: string[] = [];
  const walk = (dir: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.name === 'expected' || (d.name === 'config.pbtxt' && p.includes(`${path.sep}docs${path.sep}`)))
        accepted.push(p);
    }
  };
  walk(path.join(l0, 'autofill_noplatform_success'));
  walk(docs);
  assert.ok(accepted.length >= 20, `found ${accepted.length}`);
  for (const file of accepted) {
    const problems = validateModelConfig(parseModelConfig(readFileSync(file, 'utf8')));
    assert.deepEqual(problems, [], `${file} is loaded by Triton, but msb rejects it`);
  }
  process.stdout.write(`# ${accepted.length} configs Triton loads: none rejected\n`);
});
