import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillTemplate, findPlaceholders, templateProblems } from '../../src/llm/index.js';
import { ph, TENSORRT_LLM } from './fixtures.js';

const TEXT = `# a comment naming \${in_comment}
max_batch_size: \${triton_max_batch_size}
backend: "\${triton_backend}"
parameters { key: "gpt_model_path" value: { string_value: "\${engine_dir}" } }
parameters: {
  key: "kv_cache_free_gpu_mem_fraction"
  value: {
    string_value: "\${kv_cache_free_gpu_mem_fraction}"
  }
}
parameters { key: "prefix" value: { string_value: "/models/\${name}" } }
`;

test('each placeholder is found with its line, column and placement', () => {
  assert.deepEqual(
    findPlaceholders(TEXT).map((p) => [p.key, p.kind, p.line, p.column]),
    [
      ['in_comment', 'comment', 1, 20],
      ['triton_max_batch_size', 'bare', 2, 17],
      ['triton_backend', 'string', 3, 11],
      ['engine_dir', 'parameter', 4, 60],
      ['kv_cache_free_gpu_mem_fraction', 'parameter', 8, 20],
      ['name', 'string', 11, 60],
    ],
  );
});

test('fillTemplate replaces the keys it is given and leaves the rest, as safe_substitute does', () => {
  const out = fillTemplate(TEXT, { triton_max_batch_size: '8', engine_dir: '/e', unused: 'x' });
  assert.match(out, /^max_batch_size: 8$/m);
  assert.match(out, /string_value: "\/e"/);
  assert.match(out, /"\$\{triton_backend\}"/);
  assert.equal(fillTemplate(`$notbraced ${ph('ok')}`, { ok: '1', notbraced: '2' }), '$notbraced 1');
});

test('what Triton makes of each key left: parse failure, literal text, required, or unset', () => {
  const found = templateProblems(TEXT, 'tensorrt_llm/config.pbtxt');
  assert.deepEqual(
    found.map((p) => [p.key, p.rule, p.severity, `${p.file}:${p.line}`]),
    [
      ['triton_max_batch_size', 'template-placeholder', 'error', 'tensorrt_llm/config.pbtxt:2'],
      ['triton_backend', 'template-placeholder-string', 'error', 'tensorrt_llm/config.pbtxt:3'],
      ['engine_dir', 'template-required', 'error', 'tensorrt_llm/config.pbtxt:4'],
      ['kv_cache_free_gpu_mem_fraction', 'template-unset', 'warning', 'tensorrt_llm/config.pbtxt:8'],
      ['name', 'template-placeholder-string', 'error', 'tensorrt_llm/config.pbtxt:11'],
    ],
  );
  assert.match(found[0]?.message ?? '', /--set triton_max_batch_size=…/);
  // The test template: every key the parser fails on is named.
  const bare = templateProblems(TENSORRT_LLM, 'f').filter((p) => p.rule === 'template-placeholder');
  assert.deepEqual(
    [...new Set(bare.map((p) => p.key))],
    ['triton_max_batch_size', 'decoupled_mode', 'max_queue_delay_microseconds', 'logits_datatype'],
  );
});
