// libnvinfer.so.<major> of the TensorRT double: TEST CODE ONLY (see docs/tensorrt-double.md). It implements the
// nvinfer1::apiv::V* interfaces the addon reaches through TensorRT's inline API classes, subclassing the headers' own
// classes so that vtables match, and exports the C entry points the addon resolves. Every other virtual method comes
// from the generated stubs and aborts with its name. It "builds" by checking and walking the optimization profiles on
// a thread of its own, and serializes a small plan of its own format. TensorRT's documented lifetime contracts are
// assertions that abort with the contract and the header comment that states it.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "double.h"
#include "stubs.h"

using namespace nvinfer1;

namespace msbdouble {

void violated(const std::string& what, const char* source) noexcept {
  std::fprintf(stderr, "\nmsb TensorRT double: CONTRACT VIOLATED: %s\n  TensorRT documents it in %s\n", what.c_str(),
               source);
  std::fflush(stderr);
  std::abort();
}

void unimplemented(const char* what) noexcept {
  std::fprintf(stderr, "\nmsb TensorRT double: %s is not implemented by the double (the addon called it)\n", what);
  std::fflush(stderr);
  std::abort();
}

std::string knob(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

namespace {

int knobInt(const char* name, int fallback) {
  const std::string v = knob(name);
  return v.empty() ? fallback : std::atoi(v.c_str());
}

// ---- registry of live objects (for the lifetime contracts) -------------------------------------------------------

enum class Kind { kBuilder, kNetwork, kConfig, kProfile, kTimingCache, kHostMemory, kRuntime, kEngine, kInspector };
const char* kindName(Kind k) {
  static const char* names[] = {"IBuilder",     "INetworkDefinition", "IBuilderConfig", "IOptimizationProfile",
                                "ITimingCache", "IHostMemory",        "IRuntime",       "ICudaEngine",
                                "IEngineInspector"};
  return names[static_cast<int>(k)];
}

struct Live {
  Kind kind;
  const void* owner;  // the builder of a network/config/profile, the runtime of an engine, the engine of an inspector
};

// Everything the contracts need to know, in one object that lives as long as the library: its destructor (at
// unload, i.e. process exit) is the last check. Plain members, not heap objects, so that LeakSanitizer (which runs
// after the library is unloaded) has nothing of ours to report.
struct Registry {
  std::mutex mutex;
  std::map<const void*, Live> live;
  std::map<const void*, std::set<const void*>> parsersOf;   // parsers attached to each network
  std::map<const void*, std::set<const void*>> cacheUsers;  // builders that built with each timing cache
  ~Registry();
};
Registry gRegistry;
std::mutex& gMutex = gRegistry.mutex;
std::map<const void*, Live>& live() { return gRegistry.live; }
std::map<const void*, std::set<const void*>>& parsersOf() { return gRegistry.parsersOf; }
std::map<const void*, std::set<const void*>>& cacheUsers() { return gRegistry.cacheUsers; }

void born(const void* p, Kind k, const void* owner = nullptr) {
  std::lock_guard<std::mutex> lock(gMutex);
  live()[p] = {k, owner};
}

bool isLive(const void* p, Kind k) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = live().find(p);
  return it != live().end() && it->second.kind == k;
}

const void* ownerOf(const void* p) {
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = live().find(p);
  return it == live().end() ? nullptr : it->second.owner;
}

int liveOwnedBy(const void* owner, Kind k) {
  std::lock_guard<std::mutex> lock(gMutex);
  return static_cast<int>(std::count_if(live().begin(), live().end(), [&](const auto& e) {
    return e.second.kind == k && e.second.owner == owner;
  }));
}

void died(const void* p) {
  std::lock_guard<std::mutex> lock(gMutex);
  live().erase(p);
}

// At unload (process exit): every object the addon created must have been released by then. IHostMemory in
// particular: "The memory allocated via the host memory object is owned by the library and will be de-allocated
// when object is destroyed" (NvInferRuntime.h, IHostMemory) — the caller must delete it.
Registry::~Registry() {
  for (const auto& [p, l] : live) {
    if (l.kind == Kind::kProfile) continue;  // owned by a builder: reported as that builder
    std::fprintf(stderr, "\nmsb TensorRT double: CONTRACT VIOLATED: %s %p was never deleted by its owner\n",
                 kindName(l.kind), p);
    std::fflush(stderr);
    std::abort();
  }
}

// ---- the API objects: a TensorRT API class whose mImpl points at our implementation of its V* interface ----------

template <class Api, class Impl>
class Object final : public Api {
 public:
  template <class... A>
  explicit Object(A&&... args) : impl(*this, std::forward<A>(args)...) {
    this->mImpl = &impl;
  }
  ~Object() noexcept override { impl.destroy(); }
  Impl impl;
};

// ---- IHostMemory -------------------------------------------------------------------------------------------------

class HostMemoryImpl final : public StubVHostMemory {
 public:
  HostMemoryImpl(IHostMemory& self, std::string bytes) : self_(self), bytes_(std::move(bytes)) {
    born(&self_, Kind::kHostMemory);
  }
  void destroy() { died(&self_); }
  void* data() const noexcept override { return const_cast<char*>(bytes_.data()); }
  std::size_t size() const noexcept override { return bytes_.size(); }
  DataType type() const noexcept override { return DataType::kUINT8; }

 private:
  IHostMemory& self_;
  std::string bytes_;
};
using HostMemory = Object<IHostMemory, HostMemoryImpl>;

// ---- the plan: 32-byte header as msb's plan reader knows TensorRT's ("ftrt", version at bytes 24..26), then text --

struct TensorInfo {
  Tensor tensor;
  bool input = false;
  std::vector<std::array<std::vector<int64_t>, 3>> profiles;  // inputs: min/opt/max per profile
};

struct Plan {
  int layers = 0;
  int profiles = 0;
  std::string buildInfo;  // JSON object: the options the build was configured with
  std::vector<TensorInfo> tensors;
};

constexpr char kMagic[] = "ftrtMSBD";  // bytes 4..7 mark the double's own format

std::string dimsText(const std::vector<int64_t>& d) {
  std::string s = std::to_string(d.size());
  for (int64_t v : d) s += " " + std::to_string(v);
  return s;
}

std::string serializePlan(const Plan& plan) {
  std::string out(32, '\0');
  std::memcpy(out.data(), kMagic, 8);
  out[8] = 1;  // the double's format version
  out[24] = static_cast<char>(NV_TENSORRT_MAJOR);
  out[25] = static_cast<char>(NV_TENSORRT_MINOR);
  out[26] = static_cast<char>(NV_TENSORRT_PATCH);
  std::ostringstream s;
  s << "layers " << plan.layers << "\nprofiles " << plan.profiles << "\nbuild " << plan.buildInfo << "\n";
  for (const TensorInfo& t : plan.tensors) {
    s << "tensor " << (t.input ? "in" : "out") << " " << static_cast<int>(t.tensor.type) << " "
      << dimsText(t.tensor.dims) << " " << t.tensor.name << "\n";
    for (const auto& p : t.profiles) s << "shapes " << dimsText(p[0]) << " " << dimsText(p[1]) << " " << dimsText(p[2]) << "\n";
  }
  return out + s.str();
}

bool readDims(std::istringstream& in, std::vector<int64_t>& d) {
  size_t n = 0;
  if (!(in >> n) || n > static_cast<size_t>(Dims::MAX_DIMS)) return false;
  d.resize(n);
  for (auto& v : d) {
    if (!(in >> v)) return false;
  }
  return true;
}

// Returns an empty string on success, else what is wrong.
std::string parsePlan(const void* blob, size_t size, Plan& plan) {
  if (blob == nullptr || size < 32) return "the blob is too small to be a plan";
  const char* bytes = static_cast<const char*>(blob);
  if (std::memcmp(bytes, kMagic, 4) != 0) return "Magic tag does not match";
  if (std::memcmp(bytes, kMagic, 8) != 0 || bytes[8] != 1) return "not a plan of the msb TensorRT double";
  if (bytes[24] != NV_TENSORRT_MAJOR || bytes[25] != NV_TENSORRT_MINOR) {
    return "the plan was built by TensorRT " + std::to_string(bytes[24]) + "." + std::to_string(bytes[25]) +
           ", this is " + std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR);
  }
  std::istringstream lines(std::string(bytes + 32, size - 32));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key == "layers") {
      in >> plan.layers;
    } else if (key == "profiles") {
      in >> plan.profiles;
    } else if (key == "build") {
      std::getline(in >> std::ws, plan.buildInfo);
    } else if (key == "tensor") {
      TensorInfo t;
      std::string mode;
      int type = 0;
      in >> mode >> type;
      t.input = mode == "in";
      t.tensor.type = static_cast<DataType>(type);
      if (!readDims(in, t.tensor.dims)) return "corrupt tensor record";
      std::getline(in >> std::ws, t.tensor.name);
      plan.tensors.push_back(std::move(t));
    } else if (key == "shapes") {
      if (plan.tensors.empty()) return "shapes before a tensor";
      std::array<std::vector<int64_t>, 3> p;
      for (auto& d : p) {
        if (!readDims(in, d)) return "corrupt shapes record";
      }
      plan.tensors.back().profiles.push_back(std::move(p));
    } else {
      return "unknown record '" + key + "'";
    }
  }
  return "";
}

