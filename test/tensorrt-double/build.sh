#!/bin/sh
# Builds the TensorRT double (test code only) into OUT from the headers in MSB_TENSORRT_HEADERS:
#   OUT/libnvinfer.so.<major>, OUT/libnvonnxparser.so.<major> (the parser library links against the first, as
# TensorRT's does), and OUT/libcuda.so.1 (the few driver calls that list GPUs). The stubs for every method the double does not implement are generated from those headers into
# OUT/gen/stubs.h. With MSB_SANITIZE=1 both are built with AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: build.sh OUT
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
headers=${MSB_TENSORRT_HEADERS:?set MSB_TENSORRT_HEADERS to a TensorRT include directory}
for h in NvInfer.h NvInferImpl.h NvOnnxParser.h; do
  [ -f "$headers/$h" ] || { echo "tensorrt-double: $headers/$h missing" >&2; exit 2; }
done
cuda=${CUDA_ROOT:-/usr/local/cuda}/include
[ -f "$cuda/cuda_runtime_api.h" ] || { echo "tensorrt-double: $cuda/cuda_runtime_api.h missing (set CUDA_ROOT)" >&2; exit 2; }
# crt/host_defines.h: beside the runtime headers in a toolkit, in the nvcc wheel's folder with NVIDIA's pip wheels
# (CUDA_ROOT=<site-packages>/nvidia/cuda_runtime; see CMakeLists.txt).
crt=$cuda
[ -f "$crt/crt/host_defines.h" ] || crt=$cuda/../../cuda_nvcc/include
[ -f "$crt/crt/host_defines.h" ] || { echo "tensorrt-double: crt/host_defines.h not found beside $cuda" >&2; exit 2; }
major=$(sed -n 's/^#define TRT_MAJOR_ENTERPRISE \([0-9]*\).*/\1/p; s/^#define NV_TENSORRT_MAJOR \([0-9][0-9]*\).*/\1/p' \
  "$headers/NvInferVersion.h" | head -n 1)
[ -n "$major" ] || { echo "tensorrt-double: no major version in $headers/NvInferVersion.h" >&2; exit 2; }

mkdir -p "$out/gen"
node "$here/gen-stubs.mjs" "$headers" > "$out/gen/stubs.h.tmp"
mv "$out/gen/stubs.h.tmp" "$out/gen/stubs.h"

cxx=${CXX:-g++}
flags="-std=c++17 -O1 -g -fPIC -Wall -Wextra -Wno-deprecated-declarations -I$out/gen -I$here -isystem $headers -isystem $cuda -isystem $crt"
if [ "${MSB_SANITIZE:-0}" = 1 ]; then
  flags="$flags -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
fi
# shellcheck disable=SC2086
$cxx $flags -shared -Wl,-soname,libnvinfer.so.$major -o "$out/libnvinfer.so.$major" "$here/nvinfer.cc" -lpthread
# shellcheck disable=SC2086
$cxx $flags -shared -Wl,-soname,libnvonnxparser.so.$major -o "$out/libnvonnxparser.so.$major" \
  "$here/onnxparser.cc" -L"$out" -l:libnvinfer.so.$major -Wl,-rpath,'$ORIGIN'
# shellcheck disable=SC2086
$cxx $flags -shared -Wl,-soname,libcuda.so.1 -o "$out/libcuda.so.1" "$here/cuda.cc"
# The negative controls of the contract assertions, linked against the double like an application against TensorRT.
# shellcheck disable=SC2086
$cxx $flags -o "$out/contract-probe" "$here/contract-probe.cc" -L"$out" -l:libnvinfer.so.$major \
  -l:libnvonnxparser.so.$major -Wl,-rpath,'$ORIGIN'
echo "$out/libnvinfer.so.$major"
