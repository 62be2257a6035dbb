#!/bin/sh
# npm run test:tensorrt-contract: the real addon, built with AddressSanitizer + UndefinedBehaviorSanitizer against the
# TensorRT headers in MSB_TENSORRT_HEADERS, run end to end against the TensorRT double built from the same headers
# (docs/tensorrt-double.md). Without MSB_TENSORRT_HEADERS it says so and passes: CI has no headers.
# Afterwards LeakSanitizer's reports are searched for frames in the addon or the double: any such leak fails the run.
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${MSB_TENSORRT_HEADERS:-}" ]; then
  echo "test:tensorrt-contract: SKIPPED: set MSB_TENSORRT_HEADERS to a TensorRT include directory (NvInfer.h," \
    "NvInferImpl.h, NvOnnxParser.h) to run the addon against the TensorRT double (docs/tensorrt-double.md)"
  exit 0
fi
headers=$(cd "$MSB_TENSORRT_HEADERS" && pwd)
version=$(sed -n 's/^#define TRT_\(MAJOR\|MINOR\|PATCH\)_ENTERPRISE \([0-9]*\).*/\2/p' "$headers/NvInferVersion.h" | paste -sd.)
[ -n "$version" ] || version=$(sed -n 's/^#define NV_TENSORRT_\(MAJOR\|MINOR\|PATCH\) \([0-9][0-9]*\).*/\2/p' "$headers/NvInferVersion.h" | paste -sd.)
out="$PWD/build/tensorrt-contract/$version"
echo "test:tensorrt-contract: TensorRT $version headers in $headers -> $out"
major=${version%%.*}
# CUDA's headers (types only): a toolkit's, else those of the pip wheels in .venv/tensorrt<major> (.ci/python-deps).
if [ -z "${CUDA_ROOT:-}" ] && [ ! -f /usr/local/cuda/include/cuda_runtime_api.h ]; then
  for d in "$PWD"/.venv/tensorrt"$major"/lib/python3*/site-packages/nvidia/cuda_runtime; do
    [ -f "$d/include/cuda_runtime_api.h" ] && export CUDA_ROOT="$d"
  done
fi

MSB_SANITIZE=1 MSB_TENSORRT_HEADERS="$headers" sh test/tensorrt-double/build.sh "$out/double" >/dev/null
# The addon against the same headers, in a build folder of its own (the default build stays header-less).
npx cmake-js compile --out "$out/addon" --CDMSB_SANITIZE=ON --CDTENSORRT_INCLUDE_DIR="$headers" \
  --CDTENSORRT_ONNX_INCLUDE_DIR="$headers" >"$out/addon-build.log" 2>&1 || { cat "$out/addon-build.log" >&2; exit 1; }
# (The TensorRT units name the entry points they resolve; the header-less build does not.)
grep -q createInferBuilder_INTERNAL "$out/addon/Release/msb_native.node" || {
  echo "test:tensorrt-contract: the addon was not compiled with the TensorRT units (see $out/addon-build.log)" >&2
  exit 1
}

libasan=$(${CXX:-g++} -print-file-name=libasan.so)
export MSB_NATIVE_ADDON="$out/addon/Release/msb_native.node"
export MSB_LIBNVINFER="$out/double/libnvinfer.so.$major"
export MSB_LIBNVONNXPARSER="$out/double/libnvonnxparser.so.$major"
export MSB_LIBCUDA="$out/double/libcuda.so.1"
ldd "$MSB_NATIVE_ADDON" | grep -q libasan || { echo "test:tensorrt-contract: $MSB_NATIVE_ADDON lacks libasan" >&2; exit 1; }
# Leaks are reported to files and judged below: Node itself keeps allocations alive until exit, which are not ours.
# The sanitizer runtime is preloaded into Node only (the test files drop LD_PRELOAD for the processes they start).
rm -rf "$out/lsan" && mkdir -p "$out/lsan"
status=0
LD_PRELOAD="$libasan" \
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:log_path=$out/lsan/asan" \
  LSAN_OPTIONS="exitcode=0:report_objects=0" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  node --import tsx --test --test-concurrency=1 test/tensorrt-double/*.contract.ts || status=$?
# The same addon against NVIDIA's real libraries of this major (test/tensorrt/real-libs.test.ts; it skips, or fails
# with MSB_REQUIRE_TENSORRT=1, when .ci/python-deps has not installed them). Each case sets the libraries it uses.
LD_PRELOAD="$libasan" \
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:log_path=$out/lsan/asan" \
  LSAN_OPTIONS="exitcode=0:report_objects=0" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  node --import tsx --test --test-concurrency=1 test/tensorrt/real-libs.test.ts || status=$?

# Sanitizer reports: any error is a failure; a leak counts when one of its frames is in the addon or the double.
ours="msb_native.node\|libnvinfer.so\|libnvonnxparser.so\|native/\|tensorrt-double/"
reports=$(ls "$out/lsan" 2>/dev/null | wc -l)
errors=$(grep -l "ERROR: AddressSanitizer\|runtime error:" "$out"/lsan/* 2>/dev/null || true)
leaks=$(awk -v ours="$ours" '
  /^(Direct|Indirect) leak/ { if (block != "" && hit) print block; block = $0; hit = 0; next }
  /^$/ { if (block != "" && hit) print block; block = ""; hit = 0; next }
  block != "" { block = block "\n" $0; if ($0 ~ /msb_native\.node|libnvinfer\.so|libnvonnxparser\.so|native\/|tensorrt-double\//) hit = 1 }
  END { if (block != "" && hit) print block }' "$out"/lsan/* 2>/dev/null || true)
echo "test:tensorrt-contract: sanitizer: $reports report file(s) from exiting processes;" \
  "$(printf '%s' "$errors" | grep -c . || true) with errors; leaks from the addon or the double:" \
  "$(printf '%s' "$leaks" | grep -c '^\(Direct\|Indirect\) leak' || true)"
if [ -n "$errors" ]; then
  for f in $errors; do cat "$f" >&2; done
  status=1
fi
if [ -n "$leaks" ]; then
  printf '%s\n' "$leaks" >&2
  status=1
fi
exit $status
