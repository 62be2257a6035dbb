// What a libnvinfer exports, read through its C entry points alone: no TensorRT header is needed, so the TensorRT
// units (library.cc) and the header-less build (unavailable.cc) open and describe the library the same way.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "dynlib.h"

namespace msb::trt {

struct NvinferExports {
  bool hasVersion = false;             // getInferLib{Major,Minor,Patch}Version
  std::array<int, 4> version{};        // major, minor, patch, build (build 0 when not exported)
  void* createInferBuilder = nullptr;  // absent in the lean runtime (libnvinfer_lean), present in libnvinfer
  void* createInferRuntime = nullptr;
};

NvinferExports readExports(const DynLib& nvinfer);

// The names tried for a TensorRT library `base` ("libnvinfer"): the value of `variable` when set, else
// base.so.<preferred major> and then the other supported major (11, 10), so that a mismatch is reported as such.
std::vector<std::string> libraryCandidates(const char* variable, const char* base, int preferredMajor);

}  // namespace msb::trt
