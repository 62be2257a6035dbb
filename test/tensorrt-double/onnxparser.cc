// libnvonnxparser.so.<major> of the TensorRT double: TEST CODE ONLY (see docs/tensorrt-double.md). Reads the ONNX
// model's graph inputs, outputs, shapes and types from the protobuf wire format with the rules of msb's own reader
// (src/inspect/onnx.ts: initializers are not inputs, dim_value >= 0 is a fixed size, anything else is dynamic), and
// reports what TensorRT cannot take as IParserError records. MSB_DOUBLE_UNSUPPORTED_OPS=Op1,Op2 makes every node of
// those ops fail as TensorRT's parser does for an op it has no importer for.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "double.h"
#include "stubs.h"

using namespace nvinfer1;
using PErr = nvonnxparser::ErrorCode;

namespace msbdouble {
namespace {

// ---- protobuf wire format ----------------------------------------------------------------------------------------

struct Corrupt {
  std::string what;
};

class Wire {
 public:
  Wire(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  bool done() const { return p_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) throw Corrupt{"truncated varint"};
      const uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    throw Corrupt{"varint longer than 10 bytes"};
  }
  // Reads a tag; returns field number and wire type.
  std::pair<uint32_t, int> tag() {
    const uint64_t t = varint();
    if ((t >> 3) == 0) throw Corrupt{"field number 0"};
    return {static_cast<uint32_t>(t >> 3), static_cast<int>(t & 7)};
  }
  Wire sub() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_)) throw Corrupt{"length runs past the end"};
    Wire w(p_, static_cast<size_t>(n));
    p_ += n;
    return w;
  }
  std::string string() {
    Wire w = sub();
    return std::string(reinterpret_cast<const char*>(w.p_), static_cast<size_t>(w.end_ - w.p_));
  }
  void skip(int wireType) {
    switch (wireType) {
      case 0: varint(); return;
      case 1: advance(8); return;
      case 2: sub(); return;
      case 5: advance(4); return;
      default: throw Corrupt{"unsupported wire type " + std::to_string(wireType)};
    }
  }

 private:
  void advance(size_t n) {
    if (n > static_cast<size_t>(end_ - p_)) throw Corrupt{"truncated fixed-size field"};
    p_ += n;
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

struct ValueInfo {
  std::string name;
  std::string kind = "none";  // tensor | sequence | map | sparse_tensor | optional | none
  int elemType = 0;
  bool hasShape = false;
  std::vector<int64_t> dims;
};

struct Node {
  std::string name, op;
};

struct Graph {
  std::string name;
  std::vector<ValueInfo> inputs, outputs;
  std::set<std::string> initializers;
  std::vector<Node> nodes;
};

void readType(Wire w, ValueInfo& vi) {
  static const std::map<uint32_t, const char*> kinds = {{4, "sequence"}, {5, "map"}, {8, "sparse_tensor"}, {9, "optional"}};
  while (!w.done()) {
    auto [field, type] = w.tag();
    if (field == 1 && type == 2) {
      vi.kind = "tensor";
      Wire t = w.sub();
      while (!t.done()) {
        auto [f, ty] = t.tag();
        if (f == 1 && ty == 0) {
          vi.elemType = static_cast<int>(t.varint());
        } else if (f == 2 && ty == 2) {
          vi.hasShape = true;
          vi.dims.clear();
          Wire shape = t.sub();
          while (!shape.done()) {
            auto [sf, st] = shape.tag();
            if (sf != 1 || st != 2) {
              shape.skip(st);
              continue;
            }
            Wire dim = shape.sub();
            int64_t value = -1;
            while (!dim.done()) {
              auto [df, dt] = dim.tag();
              if (df == 1 && dt == 0) {
                value = static_cast<int64_t>(dim.varint());
              } else if (df == 2 && dt == 2) {
                dim.string();
                value = -1;
              } else {
                dim.skip(dt);
              }
            }
            vi.dims.push_back(value >= 0 ? value : -1);
          }
        } else {
          t.skip(ty);
        }
      }
    } else {
      auto k = kinds.find(field);
      if (k != kinds.end()) vi.kind = k->second;
      w.skip(type);
    }
  }
}

ValueInfo readValueInfo(Wire w) {
  ValueInfo vi;
  while (!w.done()) {
    auto [field, type] = w.tag();
    if (field == 1 && type == 2) vi.name = w.string();
    else if (field == 2 && type == 2) readType(w.sub(), vi);
    else w.skip(type);
  }
  return vi;
}

std::string tensorName(Wire w) {
  std::string name;
  while (!w.done()) {
    auto [field, type] = w.tag();
    if (field == 8 && type == 2) name = w.string();
    else w.skip(type);
  }
  return name;
}

Graph readGraph(Wire w) {
  Graph g;
  while (!w.done()) {
    auto [field, type] = w.tag();
    if (field == 1 && type == 2) {
      Node n;
      Wire nw = w.sub();
      while (!nw.done()) {
        auto [f, t] = nw.tag();
        if (f == 3 && t == 2) n.name = nw.string();
        else if (f == 4 && t == 2) n.op = nw.string();
        else nw.skip(t);
      }
      g.nodes.push_back(std::move(n));
    } else if (field == 2 && type == 2) {
      g.name = w.string();
    } else if (field == 5 && type == 2) {
      g.initializers.insert(tensorName(w.sub()));
    } else if (field == 15 && type == 2) {
      Wire s = w.sub();
      while (!s.done()) {
        auto [f, t] = s.tag();
        if (f == 1 && t == 2) g.initializers.insert(tensorName(s.sub()));
        else s.skip(t);
      }
    } else if ((field == 11 || field == 12) && type == 2) {
      (field == 11 ? g.inputs : g.outputs).push_back(readValueInfo(w.sub()));
    } else {
      w.skip(type);
    }
  }
  return g;
}

// ONNX TensorProto.DataType -> the TensorRT type its parser gives the network tensor; false for types TensorRT
// does not take as network I/O.
bool trtType(int onnx, DataType& out) {
  switch (onnx) {
    case 1: out = DataType::kFLOAT; return true;
    case 2: out = DataType::kUINT8; return true;
    case 3: out = DataType::kINT8; return true;
    case 6: out = DataType::kINT32; return true;
    case 7: out = DataType::kINT64; return true;
    case 9: out = DataType::kBOOL; return true;
    case 10: out = DataType::kHALF; return true;
    case 16: out = DataType::kBF16; return true;
    case 17: out = DataType::kFP8; return true;
    case 22: out = DataType::kINT4; return true;
    default: return false;
  }
}

// ---- the parser --------------------------------------------------------------------------------------------------

class ParserError final : public StubIParserError {
 public:
  ParserError(PErr code, std::string desc, int line, const char* func, int node = -1, std::string nodeName = "",
              std::string op = "")
      : code_(code), desc_(std::move(desc)), line_(line), func_(func), node_(node), nodeName_(std::move(nodeName)),
        op_(std::move(op)) {}
  PErr code() const override { return code_; }
  char const* desc() const override { return desc_.c_str(); }
  char const* file() const override { return "test/tensorrt-double/onnxparser.cc"; }
  int line() const override { return line_; }
  char const* func() const override { return func_; }
  int node() const override { return node_; }
  char const* nodeName() const override { return nodeName_.c_str(); }
  char const* nodeOperator() const override { return op_.c_str(); }
  char const* const* localFunctionStack() const override { return nullptr; }
  int32_t localFunctionStackSize() const override { return 0; }

 private:
  PErr code_;
  std::string desc_;
  int line_;
  const char* func_;
  int node_;
  std::string nodeName_, op_;
};

class Parser final : public StubIParser {
 public:
  Parser(void* network, ILogger* logger) : network_(network), logger_(logger) {
    msbDoubleAttachParser(network_, this);
  }
  ~Parser() override { msbDoubleDetachParser(network_, this); }

  bool parse(void const* bytes, size_t size, const char* = nullptr) noexcept override {
    once();
    return parseBytes(static_cast<const uint8_t*>(bytes), size);
  }
  bool parseFromFile(char const* file, int verbosity) noexcept override {
    once();
    if (verbosity >= static_cast<int>(ILogger::Severity::kINFO)) {
      logger_->log(ILogger::Severity::kINFO, (std::string("Input filename:   ") + file).c_str());
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      add(PErr::kMODEL_DESERIALIZE_FAILED, std::string("Failed to open file: ") + file, __LINE__, __func__);
      return false;
    }
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parseBytes(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  int getNbErrors() const noexcept override { return static_cast<int>(errors_.size()); }
  nvonnxparser::IParserError const* getError(int i) const noexcept override {
    return i >= 0 && i < getNbErrors() ? errors_[static_cast<size_t>(i)].get() : nullptr;
  }
  void clearErrors() noexcept override { errors_.clear(); }

 private:
  // "Each instance of the parser is designed to only parse one ONNX model once." (NvOnnxParser.h, createParser)
  void once() {
    if (parsed_) {
      violated("an IParser was asked to parse a second model",
               "NvOnnxParser.h, createParser: \"Each instance of the parser is designed to only parse one ONNX model "
               "once.\"");
    }
    parsed_ = true;
  }
  void add(PErr code, std::string desc, int line, const char* func, int node = -1, std::string nodeName = "",
           std::string op = "") {
    logger_->log(ILogger::Severity::kERROR, desc.c_str());
    errors_.push_back(std::make_unique<ParserError>(code, std::move(desc), line, func, node, std::move(nodeName),
                                                    std::move(op)));
  }

  bool parseBytes(const uint8_t* bytes, size_t size) noexcept {
    try {
      Model model;
      int64_t irVersion = 0;
      bool hasGraph = false;
      Graph g;
      Wire w(bytes, size);
      while (!w.done()) {
        auto [field, type] = w.tag();
        if (field == 1 && type == 0) {
          irVersion = static_cast<int64_t>(w.varint());
        } else if (field == 7 && type == 2) {
          hasGraph = true;
          g = readGraph(w.sub());
        } else {
          w.skip(type);
        }
      }
      if (irVersion <= 0 || !hasGraph) {
        add(PErr::kMODEL_DESERIALIZE_FAILED,
            std::string("Failed to parse the ONNX model: ") + (irVersion <= 0 ? "no ir_version" : "no graph"), __LINE__,
            __func__);
        return false;
      }
      model.graphName = g.name;
      model.nodes = static_cast<int>(g.nodes.size());
      bool ok = true;
      auto tensor = [&](const ValueInfo& vi, const char* role, std::vector<Tensor>& out) {
        Tensor t{vi.name, DataType::kFLOAT, vi.dims};
        if (vi.kind != "tensor") {
          add(PErr::kUNSUPPORTED_GRAPH, std::string(role) + " '" + vi.name + "' is a " + vi.kind +
                                                 ", TensorRT network I/O are tensors", __LINE__, __func__);
          ok = false;
        } else if (!trtType(vi.elemType, t.type)) {
          add(PErr::kUNSUPPORTED_GRAPH, std::string(role) + " '" + vi.name + "' has ONNX element type " +
                                                 std::to_string(vi.elemType) + ", which TensorRT does not support",
              __LINE__, __func__);
          ok = false;
        } else if (!vi.hasShape) {
          add(PErr::kINVALID_GRAPH, std::string(role) + " '" + vi.name + "' has no shape (unknown rank)", __LINE__,
              __func__);
          ok = false;
        } else if (vi.dims.size() > static_cast<size_t>(Dims::MAX_DIMS)) {
          add(PErr::kUNSUPPORTED_GRAPH, std::string(role) + " '" + vi.name + "' has more than 8 dimensions",
              __LINE__, __func__);
          ok = false;
        }
        out.push_back(std::move(t));
      };
      for (const ValueInfo& vi : g.inputs) {
        if (g.initializers.count(vi.name) == 0) tensor(vi, "input", model.inputs);
      }
      for (const ValueInfo& vi : g.outputs) tensor(vi, "output", model.outputs);
      std::set<std::string> unsupported;
      std::istringstream ops(knob("MSB_DOUBLE_UNSUPPORTED_OPS"));
      for (std::string op; std::getline(ops, op, ',');) {
        if (!op.empty()) unsupported.insert(op);
      }
      for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (unsupported.count(g.nodes[i].op) == 0) continue;
        add(PErr::kUNSUPPORTED_NODE, "No importer registered for op: " + g.nodes[i].op, __LINE__, __func__,
            static_cast<int>(i), g.nodes[i].name, g.nodes[i].op);
        ok = false;
      }
      if (!ok) return false;
      msbDoubleDefineNetwork(network_, &model);
      return true;
    } catch (const Corrupt& c) {
      add(PErr::kMODEL_DESERIALIZE_FAILED, "Failed to parse the ONNX model: " + c.what, __LINE__, __func__);
      return false;
    } catch (const std::exception& e) {
      add(PErr::kINTERNAL_ERROR, e.what(), __LINE__, __func__);
      return false;
    }
  }

  void* network_;
  ILogger* logger_;
  bool parsed_ = false;
  std::vector<std::unique_ptr<ParserError>> errors_;
};

}  // namespace
}  // namespace msbdouble

extern "C" {

__attribute__((visibility("default"))) void* createNvOnnxParser_INTERNAL(void* network, void* logger,
                                                                         int version) noexcept {
  if (network == nullptr || logger == nullptr) {
    msbdouble::violated("createNvOnnxParser without a network or logger", "NvOnnxParser.h, createParser");
  }
  if (version != NV_ONNX_PARSER_VERSION) {
    static_cast<ILogger*>(logger)->log(ILogger::Severity::kERROR, "createNvOnnxParser: parser version mismatch");
    return nullptr;
  }
  return static_cast<nvonnxparser::IParser*>(new msbdouble::Parser(network, static_cast<ILogger*>(logger)));
}

__attribute__((visibility("default"))) int getNvOnnxParserVersion() noexcept { return NV_ONNX_PARSER_VERSION; }
}
