#include "runtime/ir/graph.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace pare {

Attribute Attribute::make_int(int64_t v) {
    Attribute a;
    a.kind = Kind::kInt;
    a.i = v;
    return a;
}
Attribute Attribute::make_float(float v) {
    Attribute a;
    a.kind = Kind::kFloat;
    a.f = v;
    return a;
}
Attribute Attribute::make_ints(std::vector<int64_t> v) {
    Attribute a;
    a.kind = Kind::kInts;
    a.ints = std::move(v);
    return a;
}
Attribute Attribute::make_floats(std::vector<float> v) {
    Attribute a;
    a.kind = Kind::kFloats;
    a.floats = std::move(v);
    return a;
}
Attribute Attribute::make_string(std::string v) {
    Attribute a;
    a.kind = Kind::kString;
    a.s = std::move(v);
    return a;
}
Attribute Attribute::make_strings(std::vector<std::string> v) {
    Attribute a;
    a.kind = Kind::kStrings;
    a.strings = std::move(v);
    return a;
}
Attribute Attribute::make_graph(Graph v) {
    Attribute a;
    a.kind = Kind::kGraph;
    a.g = std::make_shared<Graph>(std::move(v));
    return a;
}
Attribute Attribute::make_tensor(Tensor v) {
    Attribute a;
    a.kind = Kind::kTensor;
    a.t = std::move(v);
    return a;
}

