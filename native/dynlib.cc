#include "dynlib.h"

#include <dlfcn.h>

#include <cstdlib>

namespace msb {

DynLib& DynLib::operator=(DynLib&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

DynLib::~DynLib() {
  if (handle_ != nullptr) dlclose(handle_);
}

DynLib DynLib::openFirst(const std::vector<std::string>& names, std::string* error) {
  DynLib lib;
  for (const auto& name : names) {
    // RTLD_LOCAL: TensorRT and CUDA symbols stay out of the global namespace of the Node process.
    if (void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      lib.handle_ = handle;
      lib.name_ = name;
      return lib;
    }
    if (error != nullptr) {
      const char* why = dlerror();
      if (!error->empty()) *error += "; ";
      *error += why != nullptr ? why : name + ": cannot be opened";
    }
  }
  return lib;
}

void* DynLib::rawSymbol(const char* symbolName) const {
  return handle_ != nullptr ? dlsym(handle_, symbolName) : nullptr;
}

std::string envOr(const char* variable, const std::string& fallback) {
  const char* value = std::getenv(variable);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace msb
