import type { LlmProblem } from './problems.js';

/**
 * Config templates in the `${key}` syntax of TensorRT-LLM's `inflight_batcher_llm` models, which its
 * `tools/fill_template.py` fills with Python's `string.Template.safe_substitute`: a key it is not given stays in
 * the text as `${key}`. Where such a key sits decides what Triton makes of it:
 *
 * - `parameter`: the whole `string_value` of a `parameters` entry. The text parses, and the backend's models read a
 *   value that starts with `${` and ends with `}` as unset (tensorrt_llm/1/model.py `read_parameter_as_type`; the
 *   C++ backend likewise), so it may stay, except for the few without which the model cannot load
 *   ({@link REQUIRED_KEYS}).
 * - `string`: inside any other quoted string (`backend: "${triton_backend}"`): it parses, and Triton takes the text
 *   literally (a backend named `${triton_backend}`), so the load fails later.
 * - `bare`: anywhere else (`max_batch_size: ${triton_max_batch_size}`, `data_type: ${logits_datatype}`): Triton's
 *   text-format parser stops at the `$` (tritonserver 2.51 logs "Error parsing text-format
 *   inference.ModelConfig: 4:17: Expected integer, got: $" and the model does not load; server issue #8592).
 * - `comment`: after `#`: ignored.
 */
export type PlaceholderKind = 'parameter' | 'string' | 'bare' | 'comment';

export interface Placeholder {
  key: string;
  kind: PlaceholderKind;
  /** 1-based. */
  line: number;
  column: number;
}

/** Keys whose unset parameter still fails the load: the model has nothing to open without them. */
export const REQUIRED_KEYS: Readonly<Record<string, string>> = {
  engine_dir: 'the TensorRT-LLM engine directory (parameter gpt_model_path)',
  tokenizer_dir: 'the tokenizer directory the pre- and postprocessing models load',
};

const PLACEHOLDER = /\$\{([_A-Za-z][_A-Za-z0-9]*)\}/y;

/** Every `${key}` of a template text with where it sits (see {@link PlaceholderKind}). */
export function findPlaceholders(text: string): Placeholder[] {
  const found: Placeholder[] = [];
  let line = 1;
  let lineStart = 0;
  let quote: string | undefined;
  let stringStart = 0;
  let comment = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = i + 1;
      comment = false;
      quote = undefined; // text format strings do not span lines
      continue;
    }
    if (comment) {
      if (c === '$') i = match(i, 'comment');
      continue;
    }
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      else if (c === '$') i = match(i, wholeParameter(i) ? 'parameter' : 'string');
      continue;
    }
    if (c === '#') comment = true;
    else if (c === '"' || c === "'") {
      quote = c;
      stringStart = i;
    } else if (c === '$') i = match(i, 'bare');
  }
  return found;

  function match(at: number, kind: PlaceholderKind): number {
    PLACEHOLDER.lastIndex = at;
    const m = PLACEHOLDER.exec(text);
    if (!m) return at;
    found.push({ key: m[1] as string, kind, line, column: at - lineStart + 1 });
    return at + m[0].length - 1;
  }

  /** The string holding `at` is exactly `"${key}"` and is the value of a `string_value` field. */
  function wholeParameter(at: number): boolean {
    if (at !== stringStart + 1) return false;
    PLACEHOLDER.lastIndex = at;
    const m = PLACEHOLDER.exec(text);
    if (!m || text[at + m[0].length] !== text[stringStart]) return false;
    return /string_value\s*:?\s*$/.test(text.slice(Math.max(0, stringStart - 64), stringStart));
  }
}

/**
 * The text with each `${key}` of `values` replaced, every other one left as it is: what `fill_template.py` does
 * (`safe_substitute`), so a template filled here and one filled by NVIDIA's tool are the same text.
 */
export function fillTemplate(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{([_A-Za-z][_A-Za-z0-9]*)\}/g, (m, key: string) =>
    Object.hasOwn(values, key) ? (values[key] as string) : m,
  );
}

/**
 * What Triton would make of the `${key}`s left in a config: `bare` and `string` ones are errors naming the key,
 * `file:line:column` and the fix; a `parameter` one is a warning (left unset), or an error for {@link REQUIRED_KEYS}.
 * `fix` is how the caller's user sets a key (default: `--set KEY=…`).
 */
export function templateProblems(
  text: string,
  file: string,
  options: { fix?: (key: string) => string } = {},
): LlmProblem[] {
  const fix = options.fix ?? ((key: string) => `--set ${key}=…`);
  const problems: LlmProblem[] = [];
  for (const p of findPlaceholders(text)) {
    if (p.kind === 'comment') continue;
    const at = { key: p.key, file, line: p.line, column: p.column };
    if (p.kind === 'bare') {
      problems.push({
        rule: 'template-placeholder',
        severity: 'error',
        message: `\${${p.key}} was never filled, and Triton's config parser fails on it ("got: $"); fill it: ${fix(p.key)}`,
        ...at,
      });
    } else if (p.kind === 'string') {
      problems.push({
        rule: 'template-placeholder-string',
        severity: 'error',
        message: `\${${p.key}} was never filled: Triton reads the text "\${${p.key}}" literally and the load fails; fill it: ${fix(p.key)}`,
        ...at,
      });
    } else if (REQUIRED_KEYS[p.key] !== undefined) {
      problems.push({
        rule: 'template-required',
        severity: 'error',
        message: `\${${p.key}} was never filled: it is ${REQUIRED_KEYS[p.key]}, and the model cannot load without it; fill it: ${fix(p.key)}`,
        ...at,
      });
    } else {
      problems.push({
        rule: 'template-unset',
        severity: 'warning',
        message: `\${${p.key}} is left unset (the backend reads a parameter "\${…}" as not given, and uses its default)`,
        ...at,
      });
    }
  }
  return problems;
}
