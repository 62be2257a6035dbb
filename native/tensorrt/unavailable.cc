// Compiled instead of the TensorRT units when CMake found no TensorRT headers: the addon still builds and loads,
// and every TensorRT entry point answers why it cannot run. It still opens libnvinfer through its C entry points
// (exports.h, no header needed) to say which TensorRT is installed, i.e. which headers to build against.
#include <mutex>

#include "tensorrt/api.h"
#include "tensorrt/exports.h"

namespace msb::trt {
namespace {

constexpr const char* kReason =
    "msb was built without TensorRT: CMake did not find the headers (" MSB_TENSORRT_MISSING
    "); set TENSORRT_ROOT and rebuild with `npm run build:native`";

const Status& headerless() {
  static Status s;
  static std::once_flag once;
  std::call_once(once, [] {
    s.code = "MSB_TENSORRT_UNAVAILABLE";
    s.reason = kReason;
    std::string error;
    // Either supported major; the library is closed again: nothing here can use it.
    const DynLib nvinfer = DynLib::openFirst(libraryCandidates("MSB_LIBNVINFER", "libnvinfer", 11), &error);
    if (!nvinfer) return;
    const NvinferExports e = readExports(nvinfer);
    if (!e.hasVersion) return;
    s.library = nvinfer.name();
    s.libraryVersion = e.version;
    s.reason += "; installed: " + s.library + " (TensorRT " + std::to_string(e.version[0]) + "." +
                std::to_string(e.version[1]) + "." + std::to_string(e.version[2]) + ")";
  });
  return s;
}

bool unavailable(Failure& failure) noexcept {
  failure.code = "MSB_TENSORRT_UNAVAILABLE";
  failure.message = kReason;
  return false;
}

}  // namespace

Status status() {
  try {
    return headerless();
  } catch (const std::exception&) {
    Status s;
    s.code = "MSB_TENSORRT_UNAVAILABLE";
    s.reason = kReason;
    return s;
  }
}

bool buildEngine(const BuildRequest&, Events&, BuildResult&, Failure& failure) noexcept { return unavailable(failure); }

bool inspectEngine(const uint8_t*, size_t, Events&, EngineInfo&, Failure& failure) noexcept {
  return unavailable(failure);
}

}  // namespace msb::trt
