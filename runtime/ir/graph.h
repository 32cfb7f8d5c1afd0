// The IR: one representation that importers produce, passes transform, the
// executor runs and exporters write.
//
// Edges are value names (ONNX style). A value is produced by exactly one node,
// or is a graph input or an initializer. An empty input name is an absent
// optional input. `value_info` holds the known dtype and shape of values
// (dims < 0 are unknown; `dim_params` keeps symbolic names of graph inputs).
// Node order is not significant until `topo_sort` is applied; the verifier checks
// there is an order (the graph is acyclic).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/ops/op_kind.h"

namespace pare {

class Graph;

struct Attribute {
    // kGraph (last, so .pare files' kind numbers stay): a control-flow branch (If).
    enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kGraph };
    Kind kind = Kind::kInt;
    float f = 0;
    int64_t i = 0;
    std::string s;
    Tensor t;
    std::vector<float> floats;
    std::vector<int64_t> ints;
    std::vector<std::string> strings;
    // A branch of an If node. Its `inputs` are the values it reads from the enclosing
    // graph, in the order of the If node's inputs after the condition (the importer
    // lists them; ONNX files name them implicitly, by outer scope).
    std::shared_ptr<Graph> g;

    static Attribute make_int(int64_t v);
    static Attribute make_float(float v);
    static Attribute make_ints(std::vector<int64_t> v);
    static Attribute make_floats(std::vector<float> v);
    static Attribute make_string(std::string v);
    static Attribute make_strings(std::vector<std::string> v);
    static Attribute make_tensor(Tensor v);
    static Attribute make_graph(Graph v);
    bool operator==(const Attribute& o) const;
};

// Typed getters return the default when the attribute is absent. A present
// attribute of another kind is converted where sensible (int<->float), else the
// default is returned: hostile files must not crash the runtime.
class Attributes {
  public:
    bool has(const std::string& name) const { return map_.count(name) != 0; }
    int64_t get_int(const std::string& name, int64_t def) const;
    float get_float(const std::string& name, float def) const;
    std::string get_string(const std::string& name, const std::string& def) const;
    std::vector<int64_t> get_ints(const std::string& name) const;
    std::vector<float> get_floats(const std::string& name) const;
    const Tensor* get_tensor(const std::string& name) const;
    const Graph* get_graph(const std::string& name) const;
    void set(const std::string& name, Attribute a) { map_[name] = std::move(a); }
    void erase(const std::string& name) { map_.erase(name); }
    const std::map<std::string, Attribute>& map() const { return map_; }

  private:
    std::map<std::string, Attribute> map_;
};

struct Node {
    std::string name;
    std::string op_type;
    std::string domain;  // "" for the default ONNX domain
    OpKind op = OpKind::kUnknown;
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    Attributes attrs;

    // Where this node is, for error messages: node "name" (OpType)
    std::string where() const;
    // Input i, or "" when absent.
    const std::string& input(size_t i) const;
};

struct ValueInfo {
    std::string name;
    DType dtype = DType::kUndefined;
    bool has_shape = false;               // rank known
    Shape shape;                          // dims < 0 unknown
    std::vector<std::string> dim_params;  // symbolic names ("" if none), same rank as shape
};

class Graph {
  public:
    std::string name = "graph";
    int64_t opset = 17;  // ai.onnx opset; the IR keeps opset-17 semantics after import
    std::string producer;

    std::vector<Node> nodes;
    std::vector<ValueInfo> inputs;  // excludes initializers
    std::vector<ValueInfo> outputs;
    std::map<std::string, Tensor> initializers;
    std::map<std::string, ValueInfo> value_info;  // known types of intermediate values

    bool is_initializer(const std::string& v) const { return initializers.count(v) != 0; }
    bool is_input(const std::string& v) const;
    bool is_output(const std::string& v) const;
    // Index of the node producing v, or -1.
    int producer_of(const std::string& v) const;
    // For each value name, the indices of nodes consuming it.
    std::map<std::string, std::vector<int>> consumers() const;
    // Reorders nodes topologically; fails if a cycle or an undefined input is found.
    Status topo_sort();
    // A value name not used anywhere in the graph, starting with base.
    std::string unique_name(const std::string& base) const;
    // Binds a symbolic (unknown) first dimension of every input to `batch` and drops
    // its name; fixed batches are left as they are.
    void bind_batch(int64_t batch);
    // Resolves node.op from op_type/domain for every node; errors name the first unknown op.
    Status resolve_ops();
    int64_t parameter_count() const;
};

// Structural checks: names unique, every input defined, acyclic, ops known,
// initializer and value_info types consistent. Does not need shapes.
Status verify(const Graph& g);

}  // namespace pare