// ---- ITimingCache ------------------------------------------------------------------------------------------------

class TimingCacheImpl final : public StubVTimingCache {
 public:
  TimingCacheImpl(ITimingCache& self, std::set<std::string> keys) : keys(std::move(keys)), self_(self) {
    born(&self_, Kind::kTimingCache);
  }
  void destroy() {
    std::lock_guard<std::mutex> lock(gMutex);
    for (const void* builder : cacheUsers()[&self_]) {
      if (live().count(builder) != 0) {
        violated("an ITimingCache was deleted while an IBuilder that built with it is still alive",
                 "NvInfer.h, IBuilderConfig::createTimingCache: \"The lifetime of the ITimingCache must exceed the "
                 "lifetime of all builders that use it.\"");
      }
    }
    cacheUsers().erase(&self_);
    live().erase(&self_);
  }
  IHostMemory* serialize() const noexcept override {
    std::string text = "MSBDOUBLE-TIMING-CACHE 1\n";
    std::lock_guard<std::mutex> lock(mutex);
    for (const std::string& k : keys) text += k + "\n";
    return new HostMemory(std::move(text));
  }

  mutable std::mutex mutex;
  std::set<std::string> keys;

 private:
  ITimingCache& self_;
};
using TimingCache = Object<ITimingCache, TimingCacheImpl>;