static bool tensors_equal(const Tensor& a, const Tensor& b) {
    if (a.defined() != b.defined()) return false;
    if (!a.defined()) return true;
    return a.dtype() == b.dtype() && a.shape() == b.shape() &&
           std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

bool Attribute::operator==(const Attribute& o) const {
    if (kind != o.kind) return false;
    switch (kind) {
        case Kind::kFloat:
            return f == o.f || (f != f && o.f != o.f);
        case Kind::kInt:
            return i == o.i;
        case Kind::kString:
            return s == o.s;
        case Kind::kTensor:
            return tensors_equal(t, o.t);
        case Kind::kFloats:
            return floats == o.floats;
        case Kind::kInts:
            return ints == o.ints;
        case Kind::kStrings:
            return strings == o.strings;
        case Kind::kGraph:
            return g == o.g;
    }
    return false;
}

int64_t Attributes::get_int(const std::string& name, int64_t def) const {
    auto it = map_.find(name);
    if (it == map_.end()) return def;
    if (it->second.kind == Attribute::Kind::kInt) return it->second.i;
    if (it->second.kind == Attribute::Kind::kFloat) {
        float f = it->second.f;
        return (f > -9.2e18f && f < 9.2e18f) ? static_cast<int64_t>(f) : def;
    }
    return def;
}

float Attributes::get_float(const std::string& name, float def) const {
    auto it = map_.find(name);
    if (it == map_.end()) return def;
    if (it->second.kind == Attribute::Kind::kFloat) return it->second.f;
    if (it->second.kind == Attribute::Kind::kInt) return static_cast<float>(it->second.i);
    return def;
}

std::string Attributes::get_string(const std::string& name, const std::string& def) const {
    auto it = map_.find(name);
    if (it == map_.end() || it->second.kind != Attribute::Kind::kString) return def;
    return it->second.s;
}

std::vector<int64_t> Attributes::get_ints(const std::string& name) const {
    auto it = map_.find(name);
    if (it == map_.end()) return {};
    if (it->second.kind == Attribute::Kind::kInts) return it->second.ints;
    if (it->second.kind == Attribute::Kind::kInt) return {it->second.i};
    return {};
}

std::vector<float> Attributes::get_floats(const std::string& name) const {
    auto it = map_.find(name);
    if (it == map_.end()) return {};
    if (it->second.kind == Attribute::Kind::kFloats) return it->second.floats;
    if (it->second.kind == Attribute::Kind::kFloat) return {it->second.f};
    return {};
}

const Graph* Attributes::get_graph(const std::string& name) const {
    auto it = map_.find(name);
    if (it == map_.end() || it->second.kind != Attribute::Kind::kGraph) return nullptr;
    return it->second.g.get();
}

const Tensor* Attributes::get_tensor(const std::string& name) const {
    auto it = map_.find(name);
    if (it == map_.end() || it->second.kind != Attribute::Kind::kTensor) return nullptr;
    return &it->second.t;
}

std::string Node::where() const { return "node \"" + name + "\" (" + op_type + ")"; }

const std::string& Node::input(size_t i) const {
    static const std::string kEmpty;
    return i < inputs.size() ? inputs[i] : kEmpty;
}

bool Graph::is_input(const std::string& v) const {
    for (const auto& i : inputs) {
        if (i.name == v) return true;
    }
    return false;
}

bool Graph::is_output(const std::string& v) const {
    for (const auto& o : outputs) {
        if (o.name == v) return true;
    }
    return false;
}

int Graph::producer_of(const std::string& v) const {
    for (size_t n = 0; n < nodes.size(); ++n) {
        for (const auto& o : nodes[n].outputs) {
            if (o == v) return static_cast<int>(n);
        }
    }
    return -1;
}

std::map<std::string, std::vector<int>> Graph::consumers() const {
    std::map<std::string, std::vector<int>> c;
    for (size_t n = 0; n < nodes.size(); ++n) {
        for (const auto& i : nodes[n].inputs) {
            if (!i.empty()) c[i].push_back(static_cast<int>(n));
        }
    }
    return c;
}

Status Graph::topo_sort() {
    std::map<std::string, int> producer;
    for (size_t n = 0; n < nodes.size(); ++n) {
        for (const auto& o : nodes[n].outputs) {
            if (!o.empty()) producer[o] = static_cast<int>(n);
        }
    }
    std::vector<int> pending(nodes.size(), 0);
    std::vector<std::vector<int>> users(nodes.size());
    for (size_t n = 0; n < nodes.size(); ++n) {
        std::set<int> deps;
        for (const auto& i : nodes[n].inputs) {
            if (i.empty() || is_initializer(i) || is_input(i)) continue;
            auto it = producer.find(i);
            if (it == producer.end()) {
                return invalid_argument(nodes[n].where() + ": input \"" + i +
                                        "\" is not produced by any node, graph input or "
                                        "initializer");
            }
            deps.insert(it->second);
        }
        pending[n] = static_cast<int>(deps.size());
        for (int d : deps) users[d].push_back(static_cast<int>(n));
    }
    std::vector<int> order;
    std::set<int> ready;  // smallest index first: keeps the original order where possible
    for (size_t n = 0; n < nodes.size(); ++n) {
        if (pending[n] == 0) ready.insert(static_cast<int>(n));
    }
    while (!ready.empty()) {
        int n = *ready.begin();
        ready.erase(ready.begin());
        order.push_back(n);
        for (int u : users[n]) {
            if (--pending[u] == 0) ready.insert(u);
        }
    }
    if (order.size() != nodes.size()) {
        for (size_t n = 0; n < nodes.size(); ++n) {
            if (pending[n] > 0) return invalid_argument(nodes[n].where() + " is part of a cycle");
        }
    }
    std::vector<Node> sorted;
    sorted.reserve(nodes.size());
    for (int n : order) sorted.push_back(std::move(nodes[n]));
    nodes = std::move(sorted);
    return Status();
}

std::string Graph::unique_name(const std::string& base) const {
    std::set<std::string> used;
    for (const auto& n : nodes) {
        used.insert(n.name);
        for (const auto& v : n.inputs) used.insert(v);
        for (const auto& v : n.outputs) used.insert(v);
    }
    for (const auto& i : inputs) used.insert(i.name);
    for (const auto& kv : initializers) used.insert(kv.first);
    if (!used.count(base)) return base;
    for (int k = 1;; ++k) {
        std::string c = base + "_" + std::to_string(k);
        if (!used.count(c)) return c;
    }
}

void Graph::bind_batch(int64_t batch) {
    for (auto& in : inputs) {
        if (in.shape.empty() || in.shape[0] >= 0) continue;
        in.shape[0] = batch;
        if (!in.dim_params.empty()) in.dim_params[0] = "";
    }
}

Status Graph::resolve_ops() {
    for (auto& n : nodes) {
        n.op = op_from_name(n.op_type, n.domain);
        if (n.op == OpKind::kUnknown) {
            std::string dom = n.domain.empty() ? "" : " in domain \"" + n.domain + "\"";
            return unsupported(n.where() + ": op " + n.op_type + dom +
                               " is not supported (see docs/ops.md)");
        }
    }
    return Status();
}

int64_t Graph::parameter_count() const {
    int64_t n = 0;
    for (const auto& kv : initializers) n += kv.second.numel();
    return n;
}

Status verify(const Graph& g) {
    std::set<std::string> defined;
    for (const auto& i : g.inputs) {
        if (i.name.empty()) return invalid_argument("graph input with an empty name");
        if (!defined.insert(i.name).second) {
            return invalid_argument("graph input \"" + i.name + "\" is defined twice");
        }
    }
    for (const auto& kv : g.initializers) {
        if (!defined.insert(kv.first).second && !g.is_input(kv.first)) {
            return invalid_argument("initializer \"" + kv.first + "\" is defined twice");
        }
    }
    for (const auto& n : g.nodes) {
        if (n.op == OpKind::kUnknown) {
            return unsupported(n.where() + ": op " + n.op_type + " is not supported");
        }
        if (n.outputs.empty() || n.outputs[0].empty()) {
            return invalid_argument(n.where() + " has no output");
        }
        for (const auto& o : n.outputs) {
            if (o.empty()) continue;
            if (!defined.insert(o).second) {
                return invalid_argument(n.where() + ": output \"" + o +
                                        "\" is already defined elsewhere");
            }
        }
    }
    for (const auto& n : g.nodes) {
        for (const auto& i : n.inputs) {
            if (!i.empty() && !defined.count(i)) {
                return invalid_argument(n.where() + ": input \"" + i +
                                        "\" is never produced (no node, graph input or "
                                        "initializer defines it)");
            }
        }
    }
    for (const auto& o : g.outputs) {
        if (!defined.count(o.name)) {
            return invalid_argument("graph output \"" + o.name + "\" is never produced");
        }
    }
    for (const auto& kv : g.value_info) {
        auto it = g.initializers.find(kv.first);
        if (it != g.initializers.end() && kv.second.dtype != DType::kUndefined &&
            kv.second.dtype != it->second.dtype()) {
            return invalid_argument("value \"" + kv.first + "\" is declared " +
                                    dtype_name(kv.second.dtype) + " but its initializer is " +
                                    dtype_name(it->second.dtype()));
        }
    }
    Graph copy;  // cycle check without touching g
    copy.inputs = g.inputs;
    copy.nodes = g.nodes;
    for (const auto& kv : g.initializers) copy.initializers.emplace(kv.first, Tensor());
    return copy.topo_sort();
}

}  // namespace pare
