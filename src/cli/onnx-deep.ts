import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelStore, RepositoryProblem } from '../store/index.js';
import { modelFileName } from '../store/index.js';

/**
 * `msb validate --deep`'s own step: every version of every ONNX model in the store loaded by ONNX Runtime as
 * Triton's ONNX Runtime backend would, and run once at the config's shapes. Missing files and broken configs are
 * the plain validation's to report, so they are skipped here.
 */
export async function deepValidateStore(store: ModelStore): Promise<RepositoryProblem[]> {
  const { runAsTriton } = await import('../onnx/index.js');
  const problems: RepositoryProblem[] = [];
  for (const name of await store.listModels()) {
    let model: Awaited<ReturnType<ModelStore['getModel']>>;
    try {
      model = await store.getModel(name);
    } catch {
      continue;
    }
    const { config } = model;
    const isOnnx = config.platform === 'onnxruntime_onnx' || config.backend === 'onnxruntime';
    const fileName = modelFileName(config);
    if (!isOnnx || !fileName) continue;
    for (const version of await model.listVersions()) {
      const rel = `${name}/${version}/${fileName}`;
      let file = path.join(store.root, rel);
      const st = await stat(file).catch(() => undefined);
      if (!st) continue;
      // A directory holds model.onnx with its external data (the backend loads <dir>/model.onnx).
      if (st.isDirectory()) file = path.join(file, 'model.onnx');
      const result = await runAsTriton(file, config);
      if (result.failure) {
        const shapes = Object.entries(result.shapes)
          .map(([k, v]) => `${k}[${v.join(',')}]`)
          .join(' ');
        problems.push({
          path: rel,
          rule: `onnxruntime-${result.failure.stage}`,
          severity: 'error',
          message:
            result.failure.stage === 'load'
              ? `ONNX Runtime cannot load the model: ${result.failure.message}`
              : `ONNX Runtime cannot run the model at ${shapes}: ${result.failure.message}`,
        });
      }
    }
  }
  return problems;
}
