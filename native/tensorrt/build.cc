#include <exception>

#include "tensorrt/library.h"

namespace msb::trt {
namespace {

using nvinfer1::BuilderFlag;
using nvinfer1::MemoryPoolType;

// Progress from TensorRT's building thread; returning false from stepComplete is how TensorRT cancels a build.
class ProgressMonitor final : public nvinfer1::IProgressMonitor {
 public:
  explicit ProgressMonitor(Events& events) : events_(events) {}
  void phaseStart(char const* phase, char const* parent, int32_t steps) noexcept override {
    events_.phaseStart(phase, parent, steps);
  }
  bool stepComplete(char const* phase, int32_t step) noexcept override {
    events_.step(phase, step);
    return !events_.cancelled();
  }
  void phaseFinish(char const* phase) noexcept override { events_.phaseFinish(phase); }

 private:
  Events& events_;
};

nvinfer1::Dims toDims(const std::vector<int64_t>& values) {
  nvinfer1::Dims dims{};
  dims.nbDims = static_cast<int32_t>(values.size());
  for (size_t i = 0; i < values.size() && i < static_cast<size_t>(nvinfer1::Dims::MAX_DIMS); ++i) dims.d[i] = values[i];
  return dims;
}

bool memoryPool(const std::string& name, MemoryPoolType& pool) {
  static const std::pair<const char*, MemoryPoolType> kPools[] = {
      {"workspace", MemoryPoolType::kWORKSPACE},
      {"dlaManagedSram", MemoryPoolType::kDLA_MANAGED_SRAM},
      {"dlaLocalDram", MemoryPoolType::kDLA_LOCAL_DRAM},
      {"dlaGlobalDram", MemoryPoolType::kDLA_GLOBAL_DRAM},
      {"tacticDram", MemoryPoolType::kTACTIC_DRAM},
      {"tacticSharedMemory", MemoryPoolType::kTACTIC_SHARED_MEMORY},
  };
  for (const auto& [poolName, value] : kPools) {
    if (name == poolName) {
      pool = value;
      return true;
    }
  }
  return false;
}

// TensorRT 10 builds weakly typed networks with precision flags, or strongly typed ones (types from the model)
// when no precision is asked for. TensorRT 11 removed the flags: networks are always strongly typed.
bool applyPrecision(const BuildRequest& request, nvinfer1::IBuilderConfig& config, Failure& failure) {
#if NV_TENSORRT_MAJOR == 10
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  for (const auto& precision : request.precision) {
    if (precision == "fp16") {
      config.setFlag(BuilderFlag::kFP16);
    } else if (precision == "bf16") {
      config.setFlag(BuilderFlag::kBF16);
    } else if (precision == "int8") {
      config.setFlag(BuilderFlag::kINT8);
    } else if (precision == "fp8") {
      config.setFlag(BuilderFlag::kFP8);
    } else {
      return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT", "unknown precision '" + precision + "'");
    }
  }
#pragma GCC diagnostic pop
  return true;
#else
  (void)config;
  if (!request.precision.empty()) {
    return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT",
                "precision flags do not exist in TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                    ": networks are strongly typed, so precision comes from the ONNX model's types and Q/DQ nodes");
  }
  return true;
#endif
}

uint32_t networkFlags(const BuildRequest& request) {
#if NV_TENSORRT_MAJOR == 10
  using nvinfer1::NetworkDefinitionCreationFlag;
  return request.precision.empty() ? 1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kSTRONGLY_TYPED) : 0U;
#else
  (void)request;
  return 0U;
#endif
}

bool configure(const BuildRequest& request, nvinfer1::IBuilder& builder, nvinfer1::INetworkDefinition& network,
               nvinfer1::IBuilderConfig& config, Failure& failure) {
  using nvinfer1::OptProfileSelector;
  for (size_t p = 0; p < request.profiles.size(); ++p) {
    nvinfer1::IOptimizationProfile* profile = builder.createOptimizationProfile();  // owned by the builder
    if (profile == nullptr) return fail(failure, "MSB_TENSORRT_BUILD_FAILED", "createOptimizationProfile failed");
    for (const ProfileShape& shape : request.profiles[p]) {
      const char* name = shape.input.c_str();
      if (!profile->setDimensions(name, OptProfileSelector::kMIN, toDims(shape.min)) ||
          !profile->setDimensions(name, OptProfileSelector::kOPT, toDims(shape.opt)) ||
          !profile->setDimensions(name, OptProfileSelector::kMAX, toDims(shape.max))) {
        return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT",
                    "TensorRT rejected the shapes of input '" + shape.input + "' in profile " + std::to_string(p));
      }
    }
    if (config.addOptimizationProfile(profile) < 0) {
      return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT",
                  "TensorRT rejected profile " + std::to_string(p) + " (every dynamic input of '" +
                      std::string(network.getName()) + "' needs shapes in every profile)");
    }
  }
  for (const auto& [name, bytes] : request.memoryPools) {
    MemoryPoolType pool{};
    if (!memoryPool(name, pool)) {
      return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT", "unknown memory pool '" + name + "'");
    }
    config.setMemoryPoolLimit(pool, static_cast<size_t>(bytes));
  }
  if (!applyPrecision(request, config, failure)) return false;
  if (request.versionCompatible) config.setFlag(BuilderFlag::kVERSION_COMPATIBLE);
  using nvinfer1::HardwareCompatibilityLevel;
  if (request.hardwareCompatibility == "ampere+") {
    config.setHardwareCompatibilityLevel(HardwareCompatibilityLevel::kAMPERE_PLUS);
  } else if (request.hardwareCompatibility == "same-compute-capability") {
#if MSB_TRT_HAS_SAME_COMPUTE_CAPABILITY
    config.setHardwareCompatibilityLevel(HardwareCompatibilityLevel::kSAME_COMPUTE_CAPABILITY);
#else
    return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT",
                "hardwareCompatibility 'same-compute-capability' needs TensorRT 10.9 or later");
