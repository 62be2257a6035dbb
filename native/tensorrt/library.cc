#include "tensorrt/library.h"

#include <mutex>

#include "dynlib.h"

namespace msb::trt {
namespace {

struct Loaded {
  Status status;
  Library api;
  DynLib nvinfer;
  DynLib parser;
};

std::vector<std::string> candidates(const char* envVariable, const char* base) {
  const std::string override = envOr(envVariable, "");
  if (!override.empty()) return {override};
  // The compiled major first; the other supported one only so that a mismatch is reported as such.
  std::vector<std::string> names{std::string(base) + ".so." + std::to_string(NV_TENSORRT_MAJOR)};
  for (int major : {11, 10}) {
    if (major != NV_TENSORRT_MAJOR) names.push_back(std::string(base) + ".so." + std::to_string(major));
  }
  return names;
}

void load(Loaded& l) {
  Status& s = l.status;
  s.compiled = true;
  s.compiledVersion = {NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR, NV_TENSORRT_PATCH};
  s.precisionFlags = NV_TENSORRT_MAJOR == 10;
  s.sameComputeCapability = MSB_TRT_HAS_SAME_COMPUTE_CAPABILITY;
  s.code = "MSB_TENSORRT_UNAVAILABLE";
  std::string error;
  l.nvinfer = DynLib::openFirst(candidates("MSB_LIBNVINFER", "libnvinfer"), &error);
  if (!l.nvinfer) {
    s.reason = "TensorRT library not found: " + error;
    return;
  }
  s.library = l.nvinfer.name();
  using VersionFn = int32_t (*)();
  const auto major = l.nvinfer.symbol<VersionFn>("getInferLibMajorVersion");
  const auto minor = l.nvinfer.symbol<VersionFn>("getInferLibMinorVersion");
  const auto patch = l.nvinfer.symbol<VersionFn>("getInferLibPatchVersion");
  const auto build = l.nvinfer.symbol<VersionFn>("getInferLibBuildVersion");
  l.api.createInferBuilder = l.nvinfer.symbol<decltype(l.api.createInferBuilder)>("createInferBuilder_INTERNAL");
  l.api.createInferRuntime = l.nvinfer.symbol<decltype(l.api.createInferRuntime)>("createInferRuntime_INTERNAL");
  if (major == nullptr || minor == nullptr || patch == nullptr || l.api.createInferBuilder == nullptr ||
      l.api.createInferRuntime == nullptr) {
    s.reason = s.library + " lacks TensorRT's exported entry points (getInferLibMajorVersion, createInfer*_INTERNAL)";
    return;
  }
  s.libraryVersion = {major(), minor(), patch(), build != nullptr ? build() : 0};
  if (s.libraryVersion[0] != NV_TENSORRT_MAJOR) {
    s.code = "MSB_TENSORRT_VERSION_MISMATCH";
    s.reason = s.library + " is TensorRT " + std::to_string(s.libraryVersion[0]) + "." +
               std::to_string(s.libraryVersion[1]) + " but msb was compiled against TensorRT " +
               std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) +
               " headers; rebuild with `npm run build:native` against the installed headers";
    return;
  }
  error.clear();
  l.parser = DynLib::openFirst(candidates("MSB_LIBNVONNXPARSER", "libnvonnxparser"), &error);
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

const Library* library(Failure& failure) noexcept {
  try {
    Loaded& l = loaded();
    if (l.status.available) return &l.api;
    fail(failure, l.status.code.c_str(), l.status.reason);
  } catch (const std::exception& e) {
    fail(failure, "MSB_TENSORRT_UNAVAILABLE", e.what());
  }
  return nullptr;
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
    if (severity == Severity::kERROR || severity == Severity::kINTERNAL_ERROR) lastError_ = text;
  } catch (...) {
    // Out of memory while keeping a message: the message still reaches JS below.
  }
  events_.log(static_cast<int>(severity), text);
}

std::vector<std::string> Logger::takeWarnings() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::move(warnings_);
}

std::string Logger::lastError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lastError_.empty() ? std::string("no reason given") : lastError_;
}

}  // namespace msb::trt
