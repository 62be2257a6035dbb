// The Triton release table (issue 24 step 1): which Triton, ONNX Runtime, OpenVINO and vLLM each
// container release ships, from triton-releases.json (its `sources` say where each column comes from).
// A null value is "unknown" — no source read gives it — and callers must treat it as such, never guess.
import data from './triton-releases.json' with { type: 'json' };

export interface TritonRelease {
  release: string;
  triton: string;
  onnxruntime: string | null;
  openvino: string | null;
  vllm: string | null;
  tensorrt: string | null;
  cuda: string | null;
  minDriver: string | null;
  minComputeCapability: string | null;
  source: string;
}

export interface OnnxSupport {
  onnx: string | null;
  maxOpset: number;
  maxIr: number;
}

interface Table {
  sources: string[];
  releases: TritonRelease[];
  onnxruntimeOnnx: Record<string, OnnxSupport>;
}

// Imported (not read from disk) so tsc emits the JSON into dist beside this module.
const table: Table = data;

export function releases(): readonly TritonRelease[] {
  return table.releases;
}

/** The release named "YY.MM", or undefined when the table has no such release. */
export function tritonRelease(name: string): TritonRelease | undefined {
  return table.releases.find((r) => r.release === name);
}

/** The ONNX version, max opset and IR an ONNX Runtime version reads; null when no source gives it. */
export function onnxSupport(ortVersion: string): OnnxSupport | null {
  const minor = ortVersion.split('.').slice(0, 2).join('.');
  return table.onnxruntimeOnnx[minor] ?? null;
}

/** One check's answer: `error` Triton at that release cannot load it, `warning` the table cannot tell. */
export interface ReleaseFinding {
  level: 'ok' | 'warning' | 'error';
  message: string;
}

/** Whether the ONNX Runtime a release ships reads a model stamped with ai.onnx `opset`. */
export function checkOnnxOpset(release: TritonRelease, opset: number): ReleaseFinding {
  const ort = release.onnxruntime;
  const support = ort === null ? null : onnxSupport(ort);
  if (ort === null || support === null) {
    return {
      level: 'warning',
      message: `Triton ${release.release} ships ONNX Runtime ${ort ?? 'unknown'}, whose newest opset is unknown: opset ${opset} not checked`,
    };
  }
  if (opset > support.maxOpset) {
    return {
      level: 'error',
      message: `opset ${opset} is above ${support.maxOpset}, the newest ONNX Runtime ${ort} (Triton ${release.release}) reads: export with opset ≤ ${support.maxOpset} or use a newer release`,
    };
  }
  return {
    level: 'ok',
    message: `opset ${opset} ≤ ${support.maxOpset} (ONNX Runtime ${ort}, Triton ${release.release})`,
  };
}
