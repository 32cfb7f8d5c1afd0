// Pruning: unstructured (magnitude, global, N:M), structured (the channel
// analysis, and the pruned graph equal to the original with the removed channels
// silenced), plans, masks in the trainer, errors.
#include "toolkit/prune/prune.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "test_util.h"
#include "tests/unit/prune_util.h"
#include "toolkit/data/dataset.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/prune/channels.h"
#include "toolkit/train/trainer.h"

namespace pare {
namespace {

using test::output_gap;
using test::silenced;

Graph model(const std::string& name) {
    Graph g = load_model_file(std::string(PARE_SOURCE_DIR) + "/models/" + name).value();
    EXPECT_TRUE(g.resolve_ops().ok());
    return g;
}

TEST(Prune, ResidualStagesFormOneChannelGroup) {
    const std::vector<ChannelGroup> groups = channel_groups(model("teacher_resnet20.onnx")).value();
    // ResNet-20: the stem and every block's second conv of stage 1 share channels
    // through the residual Adds; each block's first conv stands alone; the classifier
    // output is frozen by the graph output.
    ASSERT_EQ(groups.size(), 13u);
    EXPECT_EQ(groups[0].layers.size(), 4u);
    EXPECT_EQ(groups[0].channels, 16);
    EXPECT_EQ(groups[0].prunable, 16);
    EXPECT_EQ(groups.back().prunable, 0);
    EXPECT_NE(groups.back().frozen_by.find("graph output"), std::string::npos);
}

TEST(Prune, StructuredPruningEqualsTheSilencedModel) {
    const Graph g = model("teacher_resnet20.onnx");
    for (PruneMethod m : {PruneMethod::kL1, PruneMethod::kL2, PruneMethod::kBn}) {
        for (bool global : {false, true}) {
            PruneOptions o;
            o.method = m;
            o.sparsity = 0.4;
            o.global = global;
            const PrunePlan plan = analyze_pruning(g, o).value();
            ASSERT_FALSE(plan.channels.empty());
            const Graph p = apply_pruning(g, plan).value();
            EXPECT_LT(p.parameter_count(), g.parameter_count() * 0.75) << prune_method_name(m);
            EXPECT_LT(output_gap(silenced(g, plan), p), 1e-5) << prune_method_name(m);
            // Not a trivially equal model: the silenced channels mattered.
            EXPECT_GT(output_gap(g, p), 1e-3) << prune_method_name(m);
        }
    }
}

// Max |w| of the original weights the pruned graph zeroed, and min |w| of those it
// kept, over the given layers' weights.
void zeroed_and_kept(const Graph& g, const Graph& p, const std::vector<std::string>& weights,
                     float* max_zeroed, float* min_kept, int64_t* zeros) {
    *max_zeroed = 0;
    *min_kept = 1e30f;
    *zeros = 0;
    for (const auto& w : weights) {
        const Tensor& a = g.initializers.at(w);
        const Tensor& b = p.initializers.at(w);
        for (int64_t i = 0; i < a.numel(); ++i) {
            const float v = std::fabs(a.data<float>()[i]);
            if (b.data<float>()[i] == 0.0f) {
                *max_zeroed = std::max(*max_zeroed, v);
                ++*zeros;
            } else {
                EXPECT_EQ(b.data<float>()[i], a.data<float>()[i]);
                *min_kept = std::min(*min_kept, v);
            }
        }
    }
}

TEST(Prune, MagnitudeZeroesEachLayersSmallestWeights) {
    const Graph g = model("lenet5.onnx");
    PruneOptions o;
    o.sparsity = 0.6;
    const PrunePlan plan = analyze_pruning(g, o).value();
    ASSERT_EQ(plan.layers.size(), 5u);  // 2 convolutions, 3 dense layers
    const Graph p = apply_pruning(g, plan).value();
    for (const auto& l : plan.layers) {
        float mz = 0, mk = 0;
        int64_t zeros = 0;
        zeroed_and_kept(g, p, {l.weight}, &mz, &mk, &zeros);
        const int64_t n = g.initializers.at(l.weight).numel();
        EXPECT_EQ(zeros, std::llround(0.6 * static_cast<double>(n))) << l.layer;
        EXPECT_LE(mz, mk) << l.layer;
    }
}

TEST(Prune, GlobalMagnitudeIsOneThresholdOverAllLayers) {
    const Graph g = model("lenet5.onnx");
    PruneOptions o;
    o.sparsity = 0.7;
    o.global = true;
    const PrunePlan plan = analyze_pruning(g, o).value();
    const Graph p = apply_pruning(g, plan).value();
    std::vector<std::string> weights;
    int64_t total = 0;
    std::set<double> sparsities;
    for (const auto& l : plan.layers) {
        weights.push_back(l.weight);
        total += g.initializers.at(l.weight).numel();
        sparsities.insert(l.sparsity);
    }
    float mz = 0, mk = 0;
    int64_t zeros = 0;
    zeroed_and_kept(g, p, weights, &mz, &mk, &zeros);
    EXPECT_NEAR(static_cast<double>(zeros), 0.7 * static_cast<double>(total), 5.0);
    EXPECT_LE(mz, mk);
    EXPECT_GT(sparsities.size(), 1u);  // the layers end up with different sparsities
}

TEST(Prune, NMKeepsTheNLargestOfEveryMAlongTheReductionAxis) {
    const Graph g = model("teacher_resnet20.onnx");
    PruneOptions o;
    o.method = PruneMethod::kNM;
    const PrunePlan plan = analyze_pruning(g, o).value();
    const Graph p = apply_pruning(g, plan).value();
    std::set<std::string> planned;
    for (const auto& l : plan.layers) planned.insert(l.layer);
    EXPECT_FALSE(planned.count("stem.conv.conv"));  // 1 x 3 x 3 = 9 per filter: no whole groups
    EXPECT_TRUE(planned.count("stage1.block0.a.conv"));
    EXPECT_TRUE(planned.count("head.fc"));
    for (const auto& l : plan.layers) {
        const Tensor& a = g.initializers.at(l.weight);
        const Tensor& b = p.initializers.at(l.weight);
        const int64_t k = a.numel() / a.shape()[0];  // rows: filters (Conv), outputs (Gemm transB)
        for (int64_t r = 0; r < a.shape()[0]; ++r)
            for (int64_t j = 0; j < k; j += 4) {
                const float* x = a.data<float>() + r * k + j;
                const float* y = b.data<float>() + r * k + j;
                int nz = 0;
                float kept_min = 1e30f, dropped_max = 0;
                for (int t = 0; t < 4; ++t) {
                    if (y[t] != 0) {
                        ++nz;
                        kept_min = std::min(kept_min, std::fabs(x[t]));
                    } else {
                        dropped_max = std::max(dropped_max, std::fabs(x[t]));
                    }
                }
                ASSERT_EQ(nz, 2) << l.layer;
                ASSERT_LE(dropped_max, kept_min) << l.layer;
            }
    }
}

TEST(Prune, PlansRoundTripThroughJson) {
    const Graph g = model("teacher_resnet20.onnx");
    for (PruneMethod m : {PruneMethod::kMagnitude, PruneMethod::kNM, PruneMethod::kL2}) {
        PruneOptions o;
        o.method = m;
        o.sparsity = 0.3;
        const PrunePlan plan = analyze_pruning(g, o).value();
        const PrunePlan back = prune_plan_from_json(prune_plan_to_json(plan)).value();
        const Graph a = apply_pruning(g, plan).value(), b = apply_pruning(g, back).value();
        EXPECT_EQ(a.parameter_count(), b.parameter_count());
        EXPECT_EQ(output_gap(a, b), 0.0) << prune_method_name(m);
    }
}

TEST(Prune, ProtectedLayersKeepTheirChannels) {
    const Graph g = model("teacher_resnet20.onnx");
    PruneOptions o;
    o.method = PruneMethod::kL1;
    o.sparsity = 0.5;
    o.protect = {"stage1.block0.a.conv", "stage2.block0.b.conv"};
    const PrunePlan plan = analyze_pruning(g, o).value();
    for (const auto& c : plan.channels) {
        EXPECT_NE(c.layer, "stage1.block0.a.conv");
        EXPECT_NE(c.layer, "stage2.block0.b.conv");
        EXPECT_NE(c.layer, "stage2.block1.b.conv");  // tied to a protected layer's channels
    }
    EXPECT_FALSE(plan.channels.empty());
}

TEST(Prune, BadRequestsNameTheProblem) {
    const Graph g = model("teacher_resnet20.onnx");
    const auto message = [&](PruneOptions o) {
        Result<PrunePlan> r = analyze_pruning(g, o);
        return r.ok() ? std::string("ok") : r.status().message();
    };
    PruneOptions o;
    o.sparsity = 1.0;
    EXPECT_NE(message(o).find("sparsity"), std::string::npos);
    o = {};
    o.protect = {"no.such.layer"};
    EXPECT_NE(message(o).find("no.such.layer"), std::string::npos);
    o = {};
    o.method = PruneMethod::kNM;
    o.n = 4;
    o.m = 4;
    EXPECT_NE(message(o).find("N:M"), std::string::npos);
    o = {};
    o.method = PruneMethod::kTaylor;
    EXPECT_NE(message(o).find("gradients"), std::string::npos);
    // bn on a model whose BatchNormalizations were folded away.
    Graph folded = g;
    ASSERT_TRUE(fold_affine(folded).ok());
    o = {};
    o.method = PruneMethod::kBn;
    Result<PrunePlan> r = analyze_pruning(folded, o);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("BatchNormalization"), std::string::npos);
    // Plans: the classifier's outputs reach the graph output; an unknown layer.
    PrunePlan plan;
    plan.method = PruneMethod::kL1;
    plan.channels = {{"head.fc", {0}}};
    Result<Graph> p = apply_pruning(g, plan);
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.status().message().find("graph output"), std::string::npos);
    plan.channels = {{"stem.conv.conv", {99}}};
    p = apply_pruning(g, plan);
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.status().message().find("no output channel 99"), std::string::npos);
    plan.channels = {{"missing", {0}}};
    EXPECT_FALSE(apply_pruning(g, plan).ok());
    EXPECT_FALSE(prune_plan_from_json("{\"format\": \"pare-prune-plan-1\"}").ok());
}

