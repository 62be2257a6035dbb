#include "cuda_driver.h"

#include <cstdio>
#include <mutex>

#include "dynlib.h"

namespace msb {
namespace {

// The driver API's C signatures, declared here so that no CUDA header is needed to build the addon.
using CUresult = int;
using CUdevice = int;
struct CUuuid {
  unsigned char bytes[16];
};
constexpr CUresult kCudaSuccess = 0;
constexpr int kAttrComputeCapabilityMajor = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kAttrComputeCapabilityMinor = 76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

struct Driver {
  DynLib lib;
  std::string loadError;
  CUresult (*cuInit)(unsigned int) = nullptr;
  CUresult (*cuDriverGetVersion)(int*) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice) = nullptr;
  CUresult (*cuDeviceTotalMem)(size_t*, CUdevice) = nullptr;
  CUresult (*cuDeviceGetUuid)(CUuuid*, CUdevice) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char**) = nullptr;
  CUresult initResult = kCudaSuccess;
};

Driver& driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    d.lib = DynLib::openFirst({envOr("MSB_LIBCUDA", "libcuda.so.1")}, &d.loadError);
    if (!d.lib) return;
    d.cuInit = d.lib.symbol<decltype(d.cuInit)>("cuInit");
    d.cuDriverGetVersion = d.lib.symbol<decltype(d.cuDriverGetVersion)>("cuDriverGetVersion");
    d.cuDeviceGetCount = d.lib.symbol<decltype(d.cuDeviceGetCount)>("cuDeviceGetCount");
    d.cuDeviceGet = d.lib.symbol<decltype(d.cuDeviceGet)>("cuDeviceGet");
    d.cuDeviceGetName = d.lib.symbol<decltype(d.cuDeviceGetName)>("cuDeviceGetName");
    d.cuDeviceGetAttribute = d.lib.symbol<decltype(d.cuDeviceGetAttribute)>("cuDeviceGetAttribute");
    // cuda.h maps these names to their _v2 entry points; older drivers only have the first version.
    d.cuDeviceTotalMem = d.lib.symbol<decltype(d.cuDeviceTotalMem)>("cuDeviceTotalMem_v2");
    d.cuDeviceGetUuid = d.lib.symbol<decltype(d.cuDeviceGetUuid)>("cuDeviceGetUuid_v2");
    if (d.cuDeviceGetUuid == nullptr) d.cuDeviceGetUuid = d.lib.symbol<decltype(d.cuDeviceGetUuid)>("cuDeviceGetUuid");
    d.cuGetErrorName = d.lib.symbol<decltype(d.cuGetErrorName)>("cuGetErrorName");
    if (d.cuInit == nullptr || d.cuDeviceGetCount == nullptr || d.cuDeviceGet == nullptr ||
        d.cuDeviceGetName == nullptr || d.cuDeviceGetAttribute == nullptr || d.cuDeviceTotalMem == nullptr ||
        d.cuDeviceGetUuid == nullptr) {
      d.loadError = d.lib.name() + " lacks a driver API entry point msb needs (cuInit, cuDeviceGet*, cuDeviceTotalMem_v2)";
      d.lib = DynLib();
      return;
    }
    d.initResult = d.cuInit(0);
  });
  return d;
}

std::string describe(const Driver& d, const char* call, CUresult result) {
  const char* name = nullptr;
  if (d.cuGetErrorName == nullptr || d.cuGetErrorName(result, &name) != kCudaSuccess || name == nullptr) {
    name = "unknown error";
  }
  return std::string(call) + " failed: " + name + " (" + std::to_string(result) + ")";
}

std::string formatUuid(const CUuuid& uuid) {
  char text[48];
  const unsigned char* b = uuid.bytes;
  std::snprintf(text, sizeof text, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return text;
}

}  // namespace

CudaDevices queryCudaDevices() {
  CudaDevices out;
  Driver& d = driver();
  if (!d.lib) {
    out.reason = "no CUDA driver: " + d.loadError;
    return out;
  }
  out.driverLibrary = d.lib.name();
  if (d.cuDriverGetVersion != nullptr) d.cuDriverGetVersion(&out.driverVersion);
  if (d.initResult != kCudaSuccess) {
    out.reason = describe(d, "cuInit", d.initResult);
    return out;
  }
  int count = 0;
  if (CUresult r = d.cuDeviceGetCount(&count); r != kCudaSuccess) {
    out.reason = describe(d, "cuDeviceGetCount", r);
    return out;
  }
  if (count == 0) out.reason = "the CUDA driver reports no devices";
  for (int i = 0; i < count; ++i) {
    CudaDevice dev;
    dev.index = i;
    CUdevice handle = 0;
    char name[256] = {};
    size_t memory = 0;
    CUuuid uuid = {};
    const char* call = "cuDeviceGet";
    CUresult r = d.cuDeviceGet(&handle, i);
    const auto next = [&](const char* name, auto&& query) {
      if (r != kCudaSuccess) return;
      call = name;
      r = query();
    };
    next("cuDeviceGetName", [&] { return d.cuDeviceGetName(name, static_cast<int>(sizeof name) - 1, handle); });
    next("cuDeviceGetAttribute", [&] {
      return d.cuDeviceGetAttribute(&dev.computeMajor, kAttrComputeCapabilityMajor, handle);
    });
    next("cuDeviceGetAttribute", [&] {
      return d.cuDeviceGetAttribute(&dev.computeMinor, kAttrComputeCapabilityMinor, handle);
    });
    next("cuDeviceTotalMem_v2", [&] { return d.cuDeviceTotalMem(&memory, handle); });
    next("cuDeviceGetUuid", [&] { return d.cuDeviceGetUuid(&uuid, handle); });
    if (r != kCudaSuccess) {
      out.devices.clear();
      out.reason = describe(d, call, r) + " for device " + std::to_string(i);
      return out;
    }
    dev.name = name;
    dev.totalMemory = memory;
    dev.uuid = formatUuid(uuid);
    out.devices.push_back(std::move(dev));
  }
  return out;
}

}  // namespace msb
