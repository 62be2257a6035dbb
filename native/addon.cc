// Node-API glue. Everything here runs on the JS thread except Job::run, which runs on its own thread and talks to
// JS only through one thread-safe function per call. No C++ exception leaves this file.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <variant>

#include "cuda_driver.h"
#include "tensorrt/api.h"

namespace msb {
namespace {

Napi::Array int64Array(Napi::Env env, const std::vector<int64_t>& values) {
  Napi::Array out = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) out.Set(static_cast<uint32_t>(i), static_cast<double>(values[i]));
  return out;
}

std::vector<int64_t> readInt64s(const Napi::Value& value) {
  std::vector<int64_t> out;
  const Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(array.Get(i).As<Napi::Number>().Int64Value());
  return out;
}

std::vector<uint8_t> readBytes(const Napi::Value& value) {
  const Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
  return std::vector<uint8_t>(bytes.Data(), bytes.Data() + bytes.ByteLength());
}

Napi::Value moveToBuffer(Napi::Env env, std::vector<uint8_t>&& bytes) {
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  return Napi::Buffer<uint8_t>::NewOrCopy(env, owned->data(), owned->size(),
                                          [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, owned);
}

Napi::Object statusObject(Napi::Env env) {
  const trt::Status s = trt::status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", s.compiled);
  o.Set("available", s.available);
  o.Set("runtime", s.runtime);
  if (!s.available) {
    o.Set("code", s.code);
    o.Set("reason", s.reason);
  }
  if (s.compiled) {
    Napi::Array compiled = Napi::Array::New(env, 3);
    for (uint32_t i = 0; i < 3; ++i) compiled.Set(i, s.compiledVersion[i]);
    o.Set("compiledVersion", compiled);
    o.Set("precisionFlags", s.precisionFlags);
    o.Set("sameComputeCapability", s.sameComputeCapability);
  }
  if (!s.library.empty()) o.Set("library", s.library);
  if (s.libraryVersion[0] != 0) {
    Napi::Array version = Napi::Array::New(env, 4);
    for (uint32_t i = 0; i < 4; ++i) version.Set(i, s.libraryVersion[i]);
    o.Set("libraryVersion", version);
  }
  if (!s.parserLibrary.empty()) o.Set("parserLibrary", s.parserLibrary);
  if (s.parserVersion != 0) o.Set("parserVersion", s.parserVersion);
  return o;
}


Napi::Value Devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaDevices result = queryCudaDevices();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array devices = Napi::Array::New(env, result.devices.size());
  for (size_t i = 0; i < result.devices.size(); ++i) {
    const CudaDevice& d = result.devices[i];
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("index", d.index);
    dev.Set("name", d.name);
    dev.Set("computeCapability", std::to_string(d.computeMajor) + "." + std::to_string(d.computeMinor));
    dev.Set("totalMemory", static_cast<double>(d.totalMemory));
    dev.Set("uuid", d.uuid);
    devices.Set(static_cast<uint32_t>(i), dev);
  }
  o.Set("devices", devices);
  if (!result.reason.empty()) o.Set("reason", result.reason);
  if (!result.driverLibrary.empty()) o.Set("driverLibrary", result.driverLibrary);
  if (result.driverVersion != 0) o.Set("driverVersion", result.driverVersion);
  return o;
}

Napi::Object engineObject(Napi::Env env, const trt::EngineInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("tensorrtVersion", info.tensorrtVersion);
  o.Set("profiles", info.profiles);
  o.Set("layers", info.layers);
  Napi::Array tensors = Napi::Array::New(env, info.tensors.size());
  for (size_t i = 0; i < info.tensors.size(); ++i) {
    const trt::TensorInfo& t = info.tensors[i];
    Napi::Object to = Napi::Object::New(env);
    to.Set("name", t.name);
    to.Set("mode", t.input ? "input" : "output");
    to.Set("dataType", t.dataType);
    to.Set("shape", int64Array(env, t.shape));
    to.Set("shapeTensor", t.shapeTensor);
    to.Set("format", t.format);
    Napi::Array profiles = Napi::Array::New(env, t.profiles.size());
    for (size_t p = 0; p < t.profiles.size(); ++p) {
      Napi::Object po = Napi::Object::New(env);
      po.Set("min", int64Array(env, t.profiles[p].min));
      po.Set("opt", int64Array(env, t.profiles[p].opt));
      po.Set("max", int64Array(env, t.profiles[p].max));
      profiles.Set(static_cast<uint32_t>(p), po);
    }
    to.Set("profiles", profiles);
    tensors.Set(static_cast<uint32_t>(i), to);
  }
  o.Set("tensors", tensors);
  o.Set("engineInformation", info.engineInformation);
  return o;
}

Napi::Error failureError(Napi::Env env, const trt::Failure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", failure.code);
  Napi::Array parserErrors = Napi::Array::New(env, failure.parserErrors.size());
  for (size_t i = 0; i < failure.parserErrors.size(); ++i) {
    const trt::ParserError& p = failure.parserErrors[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("node", p.node);
    o.Set("nodeName", p.nodeName);
    o.Set("op", p.op);
    o.Set("description", p.description);
    o.Set("file", p.file);
    o.Set("line", p.line);
    o.Set("function", p.function);
    o.Set("code", p.code);
    parserErrors.Set(static_cast<uint32_t>(i), o);
  }
  error.Set("parserErrors", parserErrors);
  return error;
}

// What the worker thread sends to JS, in order; the last one settles the promise.
struct LogEvent {
  int severity;
  std::string message;
};
struct ProgressEvent {
  std::string kind;  // "start" | "step" | "finish"
  std::string phase, parent;
  int value;  // steps for "start", step for "step"
};
struct DoneEvent {};
using Event = std::variant<LogEvent, ProgressEvent, DoneEvent>;

// One call (a build or an inspection): owns the request, the outcome and the JS promise. Shared by the JS side (the
// event channel's context, dropped by its finalizer) and the pool thread running it, so whichever finishes last frees
// it; nothing in it needs the JS thread to be destroyed.
struct Job;
using JobRef = std::shared_ptr<Job>;
void deliver(Napi::Env env, Napi::Function onEvent, JobRef* job, Event* event);
using EventChannel = Napi::TypedThreadSafeFunction<JobRef, Event, deliver>;

struct Job final : trt::Events {
  enum class Kind { kBuild, kInspect } kind;
  Napi::Promise::Deferred deferred;
  EventChannel channel;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  trt::BuildRequest request;
  std::vector<uint8_t> plan;  // for inspection
  trt::BuildResult result;
  trt::Failure failure;
  bool ok = false;
  double seconds = 0;

  Job(Napi::Env env, Kind k) : kind(k), deferred(Napi::Promise::Deferred::New(env)) {}

  void send(Event&& event) noexcept {
    try {
      auto* heap = new Event(std::move(event));
      if (channel.BlockingCall(heap) != napi_ok) delete heap;
    } catch (...) {
      // Out of memory for one message: drop it rather than the build.
    }
  }
  void log(int severity, const char* message) noexcept override {
    try {
      send(LogEvent{severity, message});
    } catch (...) {
    }
  }
  void phaseStart(const char* phase, const char* parent, int steps) noexcept override {
    try {
      send(ProgressEvent{"start", phase, parent != nullptr ? parent : "", steps});
    } catch (...) {
    }
  }
  void step(const char* phase, int step) noexcept override {
    try {
      send(ProgressEvent{"step", phase, "", step});
    } catch (...) {
    }
  }
  void phaseFinish(const char* phase) noexcept override {
    try {
      send(ProgressEvent{"finish", phase, "", 0});
    } catch (...) {
    }
  }
  bool cancelled() const noexcept override { return cancel->load(); }

  void run() noexcept {
    const auto start = std::chrono::steady_clock::now();
    if (cancel->load()) {
      // Cancelled while it waited for a pool thread: TensorRT is never called.
      failure.code = "MSB_TENSORRT_CANCELLED";
      failure.message = "the build was cancelled while it waited for a build thread (status().concurrency)";
      ok = false;
    } else {
      ok = kind == Kind::kBuild ? trt::buildEngine(request, *this, result, failure)
                                : trt::inspectEngine(plan.data(), plan.size(), *this, result.engine, failure);
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    send(DoneEvent{});
    channel.Release();
    finished();
  }

  // The pool thread is done with the channel. The channel's finalizer waits for this before it returns (see start()),
  // as it joined the call's thread when each call had one: an environment torn down mid-call must not finalize the
  // channel while a thread may still release it.
  void finished() noexcept {
    {
      std::lock_guard<std::mutex> lock(doneMutex);
      done = true;
    }
    doneCv.notify_all();
  }
  void waitFinished() {
    std::unique_lock<std::mutex> lock(doneMutex);
    doneCv.wait(lock, [this] { return done; });
  }
  std::mutex doneMutex;
  std::condition_variable doneCv;
  bool done = false;

  void settle(Napi::Env env) {
    if (!ok) {
      deferred.Reject(failureError(env, failure).Value());
      return;
    }
    if (kind == Kind::kInspect) {
      deferred.Resolve(engineObject(env, result.engine));
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("plan", moveToBuffer(env, std::move(result.plan)));
    o.Set("timingCache", moveToBuffer(env, std::move(result.timingCache)));
    o.Set("engine", engineObject(env, result.engine));
    o.Set("buildSeconds", seconds);
    Napi::Array warnings = Napi::Array::New(env, result.warnings.size());
    for (size_t i = 0; i < result.warnings.size(); ++i) warnings.Set(static_cast<uint32_t>(i), result.warnings[i]);
    o.Set("warnings", warnings);
    deferred.Resolve(o);
  }
};

void deliver(Napi::Env env, Napi::Function onEvent, JobRef* ref, Event* event) {
  std::unique_ptr<Event> owned(event);
  Job* job = ref->get();
  if (env == nullptr) return;  // the environment is shutting down
  try {
    if (std::holds_alternative<DoneEvent>(*owned)) {
      job->settle(env);
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    if (const auto* log = std::get_if<LogEvent>(owned.get())) {
      o.Set("type", "log");
      o.Set("severity", log->severity);
      o.Set("message", log->message);
    } else if (const auto* p = std::get_if<ProgressEvent>(owned.get())) {
      o.Set("type", p->kind);
      o.Set("phase", p->phase);
      if (p->kind == "start") {
        if (!p->parent.empty()) o.Set("parent", p->parent);
        o.Set("steps", p->value);
      } else if (p->kind == "step") {
        o.Set("step", p->value);
      }
    }
    onEvent.Call({o});
  } catch (const Napi::Error& e) {
    // node-addon-api already took the exception off the JS side. src/tensorrt wraps the user's callbacks, so this
    // is a bug there: drop the event, but never leave the promise unsettled.
    if (std::holds_alternative<DoneEvent>(*owned)) job->deferred.Reject(e.Value());
  } catch (const std::exception& e) {
    if (std::holds_alternative<DoneEvent>(*owned)) job->deferred.Reject(Napi::Error::New(env, e.what()).Value());
  }
}

// Native calls run on two small pools of threads that live for the whole process, so that any number of calls from JS
// never means as many threads: builds are heavy (a TensorRT build takes the GPU and much host memory; default 1 at a
// time, MSB_NATIVE_BUILD_THREADS), inspections are light (deserializing a plan; default 4, MSB_NATIVE_INSPECT_THREADS).
// Calls beyond the limit wait in order; a call cancelled while it waits ends without calling TensorRT.
class Pool {
 public:
  Pool(const char* variable, int fallback) : limit_(limitFrom(variable, fallback)) {}
  int limit() const { return limit_; }

  // Queues a job; false when not even one thread can be started.
  bool post(JobRef job) {
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(std::move(job));
    // Idle threads take queued jobs one each; start another thread when the queue outnumbers them.
    if (queue_.size() > static_cast<size_t>(idle_) && threads_ < limit_) {
      try {
        std::thread([this] { loop(); }).detach();
        ++threads_;
      } catch (const std::system_error&) {
        if (threads_ == 0) {
          queue_.pop_back();
          return false;
        }
      }
    }
    lock.unlock();
    ready_.notify_one();
    return true;
  }

  // Takes a job out of the queue if it has not started; false when it has (or was never queued).
  bool remove(const Job* job) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find_if(queue_.begin(), queue_.end(), [job](const JobRef& j) { return j.get() == job; });
    if (it == queue_.end()) return false;
    queue_.erase(it);
    return true;
  }

 private:
  static int limitFrom(const char* variable, int fallback) {
    const char* value = std::getenv(variable);
    const int n = value != nullptr ? std::atoi(value) : 0;
    return n >= 1 && n <= 64 ? n : fallback;
  }

  void loop() {
    for (;;) {
      JobRef job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++idle_;
        ready_.wait(lock, [this] { return !queue_.empty(); });
        --idle_;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->run();
    }
  }

  const int limit_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<JobRef> queue_;
  int threads_ = 0;
  int idle_ = 0;
};

// Never destroyed: its threads are detached and wait for work until the process exits.
Pool& buildPool() {
  static Pool* pool = new Pool("MSB_NATIVE_BUILD_THREADS", 1);
  return *pool;
}
Pool& inspectPool() {
  static Pool* pool = new Pool("MSB_NATIVE_INSPECT_THREADS", 4);
  return *pool;
}

// Queues the job on its pool; returns { promise, cancel } to JS.
Napi::Value start(Napi::Env env, JobRef job, Napi::Function onEvent) {
  Job* raw = job.get();
  // The channel's context keeps the job alive for the JS side until the finalizer, which runs on the JS thread after
  // the pool thread released the channel (all events delivered, the promise settled).
  const auto finalize = [](Napi::Env, void*, JobRef* ref) {
    JobRef owned = std::move(*ref);
    delete ref;
    // Normally the call has finished (it released the channel); at environment teardown it may still wait in its
    // pool's queue (then it never runs) or be running (then wait until it is done with the channel).
    Pool& pool = owned->kind == Job::Kind::kBuild ? buildPool() : inspectPool();
    if (!pool.remove(owned.get())) owned->waitFinished();
  };
  raw->channel = EventChannel::New(env, onEvent, "msb-tensorrt", 0, 1, new JobRef(job), finalize);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("promise", raw->deferred.Promise());
  std::shared_ptr<std::atomic<bool>> cancel = raw->cancel;
  handle.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); },
                                           "cancel"));
  Pool& pool = raw->kind == Job::Kind::kBuild ? buildPool() : inspectPool();
  if (!pool.post(std::move(job))) {
    // No thread: settle here and release the channel so that its finalizer frees the job.
    raw->deferred.Reject(Napi::Error::New(env, "msb native addon: cannot start a thread").Value());
    raw->finished();
    raw->channel.Release();
  }
  return handle;
}

