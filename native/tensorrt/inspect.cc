#include <exception>

#include "tensorrt/library.h"

namespace msb::trt {
namespace {

using nvinfer1::DataType;

const char* dataTypeName(DataType type) {
  switch (type) {
    case DataType::kFLOAT: return "kFLOAT";
    case DataType::kHALF: return "kHALF";
    case DataType::kINT8: return "kINT8";
    case DataType::kINT32: return "kINT32";
    case DataType::kBOOL: return "kBOOL";
    case DataType::kUINT8: return "kUINT8";
    case DataType::kFP8: return "kFP8";
    case DataType::kBF16: return "kBF16";
    case DataType::kINT64: return "kINT64";
    case DataType::kINT4: return "kINT4";
#if MSB_TRT_HAS_FP4
    case DataType::kFP4: return "kFP4";
#endif
#if MSB_TRT_HAS_E8M0
    case DataType::kE8M0: return "kE8M0";
#endif
  }
  return "unknown";
}

std::vector<int64_t> toVector(const nvinfer1::Dims& dims) {
  std::vector<int64_t> out;
  for (int32_t i = 0; i < dims.nbDims && i < nvinfer1::Dims::MAX_DIMS; ++i) out.push_back(dims.d[i]);
  return out;
}

}  // namespace

void describeEngine(const nvinfer1::ICudaEngine& engine, EngineInfo& info) {
  info.profiles = engine.getNbOptimizationProfiles();
  info.layers = engine.getNbLayers();
  const int32_t count = engine.getNbIOTensors();
  for (int32_t i = 0; i < count; ++i) {
    TensorInfo t;
    const char* name = engine.getIOTensorName(i);
    t.name = name;
    t.input = engine.getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
    t.dataType = dataTypeName(engine.getTensorDataType(name));
    t.shape = toVector(engine.getTensorShape(name));
    t.shapeTensor = engine.isShapeInferenceIO(name);
    if (const char* format = engine.getTensorFormatDesc(name)) t.format = format;
    if (t.input) {
      for (int32_t p = 0; p < info.profiles; ++p) {
        using nvinfer1::OptProfileSelector;
        t.profiles.push_back({toVector(engine.getProfileShape(name, p, OptProfileSelector::kMIN)),
                              toVector(engine.getProfileShape(name, p, OptProfileSelector::kOPT)),
                              toVector(engine.getProfileShape(name, p, OptProfileSelector::kMAX))});
      }
    }
    info.tensors.push_back(std::move(t));
  }
  Ptr<nvinfer1::IEngineInspector> inspector(engine.createEngineInspector());
  if (inspector) {
    if (const char* json = inspector->getEngineInformation(nvinfer1::LayerInformationFormat::kJSON)) {
      info.engineInformation = json;
    }
  }
}

bool readPlan(const Library& lib, const uint8_t* plan, size_t size, Logger& logger, EngineInfo& info,
              Failure& failure) noexcept {
  try {
    if (!requireCudaDevice(failure)) return false;
    std::string why;
    Ptr<nvinfer1::IRuntime> runtime = create<nvinfer1::IRuntime>(
        logger, [&] { return lib.createInferRuntime(&logger, NV_TENSORRT_VERSION); }, why);
    if (!runtime) return fail(failure, "MSB_TENSORRT_UNAVAILABLE", "createInferRuntime failed: " + why);
    // Version-compatible plans embed the lean runtime as host code; msb trusts the plans it is asked to read.
    runtime->setEngineHostCodeAllowed(true);
    Ptr<nvinfer1::ICudaEngine> engine(runtime->deserializeCudaEngine(plan, size));
    if (!engine) {
      return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT",
                  "TensorRT could not deserialize the plan: " +
                      logger.lastError());
    }
    describeEngine(*engine, info);
    const auto v = status().libraryVersion;
    info.tensorrtVersion = std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
    return true;
  } catch (const std::exception& e) {
    return fail(failure, "MSB_TENSORRT_INVALID_ARGUMENT", std::string("reading the plan: ") + e.what());
  }
}

bool inspectEngine(const uint8_t* plan, size_t size, Events& events, EngineInfo& info, Failure& failure) noexcept {
  const Library* lib = library(Need::kRuntime, failure);
  if (lib == nullptr) return false;
  Logger logger(events);
  return readPlan(*lib, plan, size, logger, info, failure);
}

}  // namespace msb::trt
