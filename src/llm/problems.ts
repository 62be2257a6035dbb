/** One finding of the LLM checks, in the shape `validate` and `config check` report (rule ids are stable). */
export interface LlmProblem {
  /** `vllm-engine-arg-unknown`, `template-placeholder`, `trtllm-batch-size`, … */
  rule: string;
  severity: 'error' | 'warning';
  message: string;
  /** The engine argument or template key concerned. */
  key?: string;
  /** The file concerned (relative to what was checked), with a 1-based line and column where known. */
  file?: string;
  line?: number;
  column?: number;
}
