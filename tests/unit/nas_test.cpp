// pare nas's pieces: the architecture encoding, the builder reproducing the
// zoo's hand-designed MobileNetV2 and EfficientNet-B0 from their stage choices,
// the latency table measuring each block once, and the search's shortlist.
#include "toolkit/auto/nas.h"

#include <gtest/gtest.h>

#include <random>

#include "test_util.h"
#include "toolkit/arch/zoo.h"
#include "toolkit/auto/distributed.h"

using namespace pare;

TEST(Nas, ArchitecturesRoundTripAndBadOnesAreErrors) {
    const NasSpace sp = nas_space("mobilenet_v2").value();
    std::mt19937_64 rng(5);
    for (int i = 0; i < 20; ++i) {
        const NasArch a = sample_arch(sp, rng);
        Result<NasArch> b = nas_arch_from_json(nas_arch_to_json(a));
        ASSERT_TRUE(b.ok()) << b.status().message();
        EXPECT_EQ(nas_arch_to_json(b.value()), nas_arch_to_json(a));
        EXPECT_EQ(nas_arch_summary(b.value()), nas_arch_summary(a));
        // The printed summary reads back as the same architecture (pare nas --arch).
        Result<NasArch> c = nas_arch_from_summary(nas_arch_summary(a));
        ASSERT_TRUE(c.ok()) << c.status().message();
        EXPECT_EQ(nas_arch_to_json(c.value()), nas_arch_to_json(a));
        for (size_t s = 0; s < a.stages.size(); ++s) {
            EXPECT_GE(a.stages[s].repeats, sp.stages[s].min_repeats);
            EXPECT_LE(a.stages[s].repeats, sp.stages[s].max_repeats);
        }
    }
    EXPECT_FALSE(nas_space("resnet").ok());
    EXPECT_FALSE(nas_arch_from_json("{}").ok());
    NasArch a = sample_arch(sp, rng);
    a.stages.pop_back();
    EXPECT_FALSE(nas_arch_from_json(nas_arch_to_json(a)).ok());
    a = sample_arch(sp, rng);
    a.stages[2].kernel = 4;
    EXPECT_FALSE(nas_arch_from_json(nas_arch_to_json(a)).ok());
    EXPECT_FALSE(nas_arch_from_summary(nas_arch_summary(a)).ok());  // kernel 4
    const std::string ok =
        "mobilenet_v2 x0.5: 1x(e1 k3) 1x(e3 k5) 1x(e4 k3) 2x(e6 k3 se) 1x(e4 k3) "
        "1x(e3 k3 se) 1x(e3 k3)";
    Result<NasArch> d = nas_arch_from_summary(ok);
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(d.value().width, 0.5);
    EXPECT_EQ(d.value().stages[3].repeats, 2);
    EXPECT_TRUE(d.value().stages[3].se);
    EXPECT_EQ(d.value().stages[1].kernel, 5);
    EXPECT_EQ(d.value().stages[2].expansion, 4);
    for (const std::string& bad : {std::string(""), std::string("mobilenet_v2"), ok + " 1x(e3 k3)",
                                   ok + " junk", std::string("resnet x0.5: 1x(e1 k3)"),
                                   std::string("mobilenet_v2 x0.5: 1x(e1 k3) 1x(e3 k5")}) {
        Result<NasArch> e = nas_arch_from_summary(bad);
        EXPECT_FALSE(e.ok()) << bad;
    }
}

// The zoo's models are points of the spaces: the same stages give the same
// parameter count.
TEST(Nas, BuilderReproducesTheZoosModels) {
    ArchOptions o;
    NasArch v2{"mobilenet_v2", 0.25, {}};
    const int64_t reps[] = {1, 2, 3, 4, 3, 3, 1};
    for (int s = 0; s < 7; ++s) v2.stages.push_back({reps[s], 3, s == 0 ? 1.0 : 6.0, false});
    ArchOptions z = o;
    z.width = 0.25;
    EXPECT_EQ(build_nas_arch(v2, o).value().parameter_count(),
              build_arch("mobilenet_v2", z).value().parameter_count());
    NasArch b0{"efficientnet", 1.0, {}};
    const int64_t ereps[] = {1, 2, 2, 3, 3, 4, 1}, ek[] = {3, 3, 5, 3, 5, 5, 3};
    for (int s = 0; s < 7; ++s) b0.stages.push_back({ereps[s], ek[s], s == 0 ? 1.0 : 6.0, true});
    EXPECT_EQ(build_nas_arch(b0, o).value().parameter_count(),
              build_arch("efficientnet", o).value().parameter_count());
}

TEST(Nas, LatencyTableMeasuresEachBlockOnceAndTheSearchKeepsTheBudget) {
    ArchOptions base;
    const NasSpace sp = nas_space("mobilenet_v2").value();
    NasLatencyTable table(base, 3, 1);
    std::mt19937_64 rng(2);
    const NasArch a = sample_arch(sp, rng);
    const double first = table.predict(a).value();
    const size_t entries = table.entries();
    EXPECT_GT(first, 0);
    EXPECT_GT(entries, 3u);
    EXPECT_EQ(table.predict(a).value(), first);  // cached: nothing measured again
    EXPECT_EQ(table.entries(), entries);

    // The search with a stand-in trainer that scores by parameter count: the
    // shortlist is within the budget, and the best is the highest score.
    NasOptions o;
    o.samples = 40;
    o.shortlist = 3;
    o.latency_runs = 3;
    o.progress = false;
    o.latency_budget_ms = 1e9;
    int trained = 0;
    const NasTrainer score = [&](Graph& g) -> Result<double> {
        ++trained;
        return static_cast<double>(g.parameter_count() % 1000) / 10.0;
    };
    Result<NasResult> r = run_nas(sp, base, o, score);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(trained, 3);
    ASSERT_EQ(r.value().candidates.size(), 3u);
    for (const NasCandidate& c : r.value().candidates)
        EXPECT_LE(c.val_top1, r.value().candidates[static_cast<size_t>(r.value().best)].val_top1);
    // Most MACs first.
    EXPECT_GE(r.value().candidates[0].macs, r.value().candidates[2].macs);
    // A budget below the fastest sampled architecture: an error naming it.
    o.latency_budget_ms = 1e-6;
    Result<NasResult> none = run_nas(sp, base, o, score);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.status().message().find("the fastest"), std::string::npos)
        << none.status().message();
}
