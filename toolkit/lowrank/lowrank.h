// Low-rank factorization, as analyze then apply (docs/design.md, "Low-rank
// factorization").
//
// Gemm, MatMul and 1x1 Conv: W ~= U V by truncated SVD, one layer becomes two
// (x -> x V^T -> U, the bias on the second). KxK Conv: Tucker-2 (HOSVD refined
// by two HOOI sweeps): a 1x1 reduction to r_in channels, the KxK core
// r_in -> r_out with the original stride, padding and dilation, and a 1x1
// restoration with the bias; or, with `spatial`, a Kx1 convolution to r channels
// then a 1xK one (the SVD of the (C kh) x (N kw) unfolding). Grouped and
// depthwise convolutions are left alone, and so is any layer whose
// factorization would not reduce its MACs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/data/dataset.h"

namespace pare {

enum class FactorKind { kSvd, kTucker2, kSpatial };
const char* factor_kind_name(FactorKind k);

struct LowRankOptions {
    // Exactly one rule picks the ranks: `energy` in (0, 1] keeps that fraction of
    // the squared singular values; `reduction` > 1 the largest rank with at most
    // 1 / reduction of the layer's parameters; `ranks` by layer name (the rank of
    // an SVD or spatial split, both Tucker-2 ranks capped by the channels).
    double energy = 0;
    double reduction = 0;
    std::map<std::string, int64_t> ranks;
    bool spatial = false;              // KxK convolutions as Kx1 then 1xK, not Tucker-2
    std::vector<std::string> protect;  // node names left alone
    // Only these layers (node names); empty: every candidate. `ranks` implies its keys.
    std::vector<std::string> only;
    int64_t round_to = 1;  // ranks rounded up to a multiple (vector width)
};

// One layer's factorization.
struct LayerFactor {
    std::string layer, op;
    FactorKind kind = FactorKind::kSvd;
    int64_t rank_in = 0, rank_out = 0;  // Tucker-2: both; SVD and spatial: rank_out
    double energy = 0;                  // fraction of the squared singular values kept
    int64_t params_before = 0, params_after = 0;
    int64_t macs_before = 0, macs_after = 0;  // per image
};

struct LowRankPlan {
    std::vector<LayerFactor> layers;
    // Candidates not factorized and why ("no MACs saved at rank 12", "grouped").
    std::vector<std::pair<std::string, std::string>> skipped;
};

// The plan for g. Errors: an energy outside (0, 1], a reduction <= 1, a rank below 1
// or above the matrix's smaller side, a layer name that is no candidate.
Result<LowRankPlan> analyze_lowrank(const Graph& g, const LowRankOptions& options);

// Per layer from a measured sensitivity: for each candidate, the smallest energy of
// `ladder` whose factorization of that layer alone costs at most `max_drop` (points
// of top-1) on `val` in pare's runtime. Progress on stderr.
Result<LowRankPlan> analyze_lowrank_by_sensitivity(const Graph& g, const LowRankOptions& options,
                                                   const Dataset& val, double max_drop,
                                                   const std::vector<double>& ladder = {
                                                       0.3, 0.5, 0.7, 0.8, 0.9, 0.95});

// The factorized graph (valid ONNX: every new node a Conv, Gemm or MatMul).
Result<Graph> apply_lowrank(const Graph& g, const LowRankPlan& plan);

std::string lowrank_plan_to_json(const LowRankPlan& plan);
Result<LowRankPlan> lowrank_plan_from_json(const std::string& text);

}  // namespace pare
