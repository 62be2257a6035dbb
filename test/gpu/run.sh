#!/bin/sh
# The GPU check itself, run from .gpu/ on the GPU machine (test/gpu/prepare.sh made the folder): unpack Node and the
# lean runtimes, then test/gpu/check.cjs with the addon of each TensorRT major against the machine's CUDA driver.
set -u
cd "$(dirname "$0")"
T=/tmp/gpu; mkdir -p $T
xz -dc node.xz > $T/node && chmod +x $T/node
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader
$T/node --version
for major in 10 11; do
  xz -dc libnvinfer_lean.so.$major.xz > $T/libnvinfer_lean.so.$major
  echo "=== TensorRT $major lean runtime, real CUDA driver"
  MSB_LIBNVINFER=$T/libnvinfer_lean.so.$major timeout 120 $T/node check.cjs msb_native$major.node; echo "exit=$?"
done
echo "=== no TensorRT library: the addon says why, and still lists the GPU"
MSB_LIBNVINFER=/nonexistent/libnvinfer.so.10 timeout 60 $T/node -e \
  "const a=require('./msb_native10.node'); console.log(JSON.stringify({status:a.status(), devices:a.cudaDevices()}))"
echo "exit=$?"