#endif
  }
  if (request.optimizationLevel >= 0) config.setBuilderOptimizationLevel(request.optimizationLevel);
  if (request.maxAuxStreams >= 0) config.setMaxAuxStreams(request.maxAuxStreams);
  return true;
}

bool parseErrors(const nvonnxparser::IParser& parser, Failure& failure) {
  for (int32_t i = 0; i < parser.getNbErrors(); ++i) {
    const nvonnxparser::IParserError* e = parser.getError(i);
    if (e == nullptr) continue;
    ParserError pe;
    pe.node = e->node();
    pe.nodeName = e->nodeName() != nullptr ? e->nodeName() : "";
    pe.op = e->nodeOperator() != nullptr ? e->nodeOperator() : "";
    pe.description = e->desc() != nullptr ? e->desc() : "";
    pe.file = e->file() != nullptr ? e->file() : "";
    pe.function = e->func() != nullptr ? e->func() : "";
    pe.line = e->line();
    pe.code = static_cast<int>(e->code());
    failure.parserErrors.push_back(std::move(pe));
  }
  std::string message = "TensorRT's ONNX parser failed";
  if (!failure.parserErrors.empty()) {
    const ParserError& first = failure.parserErrors.front();
    message += " at node " + std::to_string(first.node) + " '" + first.nodeName + "' (" + first.op +
               "): " + first.description;
    if (failure.parserErrors.size() > 1) {
      message += " (and " + std::to_string(failure.parserErrors.size() - 1) + " more)";
    }
  }
  return fail(failure, "MSB_TENSORRT_ONNX_PARSE", message);
}

}  // namespace

