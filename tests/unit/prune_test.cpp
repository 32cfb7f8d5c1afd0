// Pruning: unstructured (magnitude, global, N:M), structured (the channel
// analysis, and the pruned graph equal to the original with the removed channels
// silenced), plans, masks in the trainer, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "test_util.h"
#include "toolkit/data/dataset.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/prune/channels.h"
#include "toolkit/prune/prune.h"
#include "toolkit/train/trainer.h"

namespace pare {
namespace {

using test::run_graph;

Graph model(const std::string& name) {
    Graph g = load_model_file(std::string(PARE_SOURCE_DIR) + "/models/" + name).value();
    EXPECT_TRUE(g.resolve_ops().ok());
    return g;
}

// g with the channels plan removes silenced instead: every filter, bias and
// BatchNormalization shift that makes such a channel set so the channel is 0
// everywhere (Relu, Clip(0, x), SiLU, HardSwish keep 0 at 0). The pruned graph
// must compute the same outputs.
Graph silenced(const Graph& g0, const PrunePlan& plan) {
    Graph g = g0;
    EXPECT_TRUE(g.topo_sort().ok());
    EXPECT_TRUE(infer_shapes(g).ok());
    ChannelAnalysis an = ChannelAnalysis::run(g).value();
    std::set<int> removed;
    for (const auto& cp : plan.channels)
        for (const auto& s : an.slots())
            if (s.kind == ChannelSlot::kMake && g.nodes[static_cast<size_t>(s.node)].name == cp.layer)
                for (int64_t c : cp.channels) removed.insert(an.find(s.ids[static_cast<size_t>(c)]));
    const auto zero_index = [](Tensor& t, int axis, int64_t c) {
        int64_t inner = 1, outer = 1;
        for (size_t d = static_cast<size_t>(axis) + 1; d < t.shape().size(); ++d) inner *= t.shape()[d];
        for (int d = 0; d < axis; ++d) outer *= t.shape()[static_cast<size_t>(d)];
        const int64_t n = t.shape()[static_cast<size_t>(axis)];
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) t.data<float>()[(o * n + c) * inner + i] = 0;
    };
    for (const auto& s : an.slots()) {
        Node& n = g.nodes[static_cast<size_t>(s.node)];
        for (size_t c = 0; c < s.ids.size(); ++c) {
            if (!removed.count(an.find(s.ids[c]))) continue;
            if (s.kind == ChannelSlot::kMake || s.kind == ChannelSlot::kDepthwise) {
                Tensor w = g.initializers.at(n.input(1)).clone();
                zero_index(w, s.axis, static_cast<int64_t>(c));
                g.initializers[n.input(1)] = w;
                if (!n.input(2).empty()) {
                    Tensor b = g.initializers.at(n.input(2)).clone();
                    b.data<float>()[c] = 0;
                    g.initializers[n.input(2)] = b;
                }
            } else if (s.kind == ChannelSlot::kParam && n.op == OpKind::kBatchNormalization &&
                       s.input == 2) {
                const float eps = n.attrs.get_float("epsilon", 1e-5f);
                Tensor beta = g.initializers.at(n.input(2)).clone();
                const float gamma = g.initializers.at(n.input(1)).data<float>()[c];
                const float mean = g.initializers.at(n.input(3)).data<float>()[c];
                const float var = g.initializers.at(n.input(4)).data<float>()[c];
                beta.data<float>()[c] = gamma * mean / std::sqrt(var + eps);
                g.initializers[n.input(2)] = beta;
            } else if (s.kind == ChannelSlot::kParam && n.op == OpKind::kAdd) {
                Tensor t = g.initializers.at(n.input(static_cast<size_t>(s.input))).clone();
                zero_index(t, s.axis, static_cast<int64_t>(c));
                g.initializers[n.input(static_cast<size_t>(s.input))] = t;
            }
        }
    }
    return g;
}

// Relative L2 between the first outputs of a and b on one fixed input.
double output_gap(const Graph& a0, const Graph& b0) {
    Graph a = a0, b = b0;
    for (Graph* g : {&a, &b})
        for (auto& in : g->inputs)
            if (in.shape[0] < 0) in.shape[0] = 2;
    EXPECT_TRUE(run_default_passes(a).ok());
    EXPECT_TRUE(run_default_passes(b).ok());
    const TensorMap in = random_inputs(a, 7).value();
    const TensorMap ya = run_graph(a, in), yb = run_graph(b, in);
    return relative_l2(yb.at(b.outputs[0].name), ya.at(a.outputs[0].name)).value();
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

}  // namespace
}  // namespace pare
