// Tree ensembles of the ai.onnx.ml domain (TreeEnsembleClassifier,
// TreeEnsembleRegressor): the attributes parsed and checked once into a flat
// form that the reference kernel (runtime/ops/tree_ensemble.cpp) walks node by
// node and the fast kernel (runtime/kernels/generic/ml_tree.cpp) re-lays out.
//
// Semantics are ONNX Runtime's: a classifier sums the leaf weights of every tree
// per class on top of base_values, its label is the first class of highest score,
// then post_transform (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO) maps the scores; a
// regressor aggregates per target (SUM, AVERAGE over the trees, MIN, MAX), adds
// base_values, then post_transform. A branch is taken when `x MODE value` holds, or
// when x is NaN and the node's missing value tracks true.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/ir/graph.h"
#include "runtime/ops/op.h"

namespace pare {

struct TreeEnsemble {
    enum Mode : uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
    enum class Post { kNone, kLogistic, kSoftmax, kSoftmaxZero };
    enum class Aggregate { kSum, kAverage, kMin, kMax };
    struct TreeNode {
        int32_t feature = 0;
        float value = 0;
        Mode mode = kLeaf;
        bool missing_true = false;
        int32_t yes = -1, no = -1;                 // node indices (branches)
        int32_t weight_begin = 0, weight_end = 0;  // into weights (leaves)
    };
    struct Weight {
        int32_t target;
        float value;
    };
    std::vector<TreeNode> nodes;
    std::vector<int32_t> roots;   // one per tree
    std::vector<Weight> weights;  // grouped per leaf
    int64_t targets = 0;          // classes (classifier) or targets (regressor)
    int64_t min_features = 0;     // 1 + the largest feature index a branch reads
    int max_depth = 0;
    std::vector<float> base;  // per target; empty = 0
    Post post = Post::kNone;
    Aggregate aggregate = Aggregate::kSum;
    bool classifier = false;
    std::vector<int64_t> labels;  // classifier: classlabels_int64s
    bool one_mode = true;         // every branch uses the mode of the first one
};

// Parses and checks a TreeEnsembleClassifier or TreeEnsembleRegressor node: every
// tree a tree (one root, each node reached once, children in the same tree), leaf
// weights on leaves, targets in range. Unsupported variants (string labels, a
// binary classifier with one score column, PROBIT, *_as_tensor attributes) are
// named in the error.
Status parse_tree_ensemble(const Node& node, TreeEnsemble* out);

// Whether a branch is taken for x.
inline bool tree_branch_taken(TreeEnsemble::Mode mode, float x, float v, bool missing_true) {
    if (x != x) {
        if (missing_true) return true;
    }
    switch (mode) {
        case TreeEnsemble::kLeq:
            return x <= v;
        case TreeEnsemble::kLt:
            return x < v;
        case TreeEnsemble::kGte:
            return x >= v;
        case TreeEnsemble::kGt:
            return x > v;
        case TreeEnsemble::kEq:
            return x == v;
        case TreeEnsemble::kNeq:
            return x != v;
        case TreeEnsemble::kLeaf:
            break;
    }
    return false;
}

// Adds a leaf's weights [begin, end) to acc (per target; count counts the trees
// that reached each target, for MIN and MAX).
inline void tree_ensemble_add_weights(const TreeEnsemble& e, int32_t begin, int32_t end, float* acc,
                                      int32_t* count) {
    for (int32_t w = begin; w < end; ++w) {
        const TreeEnsemble::Weight& wt = e.weights[static_cast<size_t>(w)];
        float& a = acc[wt.target];
        switch (e.aggregate) {
            case TreeEnsemble::Aggregate::kSum:
            case TreeEnsemble::Aggregate::kAverage:
                a += wt.value;
                break;
            case TreeEnsemble::Aggregate::kMin:
                a = count[wt.target] == 0 || wt.value < a ? wt.value : a;
                break;
            case TreeEnsemble::Aggregate::kMax:
                a = count[wt.target] == 0 || wt.value > a ? wt.value : a;
                break;
        }
        ++count[wt.target];
    }
}

// post_transform (shared with the linear models): parsed from its attribute
// value (PROBIT and unknown names are errors), applied to one row of n scores.
Status parse_post_transform(const std::string& s, TreeEnsemble::Post* p);
void apply_post_transform(TreeEnsemble::Post post, float* scores, int64_t n);

// Turns one row's accumulated scores into the outputs: adds base values, averages
// (AVERAGE: acc holds sums, count per target the trees that reached it), takes
// the label (classifier), applies post_transform. acc has e.targets entries and is
// overwritten with the final scores.
void tree_ensemble_finish(const TreeEnsemble& e, float* acc, const int32_t* count, int64_t* label);

// The outputs of a classical model over `rows` rows: a classifier's label [rows]
// (int64) and scores [rows, targets]; a regressor's values [rows, targets].
// Shared by the tree ensembles and the linear models.
Status classical_outputs(InferContext& ctx, bool classifier, int64_t rows, int64_t targets);

// Output shapes for X's shape, shared by the reference and the fast kernel.
Status tree_ensemble_check_input(const TreeEnsemble& e, const Shape& x, int64_t* rows);

}  // namespace pare
