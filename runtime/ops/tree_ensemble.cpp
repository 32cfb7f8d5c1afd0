// TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml), reference
// kernels: the parsed ensemble (tree_ensemble.h) walked node by node, row by row.
#include "runtime/ops/tree_ensemble.h"

#include <cmath>
#include <map>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

std::vector<std::string> strings_of(const Node& node, const char* name) {
    auto it = node.attrs.map().find(name);
    if (it == node.attrs.map().end()) return {};
    if (it->second.kind == Attribute::Kind::kStrings) return it->second.strings;
    if (it->second.kind == Attribute::Kind::kString) return {it->second.s};
    return {};
}

Status parse_mode(const std::string& s, TreeEnsemble::Mode* m) {
    static const std::map<std::string, TreeEnsemble::Mode> kModes = {
        {"BRANCH_LEQ", TreeEnsemble::kLeq}, {"BRANCH_LT", TreeEnsemble::kLt},
        {"BRANCH_GTE", TreeEnsemble::kGte}, {"BRANCH_GT", TreeEnsemble::kGt},
        {"BRANCH_EQ", TreeEnsemble::kEq},   {"BRANCH_NEQ", TreeEnsemble::kNeq},
        {"LEAF", TreeEnsemble::kLeaf}};
    auto it = kModes.find(s);
    if (it == kModes.end()) return invalid_argument("unknown nodes_modes entry \"" + s + "\"");
    *m = it->second;
    return Status();
}

}  // namespace

Status parse_post_transform(const std::string& s, TreeEnsemble::Post* p) {
    if (s == "NONE")
        *p = TreeEnsemble::Post::kNone;
    else if (s == "LOGISTIC")
        *p = TreeEnsemble::Post::kLogistic;
    else if (s == "SOFTMAX")
        *p = TreeEnsemble::Post::kSoftmax;
    else if (s == "SOFTMAX_ZERO")
        *p = TreeEnsemble::Post::kSoftmaxZero;
    else if (s == "PROBIT")
        return unsupported("post_transform PROBIT is not supported");
    else
        return invalid_argument("unknown post_transform \"" + s + "\"");
    return Status();
}

