// A shared library opened with dlopen, closed when the owner goes away.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace msb {

class DynLib {
 public:
  DynLib() = default;
  DynLib(const DynLib&) = delete;
  DynLib& operator=(const DynLib&) = delete;
  DynLib(DynLib&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)), name_(std::move(other.name_)) {}
  DynLib& operator=(DynLib&& other) noexcept;
  ~DynLib();

  // Tries each name in order; on failure returns an empty DynLib and appends dlerror() text for every name to error.
  static DynLib openFirst(const std::vector<std::string>& names, std::string* error);

  explicit operator bool() const { return handle_ != nullptr; }
  const std::string& name() const { return name_; }

  // Resolves a C symbol as the function pointer type F, nullptr when absent.
  template <class F>
  F symbol(const char* symbolName) const {
    return reinterpret_cast<F>(rawSymbol(symbolName));
  }

 private:
  void* rawSymbol(const char* symbolName) const;
  void* handle_ = nullptr;
  std::string name_;
};

// The value of an environment variable, or fallback when unset or empty.
std::string envOr(const char* variable, const std::string& fallback);

}  // namespace msb
