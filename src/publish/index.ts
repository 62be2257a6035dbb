/**
 * Publishing a version: the one use case behind `msb add`, `msb version add`, the worker's import and build jobs and
 * the library. Above the store (which only writes what it is given), below the CLI, the jobs and the HTTP API.
 */

export {
  type LlmPublishResult,
  publishTensorrtLlm,
  publishVllm,
  type TrtllmPublishRequest,
  type VllmPublishRequest,
} from './llm.js';
export {
  type PublishMode,
  type PublishProblem,
  type PublishRequest,
  type PublishResult,
  publish,
} from './publish.js';
export { type PublishableSource, publishableSource } from './source.js';