Status parse_tree_ensemble(const Node& node, TreeEnsemble* out) {
    TreeEnsemble e;
    e.classifier = node.op == OpKind::kTreeEnsembleClassifier;
    for (const auto& kv : node.attrs.map()) {
        if (kv.first.size() > 10 && kv.first.compare(kv.first.size() - 10, 10, "_as_tensor") == 0)
            return unsupported("attribute " + kv.first +
                               " (double-precision tensors) is not supported; use the float form");
    }
    const std::vector<int64_t> tree_ids = node.attrs.get_ints("nodes_treeids");
    const std::vector<int64_t> node_ids = node.attrs.get_ints("nodes_nodeids");
    const std::vector<int64_t> features = node.attrs.get_ints("nodes_featureids");
    const std::vector<float> values = node.attrs.get_floats("nodes_values");
    const std::vector<std::string> modes = strings_of(node, "nodes_modes");
    const std::vector<int64_t> yes = node.attrs.get_ints("nodes_truenodeids");
    const std::vector<int64_t> no = node.attrs.get_ints("nodes_falsenodeids");
    const std::vector<int64_t> missing = node.attrs.get_ints("nodes_missing_value_tracks_true");
    const size_t n = tree_ids.size();
    if (n == 0) return invalid_argument("no tree nodes (nodes_treeids is empty)");
    if (n > (1u << 30)) return invalid_argument("too many tree nodes");
    if (node_ids.size() != n || features.size() != n || modes.size() != n || yes.size() != n ||
        no.size() != n || (!values.empty() && values.size() != n) ||
        (!missing.empty() && missing.size() != n)) {
        return invalid_argument("the nodes_* attributes differ in length (nodes_treeids has " +
                                std::to_string(n) + ")");
    }
    // (tree id, node id) -> index; trees in order of first appearance.
    std::map<std::pair<int64_t, int64_t>, int32_t> index;
    std::map<int64_t, int32_t> tree_of;
    e.nodes.resize(n);
    for (size_t i = 0; i < n; ++i) {
        if (!index.emplace(std::make_pair(tree_ids[i], node_ids[i]), static_cast<int32_t>(i))
                 .second) {
            return invalid_argument("tree " + std::to_string(tree_ids[i]) + " has node " +
                                    std::to_string(node_ids[i]) + " twice");
        }
        tree_of.emplace(tree_ids[i], static_cast<int32_t>(tree_of.size()));
        TreeEnsemble::TreeNode& t = e.nodes[i];
        PARE_RETURN_IF_ERROR(parse_mode(modes[i], &t.mode));
        t.value = values.empty() ? 0.0f : values[i];
        t.missing_true = !missing.empty() && missing[i] != 0;
        if (t.mode != TreeEnsemble::kLeaf) {
            if (features[i] < 0 || features[i] >= (int64_t{1} << 31))
                return invalid_argument("node " + std::to_string(node_ids[i]) + " of tree " +
                                        std::to_string(tree_ids[i]) + " reads feature " +
                                        std::to_string(features[i]));
            t.feature = static_cast<int32_t>(features[i]);
            e.min_features = std::max<int64_t>(e.min_features, features[i] + 1);
        }
    }
    // Children, parents, roots.
    std::vector<int32_t> parents(n, 0);
    bool first_branch = true;
    TreeEnsemble::Mode branch_mode = TreeEnsemble::kLeq;
    for (size_t i = 0; i < n; ++i) {
        TreeEnsemble::TreeNode& t = e.nodes[i];
        if (t.mode == TreeEnsemble::kLeaf) continue;
        if (first_branch) branch_mode = t.mode, first_branch = false;
        if (t.mode != branch_mode) e.one_mode = false;
        for (int side = 0; side < 2; ++side) {
            const int64_t child = side == 0 ? yes[i] : no[i];
            auto it = index.find({tree_ids[i], child});
            if (it == index.end())
                return invalid_argument("node " + std::to_string(node_ids[i]) + " of tree " +
                                        std::to_string(tree_ids[i]) + " points to node " +
                                        std::to_string(child) + ", which the tree does not have");
            (side == 0 ? t.yes : t.no) = it->second;
            ++parents[static_cast<size_t>(it->second)];
        }
    }
    e.roots.assign(tree_of.size(), -1);
    std::vector<int64_t> tree_size(tree_of.size(), 0);
    for (size_t i = 0; i < n; ++i) {
        const int32_t t = tree_of.at(tree_ids[i]);
        ++tree_size[static_cast<size_t>(t)];
        if (parents[i] > 1)
            return invalid_argument("node " + std::to_string(node_ids[i]) + " of tree " +
                                    std::to_string(tree_ids[i]) + " has " +
                                    std::to_string(parents[i]) + " parents (not a tree)");
        if (parents[i] == 0) {
            if (e.roots[static_cast<size_t>(t)] >= 0)
                return invalid_argument("tree " + std::to_string(tree_ids[i]) +
                                        " has more than one root");
            e.roots[static_cast<size_t>(t)] = static_cast<int32_t>(i);
        }
    }
    // Every node reached from its root exactly once (no cycles, nothing detached).
    for (size_t t = 0; t < e.roots.size(); ++t) {
        if (e.roots[t] < 0) return invalid_argument("a tree has no root (its nodes form a cycle)");
        std::vector<std::pair<int32_t, int>> stack = {{e.roots[t], 1}};
        int64_t seen = 0;
        while (!stack.empty()) {
            const auto [i, depth] = stack.back();
            stack.pop_back();
            ++seen;
            e.max_depth = std::max(e.max_depth, depth);
            const TreeEnsemble::TreeNode& nd = e.nodes[static_cast<size_t>(i)];
            if (nd.mode != TreeEnsemble::kLeaf) {
                stack.push_back({nd.yes, depth + 1});
                stack.push_back({nd.no, depth + 1});
            }
        }
        if (seen != tree_size[t])
            return invalid_argument("tree " +
                                    std::to_string(tree_ids[static_cast<size_t>(e.roots[t])]) +
                                    " has nodes its root does not reach");
    }
    // Leaf weights.
    const char* p = e.classifier ? "class_" : "target_";
    const std::string pre(p);
    const std::vector<int64_t> w_tree = node.attrs.get_ints(pre + "treeids");
    const std::vector<int64_t> w_node = node.attrs.get_ints(pre + "nodeids");
    const std::vector<int64_t> w_target = node.attrs.get_ints(pre + "ids");
    const std::vector<float> w_value = node.attrs.get_floats(pre + "weights");
    const size_t nw = w_tree.size();
    if (w_node.size() != nw || w_target.size() != nw || w_value.size() != nw)
        return invalid_argument("the " + pre + "* attributes differ in length");
    if (e.classifier) {
        if (!strings_of(node, "classlabels_strings").empty())
            return unsupported(
                "string class labels (classlabels_strings) are not supported; "
                "use classlabels_int64s");
        e.labels = node.attrs.get_ints("classlabels_int64s");
        if (e.labels.empty()) return invalid_argument("classlabels_int64s is missing");
        e.targets = static_cast<int64_t>(e.labels.size());
    } else {
        e.targets = node.attrs.get_int("n_targets", 1);
        if (e.targets < 1 || e.targets > (1 << 24))
            return invalid_argument("n_targets " + std::to_string(e.targets) + " is out of range");
    }
    std::vector<std::vector<TreeEnsemble::Weight>> per_leaf(n);
    std::vector<bool> used(static_cast<size_t>(e.targets), false);
    for (size_t k = 0; k < nw; ++k) {
        auto it = index.find({w_tree[k], w_node[k]});
        if (it == index.end() ||
            e.nodes[static_cast<size_t>(it->second)].mode != TreeEnsemble::kLeaf)
            return invalid_argument(pre + "weights entry " + std::to_string(k) + " names node " +
                                    std::to_string(w_node[k]) + " of tree " +
                                    std::to_string(w_tree[k]) + ", which is not a leaf");
        if (w_target[k] < 0 || w_target[k] >= e.targets)
            return invalid_argument(pre + "ids entry " + std::to_string(k) + " is " +
                                    std::to_string(w_target[k]) + ", outside [0, " +
                                    std::to_string(e.targets) + ")");
        used[static_cast<size_t>(w_target[k])] = true;
        per_leaf[static_cast<size_t>(it->second)].push_back(
            {static_cast<int32_t>(w_target[k]), w_value[k]});
    }
    for (size_t i = 0; i < n; ++i) {
        e.nodes[i].weight_begin = static_cast<int32_t>(e.weights.size());
        e.weights.insert(e.weights.end(), per_leaf[i].begin(), per_leaf[i].end());
        e.nodes[i].weight_end = static_cast<int32_t>(e.weights.size());
    }
    if (e.classifier && e.targets == 2 && !(used[0] && used[1]))
        return unsupported(
            "a binary classifier with one score column is not supported; give "
            "both classes' weights");
    e.base = node.attrs.get_floats("base_values");
    if (!e.base.empty() && static_cast<int64_t>(e.base.size()) != e.targets)
        return invalid_argument("base_values has " + std::to_string(e.base.size()) +
                                " entries for " + std::to_string(e.targets) +
                                (e.classifier ? " classes" : " targets"));
    PARE_RETURN_IF_ERROR(
        parse_post_transform(node.attrs.get_string("post_transform", "NONE"), &e.post));
    if (!e.classifier) {
        const std::string agg = node.attrs.get_string("aggregate_function", "SUM");
        if (agg == "SUM")
            e.aggregate = TreeEnsemble::Aggregate::kSum;
        else if (agg == "AVERAGE")
            e.aggregate = TreeEnsemble::Aggregate::kAverage;
        else if (agg == "MIN")
            e.aggregate = TreeEnsemble::Aggregate::kMin;
        else if (agg == "MAX")
            e.aggregate = TreeEnsemble::Aggregate::kMax;
        else
            return invalid_argument("unknown aggregate_function \"" + agg + "\"");
    }
    *out = std::move(e);
    return Status();
}

