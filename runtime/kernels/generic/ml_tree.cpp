// ml_tree: the fast tree-ensemble kernel (TreeEnsembleClassifier and Regressor).
// The ensemble is parsed once at prepare (the reference parses per run) and laid
// out again: each tree's nodes contiguous in depth-first order, 16 bytes a node
// (threshold, feature, both children; a leaf holds its weight range), the NaN
// rule in a side table read only for NaN features, and the comparison chosen at
// compile time when every branch uses one mode (XGBoost's `<`, scikit-learn's
// `<=`). Rows go in blocks of 32 through one tree at a time, so a tree's nodes
// stay in cache while a block walks it; blocks are split over threads. Results are
// the reference's exactly (same comparisons, same summation order per row).
#include <memory>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/tree_ensemble.h"

namespace pare {

namespace {

constexpr int64_t kRowBlock = 32;

struct FlatNode {
    float value;
    int32_t feature;  // < 0: a leaf
    int32_t yes, no;  // a leaf: its weight range [yes, no)
};

class MlTree : public PreparedKernel {
  public:
    explicit MlTree(TreeEnsemble e) : e_(std::move(e)) {
        // Depth-first re-layout, tree by tree.
        std::vector<int32_t> where(e_.nodes.size(), -1);
        for (int32_t root : e_.roots) {
            roots_.push_back(static_cast<int32_t>(flat_.size()));
            std::vector<int32_t> stack = {root};
            while (!stack.empty()) {
                const int32_t i = stack.back();
                stack.pop_back();
                where[static_cast<size_t>(i)] = static_cast<int32_t>(flat_.size());
                flat_.push_back({});
                const TreeEnsemble::TreeNode& n = e_.nodes[static_cast<size_t>(i)];
                if (n.mode != TreeEnsemble::kLeaf) {
                    stack.push_back(n.no);
                    stack.push_back(n.yes);
                }
            }
        }
        missing_.assign(flat_.size(), 0);
        for (size_t i = 0; i < e_.nodes.size(); ++i) {
            const TreeEnsemble::TreeNode& n = e_.nodes[i];
            const int32_t w = where[i];
            if (w < 0) continue;
            FlatNode& f = flat_[static_cast<size_t>(w)];
            f.value = n.value;
            if (n.mode == TreeEnsemble::kLeaf) {
                f.feature = -1;
                f.yes = n.weight_begin;
                f.no = n.weight_end;
            } else {
                f.feature = n.feature;
                f.yes = where[static_cast<size_t>(n.yes)];
                f.no = where[static_cast<size_t>(n.no)];
                missing_[static_cast<size_t>(w)] = n.missing_true;
                mode_ = n.mode;
            }
        }
        if (!e_.one_mode) mode_ = TreeEnsemble::kLeaf;  // mixed: the mode per node
        if (!e_.one_mode) {
            modes_.assign(flat_.size(), TreeEnsemble::kLeaf);
            for (size_t i = 0; i < e_.nodes.size(); ++i) {
                if (where[i] >= 0) modes_[static_cast<size_t>(where[i])] = e_.nodes[i].mode;
            }
        }
    }

    std::string name() const override {
        static const char* kModes[] = {"leq", "lt", "gte", "gt", "eq", "neq", "mixed"};
        return std::string("ml_tree_") + kModes[mode_] + " (" + std::to_string(roots_.size()) +
               " trees, depth " + std::to_string(e_.max_depth) + ")";
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        int64_t rows;
        PARE_RETURN_IF_ERROR(tree_ensemble_check_input(e_, X.shape(), &rows));
        const int64_t F = X.shape().back(), T = e_.targets;
        const float* x = X.data<float>();
        float* scores = (e_.classifier ? ctx.out[1] : ctx.out[0])->data<float>();
        int64_t* labels = e_.classifier ? ctx.out[0]->data<int64_t>() : nullptr;
        const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
        auto block = [&](int64_t b) {
            const int64_t r0 = b * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
            std::vector<int32_t> count(static_cast<size_t>((r1 - r0) * T), 0);
            std::fill(scores + r0 * T, scores + r1 * T, 0.0f);
            switch (mode_) {
                case TreeEnsemble::kLeq:
                    walk<TreeEnsemble::kLeq>(x, F, r0, r1, scores, count.data());
                    break;
                case TreeEnsemble::kLt:
                    walk<TreeEnsemble::kLt>(x, F, r0, r1, scores, count.data());
                    break;
                case TreeEnsemble::kGte:
                    walk<TreeEnsemble::kGte>(x, F, r0, r1, scores, count.data());
                    break;
                case TreeEnsemble::kGt:
                    walk<TreeEnsemble::kGt>(x, F, r0, r1, scores, count.data());
                    break;
                default:
                    walk<TreeEnsemble::kLeaf>(x, F, r0, r1, scores, count.data());
                    break;
            }
            for (int64_t r = r0; r < r1; ++r)
                tree_ensemble_finish(e_, scores + r * T, count.data() + (r - r0) * T,
                                     labels ? labels + r : nullptr);
        };
        if (ctx.pool && blocks > 1) {
            ctx.pool->parallel_for(blocks, block);
        } else {
            for (int64_t b = 0; b < blocks; ++b) block(b);
        }
        return Status();
    }

  private:
    // kLeaf as the template mode: read each node's own mode (a mixed ensemble).
    template <TreeEnsemble::Mode M>
    void walk(const float* x, int64_t F, int64_t r0, int64_t r1, float* scores,
              int32_t* count) const {
        const int64_t T = e_.targets;
        const FlatNode* nodes = flat_.data();
        for (int32_t root : roots_) {
            for (int64_t r = r0; r < r1; ++r) {
                const float* row = x + r * F;
                int32_t i = root;
                while (nodes[i].feature >= 0) {
                    const FlatNode& n = nodes[i];
                    const float v = row[n.feature];
                    bool go;
                    if constexpr (M == TreeEnsemble::kLeaf) {
                        go = tree_branch_taken(modes_[static_cast<size_t>(i)], v, n.value,
                                               missing_[static_cast<size_t>(i)] != 0);
                    } else if constexpr (M == TreeEnsemble::kLeq) {
                        go = v <= n.value;
                    } else if constexpr (M == TreeEnsemble::kLt) {
                        go = v < n.value;
                    } else if constexpr (M == TreeEnsemble::kGte) {
                        go = v >= n.value;
                    } else {
                        go = v > n.value;
                    }
                    if constexpr (M != TreeEnsemble::kLeaf) {
                        if (v != v) go = missing_[static_cast<size_t>(i)] != 0;
                    }
                    i = go ? n.yes : n.no;
                }
                tree_ensemble_add_weights(e_, nodes[i].yes, nodes[i].no, scores + r * T,
                                          count + (r - r0) * T);
            }
        }
    }

    TreeEnsemble e_;
    std::vector<FlatNode> flat_;
    std::vector<int32_t> roots_;
    std::vector<uint8_t> missing_;
    std::vector<TreeEnsemble::Mode> modes_;
    TreeEnsemble::Mode mode_ = TreeEnsemble::kLeq;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_ml_tree(const Node& node) {
    TreeEnsemble e;
    if (!parse_tree_ensemble(node, &e).ok()) return nullptr;  // the reference reports it
    if (e.nodes.empty()) return nullptr;
    return std::make_unique<MlTree>(std::move(e));
}

}  // namespace pare
