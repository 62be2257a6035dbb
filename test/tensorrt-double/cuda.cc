// libcuda.so.1 of the TensorRT double: TEST CODE ONLY (see docs/tensorrt-double.md). The driver API calls the addon
// makes to list GPUs (native/cuda_driver.cc), answering for one device whose compute capability is
// MSB_DOUBLE_GPU_CC (default 8.6), so that a conversion worker's identity comes from the addon, as on a GPU node.
// The C signatures are the driver API's (cuda.h): int results (CUDA_SUCCESS = 0), CUdevice an int.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {
int ccPart(int which) {
  const char* cc = std::getenv("MSB_DOUBLE_GPU_CC");
  int major = 8, minor = 6;
  if (cc != nullptr) std::sscanf(cc, "%d.%d", &major, &minor);
  return which == 0 ? major : minor;
}
bool initialized = false;
constexpr int kNotInitialized = 3;  // CUDA_ERROR_NOT_INITIALIZED
constexpr int kInvalidValue = 1;    // CUDA_ERROR_INVALID_VALUE
constexpr int kInvalidDevice = 101;  // CUDA_ERROR_INVALID_DEVICE
}  // namespace

extern "C" {
__attribute__((visibility("default"))) int cuInit(unsigned int flags) {
  if (flags != 0) return kInvalidValue;  // "Flags ... must be 0"
  initialized = true;
  return 0;
}
__attribute__((visibility("default"))) int cuDriverGetVersion(int* version) {
  if (version == nullptr) return kInvalidValue;
  *version = 13000;
  return 0;
}
__attribute__((visibility("default"))) int cuDeviceGetCount(int* count) {
  if (!initialized) return kNotInitialized;
  *count = 1;
  return 0;
}
__attribute__((visibility("default"))) int cuDeviceGet(int* device, int ordinal) {
  if (!initialized) return kNotInitialized;
  if (ordinal != 0) return kInvalidDevice;
  *device = 0;
  return 0;
}
__attribute__((visibility("default"))) int cuDeviceGetName(char* name, int len, int device) {
  if (device != 0) return kInvalidDevice;
  if (name == nullptr || len <= 0) return kInvalidValue;
  std::snprintf(name, static_cast<size_t>(len), "%s", "msb TensorRT double GPU");
  return 0;
}
__attribute__((visibility("default"))) int cuDeviceGetAttribute(int* value, int attribute, int device) {
  if (device != 0) return kInvalidDevice;
  if (attribute == 75) *value = ccPart(0);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
  else if (attribute == 76) *value = ccPart(1);  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
  else return kInvalidValue;
  return 0;
}
__attribute__((visibility("default"))) int cuDeviceTotalMem_v2(size_t* bytes, int device) {
  if (device != 0) return kInvalidDevice;
  *bytes = size_t{24} << 30;
  return 0;
}
__attribute__((visibility("default"))) int cuDeviceGetUuid_v2(unsigned char* uuid, int device) {
  if (device != 0) return kInvalidDevice;
  for (int i = 0; i < 16; ++i) uuid[i] = static_cast<unsigned char>(0xd0 + i);
  return 0;
}
__attribute__((visibility("default"))) int cuGetErrorName(int error, const char** name) {
  switch (error) {
    case 0: *name = "CUDA_SUCCESS"; return 0;
    case kInvalidValue: *name = "CUDA_ERROR_INVALID_VALUE"; return 0;
    case kNotInitialized: *name = "CUDA_ERROR_NOT_INITIALIZED"; return 0;
    case kInvalidDevice: *name = "CUDA_ERROR_INVALID_DEVICE"; return 0;
    default: return kInvalidValue;
  }
}
}