void apply_post_transform(TreeEnsemble::Post post, float* acc, int64_t T) {
    switch (post) {
        case TreeEnsemble::Post::kNone:
            break;
        case TreeEnsemble::Post::kLogistic:
            for (int64_t t = 0; t < T; ++t) acc[t] = 1.0f / (1.0f + std::exp(-acc[t]));
            break;
        case TreeEnsemble::Post::kSoftmax:
        case TreeEnsemble::Post::kSoftmaxZero: {
            const bool zero = post == TreeEnsemble::Post::kSoftmaxZero;
            float mx = -INFINITY;
            for (int64_t t = 0; t < T; ++t) {
                if (!zero || acc[t] != 0) mx = std::fmax(mx, acc[t]);
            }
            double sum = 0;
            for (int64_t t = 0; t < T; ++t) {
                if (zero && acc[t] == 0) continue;
                acc[t] = std::exp(acc[t] - mx);
                sum += acc[t];
            }
            for (int64_t t = 0; t < T; ++t) {
                if (zero && acc[t] == 0) continue;
                acc[t] = static_cast<float>(acc[t] / sum);
            }
            break;
        }
    }
}

void tree_ensemble_finish(const TreeEnsemble& e, float* acc, const int32_t* count, int64_t* label) {
    const int64_t T = e.targets;
    if (e.aggregate == TreeEnsemble::Aggregate::kAverage) {
        const float trees = static_cast<float>(e.roots.size());
        for (int64_t t = 0; t < T; ++t) acc[t] /= trees;
    }
    if ((e.aggregate == TreeEnsemble::Aggregate::kMin ||
         e.aggregate == TreeEnsemble::Aggregate::kMax)) {
        for (int64_t t = 0; t < T; ++t) {
            if (count[t] == 0) acc[t] = 0;
        }
    }
    if (!e.base.empty()) {
        for (int64_t t = 0; t < T; ++t) acc[t] += e.base[static_cast<size_t>(t)];
    }
    if (label) {
        int64_t best = 0;
        for (int64_t t = 1; t < T; ++t) {
            if (acc[t] > acc[best]) best = t;
        }
        *label = e.labels[static_cast<size_t>(best)];
    }
    apply_post_transform(e.post, acc, T);
}

