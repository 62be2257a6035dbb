#!/usr/bin/env python3
"""Extract the engine-argument names and JSON types of vLLM releases for msb's table.

Usage: vllm-engine-args.py VERSION=WHEEL_OR_ARG_UTILS_PY ... > src/llm/vllm-engine-args.json
Each argument is a vLLM wheel (pip download --no-deps vllm==VERSION) or its vllm/engine/arg_utils.py. Written for
msb: it reads the EngineArgs and AsyncEngineArgs dataclass fields with ast (nothing from vLLM is run or kept). The
vLLM backend builds AsyncEngineArgs(**model.json), so these fields are exactly the keys model.json may hold.
A type is the JSON value the annotation admits: bool, int, float (an int is accepted too), str, or any (a dict, a
list, a config object, or a name this file cannot resolve); `nullable` when None is allowed.
"""
import ast
import json
import sys
import zipfile

PRIMITIVES = {"bool": "bool", "int": "int", "float": "float", "str": "str"}


def atoms(node):
    """The alternatives of an annotation: X | Y, Optional[X], Union[X, Y]; anything else is one atom."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return atoms(node.left) + atoms(node.right)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        if node.value.id == "Optional":
            return atoms(node.slice) + ["None"]
        if node.value.id == "Union":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return [a for e in elts for a in atoms(e)]
    if isinstance(node, ast.Constant) and node.value is None:
        return ["None"]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return atoms(ast.parse(node.value, mode="eval").body)
    if isinstance(node, ast.Name):
        return [node.id]
    return [ast.unparse(node)]


def json_type(annotation):
    alts = atoms(annotation)
    nullable = "None" in alts
    kinds = {PRIMITIVES.get(a, "any") for a in alts if a != "None"}
    if kinds == {"int", "float"}:
        kinds = {"float"}
    kind = kinds.pop() if len(kinds) == 1 else "any"
    return {"type": kind, "nullable": True} if nullable else {"type": kind}


def fields(tree, name):
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return {
                s.target.id: json_type(s.annotation)
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            }
    raise SystemExit(f"no class {name}")


def source(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return z.read("vllm/engine/arg_utils.py").decode()
    with open(path) as f:
        return f.read()


versions = {}
for arg in sys.argv[1:]:
    version, path = arg.split("=", 1)
    tree = ast.parse(source(path))
    args = fields(tree, "EngineArgs")
    args.update(fields(tree, "AsyncEngineArgs"))
    versions[version] = dict(sorted(args.items()))

json.dump(
    {
        "source": "vllm-project/vllm vllm/engine/arg_utils.py (EngineArgs and AsyncEngineArgs fields) in the PyPI wheel "
        "of each version, read by scripts/vllm-engine-args.py",
        "versions": dict(sorted(versions.items(), key=lambda kv: [int(x) for x in kv[0].split(".")[:3]])),
    },
    sys.stdout,
    indent=1,
)
print()
