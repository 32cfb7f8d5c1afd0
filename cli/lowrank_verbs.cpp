// pare factorize: low-rank factorization (SVD, Tucker-2, spatial split) with
// ranks by energy, parameter reduction, explicit ranks or measured sensitivity,
// optional fine-tuning, a per-layer table and the before/after table.
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "toolkit/data/dataset.h"
#include "toolkit/io/files.h"
#include "toolkit/lowrank/lowrank.h"
#include "toolkit/prune/prune.h"
#include "toolkit/train/trainer.h"

namespace pare::cli {

namespace {

struct FactorFlags {
    std::string model, out, protect, only, data, save_plan, plan;
    std::vector<std::string> ranks, shapes;
    double energy = 0, reduction = 0, sensitivity = -1;
    bool spatial = false, finetune = false;
    int64_t round_to = 1, limit = 0, test_limit = 0, sensitivity_limit = 2000;
    int repeat = 10;
    TrainConfig cfg;
};

int cmd_factorize(FactorFlags& f) {
    LowRankOptions o;
    o.energy = f.energy;
    o.reduction = f.reduction;
    o.spatial = f.spatial;
    o.round_to = f.round_to;
    o.protect = split_names(f.protect);
    o.only = split_names(f.only);
    for (const auto& r : f.ranks) {
        const size_t eq = r.rfind('=');
        try {
            if (eq == std::string::npos || eq == 0) throw std::invalid_argument("");
            size_t used = 0;
            const long long v = std::stoll(r.substr(eq + 1), &used);
            if (used != r.size() - eq - 1) throw std::invalid_argument("");
            o.ranks[r.substr(0, eq)] = v;
        } catch (const std::exception&) {
            throw Failure{invalid_argument("--rank must be LAYER=RANK, not \"" + r + "\"")};
        }
    }
    const bool by_sensitivity = f.sensitivity >= 0;
    const int rules =
        (f.energy != 0) + (f.reduction != 0) + !o.ranks.empty() + by_sensitivity + !f.plan.empty();
    if (rules != 1)
        throw Failure{invalid_argument(
            "give exactly one of --energy, --reduction, --rank, --sensitivity and --plan")};
    if ((f.finetune || by_sensitivity) && f.data.empty())
        throw Failure{invalid_argument("--finetune and --sensitivity need --data")};
    if (f.out.empty()) throw Failure{invalid_argument("-o/--output is required")};

    const Graph g = check(load_model_file(f.model, import_options(f.shapes)), f.model);
    std::unique_ptr<DataSplits> data;
    if (!f.data.empty()) {
        DataOptions d;
        d.train_limit = f.limit;
        d.test_limit = f.test_limit;
        data = std::make_unique<DataSplits>(check(load_data(f.data, d)));
    }
    LowRankPlan plan;
    if (!f.plan.empty()) {
        plan = check(lowrank_plan_from_json(check(read_file(f.plan))), f.plan);
    } else if (by_sensitivity) {
        Dataset val = data->val.size() > 0 ? data->val : data->train;
        if (f.sensitivity_limit > 0 && val.size() > f.sensitivity_limit) {
            std::vector<int64_t> first(static_cast<size_t>(f.sensitivity_limit));
            for (int64_t i = 0; i < f.sensitivity_limit; ++i) first[i] = i;
            val = val.subset(first);
        }
        std::printf(
            "sensitivity: each layer alone, on %lld validation images, budget %.2f "
            "points...\n",
            static_cast<long long>(val.size()), f.sensitivity);
        std::fflush(stdout);
        o.energy = 1;  // analyze's rule; the sensitivity sets each layer's energy
        plan = check(analyze_lowrank_by_sensitivity(g, o, val, f.sensitivity), f.model);
    } else {
        plan = check(analyze_lowrank(g, o), f.model);
    }
    if (plan.layers.empty())
        throw Failure{invalid_argument(f.model +
                                       ": no layer would get fewer MACs and parameters at the "
                                       "ranks asked for; nothing written")};
    Graph out = check(apply_lowrank(g, plan), f.plan.empty() ? f.model : f.plan);
    if (f.finetune) {
        const TrainResult tr = check(train_graph(out, *data, f.cfg));
        if (!tr.epochs.empty())
            std::printf("fine-tuned %zu epoch(s): validation top-1 %.2f%%\n", tr.epochs.size(),
                        100 * tr.epochs.back().val_acc);
    }
    if (!f.save_plan.empty()) check(write_file_atomic(f.save_plan, lowrank_plan_to_json(plan)));
    check(export_onnx_file(out, f.out));
    std::printf("wrote %s\n", f.out.c_str());

    std::printf("\n%-40s %-8s %9s %8s %10s %10s %10s %10s\n", "layer", "kind", "rank", "energy",
                "params", "after", "MACs", "after");
    int64_t p0 = 0, p1 = 0, m0 = 0, m1 = 0;
    for (const auto& l : plan.layers) {
        const std::string rank = l.kind == FactorKind::kTucker2
                                     ? std::to_string(l.rank_in) + "/" + std::to_string(l.rank_out)
                                     : std::to_string(l.rank_out);
        std::printf("%-40s %-8s %9s %7.1f%% %10s %10s %10s %10s\n", l.layer.c_str(),
                    factor_kind_name(l.kind), rank.c_str(), 100 * l.energy,
                    human_count(l.params_before).c_str(), human_count(l.params_after).c_str(),
                    human_count(l.macs_before).c_str(), human_count(l.macs_after).c_str());
        p0 += l.params_before;
        p1 += l.params_after;
        m0 += l.macs_before;
        m1 += l.macs_after;
    }
    for (const auto& [layer, why] : plan.skipped)
        std::printf("%-40s left alone: %s\n", layer.c_str(), why.c_str());
    const LayerTotals before = layer_totals(check(sparsity_report(g)));
    const LayerTotals after = layer_totals(check(sparsity_report(out)));
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "(%.2fx fewer)",
                  static_cast<double>(p0) / static_cast<double>(std::max<int64_t>(1, p1)));
    CompareSpec spec;
    spec.models = {{"original", f.model}, {"factorized", f.out}};
    spec.data = data && data->test.size() > 0 ? f.data : "";
    spec.test_limit = f.test_limit;
    spec.shapes = f.shapes;
    spec.repeat = f.repeat;
    spec.extra_rows = {
        {"params of the factorized layers " + std::string(ratio),
         {std::to_string(p0), std::to_string(p1)}},
        {"MACs of the factorized layers", {std::to_string(m0), std::to_string(m1)}},
        {"layer parameters (all)", {std::to_string(before.params), std::to_string(after.params)}},
        {"MACs (all layers, per image)", {std::to_string(before.macs), std::to_string(after.macs)}},
    };
    compare_models(spec);
    return 0;
}

}  // namespace

