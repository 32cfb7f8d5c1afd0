// Cascades: a small model answers when its top class probability clears a
// threshold; otherwise the large model runs. One ONNX graph with an If node, for a
// batch of one (the condition is per input):
//
//   x -> small -> [Softmax] -> p_small -> ReduceMax -> Less(threshold) -> If
//        then: x -> large -> [Softmax]   (only run for the unsure inputs)
//        else: p_small
//
// The threshold is tuned on the validation split to keep accuracy within a budget
// of the large model's.
#pragma once

#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

// Class probabilities [N, classes] from a model's outputs: rows that are already
// probabilities (non-negative, summing to 1) are kept, others go through softmax.
Tensor as_probabilities(const Tensor& scores);

struct CascadePoint {
    double threshold = 0;       // the small model answers when its top probability >= threshold
    double accuracy = 0;        // top-1 of the cascade
    double large_fraction = 0;  // inputs that reached the large model
};

// The cascade's class per example at `threshold` (the small model's top class when
// its probability reaches the threshold, else the large model's); unsure, when
// given, marks the examples sent to the large model.
std::vector<int64_t> cascade_predictions(const Tensor& small, const Tensor& large, double threshold,
                                         std::vector<bool>* unsure = nullptr);

// The cascade's accuracy and large-model fraction at `threshold` (probabilities of
// both models on the same labelled examples).
CascadePoint cascade_at(const Tensor& small, const Tensor& large,
                        const std::vector<int64_t>& labels, double threshold);

struct ThresholdChoice {
    CascadePoint point;
    double large_accuracy = 0, small_accuracy = 0;
    bool met = false;  // false: no threshold keeps the budget; point is the most accurate
};

// The threshold sending the fewest inputs to the large model whose accuracy is at
// least the large model's minus max_drop_points / 100, among the small model's
// confidences on these examples (and "never", 1 + epsilon: everything to the large
// model). When none does (a negative budget), the most accurate one, met = false.
ThresholdChoice tune_threshold(const Tensor& small, const Tensor& large,
                               const std::vector<int64_t>& labels, double max_drop_points);

// The cascade graph (one input, batch of one; both models take the same input and
// give the same number of classes). Names inside are prefixed so nothing clashes.
Result<Graph> build_cascade(const Graph& small, const Graph& large, float threshold);

}  // namespace pare
