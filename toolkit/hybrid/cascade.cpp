// Cascades: threshold tuning and the If graph (cascade.h).
#include "toolkit/hybrid/cascade.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "runtime/ir/passes/passes.h"

namespace pare {

namespace {

int64_t argmax(const float* r, int64_t k) { return std::max_element(r, r + k) - r; }

// A model ready to be embedded: batch bound to 1, default passes run, every name
// prefixed, its input renamed to `input`, and its output turned into probabilities.
struct Embedded {
    Graph g;
    std::string output;
    int64_t classes = 0;
};

Result<Embedded> embed(const Graph& model, const std::string& prefix, const std::string& input,
                       const std::string& which) {
    if (model.inputs.size() != 1 || model.outputs.size() != 1)
        return invalid_argument("the " + which + " model must have one input and one output");
    Graph g = model;
    ValueInfo& in = g.inputs[0];
    if (!in.has_shape || in.shape.empty())
        return invalid_argument("the " + which + " model's input has no shape");
    if (in.shape[0] > 1)
        return invalid_argument("the " + which + " model's input " + shape_str(in.shape) +
                                " has a fixed batch above one; a cascade decides per input");
    g.bind_batch(1);
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(run_default_passes(g).with_context("the " + which + " model"));
    const ValueInfo out = g.outputs[0];
    if (!out.has_shape || out.shape.size() != 2 || out.shape[1] < 2)
        return invalid_argument("the " + which + " model's output " + shape_str(out.shape) +
                                " is not [N, classes]");
    const std::string old_input = in.name;
    auto rename = [&](const std::string& v) -> std::string {
        if (v.empty()) return v;
        if (v == old_input) return input;
        return prefix + v;
    };
    Embedded e;
    e.classes = out.shape[1];
    for (auto& n : g.nodes) {
        n.name = prefix + n.name;
        for (auto& v : n.inputs) v = rename(v);
        for (auto& v : n.outputs) v = rename(v);
    }
    std::map<std::string, Tensor> inits;
    for (auto& kv : g.initializers) inits[rename(kv.first)] = kv.second;
    g.initializers = inits;
    std::map<std::string, ValueInfo> vis;
    for (auto& kv : g.value_info) {
        ValueInfo v = kv.second;
        v.name = rename(v.name);
        vis[v.name] = v;
    }
    g.value_info = vis;
    in.name = input;
    e.output = rename(out.name);
    const int p = g.producer_of(e.output);
    if (p < 0 || g.nodes[static_cast<size_t>(p)].op != OpKind::kSoftmax) {
        Node sm;
        sm.name = prefix + "probabilities";
        sm.op_type = "Softmax";
        sm.inputs = {e.output};
        sm.outputs = {prefix + "probabilities"};
        sm.attrs.set("axis", Attribute::make_int(-1));
        g.nodes.push_back(sm);
        e.output = sm.outputs[0];
    }
    g.outputs = {ValueInfo{e.output, DType::kFloat32, true, {1, e.classes}, {"", ""}}};
    e.g = std::move(g);
    return e;
}

}  // namespace

Tensor as_probabilities(const Tensor& scores) {
    Tensor p = scores.clone();
    const int64_t N = scores.shape()[0], K = scores.shape()[1];
    float* d = p.data<float>();
    for (int64_t i = 0; i < N; ++i) {
        float* r = d + i * K;
        double sum = 0;
        bool prob = true;
        for (int64_t k = 0; k < K; ++k) {
            prob = prob && r[k] >= 0;
            sum += r[k];
        }
        if (prob && std::fabs(sum - 1) < 1e-3) continue;
        const float mx = *std::max_element(r, r + K);
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += std::exp(static_cast<double>(r[k] - mx));
        for (int64_t k = 0; k < K; ++k)
            r[k] = static_cast<float>(std::exp(static_cast<double>(r[k] - mx)) / s);
    }
    return p;
}

std::vector<int64_t> cascade_predictions(const Tensor& small, const Tensor& large, double threshold,
                                         std::vector<bool>* unsure) {
    const int64_t N = small.shape()[0], K = small.shape()[1];
    std::vector<int64_t> pred(static_cast<size_t>(N));
    if (unsure) unsure->assign(static_cast<size_t>(N), false);
    for (int64_t i = 0; i < N; ++i) {
        const float* s = small.data<float>() + i * K;
        const int64_t best = argmax(s, K);
        const bool to_large = s[best] < threshold;
        pred[static_cast<size_t>(i)] = to_large ? argmax(large.data<float>() + i * K, K) : best;
        if (unsure) (*unsure)[static_cast<size_t>(i)] = to_large;
    }
    return pred;
}

CascadePoint cascade_at(const Tensor& small, const Tensor& large,
                        const std::vector<int64_t>& labels, double threshold) {
    const int64_t N = small.shape()[0];
    std::vector<bool> unsure;
    const std::vector<int64_t> pred = cascade_predictions(small, large, threshold, &unsure);
    int64_t correct = 0, to_large = 0;
    for (int64_t i = 0; i < N; ++i) {
        correct += pred[static_cast<size_t>(i)] == labels[static_cast<size_t>(i)];
        to_large += unsure[static_cast<size_t>(i)];
    }
    CascadePoint p;
    p.threshold = threshold;
    p.accuracy = N ? static_cast<double>(correct) / static_cast<double>(N) : 0;
    p.large_fraction = N ? static_cast<double>(to_large) / static_cast<double>(N) : 0;
    return p;
}

ThresholdChoice tune_threshold(const Tensor& small, const Tensor& large,
                               const std::vector<int64_t>& labels, double max_drop_points) {
    const int64_t N = small.shape()[0], K = small.shape()[1];
    ThresholdChoice c;
    c.large_accuracy = cascade_at(small, large, labels, 2.0).accuracy;  // all to the large model
    c.small_accuracy = cascade_at(small, large, labels, 0.0).accuracy;  // none
    // Candidate thresholds: each confidence (the small model keeps exactly the inputs at
    // or above it), in increasing order, then "never".
    std::vector<double> conf;
    for (int64_t i = 0; i < N; ++i) {
        const float* s = small.data<float>() + i * K;
        conf.push_back(s[argmax(s, K)]);
    }
    std::sort(conf.begin(), conf.end());
    conf.erase(std::unique(conf.begin(), conf.end()), conf.end());
    conf.push_back(std::nextafter(1.0, 2.0));
    const double need = c.large_accuracy - max_drop_points / 100.0 - 1e-12;
    CascadePoint best_acc;
    best_acc.accuracy = -1;
    for (double t : conf) {  // increasing threshold: more inputs to the large model
        const CascadePoint p = cascade_at(small, large, labels, t);
        if (p.accuracy >= need) {
            c.point = p;
            c.met = true;
            return c;
        }
        if (p.accuracy > best_acc.accuracy) best_acc = p;
    }
    c.point = best_acc;
    return c;
}

Result<Graph> build_cascade(const Graph& small, const Graph& large, float threshold) {
    if (small.inputs.size() != 1) return invalid_argument("the small model must have one input");
    const std::string x = small.inputs[0].name;
    PARE_ASSIGN_OR_RETURN(Embedded s, embed(small, "small/", x, "small"));
    PARE_ASSIGN_OR_RETURN(Embedded l, embed(large, "large/", x, "large"));
    if (s.classes != l.classes)
        return invalid_argument("the small model has " + std::to_string(s.classes) +
                                " classes and the large model " + std::to_string(l.classes));
    const Shape& ss = s.g.inputs[0].shape;
    const Shape& ls = l.g.inputs[0].shape;
    if (ss.size() != ls.size())
        return invalid_argument("the models' inputs differ: " + shape_str(ss) + " and " +
                                shape_str(ls));
    for (size_t d = 1; d < ss.size(); ++d) {
        if (ss[d] >= 0 && ls[d] >= 0 && ss[d] != ls[d])
            return invalid_argument("the models' inputs differ: " + shape_str(ss) + " and " +
                                    shape_str(ls));
    }
    Graph g = s.g;
    g.name = "cascade";
    g.initializers["cascade/threshold"] = Tensor::from_vector<float>({threshold}, {});
    Node conf;
    conf.name = "cascade/confidence";
    conf.op_type = "ReduceMax";
    conf.inputs = {s.output};
    conf.outputs = {"cascade/confidence"};
    conf.attrs.set("keepdims", Attribute::make_int(0));
    Node less;
    less.name = "cascade/unsure";
    less.op_type = "Less";
    less.inputs = {"cascade/confidence", "cascade/threshold"};
    less.outputs = {"cascade/unsure"};
    // Both branches list the same enclosing values, in the If node's input order.
    const std::vector<ValueInfo> captured = {
        s.g.inputs[0], ValueInfo{s.output, DType::kFloat32, true, {1, s.classes}, {"", ""}}};
    Graph yes = l.g;
    yes.name = "large";
    yes.inputs = captured;
    Graph no;
    no.name = "small";
    no.inputs = captured;
    Node id;
    id.name = "cascade/small_answer";
    id.op_type = "Identity";
    id.inputs = {s.output};
    id.outputs = {"cascade/small_answer"};
    no.nodes = {id};
    no.outputs = {
        ValueInfo{"cascade/small_answer", DType::kFloat32, true, {1, s.classes}, {"", ""}}};
    PARE_RETURN_IF_ERROR(no.resolve_ops());
    Node branch;
    branch.name = "cascade/if";
    branch.op_type = "If";
    branch.inputs = {"cascade/unsure", x, s.output};
    branch.outputs = {"probabilities"};
    branch.attrs.set("then_branch", Attribute::make_graph(std::move(yes)));
    branch.attrs.set("else_branch", Attribute::make_graph(std::move(no)));
    g.nodes.push_back(conf);
    g.nodes.push_back(less);
    g.nodes.push_back(branch);
    g.outputs = {ValueInfo{"probabilities", DType::kFloat32, true, {1, s.classes}, {"", ""}}};
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(verify(g));
    PARE_RETURN_IF_ERROR(g.topo_sort());
    PARE_RETURN_IF_ERROR(infer_shapes(g));
    return g;
}

}  // namespace pare
