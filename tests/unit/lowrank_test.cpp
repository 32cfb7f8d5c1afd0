// Low-rank factorization: the linear algebra, exactness at full rank (SVD,
// Tucker-2, spatial split), the rank rules and their accounting, plans, errors,
// and that a factorized model trains (its torch execution matches pare's).
#include "toolkit/lowrank/lowrank.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/ir/passes/passes.h"
#include "tests/unit/prune_util.h"
#include "toolkit/data/dataset.h"
#include "toolkit/lowrank/linalg.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/report/evaluate.h"
#include "toolkit/train/trainer.h"

namespace pare {
namespace {

using test::output_gap;

Graph model(const std::string& name) {
    Graph g = load_model_file(std::string(PARE_SOURCE_DIR) + "/models/" + name).value();
    EXPECT_TRUE(g.resolve_ops().ok());
    return g;
}

std::vector<double> random_matrix(int64_t m, int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> d;
    std::vector<double> a(static_cast<size_t>(m * n));
    for (auto& x : a) x = d(rng);
    return a;
}

TEST(LowRank, SymmetricEigenDecomposes) {
    const int64_t n = 37;
    const std::vector<double> b = random_matrix(n, n, 3);
    std::vector<double> a(static_cast<size_t>(n * n));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) a[i * n + j] = b[i * n + j] + b[j * n + i];
    std::vector<double> w, v;
    symmetric_eigen(a, n, &w, &v);
    for (int64_t k = 0; k + 1 < n; ++k) EXPECT_GE(w[k], w[k + 1]);
    double worst = 0;
    for (int64_t k = 0; k < n; ++k) {
        for (int64_t i = 0; i < n; ++i) {  // (A v_k)_i = w_k v_k,i
            double s = 0;
            for (int64_t j = 0; j < n; ++j) s += a[i * n + j] * v[k * n + j];
            worst = std::max(worst, std::fabs(s - w[k] * v[k * n + i]));
        }
        for (int64_t l = 0; l < n; ++l) {  // orthonormal
            double dot = 0;
            for (int64_t i = 0; i < n; ++i) dot += v[k * n + i] * v[l * n + i];
            worst = std::max(worst, std::fabs(dot - (k == l ? 1.0 : 0.0)));
        }
    }
    EXPECT_LT(worst, 1e-9);
}

TEST(LowRank, SvdReconstructsWideAndTallMatrices) {
    for (const auto& [m, n] : {std::pair<int64_t, int64_t>{12, 40}, {40, 12}, {16, 16}}) {
        const std::vector<double> a = random_matrix(m, n, 7);
        const int64_t k = std::min(m, n);
        const Svd d = truncated_svd(a, m, n, k);
        ASSERT_EQ(d.s.size(), static_cast<size_t>(k));
        double err = 0, norm = 0, energy = 0;
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double s = 0;
                for (int64_t r = 0; r < k; ++r) s += d.u[i * k + r] * d.s[r] * d.vt[r * n + j];
                err += (s - a[i * n + j]) * (s - a[i * n + j]);
                norm += a[i * n + j] * a[i * n + j];
            }
        for (double s : d.s) energy += s * s;
        EXPECT_LT(std::sqrt(err / norm), 1e-9) << m << "x" << n;
        EXPECT_NEAR(energy, norm, 1e-9 * norm);  // the singular values carry all the energy
        EXPECT_EQ(rank_for_energy(d.s, 1.0), k);
        EXPECT_LT(rank_for_energy(d.s, 0.5), k);
    }
}

// A plan with every candidate of g at full rank.
LowRankPlan full_rank_plan(const Graph& g, bool spatial) {
    LowRankPlan plan;
    for (const auto& n : g.nodes) {
        if (n.op != OpKind::kConv && n.op != OpKind::kGemm) continue;
        const Shape& w = g.initializers.at(n.input(1)).shape();
        LayerFactor f;
        f.layer = n.name;
        if (w.size() == 2) {
            f.rank_out = std::min(w[0], w[1]);
        } else if (w[2] == 1 && w[3] == 1) {
            f.rank_out = std::min(w[0], w[1]);
        } else if (spatial) {
            f.kind = FactorKind::kSpatial;
            f.rank_out = std::min(w[1] * w[2], w[0] * w[3]);
        } else {
            f.kind = FactorKind::kTucker2;
            f.rank_in = std::min(w[1], w[0] * w[2] * w[3]);  // the unfoldings' ranks
            f.rank_out = std::min(w[0], w[1] * w[2] * w[3]);
        }
        plan.layers.push_back(f);
    }
    return plan;
}