TEST(Prune, PolynomialScheduleRisesToTheTarget) {
    double last = -1;
    for (int t = 0; t <= 5; ++t) {
        const double s = polynomial_sparsity(0.1, 0.9, t, 5);
        EXPECT_GT(s, last);
        last = s;
    }
    EXPECT_DOUBLE_EQ(polynomial_sparsity(0.1, 0.9, 0, 5), 0.1);
    EXPECT_DOUBLE_EQ(polynomial_sparsity(0.1, 0.9, 5, 5), 0.9);
    // Cubic: most of the pruning early, when the network has the most redundancy.
    EXPECT_GT(polynomial_sparsity(0.0, 0.9, 1, 5), 0.9 * 0.45);
}

// Split, Slice, Concat, GlobalAveragePool and Flatten into a Gemm: the channels
// removed before them are cut from each, and the graph computes what the silenced
// original does.
TEST(Prune, SplitSliceConcatAndFlattenFollowTheChannels) {
    using test::make_node;
    Graph g;
    g.inputs.push_back(test::value("x", DType::kFloat32, {1, 3, 8, 8}));
    g.outputs.push_back(test::value("y", DType::kFloat32, {1, 5}));
    g.initializers["w1"] = test::random_tensor({8, 3, 3, 3}, 1);
    g.initializers["b1"] = test::random_tensor({8}, 2);
    g.initializers["wa"] = test::random_tensor({4, 4, 1, 1}, 3);
    g.initializers["w3"] = test::random_tensor({6, 7, 1, 1}, 4);
    g.initializers["sizes"] = Tensor::from_vector<int64_t>({4, 4}, {2});
    g.initializers["st"] = Tensor::from_vector<int64_t>({1}, {1});
    g.initializers["en"] = Tensor::from_vector<int64_t>({4}, {1});
    g.initializers["ax"] = Tensor::from_vector<int64_t>({1}, {1});
    g.initializers["wf"] = test::random_tensor({5, 6}, 5);
    g.initializers["bf"] = test::random_tensor({5}, 6);
    Node c1 = make_node("Conv", {"x", "w1", "b1"}, {"c1"});
    c1.name = "conv1";
    c1.attrs.set("pads", Attribute::make_ints({1, 1, 1, 1}));
    Node sp = make_node("Split", {"r1", "sizes"}, {"a", "b"});
    sp.attrs.set("axis", Attribute::make_int(1));
    Node ca = make_node("Conv", {"a", "wa"}, {"a2"});
    ca.name = "conv_a";
    Node cat = make_node("Concat", {"a2", "b2"}, {"c"});
    cat.attrs.set("axis", Attribute::make_int(1));
    Node c3 = make_node("Conv", {"c", "w3"}, {"d"});
    c3.name = "conv3";
    Node fc = make_node("Gemm", {"f", "wf", "bf"}, {"y"});
    fc.attrs.set("transB", Attribute::make_int(1));
    g.nodes = {c1,
               make_node("Relu", {"c1"}, {"r1"}),
               sp,
               ca,
               make_node("Slice", {"b", "st", "en", "ax"}, {"b2"}),
               cat,
               c3,
               make_node("GlobalAveragePool", {"d"}, {"e"}),
               make_node("Flatten", {"e"}, {"f"}),
               fc};
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].name.empty()) g.nodes[i].name = "n" + std::to_string(i);
    ASSERT_TRUE(g.resolve_ops().ok());
    PrunePlan plan;
    plan.method = PruneMethod::kL1;
    plan.channels = {{"conv1", {1, 5, 6}}, {"conv_a", {2}}, {"conv3", {0, 4}}};
    const Graph p = apply_pruning(g, plan).value();
    EXPECT_EQ(p.initializers.at(p.nodes[0].input(1)).shape(), (Shape{5, 3, 3, 3}));
    EXPECT_LT(output_gap(silenced(g, plan), p), 1e-5);
    EXPECT_GT(output_gap(g, p), 1e-3);
    // Channel 4 of conv1 is cut by the Slice (it starts at 1 of b): removing it changes
    // nothing downstream but conv1 itself.
    plan.channels = {{"conv1", {4}}};
    EXPECT_LT(output_gap(g, apply_pruning(g, plan).value()), 1e-6);
}

