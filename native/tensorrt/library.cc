#include "tensorrt/library.h"

#include <mutex>

#include "cuda_driver.h"
#include "dynlib.h"
#include "tensorrt/exports.h"

namespace msb::trt {
namespace {

struct Loaded {
  Status status;
  Library api;
  DynLib nvinfer;
  DynLib parser;
};

std::string versionText(const std::array<int, 4>& v) {
  return std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
}

void load(Loaded& l) {
  Status& s = l.status;
  s.compiled = true;
  s.compiledVersion = {NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR, NV_TENSORRT_PATCH};
  s.precisionFlags = NV_TENSORRT_MAJOR == 10;
  s.sameComputeCapability = MSB_TRT_HAS_SAME_COMPUTE_CAPABILITY;
  s.code = "MSB_TENSORRT_UNAVAILABLE";
  std::string error;
  l.nvinfer = DynLib::openFirst(libraryCandidates("MSB_LIBNVINFER", "libnvinfer", NV_TENSORRT_MAJOR), &error);
  if (!l.nvinfer) {
    s.reason = "TensorRT library not found: " + error;
    return;
  }
  s.library = l.nvinfer.name();
  const NvinferExports exports = readExports(l.nvinfer);
  if (!exports.hasVersion || exports.createInferRuntime == nullptr) {
    s.reason = s.library + " lacks TensorRT's exported entry points (getInferLibMajorVersion, createInfer*_INTERNAL)";
    return;
  }
  s.libraryVersion = exports.version;
  if (s.libraryVersion[0] != NV_TENSORRT_MAJOR) {
    s.code = "MSB_TENSORRT_VERSION_MISMATCH";
    s.reason = s.library + " is TensorRT " + std::to_string(s.libraryVersion[0]) + "." +
               std::to_string(s.libraryVersion[1]) + " but msb was compiled against TensorRT " +
               std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) +
               " headers; rebuild with `npm run build:native` against the installed headers";
    return;
  }
  l.api.createInferRuntime = reinterpret_cast<decltype(l.api.createInferRuntime)>(exports.createInferRuntime);
  s.runtime = true;
  if (exports.createInferBuilder == nullptr) {
    // TensorRT's lean runtime (libnvinfer_lean.so.<major>): plans can be read, nothing can be built.
    s.reason = s.library + " (TensorRT " + versionText(s.libraryVersion) +
               ") is a runtime without the builder (no createInferBuilder_INTERNAL, as in TensorRT's lean runtime): "
               "plans can be read, building needs the full libnvinfer.so." + std::to_string(NV_TENSORRT_MAJOR);
    return;
  }
  l.api.createInferBuilder = reinterpret_cast<decltype(l.api.createInferBuilder)>(exports.createInferBuilder);
  error.clear();
  l.parser =
      DynLib::openFirst(libraryCandidates("MSB_LIBNVONNXPARSER", "libnvonnxparser", NV_TENSORRT_MAJOR), &error);
  if (!l.parser) {
    s.reason = "TensorRT ONNX parser library not found: " + error;
    return;
  }
  s.parserLibrary = l.parser.name();
  const auto parserVersion = l.parser.symbol<int (*)()>("getNvOnnxParserVersion");
  l.api.createOnnxParser = l.parser.symbol<decltype(l.api.createOnnxParser)>("createNvOnnxParser_INTERNAL");
  if (parserVersion == nullptr || l.api.createOnnxParser == nullptr) {
    s.reason = s.parserLibrary + " lacks createNvOnnxParser_INTERNAL / getNvOnnxParserVersion";
    return;
  }
  s.parserVersion = parserVersion();
  if (s.parserVersion / 10000 != NV_ONNX_PARSER_MAJOR) {
    s.code = "MSB_TENSORRT_VERSION_MISMATCH";
    s.reason = s.parserLibrary + " is ONNX parser " + std::to_string(s.parserVersion) + ", compiled against " +
               std::to_string(NV_ONNX_PARSER_VERSION);
    return;
  }
  s.code.clear();
  s.reason.clear();
  s.available = true;
}

Loaded& loaded() {
  static Loaded l;
  static std::once_flag once;
  std::call_once(once, [] { load(l); });
  return l;
}

}  // namespace

Status status() { return loaded().status; }

const Library* library(Need need, Failure& failure) noexcept {
  try {
    Loaded& l = loaded();
    if (l.status.available || (need == Need::kRuntime && l.status.runtime)) return &l.api;
    fail(failure, l.status.code.c_str(), l.status.reason);
  } catch (const std::exception& e) {
    fail(failure, "MSB_TENSORRT_UNAVAILABLE", e.what());
  }
  return nullptr;
}

bool requireCudaDevice(Failure& failure) noexcept {
  try {
    const CudaDevices cuda = queryCudaDevices();
    if (!cuda.devices.empty()) return true;
    return fail(failure, "MSB_TENSORRT_UNAVAILABLE",
                "no CUDA device: " + (cuda.reason.empty() ? std::string("none found") : cuda.reason) +
                    " (TensorRT needs one to create a builder or a runtime)");
  } catch (const std::exception& e) {
    return fail(failure, "MSB_TENSORRT_UNAVAILABLE", std::string("no CUDA device: ") + e.what());
  }
}

bool fail(Failure& failure, const char* code, std::string message) noexcept {
  failure.code = code;
  failure.message = std::move(message);
  return false;
}

void Logger::log(Severity severity, nvinfer1::AsciiChar const* message) noexcept {
  const char* text = message != nullptr ? message : "";
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    if (severity == Severity::kWARNING) warnings_.emplace_back(text);
    if (severity == Severity::kERROR || severity == Severity::kINTERNAL_ERROR) errors_.emplace_back(text);
  } catch (...) {
    // Out of memory while keeping a message: the message still reaches JS below.
  }
  events_.log(static_cast<int>(severity), text);
}

std::vector<std::string> Logger::takeWarnings() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::move(warnings_);
}

size_t Logger::errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return errors_.size();
}

std::string Logger::errorsFrom(size_t first) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (size_t i = first; i < errors_.size(); ++i) out += (out.empty() ? "" : "; ") + errors_[i];
  return out;
}

std::string Logger::lastError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return errors_.empty() ? std::string("no reason given") : errors_.back();
}

}  // namespace msb::trt