TEST(LowRank, FullRankFactorizationsComputeTheOriginal) {
    const Graph g = model("teacher_resnet20.onnx");
    for (bool spatial : {false, true}) {
        const LowRankPlan plan = full_rank_plan(g, spatial);
        ASSERT_EQ(plan.layers.size(), 22u);
        const Result<Graph> f = apply_lowrank(g, plan);
        ASSERT_TRUE(f.ok()) << f.status().message();
        // Spatial: two layers for every one. Tucker-2 at full ranks folds both 1x1s into
        // the core (the stem keeps its restore: 9 of 16 output ranks); SVD: two.
        EXPECT_EQ(f.value().nodes.size(), g.nodes.size() + (spatial ? 22 : 4));
        EXPECT_LT(output_gap(g, f.value()), 2e-5) << (spatial ? "spatial" : "tucker2");
    }
}

TEST(LowRank, TuckerIsExactOnWeightsOfLowModeRank) {
    // Every 3x3 convolution with its last half of input channels and output filters
    // zeroed: mode ranks C/2 and N/2, so Tucker-2 at those ranks (reduce, core,
    // restore) computes exactly what the layer does.
    Graph g = model("teacher_resnet20.onnx");
    LowRankPlan plan;
    int threes = 0;
    for (const auto& n : g.nodes) {
        if (n.op != OpKind::kConv) continue;
        Tensor w = g.initializers.at(n.input(1)).clone();
        const Shape s = w.shape();
        if (s[2] != 3 || s[1] < 2) continue;
        for (int64_t o = 0; o < s[0]; ++o)
            for (int64_t c = 0; c < s[1]; ++c)
                if (o >= s[0] / 2 || c >= s[1] / 2)
                    for (int64_t t = 0; t < 9; ++t) w.data<float>()[(o * s[1] + c) * 9 + t] = 0;
        g.initializers[n.input(1)] = w;
        plan.layers.push_back(
            LayerFactor{n.name, "Conv", FactorKind::kTucker2, s[1] / 2, s[0] / 2});
        ++threes;
    }
    ASSERT_EQ(threes, 18);
    const Graph f = apply_lowrank(g, plan).value();
    EXPECT_EQ(f.nodes.size(), g.nodes.size() + 2 * 18);
    EXPECT_LT(output_gap(g, f), 2e-5);
    EXPECT_LT(f.parameter_count(), g.parameter_count() / 2);
}

TEST(LowRank, TruncationErrorFallsAsEnergyRises) {
    const Graph g = model("teacher_resnet20.onnx");
    double last = 1e9;
    for (double e : {0.5, 0.8, 0.95}) {
        LowRankOptions o;
        o.energy = e;
        const LowRankPlan plan = analyze_lowrank(g, o).value();
        ASSERT_FALSE(plan.layers.empty());
        for (const auto& l : plan.layers) {
            EXPECT_GE(l.energy, std::min(e, 0.999) - 0.2) << l.layer;  // Tucker: per mode
            EXPECT_LT(l.macs_after, l.macs_before) << l.layer;
        }
        const double gap = output_gap(g, apply_lowrank(g, plan).value());
        EXPECT_GT(gap, 1e-4);
        EXPECT_LT(gap, last) << "energy " << e;
        last = gap;
    }
}

TEST(LowRank, ReductionRuleAndItsAccountingMatchTheGraph) {
    const Graph g = model("teacher_resnet20.onnx");
    for (bool spatial : {false, true}) {
        LowRankOptions o;
        o.reduction = 2;
        o.spatial = spatial;
        const LowRankPlan plan = analyze_lowrank(g, o).value();
        ASSERT_GE(plan.layers.size(), 18u);
        int64_t before = 0, after = 0;
        for (const auto& l : plan.layers) {
            EXPECT_LE(l.params_after * 2, l.params_before) << l.layer;
            before += l.params_before;
            after += l.params_after;
        }
        const Graph f = apply_lowrank(g, plan).value();
        EXPECT_EQ(f.parameter_count(), g.parameter_count() - before + after);
        // The plan survives JSON and gives the same graph.
        const LowRankPlan back = lowrank_plan_from_json(lowrank_plan_to_json(plan)).value();
        ASSERT_EQ(back.layers.size(), plan.layers.size());
        EXPECT_LT(output_gap(f, apply_lowrank(g, back).value()), 1e-6);
    }
}