// ---- IOptimizationProfile ----------------------------------------------------------------------------------------

class ProfileImpl final : public StubVOptimizationProfile {
 public:
  ProfileImpl(IOptimizationProfile& self, const void* builder) : self_(self) { born(&self_, Kind::kProfile, builder); }
  void destroy() { died(&self_); }

  bool setDimensions(char const* name, OptProfileSelector select, Dims const& dims) noexcept override {
    if (name == nullptr || dims.nbDims < 0 || dims.nbDims > Dims::MAX_DIMS) return false;
    auto& entry = shapes[name];
    std::vector<int64_t> d(dims.d, dims.d + dims.nbDims);
    for (int64_t v : d) {
      if (v < 0) return false;
    }
    // TensorRT refuses a rank different from the other selectors already set for this input.
    for (const auto& other : entry) {
      if (!other.empty() && other.size() != d.size()) return false;
    }
    entry[static_cast<int>(select)] = d;
    return true;
  }
  Dims getDimensions(char const* name, OptProfileSelector select) const noexcept override {
    Dims out{};
    out.nbDims = -1;
    auto it = shapes.find(name != nullptr ? name : "");
    if (it == shapes.end()) return out;
    const auto& d = it->second[static_cast<int>(select)];
    out.nbDims = static_cast<int32_t>(d.size());
    std::copy(d.begin(), d.end(), out.d);
    return out;
  }
  // Every input given has all three selectors, min <= opt <= max.
  bool isValid() const noexcept override {
    for (const auto& [name, s] : shapes) {
      if (s[0].empty() || s[1].empty() || s[2].empty()) return false;
      for (size_t i = 0; i < s[0].size(); ++i) {
        if (!(s[0][i] <= s[1][i] && s[1][i] <= s[2][i])) return false;
      }
    }
    return true;
  }

  std::map<std::string, std::array<std::vector<int64_t>, 3>> shapes;

 private:
  IOptimizationProfile& self_;
};
using Profile = Object<IOptimizationProfile, ProfileImpl>;

// ---- INetworkDefinition ------------------------------------------------------------------------------------------

class NetworkImpl final : public StubVNetworkDefinition {
 public:
  NetworkImpl(INetworkDefinition& self, const void* builder, uint32_t flags) : flags(flags), self_(self) {
    born(&self_, Kind::kNetwork, builder);
  }
  void destroy() {
    {
      std::lock_guard<std::mutex> lock(gMutex);
      if (!parsersOf()[&self_].empty()) {
        violated("an INetworkDefinition was deleted while the IParser created for it is still alive",
                 "NvOnnxParser.h, createParser: \"\\param network The network definition that the parser will write "
                 "to\" (the parser keeps the network and its tensors, e.g. IParser::getLayerOutputTensor); "
                 "NVIDIA's samples delete the parser first");
      }
      parsersOf().erase(&self_);
    }
    died(&self_);
  }
  char const* getName() const noexcept override { return model.graphName.c_str(); }
  void setName(char const* name) noexcept override { model.graphName = name != nullptr ? name : ""; }
  int32_t getNbInputs() const noexcept override { return static_cast<int32_t>(model.inputs.size()); }
  int32_t getNbOutputs() const noexcept override { return static_cast<int32_t>(model.outputs.size()); }
  NetworkDefinitionCreationFlags getFlags() const noexcept override { return flags; }

  Model model{"Unnamed Network 0", {}, {}, 0};
  bool defined = false;
  uint32_t flags;

 private:
  INetworkDefinition& self_;
};
using Network = Object<INetworkDefinition, NetworkImpl>;

NetworkImpl& networkImpl(INetworkDefinition& network) { return static_cast<Network&>(network).impl; }

// ---- IBuilderConfig ----------------------------------------------------------------------------------------------

class ConfigImpl final : public StubVBuilderConfig {
 public:
  ConfigImpl(IBuilderConfig& self, const void* builder) : self_(self), builder_(builder) {
    born(&self_, Kind::kConfig, builder);
  }
  void destroy() { died(&self_); }

