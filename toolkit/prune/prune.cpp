// Pruning: unstructured (magnitude, N:M) and structured (channels), as analyze
// then apply (prune.h).
#include "toolkit/prune/prune.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "toolkit/prune/channels.h"
#include "toolkit/report/model_stats.h"

namespace pare {

namespace {

const char* const kMethodNames[] = {"magnitude", "nm", "l1", "l2", "bn", "taylor"};

bool is_layer(const Graph& g, const Node& n) {
    if (n.op != OpKind::kConv && n.op != OpKind::kGemm && n.op != OpKind::kMatMul) return false;
    const auto it = g.initializers.find(n.input(1));
    return it != g.initializers.end() && it->second.dtype() == DType::kFloat32 &&
           it->second.rank() >= 2;
}

const Node* find_node(const Graph& g, const std::string& name) {
    for (const auto& n : g.nodes)
        if (n.name == name) return &n;
    return nullptr;
}

// The weight's layout for N:M: `outer` runs of `k` values `stride` apart (a
// Conv's filters and a transB Gemm's rows are contiguous; a (K, N) weight's
// columns are strided).
struct Rows {
    int64_t outer = 0, k = 0, stride = 1;
    int64_t at(int64_t r, int64_t j) const { return stride == 1 ? r * k + j : j * stride + r; }
};
Rows rows_of(const Node& n, const Tensor& w) {
    Rows r;
    const bool contiguous =
        n.op == OpKind::kConv || (n.op == OpKind::kGemm && n.attrs.get_int("transB", 0) != 0);
    if (contiguous) {
        r.outer = w.shape()[0];
        r.k = w.numel() / std::max<int64_t>(1, r.outer);
    } else {
        r.outer = w.shape()[1];
        r.k = w.shape()[0];
        r.stride = r.outer;
    }
    return r;
}

// Zeroes the `count` smallest magnitudes of w (ties: the lower index first).
void zero_smallest(Tensor& w, int64_t count) {
    float* p = w.data<float>();
    const int64_t n = w.numel();
    count = std::clamp<int64_t>(count, 0, n);
    if (count == 0) return;
    std::vector<int64_t> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    const auto less = [p](int64_t a, int64_t b) {
        const float x = std::fabs(p[a]), y = std::fabs(p[b]);
        return x < y || (x == y && a < b);
    };
    std::nth_element(idx.begin(), idx.begin() + (count - 1), idx.end(), less);
    for (int64_t i = 0; i < count; ++i) p[idx[static_cast<size_t>(i)]] = 0.0f;
}

void apply_nm(const Node& n, Tensor& w, int keep, int m) {
    const Rows r = rows_of(n, w);
    float* p = w.data<float>();
    std::vector<int64_t> at(static_cast<size_t>(m));
    for (int64_t o = 0; o < r.outer; ++o) {
        for (int64_t j0 = 0; j0 + m <= r.k; j0 += m) {
            for (int j = 0; j < m; ++j) at[static_cast<size_t>(j)] = r.at(o, j0 + j);
            std::stable_sort(at.begin(), at.end(), [p](int64_t a, int64_t b) {
                return std::fabs(p[a]) > std::fabs(p[b]);
            });
            for (int j = keep; j < m; ++j) p[at[static_cast<size_t>(j)]] = 0.0f;
        }
    }
}

// --- structured -------------------------------------------------------------

// `keep` indices of t along axis, any dtype.
Tensor take(const Tensor& t, int axis, const std::vector<int64_t>& keep) {
    Shape s = t.shape();
    const size_t es = dtype_size(t.dtype());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
    const int64_t n = s[static_cast<size_t>(axis)];
    s[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
    Tensor r = Tensor::create(t.dtype(), s).value();
    const auto* src = static_cast<const uint8_t*>(t.raw());
    auto* dst = static_cast<uint8_t*>(r.raw());
    const size_t row = static_cast<size_t>(inner) * es;
    for (int64_t o = 0; o < outer; ++o)
        for (size_t k = 0; k < keep.size(); ++k)
            std::memcpy(dst + (static_cast<size_t>(o) * keep.size() + k) * row,
                        src + static_cast<size_t>(o * n + keep[k]) * row, row);
    return r;
}

struct ClassInfo {
    double importance = 0, bn = 0;
    bool has_bn = false;
    std::set<std::string> layers;
    std::vector<std::pair<std::string, int64_t>> members;  // (layer, output channel)
};

// Importance of filter c of a kMake slot's weight along `axis`.
double filter_score(const Tensor& w, int axis, int64_t c, PruneMethod m, const Tensor* taylor) {
    const Shape& s = w.shape();
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
    const int64_t n = s[static_cast<size_t>(axis)], outer = w.numel() / (n * inner);
    const float* p = w.data<float>();
    const float* t = taylor ? taylor->data<float>() : nullptr;
    double acc = 0;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const int64_t k = (o * n + c) * inner + i;
            if (m == PruneMethod::kL1) acc += std::fabs(p[k]);
            if (m == PruneMethod::kL2) acc += static_cast<double>(p[k]) * p[k];
            if (m == PruneMethod::kTaylor && t) acc += t[k];
        }
    if (m == PruneMethod::kL2) return std::sqrt(acc);
    return std::fabs(acc);
}

std::string group_key(const std::set<std::string>& layers) {
    std::string k;
    for (const auto& l : layers) k += l + "\n";
    return k;
}

// g: prepare_for_pruning's view.
Result<PrunePlan> analyze_structured(const Graph& g, const PruneOptions& o) {
    PARE_ASSIGN_OR_RETURN(ChannelAnalysis an, ChannelAnalysis::run(g));
    for (const auto& name : o.protect)
        for (const auto& s : an.slots())
            if (s.kind == ChannelSlot::kMake && g.nodes[static_cast<size_t>(s.node)].name == name)
                for (int id : s.ids) an.freeze(id, "the protected layer \"" + name + "\"");
    if (o.method == PruneMethod::kTaylor && o.taylor.empty())
        return invalid_argument("taylor needs gradients from the trainer (training data)");
    // Filter norms are read from the weights as the model computes them: with the
    // BatchNormalization (and other affine layers) after a convolution folded in, so
    // a filter BN scales up is not taken for a small one.
    Graph folded = g;
    PARE_RETURN_IF_ERROR(fold_affine(folded).status());
    std::map<std::string, const Node*> folded_node;
    for (const auto& n : folded.nodes) folded_node[n.name] = &n;
    std::map<int, ClassInfo> classes;
    for (const auto& s : an.slots()) {
        const Node& n = g.nodes[static_cast<size_t>(s.node)];
        if (s.kind == ChannelSlot::kMake) {
            const auto fit = folded_node.find(n.name);
            const Tensor* fw =
                fit == folded_node.end() ? nullptr : &folded.initializers.at(fit->second->input(1));
            const Tensor& w = fw && fw->shape() == g.initializers.at(n.input(1)).shape()
                                  ? *fw
                                  : g.initializers.at(n.input(1));
            const auto tit = o.taylor.find(n.input(1));
            const Tensor* tay = tit == o.taylor.end() ? nullptr : &tit->second;
            if (tay && tay->shape() != w.shape()) tay = nullptr;
            for (size_t c = 0; c < s.ids.size(); ++c) {
                if (an.frozen(s.ids[c])) continue;
                ClassInfo& ci = classes[an.find(s.ids[c])];
                ci.importance += filter_score(w, s.axis, static_cast<int64_t>(c), o.method, tay);
                ci.layers.insert(n.name);
                ci.members.emplace_back(n.name, static_cast<int64_t>(c));
            }
        } else if (s.kind == ChannelSlot::kParam && n.op == OpKind::kBatchNormalization &&
                   s.input == 1) {
            const Tensor& gamma = g.initializers.at(n.input(1));
            for (size_t c = 0; c < s.ids.size(); ++c) {
                const auto it = classes.find(an.find(s.ids[c]));
                if (it == classes.end()) continue;
                it->second.has_bn = true;
                it->second.bn += std::fabs(gamma.at_double(static_cast<int64_t>(c)));
            }
        }
    }
    if (o.method == PruneMethod::kBn) {
        bool any = false;
        for (auto& kv : classes) {
            any = any || kv.second.has_bn;
            kv.second.importance = kv.second.bn;
        }
        if (!any)
            return invalid_argument(
                "bn: no prunable channel passes through a BatchNormalization (the exporter "
                "folded them into the convolutions?); use l1, l2 or taylor");
    }
    // Groups: the classes made by the same set of layers.
    std::map<std::string, std::vector<int>> groups;
    for (const auto& kv : classes) {
        if (o.method == PruneMethod::kBn && !kv.second.has_bn) continue;
        groups[group_key(kv.second.layers)].push_back(kv.first);
    }
    std::set<int> removed;
    auto by_importance = [&](std::vector<int>& v) {
        std::stable_sort(v.begin(), v.end(), [&](int a, int b) {
            return classes[a].importance < classes[b].importance;
        });
    };
    if (!o.global) {
        for (auto& kv : groups) {
            by_importance(kv.second);
            const auto n = static_cast<int64_t>(kv.second.size());
            const int64_t r = std::min<int64_t>(
                n - 1, static_cast<int64_t>(std::floor(o.sparsity * static_cast<double>(n))));
            for (int64_t i = 0; i < r; ++i) removed.insert(kv.second[static_cast<size_t>(i)]);
        }
    } else {
        std::vector<std::pair<double, int>> all;
        std::map<int, std::string> group_of;
        std::map<std::string, int64_t> left, floor_of;
        int64_t total = 0;
        for (auto& kv : groups) {
            double mean = 0;
            for (int c : kv.second) mean += classes[c].importance;
            mean /= static_cast<double>(kv.second.size());
            for (int c : kv.second) {
                all.emplace_back(mean > 0 ? classes[c].importance / mean : 0.0, c);
                group_of[c] = kv.first;
            }
            const auto n = static_cast<int64_t>(kv.second.size());
            left[kv.first] = n;
            floor_of[kv.first] = std::max<int64_t>(
                1, static_cast<int64_t>(std::ceil(o.min_keep * static_cast<double>(n))));
            total += n;
        }
        std::stable_sort(all.begin(), all.end());
        const auto target =
            static_cast<int64_t>(std::floor(o.sparsity * static_cast<double>(total)));
        for (const auto& [score, c] : all) {
            if (static_cast<int64_t>(removed.size()) >= target) break;
            const std::string& k = group_of[c];
            if (left[k] <= floor_of[k]) continue;
            --left[k];
            removed.insert(c);
        }
    }
    // Channel counts rounded up to a multiple of round_to (the kernels' vector
    // width): the least important removals are undone.
    if (o.round_to > 1) {
        for (auto& kv : groups) {
            by_importance(kv.second);
            const auto n = static_cast<int64_t>(kv.second.size());
            int64_t cut = 0;
            for (int c : kv.second) cut += removed.count(c);
            const int64_t keep = std::min(n, (n - cut + o.round_to - 1) / o.round_to * o.round_to);
            // Put back the most important removed channels until `keep` remain.
            for (int64_t i = n - keep; i < n; ++i) removed.erase(kv.second[static_cast<size_t>(i)]);
            for (int64_t i = 0; i < n - keep; ++i)
                removed.insert(kv.second[static_cast<size_t>(i)]);
        }
    }
    PrunePlan plan;
    plan.method = o.method;
    plan.target = o.sparsity;
    std::map<std::string, std::vector<int64_t>> per_layer;
    for (int c : removed)
        for (const auto& [layer, ch] : classes[c].members) per_layer[layer].push_back(ch);
    for (const auto& n : g.nodes) {  // graph order
        auto it = per_layer.find(n.name);
        if (it == per_layer.end()) continue;
        std::sort(it->second.begin(), it->second.end());
        plan.channels.push_back({n.name, it->second});
    }
    return plan;
}

Result<Graph> apply_structured(const Graph& g0, const PrunePlan& plan) {
    PARE_ASSIGN_OR_RETURN(Graph g, prepare_for_pruning(g0));
    PARE_ASSIGN_OR_RETURN(ChannelAnalysis an, ChannelAnalysis::run(g));
    std::set<int> removed;
    for (const auto& cp : plan.channels) {
        const ChannelSlot* make = nullptr;
        for (const auto& s : an.slots())
            if (s.kind == ChannelSlot::kMake &&
                g.nodes[static_cast<size_t>(s.node)].name == cp.layer)
                make = &s;
        if (!make) {
            return invalid_argument("layer \"" + cp.layer +
                                    "\" is no Conv, Gemm or MatMul whose channels can be removed");
        }
        for (int64_t c : cp.channels) {
            if (c < 0 || c >= static_cast<int64_t>(make->ids.size()))
                return invalid_argument("layer \"" + cp.layer + "\" has no output channel " +
                                        std::to_string(c));
            const int id = make->ids[static_cast<size_t>(c)];
            if (an.frozen(id))
                return invalid_argument("channel " + std::to_string(c) + " of layer \"" + cp.layer +
                                        "\" cannot be removed: it reaches " + an.frozen_by(id));
            removed.insert(an.find(id));
        }
    }
    const auto kept = [&](const std::vector<int>& ids, int64_t b, int64_t e) {
        std::vector<int64_t> k;
        for (int64_t i = b; i < e; ++i)
            if (!removed.count(an.find(ids[static_cast<size_t>(i)]))) k.push_back(i - b);
        return k;
    };
    std::map<std::pair<int, int>, Tensor> edited;  // (node, input) -> new initializer
    const auto tensor = [&](int node, int input) -> Tensor& {
        const auto key = std::make_pair(node, input);
        auto it = edited.find(key);
        if (it == edited.end()) {
            const std::string& name =
                g.nodes[static_cast<size_t>(node)].input(static_cast<size_t>(input));
            it = edited.emplace(key, g.initializers.at(name)).first;
        }
        return it->second;
    };
    std::map<int, std::map<int, int64_t>> split_sizes;  // node -> output -> channels
    for (const auto& s : an.slots()) {
        Node& n = g.nodes[static_cast<size_t>(s.node)];
        const std::vector<int64_t> k = kept(s.ids, 0, static_cast<int64_t>(s.ids.size()));
        switch (s.kind) {
            case ChannelSlot::kMake:
            case ChannelSlot::kRead:
            case ChannelSlot::kDepthwise: {
                if (k.size() == s.ids.size()) break;
                Tensor& w = tensor(s.node, 1);
                w = take(w, s.axis, k);
                if (s.kind == ChannelSlot::kRead) break;
                if (!n.input(2).empty()) {
                    Tensor& b = tensor(s.node, 2);
                    b = take(b, static_cast<int>(b.rank()) - 1, k);
                }
                if (s.kind == ChannelSlot::kDepthwise)
                    n.attrs.set("group", Attribute::make_int(static_cast<int64_t>(k.size())));
                break;
            }
            case ChannelSlot::kParam: {
                if (k.size() == s.ids.size()) break;
                Tensor& t = tensor(s.node, s.input);
                t = take(t, s.axis, k);
                break;
            }
            case ChannelSlot::kSplit:
                split_sizes[s.node][s.output] =
                    static_cast<int64_t>(kept(s.ids, s.begin, s.end).size());
                break;
            case ChannelSlot::kSlice: {
                const auto before = static_cast<int64_t>(kept(s.ids, 0, s.begin).size());
                const auto inside = static_cast<int64_t>(kept(s.ids, s.begin, s.end).size());
                if (before == s.begin && inside == s.end - s.begin) break;
                for (int in = 1; in <= 2; ++in) {
                    Tensor& t = tensor(s.node, in);
                    t = t.clone();
                    const int64_t v = in == 1 ? before : before + inside;
                    if (t.dtype() == DType::kInt64)
                        t.data<int64_t>()[s.input] = v;
                    else if (t.dtype() == DType::kInt32)
                        t.data<int32_t>()[s.input] = static_cast<int32_t>(v);
                    else
                        return invalid_argument(n.where() + ": starts/ends are not integers");
                }
                break;
            }
            case ChannelSlot::kReshape: {
                if (k.size() == s.ids.size()) break;
                Tensor& t = tensor(s.node, 1);
                t = t.clone();
                if (t.dtype() != DType::kInt64)
                    return invalid_argument(n.where() + ": the shape is not int64");
                t.data<int64_t>()[1] = -1;
                break;
            }
        }
    }
    for (const auto& [node, sizes] : split_sizes) {
        Node& n = g.nodes[static_cast<size_t>(node)];
        std::vector<int64_t> v;
        for (const auto& kv : sizes) v.push_back(kv.second);
        const std::string name = g.unique_name(n.name + "_split");
        g.initializers[name] = Tensor::from_vector(v, Shape{static_cast<int64_t>(v.size())});
        if (n.inputs.size() < 2) n.inputs.resize(2);
        n.inputs[1] = name;
    }
    // Install the edited initializers: in place when nothing else reads them.
    std::map<std::string, int> uses;
    for (const auto& n : g.nodes)
        for (const auto& i : n.inputs)
            if (!i.empty()) ++uses[i];
    for (auto& [key, t] : edited) {
        Node& n = g.nodes[static_cast<size_t>(key.first)];
        std::string& name = n.inputs[static_cast<size_t>(key.second)];
        if (uses[name] == 1 && !g.is_output(name)) {
            g.initializers[name] = t;
        } else {
            const std::string fresh = g.unique_name(name + "_pruned");
            g.initializers[fresh] = t;
            name = fresh;
        }
    }
    // Shapes again from scratch: the graph's outputs must keep theirs.
    std::map<std::string, ValueInfo> outputs_before;
    for (const auto& o : g.outputs) outputs_before[o.name] = g.value_info[o.name];
    g.value_info.clear();
    PARE_RETURN_IF_ERROR(infer_shapes(g).with_context("the pruned graph"));
    for (const auto& [name, vi] : outputs_before) {
        const auto it = g.value_info.find(name);
        if (it != g.value_info.end() && vi.has_shape && it->second.shape != vi.shape)
            return internal_error("pruning changed the shape of output \"" + name + "\"");
    }
    PARE_ASSIGN_OR_RETURN(int dead, eliminate_dead_code(g));
    (void)dead;
    return g;
}

}  // namespace

// A copy of g with ops resolved, nodes sorted, Identity nodes removed and
// constant subgraphs folded (exporters route shared weights through Identity), and
// shapes inferred. BatchNormalization stays (bn reads it; the trainer trains it).
Result<Graph> prepare_for_pruning(const Graph& g) {
    Graph p = g;
    PARE_RETURN_IF_ERROR(prepare_for_editing(p));
    return p;
}

Result<PruneMethod> parse_prune_method(const std::string& name) {
    for (int i = 0; i < 6; ++i)
        if (name == kMethodNames[i]) return static_cast<PruneMethod>(i);
    return invalid_argument("unknown pruning method \"" + name +
                            "\" (magnitude, nm, l1, l2, bn or taylor)");
}

const char* prune_method_name(PruneMethod m) { return kMethodNames[static_cast<int>(m)]; }

bool is_structured(PruneMethod m) { return m != PruneMethod::kMagnitude && m != PruneMethod::kNM; }

namespace {

// prunable_layers of prepare_for_pruning's view g.
Result<std::vector<std::string>> layers_of(const Graph& g, const PruneOptions& o) {
    for (const auto& p : o.protect)
        if (!find_node(g, p)) return invalid_argument("--protect: no node is named \"" + p + "\"");
    std::vector<std::string> v;
    for (const auto& n : g.nodes) {
        if (!is_layer(g, n)) continue;
        if (std::find(o.protect.begin(), o.protect.end(), n.name) != o.protect.end()) continue;
        v.push_back(n.name);
    }
    if (v.empty())
        return invalid_argument("the model has no Conv, Gemm or MatMul with constant weights");
    return v;
}

}  // namespace

Result<std::vector<std::string>> prunable_layers(const Graph& g0, const PruneOptions& o) {
    PARE_ASSIGN_OR_RETURN(Graph g, prepare_for_pruning(g0));
    return layers_of(g, o);
}

Result<PrunePlan> analyze_pruning(const Graph& g0, const PruneOptions& o) {
    if (!(o.sparsity >= 0 && o.sparsity < 1))
        return invalid_argument("the sparsity must be in [0, 1), not " +
                                std::to_string(o.sparsity));
    if (o.method == PruneMethod::kNM && !(o.n >= 1 && o.n < o.m && o.m <= 64))
        return invalid_argument("N:M needs 1 <= n < m <= 64 (got " + std::to_string(o.n) + ":" +
                                std::to_string(o.m) + ")");
    PARE_ASSIGN_OR_RETURN(Graph g, prepare_for_pruning(g0));
    PARE_ASSIGN_OR_RETURN(std::vector<std::string> layers, layers_of(g, o));
    if (is_structured(o.method)) return analyze_structured(g, o);
    PrunePlan plan;
    plan.method = o.method;
    plan.target = o.method == PruneMethod::kNM ? 1.0 - static_cast<double>(o.n) / o.m : o.sparsity;
    for (const auto& name : layers) {
        const Node& n = *find_node(g, name);
        const Tensor& w = g.initializers.at(n.input(1));
        if (o.method == PruneMethod::kNM) {
            if (rows_of(n, w).k % o.m != 0) continue;  // no whole groups along its reduction axis
            plan.n = o.n;
            plan.m = o.m;
        }
        plan.layers.push_back({name, n.input(1), plan.target});
    }
    if (plan.layers.empty())
        return invalid_argument("no layer's reduction axis is a multiple of m = " +
                                std::to_string(o.m));
    if (o.method == PruneMethod::kMagnitude && o.global) {
        // One threshold over every layer's magnitudes: the per-layer sparsities it gives.
        std::vector<std::pair<float, size_t>> all;
        std::vector<int64_t> count(plan.layers.size(), 0);
        for (size_t l = 0; l < plan.layers.size(); ++l) {
            const Tensor& w = g.initializers.at(plan.layers[l].weight);
            for (int64_t i = 0; i < w.numel(); ++i)
                all.emplace_back(std::fabs(w.data<float>()[i]), l);
        }
        const auto k =
            static_cast<size_t>(std::floor(o.sparsity * static_cast<double>(all.size())));
        if (k > 0) {
            std::nth_element(all.begin(), all.begin() + static_cast<int64_t>(k - 1), all.end());
            for (size_t i = 0; i < k; ++i) ++count[all[i].second];
        }
        for (size_t l = 0; l < plan.layers.size(); ++l) {
            const Tensor& w = g.initializers.at(plan.layers[l].weight);
            plan.layers[l].sparsity =
                static_cast<double>(count[l]) / static_cast<double>(w.numel());
        }
    }
    return plan;
}

Result<Graph> apply_pruning(const Graph& g0, const PrunePlan& plan) {
    if (!plan.channels.empty()) return apply_structured(g0, plan);
    PARE_ASSIGN_OR_RETURN(Graph g, prepare_for_pruning(g0));
    for (const auto& lp : plan.layers) {
        const Node* n = find_node(g, lp.layer);
        if (!n || !is_layer(g, *n) || n->input(1) != lp.weight)
            return invalid_argument("layer \"" + lp.layer + "\" with weight \"" + lp.weight +
                                    "\" is not in the model");
        if (!(lp.sparsity >= 0 && lp.sparsity < 1))
            return invalid_argument("layer \"" + lp.layer + "\": sparsity out of [0, 1)");
        Tensor w = g.initializers.at(lp.weight).clone();  // graph copies share storage
        if (plan.method == PruneMethod::kNM) {
            if (plan.m < 2 || plan.n < 1 || plan.n >= plan.m || rows_of(*n, w).k % plan.m != 0)
                return invalid_argument("layer \"" + lp.layer + "\": N:M " +
                                        std::to_string(plan.n) + ":" + std::to_string(plan.m) +
                                        " does not fit its weight");
            apply_nm(*n, w, plan.n, plan.m);
        } else {
            zero_smallest(w, static_cast<int64_t>(
                                 std::llround(lp.sparsity * static_cast<double>(w.numel()))));
        }
        g.initializers[lp.weight] = w;
    }
    return g;
}

std::map<std::string, Tensor> weight_masks(const Graph& pruned, const PrunePlan& plan) {
    std::map<std::string, Tensor> masks;
    for (const auto& lp : plan.layers) {
        const auto it = pruned.initializers.find(lp.weight);
        if (it == pruned.initializers.end()) continue;
        Tensor m = Tensor::create(DType::kFloat32, it->second.shape()).value();
        for (int64_t i = 0; i < m.numel(); ++i)
            m.data<float>()[i] = it->second.data<float>()[i] != 0.0f ? 1.0f : 0.0f;
        masks[lp.weight] = m;
    }
    return masks;
}

double polynomial_sparsity(double initial, double final_sparsity, int step, int steps) {
    const double t = steps > 0 ? std::clamp(static_cast<double>(step) / steps, 0.0, 1.0) : 1.0;
    return final_sparsity + (initial - final_sparsity) * std::pow(1.0 - t, 3);
}

Result<std::vector<LayerSparsity>> sparsity_report(const Graph& g0) {
    Graph one = g0;  // MACs per image: an unbound batch dimension counts as 1
    for (auto& in : one.inputs)
        if (in.has_shape && !in.shape.empty() && in.shape[0] < 0) in.shape[0] = 1;
    PARE_ASSIGN_OR_RETURN(Graph g, prepare_for_pruning(one));
    const ModelStats st = compute_stats(g);
    std::map<std::string, int64_t> macs;
    for (const auto& ns : st.nodes) macs[ns.name] = ns.macs;
    std::vector<LayerSparsity> out;
    for (const auto& n : g.nodes) {
        if (!is_layer(g, n)) continue;
        LayerSparsity l;
        l.layer = n.name;
        l.op = n.op_type;
        const Tensor& w = g.initializers.at(n.input(1));
        l.params = w.numel();
        for (int64_t i = 0; i < w.numel(); ++i) l.zeros += w.data<float>()[i] == 0.0f;
        if (!n.input(2).empty() && g.is_initializer(n.input(2)))
            l.params += g.initializers.at(n.input(2)).numel();
        l.macs = macs[n.name];
        out.push_back(l);
    }
    return out;
}

LayerTotals layer_totals(const std::vector<LayerSparsity>& layers) {
    LayerTotals t;
    for (const auto& l : layers) {
        t.params += l.params;
        t.nonzero += l.params - l.zeros;
        t.macs += l.macs;
    }
    return t;
}

Result<std::vector<ChannelGroup>> channel_groups(const Graph& g0) {
    PARE_ASSIGN_OR_RETURN(Graph g, prepare_for_pruning(g0));
    PARE_ASSIGN_OR_RETURN(ChannelAnalysis an, ChannelAnalysis::run(g));
    std::map<int, std::set<std::string>> layers_of;
    for (const auto& s : an.slots())
        if (s.kind == ChannelSlot::kMake)
            for (int id : s.ids)
                layers_of[an.find(id)].insert(g.nodes[static_cast<size_t>(s.node)].name);
    std::map<std::string, ChannelGroup> groups;
    std::vector<std::string> order;
    for (const auto& [root, layers] : layers_of) {
        const std::string key = group_key(layers);
        auto it = groups.find(key);
        if (it == groups.end()) {
            order.push_back(key);
            it = groups.emplace(key, ChannelGroup{}).first;
            it->second.layers.assign(layers.begin(), layers.end());
        }
        ++it->second.channels;
        if (an.frozen(root)) {
            if (it->second.frozen_by.empty()) it->second.frozen_by = an.frozen_by(root);
        } else {
            ++it->second.prunable;
        }
    }
    std::vector<ChannelGroup> out;
    for (const auto& k : order) out.push_back(groups[k]);
    return out;
}

std::string prune_plan_to_json(const PrunePlan& plan) {
    nlohmann::json j;
    j["format"] = "pare-prune-plan-1";
    j["method"] = prune_method_name(plan.method);
    j["target"] = plan.target;
    if (plan.method == PruneMethod::kNM) {
        j["n"] = plan.n;
        j["m"] = plan.m;
    }
    j["layers"] = nlohmann::json::array();
    for (const auto& l : plan.layers)
        j["layers"].push_back({{"layer", l.layer}, {"weight", l.weight}, {"sparsity", l.sparsity}});
    j["channels"] = nlohmann::json::array();
    for (const auto& c : plan.channels)
        j["channels"].push_back({{"layer", c.layer}, {"removed", c.channels}});
    return j.dump(1) + "\n";
}

Result<PrunePlan> prune_plan_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument("not a JSON object");
    if (j.value("format", "") != "pare-prune-plan-1")
        return invalid_argument("\"format\" is not \"pare-prune-plan-1\"");
    PrunePlan p;
    if (!j.contains("method") || !j["method"].is_string())
        return invalid_argument("\"method\" is missing");
    PARE_ASSIGN_OR_RETURN(p.method, parse_prune_method(j["method"].get<std::string>()));
    if (j.contains("target") && j["target"].is_number()) p.target = j["target"].get<double>();
    if (p.method == PruneMethod::kNM) {
        if (!j.contains("n") || !j["n"].is_number_integer() || !j.contains("m") ||
            !j["m"].is_number_integer())
            return invalid_argument("an nm plan needs integers \"n\" and \"m\"");
        p.n = j["n"].get<int>();
        p.m = j["m"].get<int>();
    }
    if (!j.contains("layers") || !j["layers"].is_array() || !j.contains("channels") ||
        !j["channels"].is_array())
        return invalid_argument("\"layers\" or \"channels\" is missing or not a list");
    for (const auto& l : j["layers"]) {
        if (!l.is_object() || !l.contains("layer") || !l["layer"].is_string() ||
            !l.contains("weight") || !l["weight"].is_string() || !l.contains("sparsity") ||
            !l["sparsity"].is_number())
            return invalid_argument("a \"layers\" entry needs \"layer\", \"weight\", \"sparsity\"");
        p.layers.push_back({l["layer"].get<std::string>(), l["weight"].get<std::string>(),
                            l["sparsity"].get<double>()});
    }
    for (const auto& c : j["channels"]) {
        if (!c.is_object() || !c.contains("layer") || !c["layer"].is_string() ||
            !c.contains("removed") || !c["removed"].is_array())
            return invalid_argument("a \"channels\" entry needs \"layer\" and \"removed\"");
        ChannelPrune cp;
        cp.layer = c["layer"].get<std::string>();
        for (const auto& v : c["removed"]) {
            if (!v.is_number_integer())
                return invalid_argument("\"removed\" of \"" + cp.layer + "\" holds a non-integer");
            cp.channels.push_back(v.get<int64_t>());
        }
        p.channels.push_back(std::move(cp));
    }
    if (is_structured(p.method) != p.layers.empty())
        return invalid_argument("the plan's entries do not match its method");
    return p;
}

}  // namespace pare
