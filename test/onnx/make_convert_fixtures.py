"""ONNX fixtures for test/onnx/convert.test.ts, written with the reference onnx library."""
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(0)


def save(model, name, **kw):
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, f"{out}/{name}.onnx", **kw)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def model(graph, opset=17):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="msb-test")
    m.ir_version = 8
    return m


# mixed: every rule of convert in one graph.
nodes = [
    helper.make_node("MatMul", ["x", "W"], ["h"], name="matmul"),
    helper.make_node("Relu", ["h"], ["h2"], name="relu"),
    helper.make_node("Constant", [], ["c"], name="const_half", value=helper.make_tensor("cv", T.FLOAT, [8], [0.5] * 8)),
    helper.make_node("Add", ["h2", "c"], ["h3"], name="add_const"),
    helper.make_node("Mul", ["h3", "k1000"], ["big"], name="scale"),  # |big| > 512: data range
    helper.make_node("Sigmoid", ["big"], ["y"], name="sig"),  # reads big: data range too
    helper.make_node("Min", ["h2", "huge"], ["m"], name="min_huge"),  # initializer 1e5 > 65504
    helper.make_node("Cast", ["h2"], ["i"], name="to_int", to=T.INT64),
    helper.make_node("Cast", ["i"], ["f"], name="cast_back", to=T.FLOAT),
    helper.make_node("Add", ["f", "m"], ["z"], name="add_out"),
]
g = helper.make_graph(
    nodes,
    "mixed",
    [helper.make_tensor_value_info("x", T.FLOAT, ["N", 8])],
    [helper.make_tensor_value_info("y", T.FLOAT, ["N", 8]), helper.make_tensor_value_info("z", T.FLOAT, ["N", 8])],
    [init("W", rng.uniform(-1, 1, (8, 8))), init("k1000", [1000.0]), init("huge", [1e5])],
    value_info=[helper.make_tensor_value_info("h", T.FLOAT, ["N", 8])],
)
save(model(g), "mixed")
# The same with opset 11: too old for BF16.
save(model(g, 11), "mixed_opset11")

# control: an If whose branches read an outer FP16-able tensor, and hold their own initializer.
then_g = helper.make_graph(
    [helper.make_node("Mul", ["h", "two"], ["t_out"], name="then_mul")],
    "then",
    [],
    [helper.make_tensor_value_info("t_out", T.FLOAT, ["N", 4])],
    [init("two", [2.0])],
)
else_g = helper.make_graph(
    [helper.make_node("Add", ["h", "h"], ["e_out"], name="else_add")],
    "else",
    [],
    [helper.make_tensor_value_info("e_out", T.FLOAT, ["N", 4])],
)
g = helper.make_graph(
    [
        helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="gemm"),
        helper.make_node("If", ["flag"], ["branch"], name="if", then_branch=then_g, else_branch=else_g),
        helper.make_node("Tanh", ["branch"], ["y"], name="tanh"),
    ],
    "control",
    [helper.make_tensor_value_info("x", T.FLOAT, ["N", 6]), helper.make_tensor_value_info("flag", T.BOOL, [])],
    [helper.make_tensor_value_info("y", T.FLOAT, ["N", 4])],
    [init("W", rng.uniform(-1, 1, (6, 4))), init("b", rng.uniform(-1, 1, (4,)))],
)
save(model(g), "control")

# external: weights in a separate file, read and written by offset.
g = helper.make_graph(
    [
        helper.make_node("MatMul", ["x", "W1"], ["h"], name="mm1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "W2"], ["y"], name="mm2"),
    ],
    "external",
    [helper.make_tensor_value_info("x", T.FLOAT, ["N", 64])],
    [helper.make_tensor_value_info("y", T.FLOAT, ["N", 16])],
    [init("W1", rng.uniform(-0.1, 0.1, (64, 128))), init("W2", rng.uniform(-0.1, 0.1, (128, 16)))],
)
save(model(g), "external", save_as_external_data=True, all_tensors_to_one_file=True, location="external.weights", size_threshold=0)

# loop: a Loop whose body reads an outer tensor and its own initializer, and carries a float state.
body = helper.make_graph(
    [
        helper.make_node("Mul", ["state_in", "decay"], ["scaled"], name="body_mul"),
        helper.make_node("Add", ["scaled", "h"], ["state_out"], name="body_add"),  # h: outer scope
        helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
    ],
    "body",
    [
        helper.make_tensor_value_info("iter", T.INT64, []),
        helper.make_tensor_value_info("cond_in", T.BOOL, []),
        helper.make_tensor_value_info("state_in", T.FLOAT, ["N", 4]),
    ],
    [helper.make_tensor_value_info("cond_out", T.BOOL, []), helper.make_tensor_value_info("state_out", T.FLOAT, ["N", 4])],
    [init("decay", [0.5])],
)
g = helper.make_graph(
    [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
        helper.make_node("Loop", ["trips", "", "h"], ["final"], name="loop", body=body),
        helper.make_node("Relu", ["final"], ["y"], name="relu"),
    ],
    "loop",
    [helper.make_tensor_value_info("x", T.FLOAT, ["N", 6])],
    [helper.make_tensor_value_info("y", T.FLOAT, ["N", 4])],
    [init("W", rng.uniform(-1, 1, (6, 4))), numpy_helper.from_array(np.array(3, dtype=np.int64), "trips")],
)
save(model(g), "loop")

# expand_shape: an Expand whose target shape comes from a graph input (minus 5: random calibration values, 0s and 1s,
# give negative dims), so random inputs cannot run it; a sample [8, 9] (target [3, 4]) can.
g = helper.make_graph(
    [
        helper.make_node("Sub", ["shape", "five"], ["target"], name="shift_shape"),
        helper.make_node("Expand", ["x", "target"], ["e"], name="expand"),
        helper.make_node("Relu", ["e"], ["y"], name="relu"),
    ],
    "expand_shape",
    [helper.make_tensor_value_info("x", T.FLOAT, [3, 4]), helper.make_tensor_value_info("shape", T.INT64, [2])],
    [helper.make_tensor_value_info("y", T.FLOAT, ["a", "b"])],
    [numpy_helper.from_array(np.array([5, 5], dtype=np.int64), "five")],
)
save(model(g), "expand_shape")
