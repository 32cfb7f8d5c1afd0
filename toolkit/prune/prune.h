// Pruning, as analyze then apply (docs/design.md, "Pruning").
//
// Unstructured: weights of Conv, Gemm and MatMul layers set to zero -- the
// smallest magnitudes to a target sparsity per layer or under one global
// threshold, or N:M (keep the n largest of every m consecutive weights along the
// layer's reduction axis: a Conv filter's (input channel, ky, kx) row, a Gemm's K).
// The graph keeps its shape; the zeros pay off in the runtime's sparse kernels
// and in compression.
//
// Structured: whole output channels removed, so the graph itself shrinks. A
// channel analysis (channels.cpp) follows every channel from the convolution that
// makes it to everything that reads it -- BatchNormalization, activations,
// depthwise convolutions, residual Adds, squeeze-excitation Muls, Concat, Split,
// Slice, pooling, Flatten/Reshape into a Gemm -- and ties channels that must go
// together into one class. A class that reaches a graph output or an op the
// analysis does not understand is frozen. Removing a class slices every weight,
// bias and per-channel constant that holds it; the result is a smaller dense
// graph with the same outputs' shapes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

enum class PruneMethod { kMagnitude, kNM, kL1, kL2, kBn, kTaylor };

// "magnitude", "nm", "l1", "l2", "bn", "taylor".
Result<PruneMethod> parse_prune_method(const std::string& name);
const char* prune_method_name(PruneMethod m);
// l1, l2, bn and taylor remove channels; magnitude and nm zero weights.
bool is_structured(PruneMethod m);

struct PruneOptions {
    PruneMethod method = PruneMethod::kMagnitude;
    // Unstructured: the fraction of each layer's weights zeroed (or of all
    // prunable weights, global). Structured: the fraction of channels removed.
    double sparsity = 0.5;
    bool global = false;
    std::vector<std::string> protect;  // node names left untouched
    int n = 2, m = 4;                  // N:M
    // Structured, global: every channel group keeps at least this fraction.
    double min_keep = 0.1;
    // Structured: every group keeps a multiple of this many channels (rounded up),
    // so the pruned layers fill the kernels' vectors (16 floats with AVX-512).
    int64_t round_to = 1;
    // kTaylor: per initializer, the sum over the data of gradient * weight
    // (taylor_scores); a channel's importance is |sum over its filter|.
    std::map<std::string, Tensor> taylor;
};

// Unstructured: the sparsity of one layer's weight (initializer `weight`).
struct LayerPrune {
    std::string layer, weight;
    double sparsity = 0;
};

// Structured: output channels removed from a layer that makes channels.
struct ChannelPrune {
    std::string layer;
    std::vector<int64_t> channels;
};

struct PrunePlan {
    PruneMethod method = PruneMethod::kMagnitude;
    double target = 0;
    int n = 0, m = 0;                    // N:M
    std::vector<LayerPrune> layers;      // magnitude, nm
    std::vector<ChannelPrune> channels;  // structured
};

// The graph every pruning step works on: a copy of g after prepare_for_editing
// (passes.h): Identity removed, constants folded, shapes inferred, BatchNorm kept.
Result<Graph> prepare_for_pruning(const Graph& g);

// The layers unstructured pruning may touch: Conv, Gemm and MatMul nodes whose
// weight (input 1) is a float32 initializer, minus protect. A protect name that is
// no node is an error.
Result<std::vector<std::string>> prunable_layers(const Graph& g, const PruneOptions& options);

// The plan for g. Structured methods need inferred shapes; analyze runs shape
// inference on a copy.
Result<PrunePlan> analyze_pruning(const Graph& g, const PruneOptions& options);

// The pruned graph. Deterministic; needs no data. Errors name the layer or
// channel that cannot be pruned (a frozen class, an unknown layer).
Result<Graph> apply_pruning(const Graph& g, const PrunePlan& plan);

std::string prune_plan_to_json(const PrunePlan& plan);
Result<PrunePlan> prune_plan_from_json(const std::string& text);

// 0/1 masks of the zeros of every weight the plan sparsified (unstructured), by
// initializer name of `pruned`: the trainer keeps them zero while fine-tuning.
std::map<std::string, Tensor> weight_masks(const Graph& pruned, const PrunePlan& plan);

// Gradual pruning (Zhu & Gupta, 2017): the sparsity after step t of `steps`,
// s_f + (s_i - s_f) (1 - t / steps)^3.
double polynomial_sparsity(double initial, double final_sparsity, int step, int steps);

// Per layer (Conv, Gemm, MatMul with a constant weight): parameters, zero weights
// and MACs of the dense computation (shapes inferred on a copy).
struct LayerSparsity {
    std::string layer, op;
    int64_t params = 0, zeros = 0, macs = 0;
};
Result<std::vector<LayerSparsity>> sparsity_report(const Graph& g);
// The report's sums (pare prune's and pare factorize's tables).
struct LayerTotals {
    int64_t params = 0, nonzero = 0, macs = 0;
};
LayerTotals layer_totals(const std::vector<LayerSparsity>& layers);

// The channel classes of g as the structured analysis sees them: each group of
// layers whose output channels are tied, its channel count and, when it cannot be
// pruned, why. For `pare prune --groups` and the tests.
struct ChannelGroup {
    std::vector<std::string> layers;  // the Conv/Gemm/MatMul nodes making these channels
    int64_t channels = 0;
    int64_t prunable = 0;   // channels not frozen
    std::string frozen_by;  // the first reason a channel is frozen ("" when none is)
};
Result<std::vector<ChannelGroup>> channel_groups(const Graph& g);

}  // namespace pare
