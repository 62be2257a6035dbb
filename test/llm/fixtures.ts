/**
 * Small inputs of the shapes the LLM backends read, written by the tests themselves: a Hugging Face checkpoint
 * directory, a TensorRT-LLM engine's config.json, and templates in the `${key}` syntax of TensorRT-LLM's
 * inflight_batcher_llm models (msb's own, far smaller than NVIDIA's: the same kinds of placement, none of its text).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** `${key}` as the templates write it (a function, so no string literal holds a template-like placeholder). */
export const ph = (key: string): string => `$${'{'}${key}}`;

/** A checkpoint directory: config.json and a tokenizer unless left out. */
export async function writeCheckpoint(dir: string, options: { config?: boolean; tokenizer?: boolean } = {}) {
  await mkdir(dir, { recursive: true });
  if (options.config !== false)
    await writeFile(path.join(dir, 'config.json'), '{"architectures":["LlamaForCausalLM"]}\n');
  if (options.tokenizer !== false) {
    await writeFile(path.join(dir, 'tokenizer.json'), '{"version":"1.0"}\n');
    await writeFile(path.join(dir, 'tokenizer_config.json'), '{}\n');
  }
  await writeFile(path.join(dir, 'model.safetensors'), 'weights');
  return dir;
}

/** An engine directory's config.json as trtllm-build writes it (the fields msb reads, and a few it does not). */
export async function writeEngine(
  dir: string,
  build: Record<string, unknown> = {},
  pretrained: Record<string, unknown> = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const config = {
    version: '0.17.0',
    pretrained_config: {
      architecture: 'LlamaForCausalLM',
      dtype: 'float16',
      logits_dtype: 'float32',
      vocab_size: 32000,
      mapping: { world_size: 1, tp_size: 1, pp_size: 1 },
      ...pretrained,
    },
    build_config: {
      max_input_len: 1024,
      max_seq_len: 2048,
      max_batch_size: 8,
      max_beam_width: 1,
      max_num_tokens: 8192,
      plugin_config: { paged_kv_cache: true, remove_input_padding: true },
      ...build,
    },
  };
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(path.join(dir, 'rank0.engine'), 'engine bytes');
  return dir;
}

/** A Python model that loads anywhere: it reads its `tokenizer_dir` parameter (if any) and answers by echoing. */
export const ECHO_MODEL = `import json
import os
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        tok = config.get("parameters", {}).get("tokenizer_dir", {}).get("string_value")
        if tok is not None and not os.path.isdir(tok):
            raise pb_utils.TritonModelException(f"no tokenizer at {tok}")

    def execute(self, requests):
        return [pb_utils.InferenceResponse(output_tensors=[]) for _ in requests]
`;

const text = (name: string, body: string) => `# msb test template: ${name}\nname: "${name}"\n${body}`;

export const PREPROCESSING = text(
  'preprocessing',
  `backend: "python"
max_batch_size: \${triton_max_batch_size}
input [ { name: "QUERY" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "INPUT_ID" data_type: TYPE_INT32 dims: [ -1 ] } ]
parameters { key: "tokenizer_dir" value: { string_value: "\${tokenizer_dir}" } }
parameters { key: "add_special_tokens" value: { string_value: "\${add_special_tokens}" } }
instance_group [ { count: \${preprocessing_instance_count} kind: KIND_CPU } ]
`,
);

export const TENSORRT_LLM = text(
  'tensorrt_llm',
  `backend: "\${triton_backend}"
max_batch_size: \${triton_max_batch_size}
model_transaction_policy { decoupled: \${decoupled_mode} }
dynamic_batching { max_queue_delay_microseconds: \${max_queue_delay_microseconds} }
input [ { name: "input_ids" data_type: TYPE_INT32 dims: [ -1 ] } ]
output [
  { name: "output_ids" data_type: TYPE_INT32 dims: [ -1, -1 ] },
  # the logits' type is the engine's
  { name: "context_logits" data_type: \${logits_datatype} dims: [ -1, -1 ] },
  { name: "generation_logits" data_type: \${logits_datatype} dims: [ -1, -1, -1 ] }
]
instance_group [ { count: 1 kind: KIND_CPU } ]
parameters { key: "max_beam_width" value: { string_value: "\${max_beam_width}" } }
parameters { key: "gpt_model_type" value: { string_value: "\${batching_strategy}" } }
parameters { key: "gpt_model_path" value: { string_value: "\${engine_dir}" } }
parameters { key: "kv_cache_free_gpu_mem_fraction" value: { string_value: "\${kv_cache_free_gpu_mem_fraction}" } }
`,
);