bool buildEngine(const BuildRequest& request, Events& events, BuildResult& result, Failure& failure) noexcept {
  const Library* lib = library(Need::kBuilder, failure);
  if (lib == nullptr) return false;
  if (!requireCudaDevice(failure)) return false;
  try {
    Logger logger(events);
    // Objects TensorRT uses but does not own must outlive every TensorRT object that uses them, so they are declared
    // before the builder: "The lifetime of the IProgressMonitor must exceed the lifetime of all TensorRT objects that
    // use it" and "The lifetime of the ITimingCache must exceed the lifetime of all builders that use it" (NvInfer.h).
    ProgressMonitor monitor(events);
    Ptr<nvinfer1::ITimingCache> cache;
    // The rest in creation order so that they are deleted in reverse: parser before network before builder.
    std::string why;
    Ptr<nvinfer1::IBuilder> builder = create<nvinfer1::IBuilder>(
        logger, [&] { return lib->createInferBuilder(&logger, NV_TENSORRT_VERSION); }, why);
    if (!builder) return fail(failure, "MSB_TENSORRT_UNAVAILABLE", "createInferBuilder failed: " + why);
    Ptr<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(networkFlags(request)));
    if (!network) return fail(failure, "MSB_TENSORRT_BUILD_FAILED", "createNetworkV2 failed: " + logger.lastError());
    Ptr<nvonnxparser::IParser> parser = create<nvonnxparser::IParser>(
        logger, [&] { return lib->createOnnxParser(network.get(), &logger, NV_ONNX_PARSER_VERSION); }, why);
    if (!parser) return fail(failure, "MSB_TENSORRT_BUILD_FAILED", "createNvOnnxParser failed: " + why);
    const int verbosity = static_cast<int>(nvinfer1::ILogger::Severity::kWARNING);
    const bool parsed = request.onnxPath.empty()
                            ? parser->parse(request.onnxBytes.data(), request.onnxBytes.size())
                            : parser->parseFromFile(request.onnxPath.c_str(), verbosity);
    if (!parsed) return parseErrors(*parser, failure);
    if (events.cancelled()) return fail(failure, "MSB_TENSORRT_CANCELLED", "the build was cancelled");

    Ptr<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
    if (!config) return fail(failure, "MSB_TENSORRT_BUILD_FAILED", "createBuilderConfig failed: " + logger.lastError());
    if (!configure(request, *builder, *network, *config, failure)) return false;
    // Always build with a timing cache (empty unless given) so that the caller gets the updated one back.
    cache.reset(config->createTimingCache(request.hasTimingCache ? request.timingCache.data() : nullptr,
                                          request.hasTimingCache ? request.timingCache.size() : 0));
    if (!cache || !config->setTimingCache(*cache, false)) {
      return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT", "TensorRT rejected the timing cache: " + logger.lastError());
    }
    config->setProgressMonitor(&monitor);

    Ptr<nvinfer1::IHostMemory> plan(builder->buildSerializedNetwork(*network, *config));
    if (events.cancelled()) return fail(failure, "MSB_TENSORRT_CANCELLED", "the build was cancelled");
    if (!plan) {
      return fail(failure, "MSB_TENSORRT_BUILD_FAILED",
                  "buildSerializedNetwork failed: " + logger.lastError());
    }
    const auto* bytes = static_cast<const uint8_t*>(plan->data());
    result.plan.assign(bytes, bytes + plan->size());
    if (const nvinfer1::ITimingCache* used = config->getTimingCache()) {
      Ptr<nvinfer1::IHostMemory> serialized(used->serialize());
      if (serialized) {
        const auto* data = static_cast<const uint8_t*>(serialized->data());
        result.timingCache.assign(data, data + serialized->size());
      }
    }
    if (!readPlan(*lib, result.plan.data(), result.plan.size(), logger, result.engine, failure)) return false;
    result.warnings = logger.takeWarnings();
    return true;
  } catch (const std::exception& e) {
    return fail(failure, "MSB_TENSORRT_BUILD_FAILED", e.what());
  }
}

}  // namespace msb::trt
