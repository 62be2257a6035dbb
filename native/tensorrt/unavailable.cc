// Compiled instead of the TensorRT units when CMake found no TensorRT headers: the addon still builds and loads,
// and every TensorRT entry point answers why it cannot run.
#include "tensorrt/api.h"

namespace msb::trt {
namespace {

constexpr const char* kReason =
    "msb was built without TensorRT: CMake did not find the headers (" MSB_TENSORRT_MISSING
    "); set TENSORRT_ROOT and rebuild with `npm run build:native`";

bool unavailable(Failure& failure) noexcept {
  failure.code = "MSB_TENSORRT_UNAVAILABLE";
  failure.message = kReason;
  return false;
}

}  // namespace

Status status() {
  Status s;
  s.code = "MSB_TENSORRT_UNAVAILABLE";
  s.reason = kReason;
  return s;
}

bool buildEngine(const BuildRequest&, Events&, BuildResult&, Failure& failure) noexcept { return unavailable(failure); }

bool inspectEngine(const uint8_t*, size_t, Events&, EngineInfo&, Failure& failure) noexcept {
  return unavailable(failure);
}

}  // namespace msb::trt
