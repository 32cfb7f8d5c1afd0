// Hybrid models: cut points, feature graphs, heads as ai.onnx.ml nodes, the
// combined graph. The XGBoost head is in boost.cpp.
#include "toolkit/hybrid/hybrid.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "runtime/exec/session.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/report/model_stats.h"

namespace pare {

namespace {

bool is_activation(OpKind op) {
    switch (op) {
        case OpKind::kRelu:
        case OpKind::kClip:
        case OpKind::kSigmoid:
        case OpKind::kHardSwish:
        case OpKind::kHardSigmoid:
        case OpKind::kLeakyRelu:
        case OpKind::kBatchNormalization:
            return true;
        default:
            return false;
    }
}

// A copy of g with symbolic input dims bound to 1, prepared for editing (shapes known).
Result<Graph> with_batch_one(const Graph& g) {
    Graph c = g;
    for (auto& in : c.inputs) {
        for (size_t d = 0; d < in.shape.size(); ++d) {
            if (in.shape[d] < 0) {
                in.shape[d] = 1;
                if (d < in.dim_params.size()) in.dim_params[d] = "";
            }
        }
    }
    PARE_RETURN_IF_ERROR(prepare_for_editing(c));
    return c;
}

// The value a cut names: a value produced by a node, or a node (its first output).
Result<std::string> resolve_cut(const Graph& g, const std::string& cut) {
    if (g.producer_of(cut) >= 0) return cut;
    for (const auto& n : g.nodes) {
        if (n.name == cut && !n.outputs.empty()) return n.outputs[0];
    }
    return not_found("cut \"" + cut +
                     "\": no node or value of that name in the backbone (pare hybrid --list-cuts "
                     "lists the candidates)");
}

}  // namespace

Result<std::vector<CutPoint>> cut_candidates(const Graph& graph) {
    PARE_ASSIGN_OR_RETURN(Graph g, with_batch_one(graph));
    const ModelStats stats = compute_stats(g);
    std::map<std::string, int64_t> node_macs;
    for (const auto& s : stats.nodes) node_macs[s.name] = s.macs;
    const int64_t n = static_cast<int64_t>(g.nodes.size());
    std::map<std::string, int64_t> last_use;
    for (int64_t i = 0; i < n; ++i) {
        for (const auto& v : g.nodes[static_cast<size_t>(i)].inputs) {
            if (!v.empty() && !g.is_initializer(v)) last_use[v] = i;
        }
    }
    for (const auto& o : g.outputs) last_use[o.name] = n;
    const auto consumers = g.consumers();
    // Live values between nodes, swept in order.
    std::set<std::string> live;
    for (const auto& in : g.inputs) {
        if (last_use.count(in.name)) live.insert(in.name);
    }
    std::vector<CutPoint> out;
    int64_t macs = 0;
    for (int64_t i = 0; i < n; ++i) {
        const Node& node = g.nodes[static_cast<size_t>(i)];
        macs += node_macs.count(node.name) ? node_macs[node.name] : 0;
        for (const auto& v : node.inputs) {
            auto it = last_use.find(v);
            if (it != last_use.end() && it->second == i) live.erase(v);
        }
        for (const auto& v : node.outputs) {
            if (last_use.count(v)) live.insert(v);
        }
        if (node.outputs.size() != 1 || live.size() != 1 || *live.begin() != node.outputs[0])
            continue;
        const std::string& v = node.outputs[0];
        if (g.is_output(v)) continue;
        auto vi = g.value_info.find(v);
        if (vi == g.value_info.end() || vi->second.dtype != DType::kFloat32 ||
            (vi->second.shape.size() != 4 && vi->second.shape.size() != 2))
            continue;
        // Prefer the activation's output to the value it activates.
        auto c = consumers.find(v);
        if (c != consumers.end() && c->second.size() == 1 &&
            is_activation(g.nodes[static_cast<size_t>(c->second[0])].op))
            continue;
        out.push_back({v, node.name, vi->second.shape, macs});
    }
    return out;
}

Result<Graph> feature_graph(const Graph& graph, const std::vector<std::string>& cuts,
                            const FeatureOptions& options) {
    if (options.pool < 1) return invalid_argument("feature pooling grid must be at least 1");
    Graph g = graph;
    PARE_RETURN_IF_ERROR(prepare_for_editing(g));
    std::vector<ValueInfo> outputs;
    for (size_t k = 0; k < cuts.size(); ++k) {
        PARE_ASSIGN_OR_RETURN(std::string v, resolve_cut(g, cuts[k]));
        auto vi = g.value_info.find(v);
        const size_t rank = vi == g.value_info.end() ? 0 : vi->second.shape.size();
        if (vi == g.value_info.end() || vi->second.dtype != DType::kFloat32 ||
            (rank != 4 && rank != 2)) {
            return invalid_argument(
                "cut \"" + cuts[k] + "\": value \"" + v + "\" is " +
                (vi == g.value_info.end() ? std::string("of unknown type and shape")
                                          : std::string(dtype_name(vi->second.dtype)) + " " +
                                                shape_str(vi->second.shape)) +
                ", not a float feature map [N, C, H, W] or feature vector [N, F]");
        }
        const Shape s = vi->second.shape;
        const std::string out = g.unique_name("features_" + std::to_string(k));
        int64_t features = rank == 2 ? s[1] : -1;
        if (rank == 2) {
            Node id;
            id.name = g.unique_name("hybrid_features_" + std::to_string(k));
            id.op_type = "Identity";
            id.inputs = {v};
            id.outputs = {out};
            g.nodes.push_back(id);
        } else {
            std::string pooled = g.unique_name(v + "_pooled");
            Node pool;
            pool.name = g.unique_name("hybrid_pool_" + std::to_string(k));
            pool.inputs = {v};
            pool.outputs = {pooled};
            if (options.pool == 1) {
                pool.op_type = "GlobalAveragePool";
                features = s[1];
            } else {
                const int64_t H = s[2], W = s[3], p = options.pool;
                if (H < 0 || W < 0 || H % p != 0 || W % p != 0)
                    return invalid_argument("cut \"" + cuts[k] + "\": its " + std::to_string(H) +
                                            "x" + std::to_string(W) +
                                            " plane does not divide into " + std::to_string(p) +
                                            "x" + std::to_string(p) + " pooling cells");
                pool.op_type = "AveragePool";
                pool.attrs.set("kernel_shape", Attribute::make_ints({H / p, W / p}));
                pool.attrs.set("strides", Attribute::make_ints({H / p, W / p}));
                features = s[1] < 0 ? -1 : s[1] * p * p;
            }
            g.nodes.push_back(pool);
            Node flat;
            flat.name = g.unique_name("hybrid_flatten_" + std::to_string(k));
            flat.op_type = "Flatten";
            flat.inputs = {pooled};
            flat.outputs = {out};
            flat.attrs.set("axis", Attribute::make_int(1));
            g.nodes.push_back(flat);
        }
        ValueInfo o;
        o.name = out;
        o.dtype = DType::kFloat32;
        o.has_shape = true;
        o.shape = {s[0], features};
        o.dim_params = {
            g.inputs.empty() || g.inputs[0].dim_params.empty() ? "" : g.inputs[0].dim_params[0],
            ""};
        outputs.push_back(o);
    }
    g.outputs = outputs;
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(eliminate_dead_code(g).status());
    PARE_RETURN_IF_ERROR(g.topo_sort());
    PARE_RETURN_IF_ERROR(infer_shapes(g));
    return g;
}

Result<Graph> add_training_head(const Graph& features, int64_t classes, uint64_t seed) {
    if (features.outputs.size() != 1 || features.outputs[0].shape.size() != 2 ||
        features.outputs[0].shape[1] < 1)
        return invalid_argument("a training head needs a feature graph of one [N, F] output");
    Graph g = features;
    const int64_t F = features.outputs[0].shape[1];
    std::mt19937_64 rng(seed);
    const float bound = 1.0f / std::sqrt(static_cast<float>(F));
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<size_t>(classes * F));
    for (float& v : w) v = u(rng);
    g.initializers["hybrid_ft_W"] = Tensor::from_vector<float>(w, {classes, F});
    g.initializers["hybrid_ft_b"] =
        Tensor::from_vector<float>(std::vector<float>(static_cast<size_t>(classes), 0), {classes});
    Node gemm;
    gemm.name = "hybrid_ft_gemm";
    gemm.op_type = "Gemm";
    gemm.inputs = {features.outputs[0].name, "hybrid_ft_W", "hybrid_ft_b"};
    gemm.outputs = {"hybrid_logits"};
    gemm.attrs.set("transB", Attribute::make_int(1));
    g.nodes.push_back(gemm);
    ValueInfo out = features.outputs[0];
    out.name = "hybrid_logits";
    out.shape[1] = classes;
    g.outputs = {out};
    g.value_info[features.outputs[0].name] = features.outputs[0];
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(infer_shapes(g));
    return g;
}

