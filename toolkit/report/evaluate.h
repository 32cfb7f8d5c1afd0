// Classification accuracy of a model on a dataset, computed with pare's own
// runtime (never libtorch): top-1, top-5, per-class accuracy, confusion matrix,
// and each example's predicted class (for agreement checks against ONNX Runtime).
#pragma once

#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/data/dataset.h"

namespace pare {

struct EvalReport {
    int64_t examples = 0;
    double top1 = 0, top5 = 0;
    std::vector<double> per_class;                // accuracy per true class
    std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
    std::vector<int64_t> predictions;
    double images_per_s = 0;
};

// g: one (N, C, H, W) float input, one (N, classes) output. Runs batches of `batch`
// (the last one padded). Fails when the model's input or class count does not
// match the data.
Result<EvalReport> evaluate(const Graph& g, const Dataset& data, int64_t batch = 100);

// The report as text: top-1, top-5, per-class accuracy, confusion matrix.
std::string format_eval(const EvalReport& r, const std::vector<std::string>& class_names);

}  // namespace pare