TEST(Prune, FineTuningKeepsThePrunedWeightsAtZero) {
    const Graph g = model("lenet5.onnx");
    PruneOptions o;
    o.sparsity = 0.8;
    const PrunePlan plan = analyze_pruning(g, o).value();
    Graph p = apply_pruning(g, plan).value();
    const Graph before = p;
    DataOptions d;
    d.train_limit = 512;
    const DataSplits data = load_data("fashion-mnist", d).value();
    TrainConfig cfg;
    cfg.epochs = 1;
    cfg.batch = 64;
    cfg.max_steps = 6;
    cfg.lr = 0.05;
    cfg.progress = false;
    cfg.masks = weight_masks(p, plan);
    ASSERT_EQ(cfg.masks.size(), plan.layers.size());
    ASSERT_TRUE(train_graph(p, data, cfg).ok());
    for (const auto& l : plan.layers) {
        const Tensor& a = before.initializers.at(l.weight);
        const Tensor& b = p.initializers.at(l.weight);
        int64_t zeros_before = 0, zeros_after = 0, changed = 0;
        for (int64_t i = 0; i < a.numel(); ++i) {
            zeros_before += a.data<float>()[i] == 0;
            zeros_after += b.data<float>()[i] == 0;
            if (a.data<float>()[i] == 0) {
                EXPECT_EQ(b.data<float>()[i], 0.0f);
            }
            changed += a.data<float>()[i] != b.data<float>()[i];
        }
        EXPECT_EQ(zeros_before, zeros_after) << l.layer;
        EXPECT_GT(changed, 0) << l.layer;  // the other weights did train
    }
    // A mask that fits no weight is refused.
    cfg.masks = {{"nope", Tensor::from_vector<float>({1}, {1})}};
    EXPECT_FALSE(train_graph(p, data, cfg).ok());
}

