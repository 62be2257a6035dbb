#!/bin/sh
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan and runs the TensorRT tests
# against it (MSB_NATIVE_ADDON). Node itself is not instrumented, so libasan is preloaded to come first, and leak
# checking is off: LeakSanitizer would report Node's own allocations that live until exit.
set -eu
cd "$(dirname "$0")/.."
npx cmake-js compile --out build/asan --CDMSB_SANITIZE=ON
libasan=$(${CXX:-g++} -print-file-name=libasan.so)
export LD_PRELOAD="$libasan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export MSB_NATIVE_ADDON="$PWD/build/asan/Release/msb_native.node"
# A sanitizer build that silently lost its instrumentation would pass everything; make sure it did not.
ldd "$MSB_NATIVE_ADDON" | grep -q libasan || { echo "test:asan: $MSB_NATIVE_ADDON is not linked with libasan" >&2; exit 1; }
exec node --import tsx --test --test-concurrency=1 test/tensorrt/*.test.ts
