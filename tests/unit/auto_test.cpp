// pare auto's pieces: the state file (round trip, refusals), the Pareto front
// and the best trial by their definitions, and the search on LeNet-5: trial 0 is
// int8 alone, proposals are deterministic, never repeat, and build into smaller
// models that run.
#include "toolkit/auto/auto.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "test_util.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/report/evaluate.h"

using namespace pare;

namespace {

AutoState random_state(uint64_t seed, int n) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    AutoState s;
    s.model_id = "m.onnx, 10 bytes, fnv1a 0";
    s.settings = "data x";
    s.sensitivity = "{\"format\":\"pare-sensitivity-1\"}";
    s.base_val_top1 = 90;
    s.base_latency_ms = 1;
    s.base_size_bytes = 1000;
    for (int i = 0; i < n; ++i) {
        AutoTrial t;
        t.index = i;
        t.ok = u(rng) > 0.1;
        t.error = t.ok ? "" : "failed";
        t.val_top1 = 85 + 6 * u(rng);
        t.latency_ms = std::round(10 * u(rng)) / 10;  // ties happen
        t.size_bytes = 100 + static_cast<int64_t>(900 * u(rng));
        t.config.channels["g" + std::to_string(i % 3)] = 0.25 * (1 + i % 3);
        if (i % 2) t.config.ranks["l"] = 2;
        s.trials.push_back(t);
    }
    return s;
}

bool dominates(const AutoTrial& b, const AutoTrial& a) {
    return b.val_top1 >= a.val_top1 && b.latency_ms <= a.latency_ms &&
           b.size_bytes <= a.size_bytes &&
           (b.val_top1 > a.val_top1 || b.latency_ms < a.latency_ms || b.size_bytes < a.size_bytes);
}

}  // namespace

TEST(Auto, StateRoundTripsAndBadStatesAreErrors) {
    const AutoState s = random_state(3, 25);
    const std::string text = auto_state_to_json(s);
    Result<AutoState> back = auto_state_from_json(text);
    ASSERT_TRUE(back.ok()) << back.status().message();
    ASSERT_EQ(back.value().trials.size(), s.trials.size());
    for (size_t i = 0; i < s.trials.size(); ++i) {
        EXPECT_EQ(back.value().trials[i].ok, s.trials[i].ok);
        EXPECT_EQ(back.value().trials[i].config.channels, s.trials[i].config.channels);
        EXPECT_EQ(back.value().trials[i].config.ranks, s.trials[i].config.ranks);
        if (s.trials[i].ok) {
            EXPECT_DOUBLE_EQ(back.value().trials[i].val_top1, s.trials[i].val_top1);
        }
    }
    EXPECT_EQ(auto_state_to_json(back.value()), text);
    for (const std::string& bad :
         {std::string("{"), std::string("[]"), text.substr(0, text.size() / 3),
          std::string("{\"format\":\"pare-auto-state-0\"}")})
        EXPECT_FALSE(auto_state_from_json(bad).ok()) << bad.substr(0, 40);
    // Trials out of order, a fraction out of range: refused, naming the problem.
    std::string swapped = text;
    swapped.replace(swapped.find("\"index\": 1,"), 11, "\"index\": 7,");
    Result<AutoState> r = auto_state_from_json(swapped);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("follows trial 7"), std::string::npos)
        << r.status().message();
    std::string frac = text;
    frac.replace(frac.find("\"g0\": 0.25"), 10, "\"g0\": 1.25");
    r = auto_state_from_json(frac);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("g0"), std::string::npos) << r.status().message();
}

TEST(Auto, ParetoFrontAndBestFollowTheirDefinitions) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        const AutoState s = random_state(seed, 40);
        const std::vector<int> front = s.pareto();
        const std::set<int> on(front.begin(), front.end());
        ASSERT_FALSE(front.empty());
        for (size_t i = 0; i < s.trials.size(); ++i) {
            if (!s.trials[i].ok) {
                EXPECT_FALSE(on.count(static_cast<int>(i)));
                continue;
            }
            bool dominated = false;
            for (const AutoTrial& b : s.trials)
                dominated = dominated || (b.ok && dominates(b, s.trials[i]));
            EXPECT_EQ(on.count(static_cast<int>(i)) == 1, !dominated)
                << "seed " << seed << " trial " << i;
        }
        for (double max_drop : {0.5, 2.0, 10.0}) {
            const int b = s.best(max_drop, AutoObjective::kLatency);
            for (const AutoTrial& t : s.trials) {
                if (!t.ok || s.base_val_top1 - t.val_top1 > max_drop) continue;
                ASSERT_GE(b, 0);
                EXPECT_LE(s.trials[static_cast<size_t>(b)].latency_ms, t.latency_ms);
            }
            if (b >= 0) {
                EXPECT_LE(s.base_val_top1 - s.trials[static_cast<size_t>(b)].val_top1, max_drop);
            }
            const int bs = s.best(max_drop, AutoObjective::kSize);
            for (const AutoTrial& t : s.trials) {
                if (t.ok && s.base_val_top1 - t.val_top1 <= max_drop) {
                    EXPECT_LE(s.trials[static_cast<size_t>(bs)].size_bytes, t.size_bytes);
                }
            }
        }
        const int c = s.closest();
        for (const AutoTrial& t : s.trials) {
            if (t.ok) {
                EXPECT_GE(s.trials[static_cast<size_t>(c)].val_top1, t.val_top1);
            }
        }
    }
    EXPECT_EQ(random_state(1, 0).best(1, AutoObjective::kLatency), -1);
}

