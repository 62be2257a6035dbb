// The boundary between the Node-API glue (addon.cc) and the TensorRT translation units. Plain data only: no TensorRT
// or Node type crosses it, so this header compiles with or without TensorRT and the glue never changes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace msb::trt {

struct Status {
  bool compiled = false;     // the TensorRT units were built (headers found at build time)
  bool available = false;    // the libraries loaded and match the compiled major version: builds and inspections
  bool runtime = false;      // libnvinfer's runtime loaded and matches: plans can be read (also without the builder,
                             // e.g. TensorRT's lean runtime libnvinfer_lean.so.<major>)
  std::string code;          // when unavailable: MSB_TENSORRT_UNAVAILABLE or MSB_TENSORRT_VERSION_MISMATCH
  std::string reason;        // when unavailable: why, in words
  std::array<int, 3> compiledVersion{};  // NV_TENSORRT_MAJOR/MINOR/PATCH of the headers
  std::array<int, 4> libraryVersion{};   // major, minor, patch, build reported by the loaded libnvinfer
  int parserVersion = 0;                 // getNvOnnxParserVersion()
  std::string library;                   // paths (as given to dlopen) of the loaded libraries
  std::string parserLibrary;
  bool precisionFlags = false;           // BuilderFlag has kFP16/kBF16/kINT8/kFP8 (TensorRT 10)
  bool sameComputeCapability = false;    // HardwareCompatibilityLevel::kSAME_COMPUTE_CAPABILITY (10.9+)
};

// Loads the libraries on first use; later calls return the same answer.
Status status();

struct ProfileShape {
  std::string input;
  std::vector<int64_t> min, opt, max;
};

// One flat request per build, validated by the TypeScript layer before it gets here.
struct BuildRequest {
  std::string onnxPath;            // either a path (parsed with external data beside it) ...
  std::vector<uint8_t> onnxBytes;  // ... or the model bytes
  std::vector<std::vector<ProfileShape>> profiles;
  std::vector<std::string> precision;  // 'fp16' | 'bf16' | 'int8' | 'fp8'; TensorRT 10 only
  std::vector<std::pair<std::string, uint64_t>> memoryPools;  // pool name -> bytes
  bool hasTimingCache = false;
  std::vector<uint8_t> timingCache;
  bool versionCompatible = false;
  std::string hardwareCompatibility = "none";  // 'none' | 'ampere+' | 'same-compute-capability'
  int optimizationLevel = -1;                  // -1: TensorRT's default
  int maxAuxStreams = -1;
};

struct ParserError {
  int node = -1;
  std::string nodeName, op, description, file, function;
  int line = 0;
  int code = 0;
};

struct Failure {
  std::string code;  // MSB_TENSORRT_*
  std::string message;
  std::vector<ParserError> parserErrors;
};

struct TensorProfile {
  std::vector<int64_t> min, opt, max;
};

struct TensorInfo {
  std::string name;
  bool input = false;
  std::string dataType;  // TensorRT's enumerator name, e.g. "kFLOAT"
  std::vector<int64_t> shape;
  bool shapeTensor = false;
  std::string format;
  std::vector<TensorProfile> profiles;  // inputs only, one per optimization profile
};

struct EngineInfo {
  std::string tensorrtVersion;
  int profiles = 0;
  int layers = 0;
  std::vector<TensorInfo> tensors;
  std::string engineInformation;  // IEngineInspector JSON (layer details depend on the build's profiling verbosity)
};

struct BuildResult {
  std::vector<uint8_t> plan;
  std::vector<uint8_t> timingCache;
  EngineInfo engine;
  std::vector<std::string> warnings;
};

// Callbacks from the building thread. log() receives TensorRT's severity (0 internal error .. 4 verbose).
class Events {
 public:
  virtual ~Events() = default;
  virtual void log(int severity, const char* message) noexcept = 0;
  virtual void phaseStart(const char* phase, const char* parent, int steps) noexcept = 0;
  virtual void step(const char* phase, int step) noexcept = 0;
  virtual void phaseFinish(const char* phase) noexcept = 0;
  virtual bool cancelled() const noexcept = 0;
};

// Both run on a worker thread, never throw, and fill `failure` when they return false.
bool buildEngine(const BuildRequest& request, Events& events, BuildResult& result, Failure& failure) noexcept;
bool inspectEngine(const uint8_t* plan, size_t size, Events& events, EngineInfo& info, Failure& failure) noexcept;

}  // namespace msb::trt
