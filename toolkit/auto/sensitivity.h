// Per-layer sensitivity (`pare sensitivity`, and the first step of `pare auto`):
// for every layer, each candidate compression action applied to that layer
// alone, and the top-1 lost on validation images, measured by pare's runtime.
//
// Actions: int8 (calibrated QDQ, this layer's input activation and weights),
// int4 weights (per output channel, symmetric, 15 levels, simulated in float:
// ONNX opset 17 has no 4-bit type), unstructured sparsity levels (magnitude),
// structured channel ratios (l2 filter norms; per channel group, since the
// channels of layers tied by residual Adds go together), low-rank factorization
// at parameter reductions (SVD or Tucker-2, as toolkit/lowrank/ decides). Keeping
// a layer in float is the reference: 0 points lost.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/data/dataset.h"
#include "toolkit/quant/quantize.h"
#include "toolkit/report/html.h"
#include "toolkit/report/latency.h"

namespace pare {

enum class ActionKind { kInt8, kInt4Weights, kSparsity, kChannels, kLowRank };

struct Action {
    ActionKind kind = ActionKind::kInt8;
    double level = 0;  // sparsity fraction, fraction of channels removed, parameter reduction
};
// "int8", "int4w", "sparse75", "channels50", "rank/2": short, stable, for tables and JSON.
std::string action_name(const Action& a);
Result<Action> parse_action(const std::string& name);

struct SensitivityOptions {
    bool quant = true;  // int8
    bool int4 = true;   // int4 weights (with quant)
    std::vector<double> sparsities = {0.5, 0.75, 0.9};
    std::vector<double> channel_ratios = {0.25, 0.5};
    std::vector<double> rank_reductions = {2, 4};
    QuantOptions quant_options;  // int8: calibration method and scheme
    // Applied to each channel-removed model before it is evaluated (pare auto:
    // BatchNormalization statistics re-estimated on training images, which makes
    // the loss without fine-tuning a far better guide to the loss after it).
    std::function<Status(Graph&)> recalibrate;
    int64_t batch = 100;   // evaluation batch
    bool progress = true;  // one line per layer on stderr
};

// One action on one target: a layer, or (kChannels) a channel group named by its
// first layer.
struct SensitivityEntry {
    std::string target;
    Action action;
    bool applicable = true;
    std::string note;      // why not applicable ("no MACs saved", "frozen: graph output")
    double top1 = 0;       // on the validation images, in %
    double drop = 0;       // base top-1 minus top1, in points
    double agreement = 0;  // % of images whose class matches the original model's
    int64_t params_before = 0, params_after = 0;  // of the target's weights (nonzero for sparsity)
};
struct SensitivityLayer {
    std::string name, op;
    int64_t params = 0, macs = 0;
};
struct SensitivityGroup {
    std::string name;                 // its first layer
    std::vector<std::string> layers;  // the layers whose output channels are tied
    int64_t channels = 0;
};
struct SensitivityReport {
    std::string model;  // file name, for the report
    int64_t examples = 0;
    double base_top1 = 0;
    std::vector<SensitivityLayer> layers;
    std::vector<SensitivityGroup> groups;
    std::vector<SensitivityEntry> entries;
    double seconds = 0;
    // The entry for (target, action), or nullptr.
    const SensitivityEntry* find(const std::string& target, const Action& a) const;
    // The actions measured, in the order of the options (the table's columns).
    std::vector<Action> actions() const;
};

// g: one (N, C, H, W) float input, one (N, classes) output; val: labelled images
// (the validation split: the test split is for final figures); calib: images for
// the int8 calibration.
Result<SensitivityReport> analyze_sensitivity(const Graph& g, const Dataset& val,
                                              const Tensor& calib,
                                              const SensitivityOptions& options);

// Every weight of a Conv, Gemm or MatMul (constant float weight) rounded to `bits`
// per output channel, symmetric: what int4 weights would compute.
Status fake_quantize_weights(Graph& g, const std::string& layer, int bits);

std::string sensitivity_to_json(const SensitivityReport& r);
// The report's sensitivity section: the heat map of points lost per layer and
// action, the table, and (given a per-step latency profile of the model) where
// its parameters and latency go per layer.
void report_sensitivity(HtmlReport& page, const SensitivityReport& r,
                        const LatencyProfile* latency);
// Errors name the field that is missing or malformed.
Result<SensitivityReport> sensitivity_from_json(const std::string& text);

}  // namespace pare