TEST(Auto, LenetProposalsAreDeterministicWithinBudgetAndBuild) {
    const Graph g = load_model_file(std::string(PARE_SOURCE_DIR) + "/models/lenet5.onnx").value();
    DataSplits d = load_data("fashion-mnist", {}).value();
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < 300; ++i) idx.push_back(i);
    const Dataset val = d.val.subset(idx);
    const Tensor calib = d.train.subset(std::vector<int64_t>(idx.begin(), idx.begin() + 64)).images;
    SensitivityOptions so;
    so.sparsities = {};
    so.channel_ratios = {0.25, 0.5};
    so.rank_reductions = {2};
    so.progress = false;
    const SensitivityReport sens = analyze_sensitivity(g, val, calib, so).value();
    AutoOptions o;
    o.channel_levels = {0.25, 0.5};
    o.rank_levels = {2};
    o.progress = false;
    o.latency_runs = 3;
    AutoContext ctx;
    ctx.val = &val;
    ctx.calib = calib;
    int finetunes = 0;
    ctx.finetune = [&](Graph&) {
        ++finetunes;
        return Status();
    };
    Result<AutoSearch> sr = AutoSearch::create(g, sens, o, ctx);
    ASSERT_TRUE(sr.ok()) << sr.status().message();
    const AutoSearch& search = sr.value();
    AutoState state;
    search.init_state(&state);
    EXPECT_DOUBLE_EQ(state.base_val_top1, sens.base_top1);
    double budget = -1;
    const AutoConfig first = search.propose(state, 0, &budget);
    EXPECT_TRUE(first.channels.empty() && first.ranks.empty() && first.int8);
    std::set<std::string> seen;
    int64_t int8_params = 0;
    for (int i = 0; i < 8; ++i) {
        double b1 = 0, b2 = 0;
        const AutoConfig c = search.propose(state, i, &b1);
        const AutoConfig again = search.propose(state, i, &b2);
        EXPECT_EQ(c.channels, again.channels);
        EXPECT_EQ(c.ranks, again.ranks);
        EXPECT_EQ(b1, b2);
        // After trial 0 every proposal compresses something.
        if (i > 0) {
            EXPECT_FALSE(c.channels.empty() && c.ranks.empty()) << "trial " << i;
        }
        const std::string key = auto_state_to_json([&] {
            AutoState one;
            AutoTrial t;
            t.config = c;
            one.sensitivity = "{}";
            one.trials = {t};
            return one;
        }());
        EXPECT_TRUE(seen.insert(key).second) << "trial " << i << " repeats a configuration";
        AutoTrial t = search.evaluate(c, i, nullptr);
        ASSERT_TRUE(t.ok) << t.error;
        EXPECT_GT(t.val_top1, 10.0);
        EXPECT_GT(t.size_bytes, 0);
        // Smaller than int8 alone (trial 0): the float original is no reference, int8
        // adds scales and zero points that outweigh factorizing a 156-weight layer.
        if (i == 0) int8_params = t.params;
        if (!c.channels.empty() || !c.ranks.empty()) {
            EXPECT_LT(t.params, int8_params) << config_summary(c);
        }
        t.budget = b1;
        state.trials.push_back(t);
        search.update_budget(&state, t);
    }
    EXPECT_EQ(finetunes, 7);  // every candidate but trial 0 (int8 alone: nothing to recover)

    // With a final fine-tuning to come (search_drop), a trial 3 points down after
    // its short fine-tuning counts as met for the greedy budget; without, it does not.
    AutoOptions wide = o;
    wide.search_drop = o.max_drop + 2.5;
    EXPECT_NE(auto_settings(wide, "fashion-mnist"), auto_settings(o, "fashion-mnist"));
    Result<AutoSearch> wr = AutoSearch::create(g, sens, wide, ctx);
    ASSERT_TRUE(wr.ok()) << wr.status().message();
    AutoTrial down;
    down.ok = true;
    down.index = 100;
    down.val_top1 = state.base_val_top1 - 3.0;
    AutoState narrow_state = state, wide_state = state;
    narrow_state.budget = wide_state.budget = 1.0;
    search.update_budget(&narrow_state, down);
    wr.value().update_budget(&wide_state, down);
    EXPECT_LT(narrow_state.budget, 1.0);
    EXPECT_GT(wide_state.budget, 1.0);
}
