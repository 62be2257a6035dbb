"""A sequence model for the correlation-ID tests: Triton's simple_sequence idea on the Python backend.

Each request carries one INT32 `INPUT`; the answer `OUTPUT` is the running sum of its sequence so far. Sums are kept
per correlation ID, so two live sequences sharing an ID add into one sum and their clients see wrong answers: that
is what the tests look for. `START` begins a new sum, `END` drops it, `READY` 0 marks a slot the sequence batcher
filled without a request (answered 0, nothing touched). The ID is the request's own (`correlation_id()`, uint64 or
string); when the config has a `CORRID` control too, the model checks the batcher put the same ID there.
"""

import numpy as np
import triton_python_backend_utils as pb_utils


def _first(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy().reshape(-1)[0]


class TritonPythonModel:
    def initialize(self, args):
        self.sums = {}

    def execute(self, requests):
        return [self._step(request) for request in requests]

    def _step(self, request):
        value = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
        total = 0
        if _first(request, "READY"):
            cid = request.correlation_id()
            control = _first(request, "CORRID")
            if control is not None:
                control = control.decode() if isinstance(control, bytes) else int(control)
                if control != cid:
                    error = pb_utils.TritonError(f"CORRID control {control!r} is not the request's ID {cid!r}")
                    return pb_utils.InferenceResponse(output_tensors=[], error=error)
            total = (0 if _first(request, "START") else self.sums.get(cid, 0)) + int(value.reshape(-1)[0])
            if _first(request, "END"):
                self.sums.pop(cid, None)
            else:
                self.sums[cid] = total
        return pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", np.full(value.shape, total, dtype=np.int32))])
