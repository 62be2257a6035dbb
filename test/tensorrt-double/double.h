// What the two libraries of the TensorRT double share (test code only, see docs/tensorrt-double.md). The parser
// library links against the builder library, as the real libnvonnxparser links against libnvinfer, and fills the
// network through these functions instead of TensorRT's layer API (the double models I/O tensors, not layers).
#pragma once

#include <NvInfer.h>

#include <cstdint>
#include <string>
#include <vector>

namespace msbdouble {

struct Tensor {
  std::string name;
  nvinfer1::DataType type = nvinfer1::DataType::kFLOAT;
  std::vector<int64_t> dims;  // -1: dynamic
};

// What the ONNX parser found: the network the builder "builds".
struct Model {
  std::string graphName;
  std::vector<Tensor> inputs, outputs;
  int nodes = 0;
};

// Aborts with the contract and where TensorRT documents it. Never returns.
[[noreturn]] void violated(const std::string& what, const char* source) noexcept;
[[noreturn]] void unimplemented(const char* what) noexcept;

// Reads an environment knob of the double (MSB_DOUBLE_*); empty when unset.
std::string knob(const char* name);

}  // namespace msbdouble

// Exported by libnvinfer (double) for libnvonnxparser (double).
extern "C" {
// Registers a parser on a live network of the double; aborts (contract) when `network` is not one.
void msbDoubleAttachParser(void* network, const void* parser);
void msbDoubleDetachParser(void* network, const void* parser);
// Defines the network's I/O from the parsed model.
void msbDoubleDefineNetwork(void* network, const msbdouble::Model* model);
}
