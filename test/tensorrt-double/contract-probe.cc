// Negative controls for the TensorRT double's contract assertions (test code only): each scenario breaks one
// documented TensorRT lifetime rule on purpose and must abort with "CONTRACT VIOLATED"; `ok` follows every rule and
// must exit 0. Without these, a double whose assertions never fire would pass the contract suite just as well.
// Usage: contract-probe SCENARIO MODEL.onnx
#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

using namespace nvinfer1;

namespace {

class Logger final : public ILogger {
  void log(Severity, AsciiChar const*) noexcept override {}
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: contract-probe SCENARIO MODEL.onnx\n");
    return 2;
  }
  const std::string scenario = argv[1];
  std::ifstream in(argv[2], std::ios::binary);
  const std::string model((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Logger logger;
  IBuilder* builder = createInferBuilder(logger);
  INetworkDefinition* network = builder->createNetworkV2(0);
  nvonnxparser::IParser* parser = nvonnxparser::createParser(*network, logger);
  if (!parser->parse(model.data(), model.size())) return 3;
  if (scenario == "parse-twice") parser->parse(model.data(), model.size());
  if (scenario == "network-before-parser") delete network;
  delete parser;
  IBuilderConfig* config = builder->createBuilderConfig();
  IOptimizationProfile* profile = builder->createOptimizationProfile();
  // The identity model's one input, INPUT0 [batch, 16].
  Dims dims{};
  dims.nbDims = 2;
  dims.d[0] = 1;
  dims.d[1] = 16;
  profile->setDimensions("INPUT0", OptProfileSelector::kMIN, dims);
  profile->setDimensions("INPUT0", OptProfileSelector::kOPT, dims);
  profile->setDimensions("INPUT0", OptProfileSelector::kMAX, dims);
  if (scenario == "foreign-profile") {
    IBuilder* other = createInferBuilder(logger);
    config->addOptimizationProfile(other->createOptimizationProfile());
  }
  config->addOptimizationProfile(profile);
  ITimingCache* cache = config->createTimingCache(nullptr, 0);
  config->setTimingCache(*cache, false);
  IHostMemory* plan = builder->buildSerializedNetwork(*network, *config);
  if (plan == nullptr) return 4;
  if (scenario == "cache-before-builder") delete cache;
  IRuntime* runtime = createInferRuntime(logger);
  ICudaEngine* engine = runtime->deserializeCudaEngine(plan->data(), plan->size());
  if (engine == nullptr) return 5;
  if (scenario == "runtime-before-engine") delete runtime;
  delete engine;
  delete runtime;
  if (scenario != "leak-plan") delete plan;
  delete config;
  if (scenario == "builder-before-network") delete builder;
  delete network;
  if (scenario != "builder-before-network") delete builder;
  if (scenario != "cache-before-builder") delete cache;
  std::printf("ok\n");
  return 0;
}