export const POSTPROCESSING = text(
  'postprocessing',
  `backend: "python"
max_batch_size: \${triton_max_batch_size}
input [ { name: "TOKENS_BATCH" data_type: TYPE_INT32 dims: [ -1, -1 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_STRING dims: [ -1 ] } ]
parameters { key: "tokenizer_dir" value: { string_value: "\${tokenizer_dir}" } }
instance_group [ { count: \${postprocessing_instance_count} kind: KIND_CPU } ]
`,
);

export const ENSEMBLE = text(
  'ensemble',
  `platform: "ensemble"
max_batch_size: \${triton_max_batch_size}
input [ { name: "text_input" data_type: TYPE_STRING dims: [ 1 ] } ]
output [
  { name: "text_output" data_type: TYPE_STRING dims: [ -1 ] },
  { name: "context_logits" data_type: \${logits_datatype} dims: [ -1, -1 ] }
]
ensemble_scheduling {
  step [
    { model_name: "preprocessing" model_version: -1 input_map { key: "QUERY" value: "text_input" } output_map { key: "INPUT_ID" value: "_INPUT_ID" } },
    { model_name: "tensorrt_llm" model_version: -1 input_map { key: "input_ids" value: "_INPUT_ID" } output_map [ { key: "output_ids" value: "_TOKENS" }, { key: "context_logits" value: "context_logits" } ] },
    { model_name: "postprocessing" model_version: -1 input_map { key: "TOKENS_BATCH" value: "_TOKENS" } output_map { key: "OUTPUT" value: "text_output" } }
  ]
}
`,
);

export const BLS = text(
  'tensorrt_llm_bls',
  `backend: "python"
max_batch_size: \${triton_max_batch_size}
model_transaction_policy { decoupled: \${decoupled_mode} }
input [ { name: "text_input" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "text_output" data_type: TYPE_STRING dims: [ -1 ] } ]
parameters { key: "tensorrt_llm_model_name" value: { string_value: "\${tensorrt_llm_model_name}" } }
instance_group [ { count: \${bls_instance_count} kind: KIND_CPU } ]
`,
);

/** A template directory: the four models (and the BLS), each with its version directory; `replace` edits texts. */
export async function writeTemplates(
  dir: string,
  options: { bls?: boolean; edit?: Partial<Record<string, (t: string) => string>> } = {},
): Promise<string> {
  const models: Record<string, string> = {
    preprocessing: PREPROCESSING,
    tensorrt_llm: TENSORRT_LLM,
    postprocessing: POSTPROCESSING,
    ensemble: ENSEMBLE,
    ...(options.bls ? { tensorrt_llm_bls: BLS } : {}),
  };
  for (const [name, body] of Object.entries(models)) {
    await mkdir(path.join(dir, name, '1'), { recursive: true });
    await writeFile(path.join(dir, name, 'config.pbtxt'), options.edit?.[name]?.(body) ?? body);
    if (name === 'tensorrt_llm' || name === 'ensemble') await writeFile(path.join(dir, name, '1', '.gitkeep'), '');
    else await writeFile(path.join(dir, name, '1', 'model.py'), ECHO_MODEL);
  }
  return dir;
}

/**
 * An engine directory, a tokenizer and the templates (with the BLS) in `dir`, and the `msb add --tensorrt-llm`
 * command line that publishes them into `store`.
 */
export async function tensorrtLlmAdd(
  dir: string,
  store: string,
): Promise<{ args: string[]; engine: string; templates: string }> {
  const engine = await writeEngine(path.join(dir, 'engine'));
  const tokenizer = await writeCheckpoint(path.join(dir, 'tokenizer'));
  const templates = await writeTemplates(path.join(dir, 'templates'), { bls: true });
  const args = [
    'add',
    '--store-path',
    store,
    '--tensorrt-llm',
    engine,
    '--templates',
    templates,
    '--tokenizer',
    tokenizer,
  ];
  return { args, engine, templates };
}