  int32_t addOptimizationProfile(IOptimizationProfile const* profile) noexcept override {
    if (!isLive(profile, Kind::kProfile) || ownerOf(profile) != builder_) {
      violated("IBuilderConfig::addOptimizationProfile got a profile that is not one of this config's builder",
               "NvInfer.h, IBuilder::createOptimizationProfile: \"The builder retains ownership of the created "
               "optimization profile\"");
    }
    const auto& impl = static_cast<const Profile*>(profile)->impl;
    if (!impl.isValid()) return -1;
    profiles.push_back(&impl);
    return static_cast<int32_t>(profiles.size() - 1);
  }
  int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(profiles.size()); }
  ITimingCache* createTimingCache(void const* blob, std::size_t size) const noexcept override;
  bool setTimingCache(ITimingCache const& cache, bool) noexcept override {
    if (!isLive(&cache, Kind::kTimingCache)) {
      violated("IBuilderConfig::setTimingCache got a timing cache that is not alive", "NvInfer.h, setTimingCache");
    }
    timingCache = &cache;
    return true;
  }
  ITimingCache const* getTimingCache() const noexcept override {
    if (timingCache != nullptr && !isLive(timingCache, Kind::kTimingCache)) {
      violated("IBuilderConfig::getTimingCache after the timing cache was deleted",
               "NvInfer.h, IBuilderConfig::setTimingCache: \"The cache must not be destroyed until after the engine "
               "is built.\"");
    }
    return timingCache;
  }
  void setMemoryPoolLimit(MemoryPoolType pool, std::size_t size) noexcept override { pools[pool] = size; }
  std::size_t getMemoryPoolLimit(MemoryPoolType pool) const noexcept override {
    auto it = pools.find(pool);
    return it == pools.end() ? 0 : it->second;
  }
  void setFlags(BuilderFlags f) noexcept override { flags = f; }
  BuilderFlags getFlags() const noexcept override { return flags; }
  void setFlag(BuilderFlag f) noexcept override { flags |= 1U << static_cast<uint32_t>(f); }
  void clearFlag(BuilderFlag f) noexcept override { flags &= ~(1U << static_cast<uint32_t>(f)); }
  bool getFlag(BuilderFlag f) const noexcept override { return (flags & (1U << static_cast<uint32_t>(f))) != 0; }
  void setBuilderOptimizationLevel(int32_t level) noexcept override { optimizationLevel = level; }
  int32_t getBuilderOptimizationLevel() const noexcept override { return optimizationLevel; }
  void setHardwareCompatibilityLevel(HardwareCompatibilityLevel level) noexcept override { hardware = level; }
  HardwareCompatibilityLevel getHardwareCompatibilityLevel() const noexcept override { return hardware; }
#if NV_TENSORRT_MAJOR >= 11
  bool setMaxAuxStreams(int32_t n) noexcept override {
    maxAuxStreams = n;
    return n >= 0;
  }
#else
  void setMaxAuxStreams(int32_t n) noexcept override { maxAuxStreams = n; }
#endif
  int32_t getMaxAuxStreams() const noexcept override { return maxAuxStreams; }
  void setProgressMonitor(IProgressMonitor* m) noexcept override { monitor = m; }
  IProgressMonitor* getProgressMonitor() const noexcept override { return monitor; }

  std::vector<const ProfileImpl*> profiles;
  ITimingCache const* timingCache = nullptr;
  std::map<MemoryPoolType, size_t> pools;
  BuilderFlags flags = 0;
  int32_t optimizationLevel = 3;
  HardwareCompatibilityLevel hardware = HardwareCompatibilityLevel::kNONE;
  int32_t maxAuxStreams = -1;
  IProgressMonitor* monitor = nullptr;

 private:
  IBuilderConfig& self_;
  const void* builder_;
};
using Config = Object<IBuilderConfig, ConfigImpl>;

ITimingCache* ConfigImpl::createTimingCache(void const* blob, std::size_t size) const noexcept {
  std::set<std::string> keys;
  if (size > 0) {
    std::istringstream in(std::string(static_cast<const char*>(blob), size));
    std::string line;
    if (!std::getline(in, line) || line != "MSBDOUBLE-TIMING-CACHE 1") return nullptr;
    while (std::getline(in, line)) keys.insert(line);
  }
  return new TimingCache(std::move(keys));
}

// ---- IBuilder ----------------------------------------------------------------------------------------------------

std::string json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class BuilderImpl final : public StubVBuilder {
 public:
  BuilderImpl(IBuilder& self, ILogger* logger) : self_(self), logger_(logger) { born(&self_, Kind::kBuilder); }
  void destroy() {
    const int networks = liveOwnedBy(&self_, Kind::kNetwork);
    const int configs = liveOwnedBy(&self_, Kind::kConfig);
    if (networks > 0 || configs > 0) {
      violated("an IBuilder was deleted before " + std::to_string(networks) + " INetworkDefinition(s) and " +
                   std::to_string(configs) + " IBuilderConfig(s) it created",
               "NvInfer.h, IBuilder::createNetworkV2 / createBuilderConfig: \"must be destroyed with operator delete "
               "before this IBuilder is destroyed\"");
    }
    // "The logger must be valid until all objects created are released" (NvInferRuntime.h, ILogger): the builder
    // logs while it goes away, so a logger that died first is a use-after-free under AddressSanitizer.
    log(ILogger::Severity::kVERBOSE, "msb TensorRT double: builder destroyed");
    profiles_.clear();  // "The builder retains ownership of the created optimization profile"
    died(&self_);
  }

  IBuilderConfig* createBuilderConfig() noexcept override { return new Config(&self_); }
  INetworkDefinition* createNetworkV2(NetworkDefinitionCreationFlags flags) noexcept override {
    return new Network(&self_, flags);
  }
  IOptimizationProfile* createOptimizationProfile() noexcept override {
    profiles_.push_back(std::make_unique<Profile>(&self_));
    return profiles_.back().get();
  }
  ILogger* getLogger() const noexcept override { return logger_; }
  IHostMemory* buildSerializedNetwork(INetworkDefinition& network, IBuilderConfig& config) noexcept override;

  void log(ILogger::Severity s, const std::string& message) const { logger_->log(s, message.c_str()); }

 private:
  bool check(const NetworkImpl& network, const ConfigImpl& config, Plan& plan);
  IHostMemory* build(const NetworkImpl& network, ConfigImpl& config);

  IBuilder& self_;
  ILogger* logger_;
  std::vector<std::unique_ptr<Profile>> profiles_;
};
using Builder = Object<IBuilder, BuilderImpl>;

