#include "tensorrt/exports.h"

namespace msb::trt {

NvinferExports readExports(const DynLib& nvinfer) {
  NvinferExports e;
  using VersionFn = int (*)();
  const auto major = nvinfer.symbol<VersionFn>("getInferLibMajorVersion");
  const auto minor = nvinfer.symbol<VersionFn>("getInferLibMinorVersion");
  const auto patch = nvinfer.symbol<VersionFn>("getInferLibPatchVersion");
  const auto build = nvinfer.symbol<VersionFn>("getInferLibBuildVersion");
  if (major != nullptr && minor != nullptr && patch != nullptr) {
    e.hasVersion = true;
    e.version = {major(), minor(), patch(), build != nullptr ? build() : 0};
  }
  e.createInferBuilder = nvinfer.symbol<void*>("createInferBuilder_INTERNAL");
  e.createInferRuntime = nvinfer.symbol<void*>("createInferRuntime_INTERNAL");
  return e;
}

std::vector<std::string> libraryCandidates(const char* variable, const char* base, int preferredMajor) {
  const std::string override = envOr(variable, "");
  if (!override.empty()) return {override};
  std::vector<std::string> names{std::string(base) + ".so." + std::to_string(preferredMajor)};
  for (int major : {11, 10}) {
    if (major != preferredMajor) names.push_back(std::string(base) + ".so." + std::to_string(major));
  }
  return names;
}

}  // namespace msb::trt
