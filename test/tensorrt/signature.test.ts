/** engineToModelSignature (the inspect contract's view of an engine) and build progress reporting. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EngineSignature, type EngineTensor, engineToModelSignature } from '../../src/tensorrt/index.js';
import { ProgressTracker } from '../../src/tensorrt/progress.js';

const tensor = (
  name: string,
  dims: number[],
  profiles: [number, number][] = [],
  extra: Partial<EngineTensor> = {},
) => ({
  name,
  dataType: 'TYPE_FP32' as const,
  tensorrtDataType: 'kFLOAT',
  dims,
  shapeTensor: false,
  format: 'Row major linear FP32 format (kLINEAR)',
  profiles: profiles.map(([lo, hi]) => ({
    min: [lo, ...dims.slice(1)],
    opt: [lo, ...dims.slice(1)],
    max: [hi, ...dims.slice(1)],
  })),
  ...extra,
});

const engine = (inputs: EngineTensor[], outputs: EngineTensor[], profiles: number): EngineSignature => ({
  tensorrtVersion: '10.16.0',
  profiles,
  layers: 3,
  inputs,
  outputs,
  engineInformation: {},
});

describe('engineToModelSignature', () => {
  it('batches along a dynamic dim 0; max batch = best profile of the smallest per-input max', () => {
    const sig = engineToModelSignature(
      engine(
        [
          tensor(
            'a',
            [-1, 3],
            [
              [1, 8],
              [1, 32],
            ],
          ),
          tensor(
            'b',
            [-1, 5],
            [
              [1, 4],
              [1, 16],
            ],
          ),
        ],
        [tensor('y', [-1, 2])],
        2,
      ),
    );
    assert.equal(sig.format, 'tensorrt_plan');
    assert.equal(sig.platform, 'tensorrt_plan');
    assert.equal(sig.backend, 'tensorrt');
    assert.equal(sig.batchDim, true);
    assert.equal(sig.maxBatchSize, 16);
    assert.deepEqual(sig.inputs[0], { name: 'a', dataType: 'TYPE_FP32', dims: [-1, 3] });
    assert.equal(sig.metadata.tensorrtVersion, '10.16.0');
  });

  it('does not batch when an input or output has a fixed dim 0, or there is no profile', () => {
    const fixedOut = engineToModelSignature(engine([tensor('a', [-1, 3], [[1, 8]])], [tensor('y', [1, 2])], 1));
    assert.equal(fixedOut.batchDim, false);
    assert.equal(fixedOut.maxBatchSize, undefined);
    assert.equal(engineToModelSignature(engine([tensor('a', [4, 3])], [tensor('y', [4])], 0)).batchDim, false);
    assert.equal(engineToModelSignature(engine([tensor('a', [])], [tensor('y', [-1])], 1)).batchDim, false);
  });

  it('ignores shape tensors when deciding the batch dimension', () => {
    const shape = tensor('shape', [2], [], { shapeTensor: true, dataType: 'TYPE_INT64' });
    const sig = engineToModelSignature(engine([tensor('a', [-1, 3], [[1, 8]]), shape], [tensor('y', [-1])], 1));
    assert.equal(sig.batchDim, true);
    assert.equal(sig.maxBatchSize, 8);
  });
});

describe('ProgressTracker', () => {
  it('reports nested phases as fractions of the outer phase', () => {
    const t = new ProgressTracker();
    assert.equal(t.update({ type: 'log', severity: 2, message: 'x' }), undefined);
    assert.deepEqual(t.update({ type: 'start', phase: 'Building', steps: 4 }), {
      phase: 'Building',
      step: 0,
      steps: 4,
      percent: 0,
    });
    assert.equal(t.update({ type: 'step', phase: 'Building', step: 0 })?.percent, 25);
    const inner = t.update({ type: 'start', phase: 'Tactics', parent: 'Building', steps: 2 });
    assert.equal(inner?.parentPhase, 'Building');
    assert.equal(t.update({ type: 'step', phase: 'Tactics', step: 0 })?.percent, 37.5);
    assert.equal(t.update({ type: 'finish', phase: 'Tactics' })?.percent, 50);
    assert.equal(t.update({ type: 'step', phase: 'Building', step: 1 })?.percent, 50);
    assert.equal(t.update({ type: 'step', phase: 'Unknown', step: 1 }), undefined);
    assert.equal(t.update({ type: 'finish', phase: 'Building' })?.percent, 100);
  });
});
