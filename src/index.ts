/**
 * msb, the model store builder: the library. Each responsibility is also importable on its own, as `msb/<part>`:
 * the namespaces below, package.json's `exports` and the README name the same parts (test/boundaries.test.ts).
 */
export * as api from './api/index.js';
export * as cid from './cid/index.js';
export * as config from './config/index.js';
export { defineErrors, errorStatus, isMsbError, MsbError } from './errors.js';
export * as inspect from './inspect/index.js';
export * as jobs from './jobs/index.js';
export * as llm from './llm/index.js';
export * as onnx from './onnx/index.js';
export * as publish from './publish/index.js';
export * as redis from './redis/index.js';
export * as release from './release/index.js';
export * as server from './server/index.js';
export * as store from './store/index.js';
export * as tensorrt from './tensorrt/index.js';
export * as triton from './triton/index.js';
