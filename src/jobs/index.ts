/**
 * Conversion jobs: services enqueue them (ConversionClient), workers on GPU nodes pull them from Redis (BullMQ),
 * build or inspect engines through the addon, and publish plan + config to the store.
 */
export {
  type BuilderIdentity,
  type EngineBuilder,
  type EngineBuildRequest,
  type EngineBuildResult,
  tensorrtEngineBuilder,
} from './builder.js';
export {
  ConversionClient,
  type ConversionClientOptions,
  ConversionHandle,
  type JobInfo,
  type JobState,
  type QueueStats,
} from './client.js';
export { type DemoOptions, type DemoResult, runDemo } from './demo.js';
export { JOB_ERROR_RETRYABLE, JobError, type JobErrorCode } from './errors.js';
export {
  backlogOf,
  knownQueues,
  type QueueMetrics,
  registerQueueMetrics,
  registerWorkerMetrics,
} from './metrics.js';
export { PlanCache } from './publish.js';
export { type SampleModel, writeSampleModels } from './samples.js';
export { isRemoteSource } from './sources.js';
export {
  type BuildTarget,
  IMPORT_QUEUE,
  type JobSpec,
  type JobSpecInput,
  jobKey,
  jobSpecSchema,
  parseJobSpec,
  planKey,
  QUEUE_PREFIX,
  queueOf,
  targetQueue,
} from './spec.js';
export {
  ConversionWorker,
  type ConversionWorkerOptions,
  type JobData,
  type JobResult,
  KEYS,
  servedQueues,
  type WorkerEvent,
  type WorkerInfo,
} from './worker.js';
