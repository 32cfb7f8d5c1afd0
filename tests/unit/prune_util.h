// Test helpers for pruning: the original graph with the channels a plan removes
// silenced (the pruned graph must compute the same), and the output gap of two
// graphs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "tests/unit/test_util.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/prune/channels.h"
#include "toolkit/prune/prune.h"

namespace pare::test {

// g with the channels plan removes silenced instead: every Conv, Gemm or MatMul
// that reads such a channel gets zero weights for it, so nothing downstream
// depends on it; channels the plan keeps are computed exactly as before. The
// pruned graph must compute the same outputs.
inline Graph silenced(const Graph& g0, const PrunePlan& plan) {
    Graph g = prepare_for_pruning(g0).value();
    ChannelAnalysis an = ChannelAnalysis::run(g).value();
    std::set<int> removed;
    for (const auto& cp : plan.channels)
        for (const auto& s : an.slots())
            if (s.kind == ChannelSlot::kMake &&
                g.nodes[static_cast<size_t>(s.node)].name == cp.layer)
                for (int64_t c : cp.channels)
                    removed.insert(an.find(s.ids[static_cast<size_t>(c)]));
    const auto zero_index = [](Tensor& t, int axis, int64_t c) {
        int64_t inner = 1, outer = 1;
        for (size_t d = static_cast<size_t>(axis) + 1; d < t.shape().size(); ++d)
            inner *= t.shape()[d];
        for (int d = 0; d < axis; ++d) outer *= t.shape()[static_cast<size_t>(d)];
        const int64_t n = t.shape()[static_cast<size_t>(axis)];
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) t.data<float>()[(o * n + c) * inner + i] = 0;
    };
    for (const auto& s : an.slots()) {
        if (s.kind != ChannelSlot::kRead) continue;
        Node& n = g.nodes[static_cast<size_t>(s.node)];
        Tensor w = g.initializers.at(n.input(1)).clone();
        for (size_t c = 0; c < s.ids.size(); ++c)
            if (removed.count(an.find(s.ids[c]))) zero_index(w, s.axis, static_cast<int64_t>(c));
        g.initializers[n.input(1)] = w;
    }
    return g;
}

// Relative L2 between the first outputs of a and b on one fixed input.
inline double output_gap(const Graph& a0, const Graph& b0) {
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

}  // namespace pare::test