Result<Graph> drop_training_head(const Graph& trained) {
    Graph g = trained;
    auto it = std::find_if(g.nodes.begin(), g.nodes.end(),
                           [](const Node& n) { return n.name == "hybrid_ft_gemm"; });
    if (it == g.nodes.end()) return invalid_argument("no training head to drop");
    const std::string feat = it->inputs[0];
    g.nodes.erase(it);
    g.initializers.erase("hybrid_ft_W");
    g.initializers.erase("hybrid_ft_b");
    auto vi = g.value_info.find(feat);
    if (vi == g.value_info.end()) return invalid_argument("the features' type is unknown");
    g.outputs = {vi->second};
    g.value_info.erase(feat);
    return g;
}

Result<std::vector<Tensor>> extract_features(
    const Graph& features, const Tensor& images, int threads,
    const std::function<void(int64_t, int64_t)>& progress) {
    if (features.inputs.size() != 1) return invalid_argument("the backbone must have one input");
    if (images.rank() != 4) return invalid_argument("images must be [N, C, H, W]");
    // A fixed batch (a symbolic one bound to 128), the default passes: planned
    // memory and the fast kernels. The last batch is padded with zeros.
    Graph g = features;
    const ValueInfo& in = g.inputs[0];
    if (in.shape.empty()) return invalid_argument("the backbone's input has no shape");
    g.bind_batch(128);
    const int64_t batch = in.shape[0];
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(run_default_passes(g));
    SessionOptions so;
    so.threads = threads;
    const std::string in_name = in.name;
    std::vector<std::string> out_names;
    for (const auto& o : g.outputs) out_names.push_back(o.name);
    PARE_ASSIGN_OR_RETURN(Session s, Session::prepare(std::move(g), so));
    const int64_t N = images.shape()[0];
    const int64_t per = N > 0 ? images.numel() / N : 0;
    Shape bs = images.shape();
    bs[0] = batch;
    std::vector<Tensor> out(out_names.size());
    PARE_ASSIGN_OR_RETURN(Tensor x, Tensor::create(DType::kFloat32, bs));
    for (int64_t b0 = 0; b0 < N; b0 += batch) {
        const int64_t b = std::min(batch, N - b0);
        if (b < batch) std::memset(x.raw(), 0, x.nbytes());
        std::memcpy(x.data<float>(), images.data<float>() + b0 * per,
                    static_cast<size_t>(b * per) * sizeof(float));
        TensorMap outs;
        PARE_RETURN_IF_ERROR(s.run({{in_name, x}}, &outs));
        for (size_t k = 0; k < out.size(); ++k) {
            const Tensor& f = outs.at(out_names[k]);
            if (f.rank() != 2 || f.shape()[0] != batch)
                return invalid_argument("output \"" + out_names[k] + "\" is " +
                                        shape_str(f.shape()) + ", not [batch, features]");
            const int64_t F = f.shape()[1];
            if (!out[k].defined()) {
                PARE_ASSIGN_OR_RETURN(out[k], Tensor::create(DType::kFloat32, {N, F}));
            }
            std::memcpy(out[k].data<float>() + b0 * F, f.data<float>(),
                        static_cast<size_t>(b * F) * sizeof(float));
        }
        if (progress) progress(b0 + b, N);
    }
    return out;
}

