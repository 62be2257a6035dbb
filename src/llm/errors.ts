import { defineErrors, retryableOf } from '../errors.js';

/**
 * An LLM repository (vLLM, TensorRT-LLM) msb refuses to write: what the backend would fail on at load, found before
 * anything is stored. No code is retryable: the same sources and options fail the same way.
 */
export class LlmError extends defineErrors('MSB_LLM_', {
  /** A vLLM `model.json` the backend would refuse: an unknown engine argument, a wrong type, a value out of range. */
  MSB_LLM_ENGINE_ARGS: { retryable: false, status: 400 },
  /** A local checkpoint (or tokenizer) directory without what vLLM or the tokenizer loads (`config.json`, …). */
  MSB_LLM_CHECKPOINT: { retryable: false, status: 400 },
  /** A TensorRT-LLM engine directory whose `config.json` is missing or is not of the shape TensorRT-LLM writes. */
  MSB_LLM_ENGINE: { retryable: false, status: 400 },
  /** A template directory without the models of `inflight_batcher_llm`, or a `--set` that is not KEY=VALUE. */
  MSB_LLM_TEMPLATES: { retryable: false, status: 400 },
  /** A `${key}` left where Triton's parser (or loader) fails on it; every such key is named with its file and line. */
  MSB_LLM_PLACEHOLDER: { retryable: false, status: 400 },
  /** The filled configs contradict the engine or each other (batch size, beam width, logits type, decoupled). */
  MSB_LLM_MISMATCH: { retryable: false, status: 400 },
}) {}

export type LlmErrorCode = keyof typeof LlmError.codes;

/** Code → whether retrying can help (every module's errors.ts exports one; test/errors.test.ts reads them). */
export const LLM_ERROR_RETRYABLE = retryableOf(LlmError.codes);
