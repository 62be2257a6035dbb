#!/usr/bin/env python3
"""Extract msb's Triton release table from build.py at each server release tag.

Usage: triton-release-table.py GIT_DIR > src/release/triton-releases.json
GIT_DIR is a clone of triton-inference-server/server. Written for msb: it reads
the version map literal with ast (no code from the server repo is run or kept).
Values no build.py gives (TensorRT, CUDA, driver, compute capability) are null
("unknown") until a cited source fills them.
"""
import ast
import json
import subprocess
import sys

git_dir = sys.argv[1]
tags = subprocess.run(["git", "-C", git_dir, "tag", "-l", "v2.*"], capture_output=True, text=True, check=True).stdout.split()
def key(t):
    return tuple(int(x) for x in t[1:].split("."))
tags = sorted((t for t in tags if key(t) >= (2, 51, 0)), key=key)

rows = {}
for tag in tags:
    src = subprocess.run(["git", "-C", git_dir, "show", f"{tag}:build.py"], capture_output=True, text=True, check=True).stdout
    tree = ast.parse(src)
    m = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in ("TRITON_VERSION_MAP", "DEFAULT_TRITON_VERSION_MAP"):
            m = ast.literal_eval(node.value)
    if m is None:
        continue
    if "release_version" in m:
        d = m
    else:
        (v, t), = m.items()
        d = {"release_version": v, "triton_container_version": t[0], "ort_version": t[2],
             "ort_openvino_version": t[3], "standalone_openvino_version": t[4], "vllm_version": t[6] if len(t) > 6 else None}
    # The tag names the version; v2.54.0's build.py still said "2.54.0dev"/"25.01dev".
    version = tag[1:]
    release = d["triton_container_version"].removesuffix("dev")
    if release in rows and key(tag) <= key("v" + rows[release]["triton"]):
        continue
    rows[release] = {
        "release": release,
        "triton": version,
        "onnxruntime": d.get("ort_version"),
        "openvino": d.get("standalone_openvino_version"),
        "vllm": d.get("vllm_version"),
        "source": f"triton-inference-server/server {tag}:build.py",
    }

print(json.dumps({"releases": list(rows.values())}, indent=2))
