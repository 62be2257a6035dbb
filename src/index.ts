/**
 * msb, the model store builder: the library. Each responsibility is also importable on its own
 * (`msb/config`, `msb/inspect`, `msb/store`, `msb/publish`, `msb/tensorrt`, `msb/jobs`, `msb/cid`, `msb/server`).
 */
export * as cid from './cid/index.js';
export * as config from './config/index.js';
export { isMsbError, MsbError } from './errors.js';
export * as inspect from './inspect/index.js';
export * as jobs from './jobs/index.js';
export * as publish from './publish/index.js';
export * as server from './server/index.js';
export * as store from './store/index.js';
export * as tensorrt from './tensorrt/index.js';