TEST(Prune, TaylorScoresFromTheTrainerRankChannels) {
    const Graph g = model("teacher_resnet20.onnx");
    DataOptions d;
    d.train_limit = 256;
    const DataSplits data = load_data("fashion-mnist", d).value();
    PruneOptions o;
    o.method = PruneMethod::kTaylor;
    o.sparsity = 0.25;
    o.taylor = taylor_scores(g, data.train, 64, 2, 1).value();
    std::string stem;
    for (const auto& n : g.nodes)
        if (n.name == "stem.conv.conv") stem = n.input(1);
    ASSERT_TRUE(o.taylor.count(stem)) << stem;
    const Tensor& t = o.taylor.at(stem);
    EXPECT_EQ(t.shape(), g.initializers.at(stem).shape());
    double mass = 0;
    for (int64_t i = 0; i < t.numel(); ++i) mass += std::fabs(t.data<float>()[i]);
    EXPECT_GT(mass, 0);
    const PrunePlan plan = analyze_pruning(g, o).value();
    const Graph p = apply_pruning(g, plan).value();
    EXPECT_LT(output_gap(silenced(g, plan), p), 1e-5);
    // Another criterion picks other channels.
    o.method = PruneMethod::kL1;
    EXPECT_NE(prune_plan_to_json(analyze_pruning(g, o).value()).substr(60),
              prune_plan_to_json(plan).substr(60));
}

}  // namespace
}  // namespace pare
