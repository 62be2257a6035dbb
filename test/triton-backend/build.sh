#!/bin/sh
# Builds the test-only Triton backend (accept-all.cc; TEST CODE ONLY) into OUT/<name>/libtriton_<name>.so for each
# NAME (default: the backends the PyPI Triton lacks: onnxruntime tensorrt pytorch tensorflow openvino), the folder
# layout of Triton's --backend-directory. It needs only a C++ compiler: the few Triton C API calls it makes are
# declared in triton-api.h (msb's own declarations; nothing is fetched). The library links against nothing of
# Triton's: the TRITONBACKEND_* / TRITONSERVER_* calls resolve to the libtritonserver.so of the server that loads it.
# Usage: build.sh OUT [NAME...]
set -eu
out=${1:?usage: build.sh OUT [NAME...]}
shift
[ "$#" -gt 0 ] || set -- onnxruntime tensorrt pytorch tensorflow openvino
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/build"
${CXX:-g++} -std=c++17 -O1 -g -fPIC -shared -Wall -Wextra -Werror -I "$here" \
  -o "$out/build/libtriton_accept_all.so" "$here/accept-all.cc"
for name in "$@"; do
  mkdir -p "$out/$name"
  cp "$out/build/libtriton_accept_all.so" "$out/$name/libtriton_$name.so"
done
echo "$out"
