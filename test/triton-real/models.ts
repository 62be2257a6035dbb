/** Python-backend model code and a tritonclient inference call shared by the real-Triton suites. */
import type { TritonServer } from '../helpers/triton.js';
import { runTritonPython } from '../helpers/triton.js';

/** A Python-backend model.py adding 1 to INPUT0 into OUTPUT0: enough to tell a real answer from an echo. */
export const ADD_ONE = `
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", (x + 1).astype(np.float32))]))
        return out
`;

const INFER = `
import json, sys
import numpy as np
import tritonclient.http as http
url, model, name, out, values = sys.argv[1:6]
c = http.InferenceServerClient(url)
x = np.array(json.loads(values), dtype=np.float32)
i = http.InferInput(name, list(x.shape), "FP32")
i.set_data_from_numpy(x)
r = c.infer(model, [i], outputs=[http.InferRequestedOutput(out)])
print(json.dumps(r.as_numpy(out).tolist()))
`;

/** One FP32 inference through tritonclient (the venv's Python): Triton's answer for `output`. */
export async function infer(
  server: TritonServer,
  model: string,
  input: string,
  output: string,
  values: number[] | number[][],
): Promise<number[] | number[][]> {
  const { stdout } = await runTritonPython(INFER, [
    `127.0.0.1:${server.httpPort}`,
    model,
    input,
    output,
    JSON.stringify(values),
  ]);
  return JSON.parse(stdout) as number[] | number[][];
}
