// CUDA device queries through the driver API, loaded at run time from libcuda.so.1 so that a machine without a GPU
// driver reports no devices (with the reason) instead of failing to load the addon.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace msb {

struct CudaDevice {
  int index = 0;
  std::string name;
  int computeMajor = 0;
  int computeMinor = 0;
  uint64_t totalMemory = 0;
  std::string uuid;  // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi prints it
};

struct CudaDevices {
  std::vector<CudaDevice> devices;
  std::string driverLibrary;  // the library that was opened, empty when none
  int driverVersion = 0;      // cuDriverGetVersion, e.g. 13000
  std::string reason;         // why the list is empty (no driver, cuInit failed, zero devices)
};

// Safe to call repeatedly and from any thread: the driver library is opened once (std::call_once) and stays loaded,
// and the driver API is thread-safe (the TensorRT units call this from their pool threads before creating a builder
// or runtime).
CudaDevices queryCudaDevices();

}  // namespace msb