void feature_standardization(const Tensor& x, std::vector<float>* offset,
                             std::vector<float>* scale) {
    const int64_t N = x.shape()[0], F = x.shape()[1];
    std::vector<double> sum(static_cast<size_t>(F), 0), sq(static_cast<size_t>(F), 0);
    const float* p = x.data<float>();
    for (int64_t i = 0; i < N; ++i) {
        for (int64_t f = 0; f < F; ++f) {
            sum[static_cast<size_t>(f)] += p[i * F + f];
            sq[static_cast<size_t>(f)] += static_cast<double>(p[i * F + f]) * p[i * F + f];
        }
    }
    offset->assign(static_cast<size_t>(F), 0);
    scale->assign(static_cast<size_t>(F), 1);
    for (size_t f = 0; f < static_cast<size_t>(F); ++f) {
        const double mean = N > 0 ? sum[f] / static_cast<double>(N) : 0;
        const double var = N > 0 ? sq[f] / static_cast<double>(N) - mean * mean : 0;
        (*offset)[f] = static_cast<float>(mean);
        (*scale)[f] = var > 1e-12 ? static_cast<float>(1 / std::sqrt(var)) : 1.0f;
    }
}

Graph linear_head_graph(int64_t features, int64_t classes, uint64_t seed) {
    Graph g;
    g.name = "logistic_head";
    ValueInfo in;
    in.name = "features";
    in.dtype = DType::kFloat32;
    in.has_shape = true;
    in.shape = {-1, features, 1, 1};
    in.dim_params = {"N", "", "", ""};
    g.inputs = {in};
    ValueInfo out;
    out.name = "logits";
    out.dtype = DType::kFloat32;
    out.has_shape = true;
    out.shape = {-1, classes};
    out.dim_params = {"N", ""};
    g.outputs = {out};
    std::mt19937_64 rng(seed);
    const float bound = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(features, 1)));
    std::uniform_real_distribution<float> u(-bound, bound);
    std::vector<float> w(static_cast<size_t>(classes * features));
    for (float& v : w) v = u(rng);
    g.initializers["head_W"] = Tensor::from_vector<float>(w, {classes, features});
    g.initializers["head_b"] =
        Tensor::from_vector<float>(std::vector<float>(static_cast<size_t>(classes), 0), {classes});
    Node flat;
    flat.name = "head_flatten";
    flat.op_type = "Flatten";
    flat.inputs = {"features"};
    flat.outputs = {"flat"};
    flat.attrs.set("axis", Attribute::make_int(1));
    Node gemm;
    gemm.name = "head_gemm";
    gemm.op_type = "Gemm";
    gemm.inputs = {"flat", "head_W", "head_b"};
    gemm.outputs = {"logits"};
    gemm.attrs.set("transB", Attribute::make_int(1));
    g.nodes = {flat, gemm};
    (void)g.resolve_ops();
    return g;
}