Status tree_ensemble_check_input(const TreeEnsemble& e, const Shape& x, int64_t* rows) {
    if (x.size() != 1 && x.size() != 2)
        return invalid_argument("X " + shape_str(x) + " must be [N, F] or [F]");
    const int64_t f = x.back();
    if (f >= 0 && f < e.min_features)
        return invalid_argument("X " + shape_str(x) + " has " + std::to_string(f) +
                                " features; the trees read feature " +
                                std::to_string(e.min_features - 1));
    *rows = x.size() == 2 ? x[0] : 1;
    return Status();
}

Status infer_tree_ensemble(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    TreeEnsemble e;
    PARE_RETURN_IF_ERROR(parse_tree_ensemble(ctx.node, &e));
    if (ctx.in[0].dtype != DType::kFloat32)
        return invalid_argument(std::string("X is ") + dtype_name(ctx.in[0].dtype) +
                                "; tree ensembles take float32 features");
    int64_t rows = -1;
    if (ctx.in[0].has_shape)
        PARE_RETURN_IF_ERROR(tree_ensemble_check_input(e, ctx.in[0].shape, &rows));
    return classical_outputs(ctx, e.classifier, rows, e.targets);
}

Status classical_outputs(InferContext& ctx, bool classifier, int64_t rows, int64_t targets) {
    if (classifier) {
        if (ctx.out.size() < 2) return invalid_argument("a classifier has two outputs (Y, Z)");
        ctx.out[0] = meta(DType::kInt64, {rows});
        ctx.out[1] = meta(DType::kFloat32, {rows, targets});
    } else {
        ctx.out[0] = meta(DType::kFloat32, {rows, targets});
    }
    return Status();
}

Status compute_tree_ensemble(ComputeContext& ctx) {
    TreeEnsemble e;
    PARE_RETURN_IF_ERROR(parse_tree_ensemble(ctx.node, &e));
    const Tensor& X = *ctx.in[0];
    int64_t rows;
    PARE_RETURN_IF_ERROR(tree_ensemble_check_input(e, X.shape(), &rows));
    const int64_t F = X.shape().back(), T = e.targets;
    const float* x = X.data<float>();
    float* scores = e.classifier ? ctx.out[1]->data<float>() : ctx.out[0]->data<float>();
    int64_t* labels = e.classifier ? ctx.out[0]->data<int64_t>() : nullptr;
    std::vector<int32_t> count(static_cast<size_t>(T));
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = x + r * F;
        float* acc = scores + r * T;
        std::fill(acc, acc + T, 0.0f);
        std::fill(count.begin(), count.end(), 0);
        for (int32_t root : e.roots) {
            int32_t i = root;
            while (e.nodes[static_cast<size_t>(i)].mode != TreeEnsemble::kLeaf) {
                const TreeEnsemble::TreeNode& nd = e.nodes[static_cast<size_t>(i)];
                i = tree_branch_taken(nd.mode, row[nd.feature], nd.value, nd.missing_true) ? nd.yes
                                                                                           : nd.no;
            }
            const TreeEnsemble::TreeNode& leaf = e.nodes[static_cast<size_t>(i)];
            tree_ensemble_add_weights(e, leaf.weight_begin, leaf.weight_end, acc, count.data());
        }
        tree_ensemble_finish(e, acc, count.data(), labels ? labels + r : nullptr);
    }
    return Status();
}

}  // namespace pare