const char* flagNames(uint32_t bit) {
  switch (static_cast<BuilderFlag>(bit)) {
#if NV_TENSORRT_MAJOR == 10
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    case BuilderFlag::kFP16: return "kFP16";
    case BuilderFlag::kINT8: return "kINT8";
    case BuilderFlag::kBF16: return "kBF16";
    case BuilderFlag::kFP8: return "kFP8";
#pragma GCC diagnostic pop
#endif
    case BuilderFlag::kVERSION_COMPATIBLE: return "kVERSION_COMPATIBLE";
    default: return nullptr;
  }
}

// The network and profiles as TensorRT checks them before building; false (after logging the error) when it refuses.
bool BuilderImpl::check(const NetworkImpl& network, const ConfigImpl& config, Plan& plan) {
  const Model& m = network.model;
  if (!network.defined || m.outputs.empty()) {
    log(ILogger::Severity::kERROR, "Network must have at least one output");
    return false;
  }
  const bool dynamic = std::any_of(m.inputs.begin(), m.inputs.end(), [](const Tensor& t) {
    return std::any_of(t.dims.begin(), t.dims.end(), [](int64_t d) { return d < 0; });
  });
  if (dynamic && config.profiles.empty()) {
    log(ILogger::Severity::kERROR,
        "Network has dynamic or shape inputs, but no optimization profile has been defined.");
    return false;
  }
#if NV_TENSORRT_MAJOR == 10
  const bool stronglyTyped =
      (network.flags & (1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kSTRONGLY_TYPED))) != 0;
  if (stronglyTyped) {
    for (uint32_t bit = 0; bit < 32; ++bit) {
      const char* name = flagNames(bit);
      if ((config.flags & (1U << bit)) != 0 && name != nullptr && std::strcmp(name, "kVERSION_COMPATIBLE") != 0) {
        log(ILogger::Severity::kERROR,
            std::string("BuilderFlag::") + name + " is not allowed when the network is strongly typed");
        return false;
      }
    }
  }
#endif
  for (const Tensor& t : m.inputs) {
    TensorInfo info{t, true, {}};
    for (size_t p = 0; p < config.profiles.size(); ++p) {
      const auto& shapes = config.profiles[p]->shapes;
      auto it = shapes.find(t.name);
      const bool isDynamic = std::any_of(t.dims.begin(), t.dims.end(), [](int64_t d) { return d < 0; });
      std::array<std::vector<int64_t>, 3> s;
      if (it == shapes.end()) {
        if (isDynamic) {
          log(ILogger::Severity::kERROR, "Optimization profile " + std::to_string(p) +
                                             " has no dimensions for the dynamic input '" + t.name + "'");
          return false;
        }
        s = {t.dims, t.dims, t.dims};
      } else {
        s = it->second;
        for (const auto& d : s) {
          if (d.size() != t.dims.size()) {
            log(ILogger::Severity::kERROR, "Optimization profile " + std::to_string(p) + ": input '" + t.name +
                                               "' has rank " + std::to_string(t.dims.size()) + ", the profile gives " +
                                               std::to_string(d.size()));
            return false;
          }
          for (size_t i = 0; i < d.size(); ++i) {
            if (t.dims[i] >= 0 && d[i] != t.dims[i]) {
              log(ILogger::Severity::kERROR, "Optimization profile " + std::to_string(p) + ": dimension " +
                                                 std::to_string(i) + " of input '" + t.name + "' is fixed at " +
                                                 std::to_string(t.dims[i]));
              return false;
            }
          }
        }
      }
      info.profiles.push_back(s);
    }
    plan.tensors.push_back(std::move(info));
  }
  for (const auto& [name, shapes] : [&] {
         std::map<std::string, int> names;
         for (const ProfileImpl* p : config.profiles)
           for (const auto& [n, s] : p->shapes) names[n] = 0;
         return names;
       }()) {
    if (std::none_of(m.inputs.begin(), m.inputs.end(), [&](const Tensor& t) { return t.name == name; })) {
      log(ILogger::Severity::kERROR, "Optimization profile gives dimensions for '" + name +
                                         "', which is not an input of the network");
      return false;
    }
  }
  for (const Tensor& t : m.outputs) plan.tensors.push_back({t, false, {}});
  plan.layers = m.nodes;
  plan.profiles = std::max<int>(1, static_cast<int>(config.profiles.size()));
  for (TensorInfo& t : plan.tensors) {
    if (t.input && t.profiles.empty()) t.profiles.push_back({t.tensor.dims, t.tensor.dims, t.tensor.dims});
  }

  // What the build was configured with, for the tests to check that every option reached TensorRT.
  std::string flags = "[";
  for (uint32_t bit = 0; bit < 32; ++bit) {
    if ((config.flags & (1U << bit)) == 0) continue;
    const char* name = flagNames(bit);
    flags += (flags.size() > 1 ? "," : "") + json(name != nullptr ? name : std::to_string(bit));
  }
  flags += "]";
  std::string pools = "{";
  for (const auto& [pool, bytes] : config.pools) {
    pools += (pools.size() > 1 ? "," : "") + json(std::to_string(static_cast<int>(pool))) + ":" + std::to_string(bytes);
  }
  pools += "}";
  plan.buildInfo = "{\"flags\":" + flags + ",\"memoryPools\":" + pools +
                   ",\"hardwareCompatibilityLevel\":" + std::to_string(static_cast<int>(config.hardware)) +
                   ",\"builderOptimizationLevel\":" + std::to_string(config.optimizationLevel) +
                   ",\"maxAuxStreams\":" + std::to_string(config.maxAuxStreams) +
                   ",\"networkFlags\":" + std::to_string(network.flags) +
                   ",\"timingCache\":" + (config.timingCache != nullptr ? "true" : "false") +
                   ",\"progressMonitor\":" + (config.monitor != nullptr ? "true" : "false") + "}";
  return true;
}