Result<std::vector<Node>> linear_head_from_trained(const Graph& trained,
                                                   const std::vector<float>& offset,
                                                   const std::vector<float>& scale) {
    auto w = trained.initializers.find("head_W");
    auto b = trained.initializers.find("head_b");
    if (w == trained.initializers.end() || b == trained.initializers.end() ||
        w->second.rank() != 2 || b->second.numel() != w->second.shape()[0])
        return invalid_argument("not a trained logistic head (head_W, head_b)");
    const int64_t C = w->second.shape()[0], F = w->second.shape()[1];
    if (static_cast<int64_t>(offset.size()) != F || static_cast<int64_t>(scale.size()) != F)
        return invalid_argument("standardization has " + std::to_string(offset.size()) +
                                " features, the head " + std::to_string(F));
    Node scaler;
    scaler.name = "head_scaler";
    scaler.op_type = "Scaler";
    scaler.domain = kMlDomain;
    scaler.inputs = {"X"};
    scaler.outputs = {"head_scaled"};
    scaler.attrs.set("offset", Attribute::make_floats(offset));
    scaler.attrs.set("scale", Attribute::make_floats(scale));
    Node lin;
    lin.name = "head_linear";
    lin.op_type = "LinearClassifier";
    lin.domain = kMlDomain;
    lin.inputs = {"head_scaled"};
    lin.outputs = {"head_label", "head_probabilities"};
    const float* wp = w->second.data<float>();
    lin.attrs.set("coefficients", Attribute::make_floats(std::vector<float>(wp, wp + C * F)));
    const float* bp = b->second.data<float>();
    lin.attrs.set("intercepts", Attribute::make_floats(std::vector<float>(bp, bp + C)));
    std::vector<int64_t> labels(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) labels[static_cast<size_t>(c)] = c;
    lin.attrs.set("classlabels_ints", Attribute::make_ints(labels));
    lin.attrs.set("post_transform", Attribute::make_string("SOFTMAX"));
    return std::vector<Node>{scaler, lin};
}

