#!/bin/sh
# Builds the test-only Triton backend (accept-all.cc; TEST CODE ONLY) into OUT/<name>/libtriton_<name>.so for each
# backend the PyPI Triton lacks, the folder layout of Triton's --backend-directory. The headers come from
# triton-inference-server/core's include/ (MSB_TRITON_CORE_HEADERS: the folder holding triton/core/tritonbackend.h),
# fetched for the test and never committed; no PyPI wheel ships them (nvidia-pytriton 0.7.0 and tritonclient 2.51.0
# were checked). Without them it says so and exits 0, writing nothing. The library links against nothing of Triton's:
# the TRITONBACKEND_* / TRITONSERVER_* calls resolve to the libtritonserver.so of the server that loads it.
# Usage: build.sh OUT
set -eu
out=${1:?usage: build.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${MSB_TRITON_CORE_HEADERS:-}" ]; then
  echo "triton-backend: SKIPPED: set MSB_TRITON_CORE_HEADERS to triton-inference-server/core's include/ (no PyPI" \
    "wheel ships tritonbackend.h) to build the test-only backend (docs/triton.md)"
  exit 0
fi
headers=$(cd "$MSB_TRITON_CORE_HEADERS" && pwd)
[ -f "$headers/triton/core/tritonbackend.h" ] || { echo "triton-backend: $headers/triton/core/tritonbackend.h missing" >&2; exit 2; }
mkdir -p "$out/build"
${CXX:-g++} -std=c++17 -O1 -g -fPIC -shared -Wall -Wextra -Werror -isystem "$headers" \
  -o "$out/build/libtriton_accept_all.so" "$here/accept-all.cc"
for name in onnxruntime tensorrt pytorch tensorflow openvino; do
  mkdir -p "$out/$name"
  cp "$out/build/libtriton_accept_all.so" "$out/$name/libtriton_$name.so"
done
echo "$out"
