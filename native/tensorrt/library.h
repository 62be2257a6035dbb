// TensorRT loaded at run time. Only the exported C factories are resolved; the C++ API is inline wrappers over
// virtual interfaces, so these units need TensorRT's headers but never link against TensorRT.
#pragma once

#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <memory>
#include <mutex>
#include <string>

#include "tensorrt/api.h"

#if NV_TENSORRT_MAJOR < 10 || NV_TENSORRT_MAJOR > 11
#error "msb supports TensorRT 10.x and 11.x headers"
#endif

// Features that appeared within 10.x (checked against the release/10.* headers).
#define MSB_TRT_AT_LEAST(major, minor) \
  (NV_TENSORRT_MAJOR > (major) || (NV_TENSORRT_MAJOR == (major) && NV_TENSORRT_MINOR >= (minor)))
#define MSB_TRT_HAS_FP4 MSB_TRT_AT_LEAST(10, 8)
#define MSB_TRT_HAS_SAME_COMPUTE_CAPABILITY MSB_TRT_AT_LEAST(10, 9)
#define MSB_TRT_HAS_E8M0 MSB_TRT_AT_LEAST(10, 12)

namespace msb::trt {

// TensorRT 10+ objects are released with delete (destroy() is gone).
template <class T>
using Ptr = std::unique_ptr<T>;

struct Library {
  void* (*createInferBuilder)(void* logger, int32_t version) = nullptr;
  void* (*createInferRuntime)(void* logger, int32_t version) = nullptr;
  void* (*createOnnxParser)(void* network, void* logger, int version) = nullptr;
};

// What a call needs: the runtime alone (reading a plan) or the builder and the ONNX parser as well.
enum class Need { kRuntime, kBuilder };

// The loaded libraries, or nullptr with `failure` filled when what `need` asks for is missing or of another major
// version.
const Library* library(Need need, Failure& failure) noexcept;

// Creating a builder or runtime needs a CUDA device. Real TensorRT (10.16, 11.1) without a usable driver logs
// "CUDA initialization failure with error: 35" and returns a pointer that is no object (0x228), so any call on it,
// delete included, crashes: the devices are checked first (MSB_TENSORRT_UNAVAILABLE, "no CUDA device: ..."), and a
// factory that logged an error is taken as failed whatever it returned (see create()).
bool requireCudaDevice(Failure& failure) noexcept;

// One logger per call: forwards every message to that call's Events and keeps warnings and errors. TensorRT may
// call it from several threads at once (ILogger must be thread-safe), hence the mutex. It must outlive every object
// created with it, so it is declared before them.
class Logger final : public nvinfer1::ILogger {
 public:
  explicit Logger(Events& events) : events_(events) {}
  void log(Severity severity, nvinfer1::AsciiChar const* message) noexcept override;
  std::vector<std::string> takeWarnings();
  std::string lastError() const;
  size_t errors() const;                    // errors (and internal errors) logged so far
  std::string errorsFrom(size_t first) const;  // those from the first-th on, joined with "; "

 private:
  Events& events_;
  mutable std::mutex mutex_;
  std::vector<std::string> warnings_;
  std::vector<std::string> errors_;
};

// Calls one of TensorRT's exported factories and takes ownership of what it made. The object counts only when the
// factory returned non-null and logged no error: after an error the pointer may be no object (see
// requireCudaDevice) and is dropped, never used or deleted.
// `why` gets the errors it logged.
template <class T, class Factory>
Ptr<T> create(Logger& logger, Factory&& factory, std::string& why) {
  const size_t before = logger.errors();
  void* raw = factory();
  if (raw != nullptr && logger.errors() == before) return Ptr<T>(static_cast<T*>(raw));
  why = logger.errors() != before ? logger.errorsFrom(before) : std::string("no reason given");
  return nullptr;
}

bool fail(Failure& failure, const char* code, std::string message) noexcept;

// Reads the I/O tensors, profiles and inspector output of a deserialized engine.
void describeEngine(const nvinfer1::ICudaEngine& engine, EngineInfo& info);

// Deserializes a plan with the given runtime; shared by inspectEngine and buildEngine (which reports the
// signature of the plan it just built).
bool readPlan(const Library& lib, const uint8_t* plan, size_t size, Logger& logger, EngineInfo& info,
              Failure& failure) noexcept;

}  // namespace msb::trt