// status(): what TensorRT the addon found, and the pools' limits.
Napi::Value GetStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = statusObject(env);
  Napi::Object concurrency = Napi::Object::New(env);
  concurrency.Set("builds", buildPool().limit());
  concurrency.Set("inspects", inspectPool().limit());
  o.Set("concurrency", concurrency);
  return o;
}

// buildEngine(request, onEvent): the request is the flat object produced by src/tensorrt/build.ts.
Napi::Value BuildEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Object r = info[0].As<Napi::Object>();
  auto job = std::make_shared<Job>(env, Job::Kind::kBuild);
  trt::BuildRequest& req = job->request;
  if (r.Has("onnxPath")) req.onnxPath = r.Get("onnxPath").As<Napi::String>().Utf8Value();
  if (r.Has("onnxBytes")) req.onnxBytes = readBytes(r.Get("onnxBytes"));
  const Napi::Array profiles = r.Get("profiles").As<Napi::Array>();
  for (uint32_t p = 0; p < profiles.Length(); ++p) {
    std::vector<trt::ProfileShape> shapes;
    const Napi::Array inputs = profiles.Get(p).As<Napi::Array>();
    for (uint32_t i = 0; i < inputs.Length(); ++i) {
      const Napi::Object s = inputs.Get(i).As<Napi::Object>();
      shapes.push_back({s.Get("input").As<Napi::String>().Utf8Value(), readInt64s(s.Get("min")),
                        readInt64s(s.Get("opt")), readInt64s(s.Get("max"))});
    }
    req.profiles.push_back(std::move(shapes));
  }
  const Napi::Array precision = r.Get("precision").As<Napi::Array>();
  for (uint32_t i = 0; i < precision.Length(); ++i) req.precision.push_back(precision.Get(i).As<Napi::String>());
  const Napi::Array pools = r.Get("memoryPools").As<Napi::Array>();
  for (uint32_t i = 0; i < pools.Length(); ++i) {
    const Napi::Object pool = pools.Get(i).As<Napi::Object>();
    req.memoryPools.emplace_back(pool.Get("pool").As<Napi::String>().Utf8Value(),
                                 static_cast<uint64_t>(pool.Get("bytes").As<Napi::Number>().Int64Value()));
  }
  if (r.Has("timingCache")) {
    req.hasTimingCache = true;
    req.timingCache = readBytes(r.Get("timingCache"));
  }
  req.versionCompatible = r.Get("versionCompatible").As<Napi::Boolean>();
  req.hardwareCompatibility = r.Get("hardwareCompatibility").As<Napi::String>().Utf8Value();
  req.optimizationLevel = r.Get("optimizationLevel").As<Napi::Number>().Int32Value();
  req.maxAuxStreams = r.Get("maxAuxStreams").As<Napi::Number>().Int32Value();
  return start(env, std::move(job), info[1].As<Napi::Function>());
}

// inspectEngine(plan, onEvent)
Napi::Value InspectEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_shared<Job>(env, Job::Kind::kInspect);
  job->plan = readBytes(info[0]);
  return start(env, std::move(job), info[1].As<Napi::Function>());
}

// Turns any C++ exception (a malformed request from a bug in the TS layer, bad_alloc) into a JS exception.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("msb native addon: ") + e.what());
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("status", Napi::Function::New<guarded<GetStatus>>(env, "status"));
  exports.Set("cudaDevices", Napi::Function::New<guarded<Devices>>(env, "cudaDevices"));
  exports.Set("buildEngine", Napi::Function::New<guarded<BuildEngine>>(env, "buildEngine"));
  exports.Set("inspectEngine", Napi::Function::New<guarded<InspectEngine>>(env, "inspectEngine"));
  return exports;
}

}  // namespace
}  // namespace msb

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return msb::Init(env, exports); }
NODE_API_MODULE(msb_native, InitAddon)