TEST(LowRank, FactorizedModelsRunTheSameInTorch) {
    const Graph g = model("teacher_resnet20.onnx");
    LowRankOptions o;
    o.energy = 0.7;
    const Graph f = apply_lowrank(g, analyze_lowrank(g, o).value()).value();
    Graph bound = f;
    bound.inputs[0].shape[0] = 4;
    ASSERT_TRUE(run_default_passes(bound).ok());
    const TensorMap in = random_inputs(bound, 5).value();
    const Tensor ours = test::run_graph(bound, in).at(bound.outputs[0].name);
    const Tensor torch = torch_forward(f, in.begin()->second).value();
    EXPECT_LT(relative_l2(torch, ours).value(), 1e-4);
}

TEST(LowRank, SensitivityKeepsEachLayerWithinTheBudget) {
    const Graph g = model("lenet5.onnx");
    DataOptions d;
    d.test_limit = 10;
    Dataset val = load_data("fashion-mnist", d).value().val;
    std::vector<int64_t> first(300);
    for (int64_t i = 0; i < 300; ++i) first[i] = i;
    val = val.subset(first);
    LowRankOptions o;
    const double budget = 1.0;
    const LowRankPlan plan = analyze_lowrank_by_sensitivity(g, o, val, budget).value();
    ASSERT_FALSE(plan.layers.empty());
    const double base = evaluate(g, val).value().top1;
    for (const auto& l : plan.layers) {
        // Each chosen layer, factorized alone at its rank, is within the budget...
        LowRankPlan one;
        one.layers = {l};
        const double alone = evaluate(apply_lowrank(g, one).value(), val).value().top1;
        EXPECT_LE(100 * (base - alone), budget + 1e-9) << l.layer;
        // ...and truly truncated.
        EXPECT_LT(l.energy, 1.0) << l.layer;
        EXPECT_LT(l.params_after, l.params_before) << l.layer;
    }
}

TEST(LowRank, BadRequestsAreClearErrors) {
    const Graph g = model("teacher_resnet20.onnx");
    auto message = [&](const LowRankOptions& o) {
        const Result<LowRankPlan> r = analyze_lowrank(g, o);
        EXPECT_FALSE(r.ok());
        return r.ok() ? std::string() : r.status().message();
    };
    LowRankOptions o;
    o.energy = 1.5;
    EXPECT_NE(message(o).find("energy must be in (0, 1]"), std::string::npos);
    o.energy = 0;
    o.reduction = 0.5;
    EXPECT_NE(message(o).find("reduction must be > 1"), std::string::npos);
    o.reduction = 0;
    EXPECT_NE(message(o).find("exactly one rank rule"), std::string::npos);
    o.ranks["head.fc"] = 11;  // a 64 x 10 matrix
    EXPECT_NE(message(o).find("rank 11 is outside [1, 10]"), std::string::npos);
    o.ranks = {{"no.such.layer", 2}};
    EXPECT_NE(message(o).find("no node named \"no.such.layer\""), std::string::npos);
    o.ranks.clear();
    o.energy = 0.5;
    o.protect = {"missing"};
    EXPECT_NE(message(o).find("no node named \"missing\""), std::string::npos);
    // A depthwise convolution is left alone; named explicitly, it is an error.
    const Graph mb = model("student_mobilenet_v2.onnx");
    std::string dw;
    for (const auto& n : mb.nodes)
        if (n.op == OpKind::kConv && n.attrs.get_int("group", 1) > 1) dw = n.name;
    ASSERT_FALSE(dw.empty());
    LowRankOptions d;
    d.energy = 0.5;
    const LowRankPlan plan = analyze_lowrank(mb, d).value();
    for (const auto& l : plan.layers) EXPECT_NE(l.layer, dw);
    d.energy = 0;
    d.ranks = {{dw, 2}};
    const Result<LowRankPlan> r = analyze_lowrank(mb, d);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("grouped or depthwise"), std::string::npos);
    // A plan naming a layer the model lacks.
    LowRankPlan bad;
    bad.layers.push_back(LayerFactor{"nope", "Conv", FactorKind::kSvd, 0, 1});
    EXPECT_FALSE(apply_lowrank(g, bad).ok());
    EXPECT_FALSE(lowrank_plan_from_json("{\"format\": \"other\"}").ok());
    EXPECT_FALSE(lowrank_plan_from_json("{ not json").ok());
}

}  // namespace
}  // namespace pare
