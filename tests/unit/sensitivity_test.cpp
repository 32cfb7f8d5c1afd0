// Per-layer sensitivity: actions named and parsed back, int4 weights rounded as
// they would be stored, and the measurements on the checked-in LeNet-5 equal to
// applying each action by hand.
#include "toolkit/auto/sensitivity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "test_util.h"
#include "toolkit/data/dataset.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/prune/prune.h"
#include "toolkit/report/evaluate.h"

using namespace pare;

namespace {

const std::string kLenet = std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx";

}  // namespace

TEST(Sensitivity, ActionNamesParseBackAndBadNamesAreErrors) {
    for (const Action& a :
         {Action{ActionKind::kInt8, 0}, Action{ActionKind::kInt4Weights, 0},
          Action{ActionKind::kSparsity, 0.75}, Action{ActionKind::kChannels, 0.25},
          Action{ActionKind::kLowRank, 2}, Action{ActionKind::kLowRank, 3.5}}) {
        Result<Action> b = parse_action(action_name(a));
        ASSERT_TRUE(b.ok()) << action_name(a) << ": " << b.status().message();
        EXPECT_EQ(b.value().kind, a.kind);
        EXPECT_DOUBLE_EQ(b.value().level, a.level);
    }
    for (const char* bad : {"", "int9", "int8x", "sparse", "sparse0", "sparse100", "channels-5",
                            "rank/1", "rank/", "rank/x", "sparse50%"}) {
        Result<Action> r = parse_action(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_NE(r.status().message().find("unknown action"), std::string::npos);
    }
}

TEST(Sensitivity, Int4WeightsTakeFifteenLevelsPerChannelAndLeaveTheOriginalAlone) {
    Graph g = load_model_file(kLenet).value();
    const Node* conv = nullptr;
    for (const Node& n : g.nodes)
        if (n.name == "conv2") conv = &n;
    ASSERT_NE(conv, nullptr);
    const Tensor before = g.initializers.at(conv->input(1));
    const Tensor kept = before.clone();
    Graph q = g;
    ASSERT_TRUE(fake_quantize_weights(q, "conv2", 4).ok());
    const Node* qconv = nullptr;
    for (const Node& n : q.nodes)
        if (n.name == "conv2") qconv = &n;
    const Tensor& w = q.initializers.at(qconv->input(1));
    ASSERT_EQ(w.shape(), before.shape());
    const int64_t O = w.shape()[0], per = w.numel() / O;
    double err = 0, ref = 0;
    for (int64_t o = 0; o < O; ++o) {
        std::set<float> levels;
        float mx = 0, qmx = 0;
        for (int64_t i = 0; i < per; ++i) {
            const float v = w.data<float>()[o * per + i], b = before.data<float>()[o * per + i];
            levels.insert(std::fabs(v));
            mx = std::max(mx, std::fabs(b));
            qmx = std::max(qmx, std::fabs(v));
            err += (v - b) * (v - b);
            ref += b * b;
        }
        EXPECT_LE(levels.size(), 8u) << "channel " << o;  // |q| in 0..7
        EXPECT_NEAR(qmx, mx, 1e-6f * mx);                 // the largest weight is a level
    }
    EXPECT_GT(err, 0);
    EXPECT_LT(std::sqrt(err / ref), 0.15);
    for (int64_t i = 0; i < before.numel(); ++i)
        ASSERT_EQ(before.data<float>()[i], kept.data<float>()[i]) << "the original changed";
    EXPECT_FALSE(fake_quantize_weights(q, "no_such_layer", 4).ok());
    EXPECT_FALSE(fake_quantize_weights(q, "conv2", 1).ok());
}

TEST(Sensitivity, LenetEntriesEqualEachActionAppliedAloneAndRoundTripAsJson) {
    const Graph g = load_model_file(kLenet).value();
    DataSplits d = load_data("fashion-mnist", {}).value();
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < 300; ++i) idx.push_back(i);
    const Dataset val = d.val.subset(idx);
    std::vector<int64_t> cidx;
    for (int64_t i = 0; i < 64; ++i) cidx.push_back(i);
    const Tensor calib = d.train.subset(cidx).images;
    SensitivityOptions o;
    o.sparsities = {0.5, 0.9};
    o.channel_ratios = {0.5};
    o.rank_reductions = {4};
    o.progress = false;
    Result<SensitivityReport> rr = analyze_sensitivity(g, val, calib, o);
    ASSERT_TRUE(rr.ok()) << rr.status().message();
    const SensitivityReport& r = rr.value();
    EXPECT_EQ(r.examples, 300);
    EXPECT_NEAR(r.base_top1, 100.0 * evaluate(g, val).value().top1, 1e-9);
    ASSERT_EQ(r.layers.size(), 5u);  // conv1, conv2, fc1, fc2, fc3
    // Every layer has every per-layer action; every group its channel ratio.
    for (const auto& l : r.layers)
        for (const char* a : {"int8", "int4w", "sparse50", "sparse90", "rank/4"})
            EXPECT_NE(r.find(l.name, parse_action(a).value()), nullptr) << l.name << " " << a;
    ASSERT_EQ(r.groups.size(), 5u);
    // The classifier's channels are the model's output: frozen, not applicable.
    const SensitivityEntry* out = r.find("fc3", {ActionKind::kChannels, 0.5});
    ASSERT_NE(out, nullptr);
    EXPECT_FALSE(out->applicable);
    EXPECT_NE(out->note.find("frozen"), std::string::npos) << out->note;

    // conv1 at 90% sparsity, by hand: every other layer protected.
    PruneOptions po;
    po.method = PruneMethod::kMagnitude;
    po.sparsity = 0.9;
    po.protect = {"conv2", "fc1", "fc2", "fc3"};
    const Graph pruned = apply_pruning(g, analyze_pruning(g, po).value()).value();
    const SensitivityEntry* e = r.find("conv1", {ActionKind::kSparsity, 0.9});
    ASSERT_NE(e, nullptr);
    ASSERT_TRUE(e->applicable);
    EXPECT_NEAR(e->top1, 100.0 * evaluate(pruned, val).value().top1, 1e-9);
    EXPECT_NEAR(e->drop, r.base_top1 - e->top1, 1e-9);
    EXPECT_EQ(e->params_before, 156);  // 6 x 1 x 5 x 5 weights and 6 biases
    EXPECT_EQ(e->params_after, 15 + 6);
    // A tenth of the first layer's filters cannot carry the model: it loses more
    // than half of them do, and agrees less often with the original.
    const SensitivityEntry* half = r.find("conv1", {ActionKind::kSparsity, 0.5});
    EXPECT_GT(e->drop, half->drop + 5);
    EXPECT_LT(e->agreement, half->agreement);

    // JSON round trip.
    Result<SensitivityReport> back = sensitivity_from_json(sensitivity_to_json(r));
    ASSERT_TRUE(back.ok()) << back.status().message();
    ASSERT_EQ(back.value().entries.size(), r.entries.size());
    for (size_t i = 0; i < r.entries.size(); ++i) {
        EXPECT_EQ(back.value().entries[i].target, r.entries[i].target);
        EXPECT_EQ(action_name(back.value().entries[i].action), action_name(r.entries[i].action));
        EXPECT_DOUBLE_EQ(back.value().entries[i].top1, r.entries[i].top1);
        EXPECT_EQ(back.value().entries[i].applicable, r.entries[i].applicable);
    }
    EXPECT_EQ(back.value().groups.size(), r.groups.size());
    EXPECT_FALSE(sensitivity_from_json("{}").ok());
    EXPECT_FALSE(sensitivity_from_json("not json").ok());
    std::string broken = sensitivity_to_json(r);
    broken.replace(broken.find("\"sparse90\""), 10, "\"sparse900\"");
    Result<SensitivityReport> bad = sensitivity_from_json(broken);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("sparse900"), std::string::npos);
}

TEST(Sensitivity, BadLevelsAndMissingDataAreErrors) {
    const Graph g = load_model_file(kLenet).value();
    DataSplits d = load_data("fashion-mnist:200", {}).value();
    SensitivityOptions o;
    o.progress = false;
    o.sparsities = {1.5};
    EXPECT_FALSE(analyze_sensitivity(g, d.val, d.train.images, o).ok());
    o.sparsities = {0.5};
    o.rank_reductions = {0.5};
    EXPECT_FALSE(analyze_sensitivity(g, d.val, d.train.images, o).ok());
    o.rank_reductions = {2};
    EXPECT_FALSE(analyze_sensitivity(g, Dataset{}, d.train.images, o).ok());
    EXPECT_FALSE(analyze_sensitivity(g, d.val, Tensor{}, o).ok());  // int8 needs calibration
}