void add_lowrank_verbs(CLI::App& app, VerbTable& verbs) {
    auto f = std::make_shared<FactorFlags>();
    f->cfg.epochs = 1;
    f->cfg.lr = 0.01;
    f->cfg.batch = 128;
    f->cfg.weight_decay = 1e-4;
    auto* p = app.add_subcommand(
        "factorize",
        "Low-rank factorization: SVD for Gemm/MatMul/1x1 Conv, Tucker-2 (or --spatial Kx1 + "
        "1xK) for KxK Conv, with a before/after table");
    p->add_option("model", f->model, "ONNX model (or .pare)")->required();
    p->add_option("-o,--output", f->out, "Factorized model (.onnx)");
    p->add_option("--energy", f->energy,
                  "Keep this fraction (0, 1] of each layer's squared singular values");
    p->add_option("--reduction", f->reduction,
                  "The largest ranks with at most 1/R of each layer's parameters (R > 1)");
    p->add_option("--rank", f->ranks, "LAYER=RANK (repeatable): explicit ranks for these layers");
    p->add_option("--sensitivity", f->sensitivity,
                  "Per layer, the smallest energy that costs at most this many points of "
                  "validation top-1 (measured on --data, one layer at a time)");
    p->add_option("--sensitivity-limit", f->sensitivity_limit,
                  "Validation images for --sensitivity (0: all)")
        ->capture_default_str();
    p->add_flag("--spatial", f->spatial, "KxK convolutions as Kx1 then 1xK instead of Tucker-2");
    p->add_option("--protect", f->protect, "Comma-separated node names left alone");
    p->add_option("--layers", f->only, "Comma-separated node names: only these");
    p->add_option("--round-to", f->round_to, "Round ranks up to a multiple of this")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    p->add_flag("--finetune", f->finetune, "Fine-tune the factorized model; needs --data");
    p->add_option("--data", f->data,
                  "Labelled data: fine-tuning, --sensitivity, the accuracy rows");
    add_training_flags(p, f->cfg, "Fine-tuning epochs");
    p->add_option("--seed", f->cfg.seed, "Fine-tuning seed")->capture_default_str();
    p->add_option("--limit", f->limit, "Train on the first N training images only");
    p->add_option("--test-limit", f->test_limit, "Evaluate on the first N test images only");
    p->add_option("--save-plan", f->save_plan, "Also write the plan (JSON)");
    p->add_option("--plan", f->plan, "Apply a saved plan instead of analyzing");
    p->add_option("--input-shape", f->shapes, "Bind an input's shape, e.g. x=1,3,48,320");
    p->add_option("--repeat", f->repeat, "Timed runs per runtime for the latency rows")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    verbs.emplace_back(p, [f] { return cmd_factorize(*f); });
}

}  // namespace pare::cli
