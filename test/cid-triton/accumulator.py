"""A sequence model for the correlation-ID tests: Triton's simple_sequence idea on the Python backend.

Every request carries one INT32 `INPUT`; the answer `OUTPUT` is the running sum of the sequence so far. The sum is
kept per correlation ID (the `CORRID` control), so two live sequences that share an ID add into one sum and their
clients see wrong answers: that is what the tests look for. `START` begins a new sum, `END` drops it, `READY` 0 marks
a slot the sequence batcher filled without a request (answered 0, state untouched). Works batched (`direct` and
`oldest` strategies hand the model [batch, 1] tensors) and unbatched, with TYPE_UINT64 or TYPE_STRING IDs.
"""

import numpy as np
import triton_python_backend_utils as pb_utils


def _column(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)


class TritonPythonModel:
    def initialize(self, args):
        self.sums = {}

    def execute(self, requests):
        responses = []
        for request in requests:
            values = _column(request, "INPUT")
            starts = _column(request, "START")
            ends = _column(request, "END")
            readies = _column(request, "READY")
            ids = _column(request, "CORRID")
            out = np.zeros(len(values), dtype=np.int32)
            for i, value in enumerate(values):
                if readies[i] == 0:
                    continue
                key = ids[i]
                key = key.decode() if isinstance(key, bytes) else int(key)
                total = (0 if starts[i] else self.sums.get(key, 0)) + int(value)
                if ends[i]:
                    self.sums.pop(key, None)
                else:
                    self.sums[key] = total
                out[i] = total
            shape = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy().shape
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", out.reshape(shape))]))
        return responses