IHostMemory* BuilderImpl::buildSerializedNetwork(INetworkDefinition& network, IBuilderConfig& config) noexcept {
  if (!isLive(&network, Kind::kNetwork) || ownerOf(&network) != &self_ || !isLive(&config, Kind::kConfig) ||
      ownerOf(&config) != &self_) {
    violated("buildSerializedNetwork got a network or config that is not alive or not of this builder",
             "NvInfer.h, IBuilder::createNetworkV2 / createBuilderConfig");
  }
  ConfigImpl& c = static_cast<Config&>(config).impl;
  if (c.timingCache != nullptr) {
    c.getTimingCache();  // asserts the cache is still alive: "The cache must not be destroyed until after the engine is built."
    std::lock_guard<std::mutex> lock(gMutex);
    cacheUsers()[c.timingCache].insert(&self_);
  }
  // TensorRT builds on threads of its own: the logger and the progress monitor are called from them.
  IHostMemory* result = nullptr;
  std::thread worker([&] { result = build(networkImpl(network), c); });
  worker.join();
  return result;
}

IHostMemory* BuilderImpl::build(const NetworkImpl& network, ConfigImpl& config) {
  Plan plan;
  if (!check(network, config, plan)) return nullptr;
  log(ILogger::Severity::kINFO, "msb TensorRT double: building '" + network.model.graphName + "' with " +
                                    std::to_string(config.profiles.size()) + " optimization profile(s)");
  const std::string warning = knob("MSB_DOUBLE_WARNING");
  if (!warning.empty()) log(ILogger::Severity::kWARNING, warning);

  const std::string fail = knob("MSB_DOUBLE_FAIL_BUILD");
  const int stepMs = knobInt("MSB_DOUBLE_STEP_MS", 0);
  IProgressMonitor* monitor = config.monitor;
  const int nbProfiles = plan.profiles;
  const char* top = "Building engine";
  const char* inner = "Tactic selection";
  // Returns false when the monitor asked to stop ("return false to stop the build").
  auto step = [&](const char* phase, int i) {
    if (stepMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(stepMs));
    return monitor == nullptr || monitor->stepComplete(phase, i);
  };
  auto cancelled = [&](bool innerOpen) -> IHostMemory* {
    // "phaseFinish ... may be called before all steps ... when stepComplete returns false" (NvInfer.h).
    if (innerOpen) monitor->phaseFinish(inner);
    monitor->phaseFinish(top);
    log(ILogger::Severity::kERROR, "Engine build was cancelled by the progress monitor");
    return nullptr;  // stepComplete returned false: the build ends without a plan
  };
  if (monitor != nullptr) monitor->phaseStart(top, nullptr, nbProfiles + 1);
  std::set<std::string> keys;
  int hits = 0;
  for (int p = 0; p < nbProfiles; ++p) {
    const int inputs = static_cast<int>(std::count_if(plan.tensors.begin(), plan.tensors.end(),
                                                      [](const TensorInfo& t) { return t.input; }));
    const int steps = std::max(1, inputs);
    if (monitor != nullptr) monitor->phaseStart(inner, top, steps);
    for (int s = 0; s < steps; ++s) {
      if (s < inputs) {
        const TensorInfo& t = plan.tensors[static_cast<size_t>(s)];
        const auto& shapes = t.profiles[static_cast<size_t>(p)];
        const std::string key = t.tensor.name + ":" + dimsText(shapes[0]) + "/" + dimsText(shapes[1]) + "/" +
                                dimsText(shapes[2]);
        keys.insert(key);
      }
      if (!step(inner, s)) return cancelled(true);
    }
    if (monitor != nullptr) monitor->phaseFinish(inner);
    if (fail == "oom" && p == 0) {
      log(ILogger::Severity::kERROR,
          "Requested amount of GPU memory (17179869184 bytes) could not be allocated. There may not be enough free "
          "memory for allocation to succeed.");
      if (monitor != nullptr) monitor->phaseFinish(top);
      return nullptr;
    }
    if (!step(top, p)) return cancelled(false);
  }
  if (config.timingCache != nullptr) {
    auto& cache = static_cast<const TimingCache*>(config.timingCache)->impl;
    auto& mutableCache = const_cast<TimingCacheImpl&>(cache);
    std::lock_guard<std::mutex> lock(mutableCache.mutex);
    for (const std::string& k : keys) hits += mutableCache.keys.count(k) != 0 ? 1 : 0;
    log(ILogger::Severity::kINFO, "msb TensorRT double: timing cache hits " + std::to_string(hits) + ", misses " +
                                      std::to_string(keys.size() - static_cast<size_t>(hits)));
    mutableCache.keys.insert(keys.begin(), keys.end());
  }
  if (!step(top, nbProfiles)) return cancelled(false);
  if (monitor != nullptr) monitor->phaseFinish(top);
  if (fail == "null") return nullptr;  // no plan and no error logged: the addon must still fail cleanly
  return new HostMemory(serializePlan(plan));
}

