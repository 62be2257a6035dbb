"""Helper of bench/inspect-onnx.ts.

make OUT SIZE_MB: writes an ONNX model whose initializers hold SIZE_MB of real float32 weights (a chain of MatMuls).
load PATH: times onnx.load(PATH, load_external_data=False); prints JSON {seconds, maxRssKiB, inputs}.
"""
import json
import resource
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

if sys.argv[1] == "make":
    out, size_mb = sys.argv[2], int(sys.argv[3])
    n = 4096  # each weight: n*n float32 = 64 MiB
    layers = max(1, size_mb // 64)
    rng = np.random.default_rng(0)
    inits, nodes = [], []
    prev = "input"
    for i in range(layers):
        w = rng.standard_normal((n, n), dtype=np.float32)
        inits.append(numpy_helper.from_array(w, f"W{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"h{i}"]))
        prev = f"h{i}"
    graph = helper.make_graph(
        nodes, "big",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", n])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="msb-bench")
    with open(out, "wb") as f:
        f.write(model.SerializeToString())
else:
    start = time.perf_counter()
    m = onnx.load(sys.argv[2], load_external_data=False)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds,
        "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "inputs": [i.name for i in m.graph.input],
    }))
