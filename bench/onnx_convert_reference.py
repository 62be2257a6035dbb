"""Helper of bench/onnx-convert.ts: the reference conversion with the onnx library and numpy.

convert IN OUT: onnx.load(IN), every FLOAT initializer cast to float16 with numpy, onnx.save(OUT); prints JSON
{seconds, maxRssKiB}.
verify MSB REF: the FP16 initializers of both files are bit-identical (numpy's rounding is msb's); prints JSON.
"""
import json
import resource
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

if sys.argv[1] == "convert":
    start = time.perf_counter()
    m = onnx.load(sys.argv[2])
    for i, t in enumerate(m.graph.initializer):
        if t.data_type == TensorProto.FLOAT:
            m.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    onnx.save(m, sys.argv[3])
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
else:
    a = onnx.load(sys.argv[2])
    b = onnx.load(sys.argv[3])
    ref = {t.name: t for t in b.graph.initializer}
    same = 0
    for t in a.graph.initializer:
        x, y = numpy_helper.to_array(t), numpy_helper.to_array(ref[t.name])
        assert x.dtype == np.float16 and y.dtype == np.float16, (t.name, x.dtype, y.dtype)
        assert np.array_equal(x.view(np.uint16), y.view(np.uint16)), t.name
        same += 1
    print(json.dumps({"identical": same}))
