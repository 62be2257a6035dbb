#!/bin/sh
# Prepares the one GPU check (test/gpu/run.sh) for a machine with an NVIDIA GPU and driver but no Node and no
# TensorRT (docs/tensorrt.md "On a real GPU"): into .gpu/ (ignored by git; add /.gpu/ to .git/info/exclude) it puts
# Node compressed, the addon compiled against TensorRT 10's and 11's headers, and NVIDIA's lean runtimes from the
# venvs of .ci/python-deps, compressed (about 53 MB in all). The headers are fetched (NVIDIA/TensorRT release/10.16
# and release/11.1 include/), never committed.
# Usage: MSB_TENSORRT_HEADERS_10=DIR MSB_TENSORRT_HEADERS_11=DIR test/gpu/prepare.sh
set -eu
cd "$(dirname "$0")/../.."
mkdir -p .gpu
cp test/gpu/check.cjs test/gpu/run.sh .gpu/
xz -T2 -6 -c "$(command -v node)" > .gpu/node.xz
for major in 10 11; do
  eval headers=\${MSB_TENSORRT_HEADERS_$major:?set MSB_TENSORRT_HEADERS_$major to TensorRT $major\'s include/}
  site=$(echo .venv/tensorrt$major/lib/python3*/site-packages)
  CUDA_ROOT=$PWD/$site/nvidia/cuda_runtime npx cmake-js compile --out build/gpu-check$major \
    --CDTENSORRT_INCLUDE_DIR="$headers" --CDTENSORRT_ONNX_INCLUDE_DIR="$headers" >/dev/null
  cp build/gpu-check$major/Release/msb_native.node .gpu/msb_native$major.node
  xz -T2 -6 -c "$site/tensorrt_lean_libs/libnvinfer_lean.so.$major" > .gpu/libnvinfer_lean.so.$major.xz
done
du -sh .gpu