// ---- ICudaEngine, IEngineInspector, IRuntime ---------------------------------------------------------------------

const char* typeName(DataType t) {
  switch (t) {
    case DataType::kFLOAT: return "FP32";
    case DataType::kHALF: return "FP16";
    case DataType::kBF16: return "BF16";
    case DataType::kINT8: return "Int8";
    case DataType::kINT32: return "Int32";
    case DataType::kINT64: return "Int64";
    case DataType::kBOOL: return "Bool";
    case DataType::kUINT8: return "UInt8";
    default: return "Other";
  }
}

class EngineImpl;

class InspectorImpl final : public StubVEngineInspector {
 public:
  InspectorImpl(IEngineInspector& self, const ICudaEngine* engine, const EngineImpl& impl)
      : self_(self), engine_(engine), impl_(impl) {
    born(&self_, Kind::kInspector, engine);
  }
  void destroy() { died(&self_); }
  char const* getEngineInformation(LayerInformationFormat format) const noexcept override;

 private:
  IEngineInspector& self_;
  const ICudaEngine* engine_;
  const EngineImpl& impl_;
  mutable std::string text_;
};
using Inspector = Object<IEngineInspector, InspectorImpl>;

class EngineImpl final : public StubVCudaEngine {
 public:
  EngineImpl(ICudaEngine& self, const void* runtime, Plan plan, ILogger* logger)
      : plan(std::move(plan)), self_(self), logger_(logger) {
    born(&self_, Kind::kEngine, runtime);
    for (const TensorInfo& t : this->plan.tensors) {
      formats_.push_back(std::string("Row major linear ") + typeName(t.tensor.type) + " format (kLINEAR)");
    }
  }
  void destroy() { died(&self_); }

  int32_t getNbLayers() const noexcept override { return plan.layers; }
  int32_t getNbIOTensors() const noexcept override { return static_cast<int32_t>(plan.tensors.size()); }
  int32_t getNbOptimizationProfiles() const noexcept override { return plan.profiles; }
  char const* getIOTensorName(int32_t i) const noexcept override {
    if (i < 0 || i >= getNbIOTensors()) return error("getIOTensorName: index out of range"), nullptr;
    return plan.tensors[static_cast<size_t>(i)].tensor.name.c_str();
  }
  TensorIOMode getTensorIOMode(char const* name) const noexcept override {
    const TensorInfo* t = find(name);
    return t == nullptr ? TensorIOMode::kNONE : t->input ? TensorIOMode::kINPUT : TensorIOMode::kOUTPUT;
  }
  DataType getTensorDataType(char const* name) const noexcept override {
    const TensorInfo* t = find(name);
    return t == nullptr ? DataType::kFLOAT : t->tensor.type;
  }
  Dims getTensorShape(char const* name) const noexcept override {
    const TensorInfo* t = find(name);
    return t == nullptr ? invalidDims() : toDims(t->tensor.dims);
  }
  // The double has no shape tensors (an ONNX model does not say which inputs feed shape computations).
  bool isShapeInferenceIO(char const* name) const noexcept override {
    (void)find(name);
    return false;
  }
  char const* getTensorFormatDesc(char const* name) const noexcept override {
    const TensorInfo* t = find(name);
    return t == nullptr ? nullptr : formats_[static_cast<size_t>(t - plan.tensors.data())].c_str();
  }
  Dims getProfileShape(char const* name, int32_t profile, OptProfileSelector select) const noexcept override {
    const TensorInfo* t = find(name);
    if (t == nullptr) return invalidDims();
    if (!t->input || profile < 0 || profile >= static_cast<int32_t>(t->profiles.size())) {
      error(std::string("getProfileShape: '") + name + "' has no shapes in profile " + std::to_string(profile));
      return invalidDims();
    }
    return toDims(t->profiles[static_cast<size_t>(profile)][static_cast<int>(select)]);
  }
  IEngineInspector* createEngineInspector() const noexcept override { return new Inspector(&self_, *this); }

  Plan plan;

 private:
  const TensorInfo* find(char const* name) const {
    for (const TensorInfo& t : plan.tensors) {
      if (name != nullptr && t.tensor.name == name) return &t;
    }
    error(std::string("no tensor named '") + (name != nullptr ? name : "(null)") + "'");
    return nullptr;
  }
  void error(const std::string& m) const { logger_->log(ILogger::Severity::kERROR, m.c_str()); }
  static Dims invalidDims() {
    Dims d{};
    d.nbDims = -1;
    return d;
  }
  static Dims toDims(const std::vector<int64_t>& v) {
    Dims d{};
    d.nbDims = static_cast<int32_t>(v.size());
    std::copy(v.begin(), v.end(), d.d);
    return d;
  }

  ICudaEngine& self_;
  ILogger* logger_;
  std::vector<std::string> formats_;
};
using Engine = Object<ICudaEngine, EngineImpl>;