Result<Graph> attach_head(const Graph& backbone, const std::string& cut,
                          const FeatureOptions& options, std::vector<Node> head) {
    if (head.empty() || head.back().outputs.size() != 2)
        return invalid_argument("the head must end in a classifier with (label, probabilities)");
    PARE_ASSIGN_OR_RETURN(Graph g, feature_graph(backbone, {cut}, options));
    const std::string feat = g.outputs[0].name;
    const int64_t F = g.outputs[0].shape[1];
    std::map<std::string, std::string> rename = {{"X", feat}};
    for (Node& n : head) {
        for (auto& o : n.outputs) {
            const std::string fresh = g.unique_name(o);
            rename[o] = fresh;
            o = fresh;
        }
        for (auto& i : n.inputs) {
            auto it = rename.find(i);
            if (it != rename.end()) i = it->second;
        }
        n.name = g.unique_name(n.name);
        g.nodes.push_back(n);
    }
    const Node& cls = g.nodes.back();
    ValueInfo probs;
    probs.name = cls.outputs[1];
    probs.dtype = DType::kFloat32;
    probs.has_shape = true;
    probs.shape = {g.outputs[0].shape[0], -1};
    probs.dim_params = {g.outputs[0].dim_params.empty() ? "" : g.outputs[0].dim_params[0], ""};
    g.outputs = {probs};
    g.value_info.erase(feat);
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(verify(g));
    PARE_RETURN_IF_ERROR(g.topo_sort());
    Status s = infer_shapes(g);
    if (!s.ok())
        return invalid_argument("the head does not fit the " + std::to_string(F) +
                                " features of cut \"" + cut + "\": " + s.message());
    for (auto& o : g.outputs) {
        auto it = g.value_info.find(o.name);
        if (it != g.value_info.end()) o.shape = it->second.shape;
    }
    return g;
}

Dataset feature_dataset(const Tensor& features, const Dataset& like) {
    Dataset d;
    d.name = like.name + " (features)";
    d.images = features.reshaped({features.shape()[0], features.shape()[1], 1, 1}).value();
    d.labels = like.labels;
    d.num_classes = like.num_classes;
    d.class_names = like.class_names;
    return d;
}

}  // namespace pare
