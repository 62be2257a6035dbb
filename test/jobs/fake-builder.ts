/**
 * Test double of the one boundary jobs have with TensorRT (`EngineBuilder`), for machines without TensorRT or a GPU.
 * It is no simulation of TensorRT: the "plan" is a marker file, and the signature is the ONNX model's own, read by
 * msb's ONNX reader. It reports progress, honours the AbortSignal, and can be told to be slow or to fail. These
 * tests are about job control; the real builder (`tensorrtEngineBuilder` through the addon) runs the same build path
 * in test/tensorrt-double/worker.contract.ts (`npm run test:tensorrt-contract`, with TensorRT headers).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspectOnnx } from '../../src/inspect/index.js';
import type { BuilderIdentity, EngineBuilder, EngineBuildRequest, EngineBuildResult } from '../../src/jobs/index.js';

export interface FakeBuilderOptions {
  identity?: BuilderIdentity;
  /** How long a build takes, in progress steps of 50 ms. Default 4. */
  steps?: number;
  /** Fail the first N builds with a transient error. */
  failFirst?: number;
}

export class FakeBuilder implements EngineBuilder {
  builds = 0;
  timingCaches: (Uint8Array | undefined)[] = [];

  constructor(private readonly options: FakeBuilderOptions = {}) {}

  identity(): BuilderIdentity {
    return this.options.identity ?? { tensorrt: '10.8', tensorrtVersion: '10.8.0', computeCapability: '8.6' };
  }

  async build(request: EngineBuildRequest): Promise<EngineBuildResult> {
    this.builds++;
    this.timingCaches.push(request.timingCache);
    if (this.builds <= (this.options.failFirst ?? 0)) throw new Error('transient: GPU busy');
    const steps = this.options.steps ?? 4;
    for (let i = 1; i <= steps; i++) {
      await new Promise<void>((resolve, reject) => {
        if (request.signal.aborted) return reject(request.signal.reason);
        const onAbort = () => {
          clearTimeout(t);
          reject(request.signal.reason);
        };
        const t = setTimeout(() => {
          request.signal.removeEventListener('abort', onAbort);
          resolve();
        }, 50);
        request.signal.addEventListener('abort', onAbort, { once: true });
      });
      request.onProgress({ phase: 'Building engine', percent: (100 * i) / steps });
    }
    request.onLog('[info] fake build done');
    const onnx = await readFile(request.onnx);
    const signature = {
      ...(await inspectOnnx(request.onnx)).signature,
      format: 'tensorrt_plan' as const,
      platform: 'tensorrt_plan',
      backend: 'tensorrt',
    };
    const digest = createHash('sha256').update(onnx).digest('hex');
    return {
      plan: new TextEncoder().encode(`ftrt fake plan of ${digest}`),
      timingCache: new TextEncoder().encode(`timing cache after ${this.builds} builds`),
      signature,
      buildSeconds: (steps * 50) / 1000,
    };
  }

  async inspect(plan: Uint8Array) {
    const text = new TextDecoder().decode(plan);
    if (!text.startsWith('ftrt fake plan')) throw new Error('not a plan of this builder');
    return {
      format: 'tensorrt_plan' as const,
      platform: 'tensorrt_plan',
      backend: 'tensorrt',
      inputs: [],
      outputs: [],
      batchDim: false,
      metadata: {},
    };
  }
}