char const* InspectorImpl::getEngineInformation(LayerInformationFormat format) const noexcept {
  if (!isLive(engine_, Kind::kEngine)) {
    violated("IEngineInspector used after its ICudaEngine was deleted",
             "NvInferRuntime.h, ICudaEngine::createEngineInspector (the inspector prints the engine's layers)");
  }
  if (format != LayerInformationFormat::kJSON) return "";
  std::string bindings = "[";
  for (const TensorInfo& t : impl_.plan.tensors) bindings += (bindings.size() > 1 ? "," : "") + json(t.tensor.name);
  bindings += "]";
  std::string layers = "[";
  for (int i = 0; i < impl_.plan.layers; ++i) layers += (i > 0 ? "," : "") + json("layer " + std::to_string(i));
  layers += "]";
  text_ = "{\"Layers\":" + layers + ",\"Bindings\":" + bindings + ",\"msbDouble\":" + impl_.plan.buildInfo + "}";
  return text_.c_str();
}

std::atomic<int> gDeserializing{0};

class RuntimeImpl final : public StubVRuntime {
 public:
  RuntimeImpl(IRuntime& self, ILogger* logger) : self_(self), logger_(logger) { born(&self_, Kind::kRuntime); }
  void destroy() {
    const int engines = liveOwnedBy(&self_, Kind::kEngine);
    if (engines > 0) {
      violated("an IRuntime was deleted before the " + std::to_string(engines) + " ICudaEngine(s) it deserialized",
               "NvInferRuntime.h, IRuntime::deserializeCudaEngine: \"Destroying the IRuntime before destroying all "
               "associated ICudaEngine instances results in undefined behavior.\"");
    }
    died(&self_);
  }
  IRuntime* getPImpl() noexcept override { return &self_; }
  void setEngineHostCodeAllowed(bool allowed) noexcept override { hostCode_ = allowed; }
  bool getEngineHostCodeAllowed() const noexcept override { return hostCode_; }
  ILogger* getLogger() const noexcept override { return logger_; }
  ICudaEngine* deserializeCudaEngine(void const* blob, std::size_t size) noexcept override {
    const int inFlight = ++gDeserializing;
    logger_->log(ILogger::Severity::kINFO,
                 ("msb TensorRT double: deserializing, in flight " + std::to_string(inFlight)).c_str());
    const int ms = knobInt("MSB_DOUBLE_DESERIALIZE_MS", 0);
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    Plan plan;
    const std::string problem = parsePlan(blob, size, plan);
    --gDeserializing;
    if (!problem.empty()) {
      logger_->log(ILogger::Severity::kERROR,
                   ("IRuntime::deserializeCudaEngine: Error Code 1: Serialization (" + problem + ")").c_str());
      return nullptr;
    }
    return new Engine(&self_, std::move(plan), logger_);
  }

 private:
  IRuntime& self_;
  ILogger* logger_;
  bool hostCode_ = false;
};
using Runtime = Object<IRuntime, RuntimeImpl>;

}  // namespace
}  // namespace msbdouble

using namespace msbdouble;

extern "C" {

void msbDoubleAttachParser(void* network, const void* parser) {
  if (!isLive(network, Kind::kNetwork)) {
    violated("createNvOnnxParser got a network that is not a live INetworkDefinition",
             "NvOnnxParser.h, createParser: \"\\param network The network definition that the parser will write to\"");
  }
  std::lock_guard<std::mutex> lock(gMutex);
  parsersOf()[network].insert(parser);
}

void msbDoubleDetachParser(void* network, const void* parser) {
  std::lock_guard<std::mutex> lock(gMutex);
  parsersOf()[network].erase(parser);
}

void msbDoubleDefineNetwork(void* network, const Model* model) {
  if (!isLive(network, Kind::kNetwork)) {
    violated("the parser wrote to a network that was deleted", "NvOnnxParser.h, createParser");
  }
  NetworkImpl& n = networkImpl(*static_cast<INetworkDefinition*>(network));
  n.model = *model;
  n.defined = true;
}

__attribute__((visibility("default"))) void* createInferBuilder_INTERNAL(void* logger, int32_t version) noexcept {
  if (logger == nullptr) violated("createInferBuilder without a logger", "NvInfer.h, createInferBuilder");
  auto* l = static_cast<ILogger*>(logger);
  if (version != NV_TENSORRT_VERSION) {
    l->log(ILogger::Severity::kERROR, "createInferBuilder: the header version does not match the library version");
    return nullptr;
  }
  return static_cast<IBuilder*>(new Builder(l));
}

__attribute__((visibility("default"))) void* createInferRuntime_INTERNAL(void* logger, int32_t version) noexcept {
  if (logger == nullptr) violated("createInferRuntime without a logger", "NvInferRuntime.h, createInferRuntime");
  auto* l = static_cast<ILogger*>(logger);
  if (version != NV_TENSORRT_VERSION) {
    l->log(ILogger::Severity::kERROR, "createInferRuntime: the header version does not match the library version");
    return nullptr;
  }
  return static_cast<IRuntime*>(new Runtime(l));
}

__attribute__((visibility("default"))) int32_t getInferLibMajorVersion() noexcept { return NV_TENSORRT_MAJOR; }
__attribute__((visibility("default"))) int32_t getInferLibMinorVersion() noexcept { return NV_TENSORRT_MINOR; }
__attribute__((visibility("default"))) int32_t getInferLibPatchVersion() noexcept { return NV_TENSORRT_PATCH; }
__attribute__((visibility("default"))) int32_t getInferLibBuildVersion() noexcept { return NV_TENSORRT_BUILD; }
}
