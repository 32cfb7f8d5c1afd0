// pare prune: unstructured (magnitude, N:M) and structured (l1, l2, bn, taylor)
// pruning, one-shot or on a gradual schedule with fine-tuning, with a per-layer
// report and the before/after table.
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "toolkit/data/dataset.h"
#include "toolkit/io/files.h"
#include "toolkit/prune/prune.h"
#include "toolkit/train/trainer.h"

namespace pare::cli {

namespace {

struct PruneFlags {
    std::string model, out, method = "magnitude", protect, nm = "2:4", data, schedule = "oneshot";
    std::string save_plan, plan;
    double sparsity = 0.5, initial = 0, min_keep = 0.1;
    bool global = false, finetune = false, groups = false, layers = false;
    int steps = 4;
    int64_t round_to = 1;
    int64_t taylor_batches = 16, limit = 0, test_limit = 0;
    int repeat = 10;
    std::vector<std::string> shapes;
    TrainConfig cfg;
};

long long deflated_size(const std::string& path) {
    const std::string bytes = check(read_file(path));
    uLongf n = compressBound(static_cast<uLong>(bytes.size()));
    std::string out(n, '\0');
    if (compress2(reinterpret_cast<Bytef*>(&out[0]), &n,
                  reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uLong>(bytes.size()),
                  6) != Z_OK)
        return -1;
    return static_cast<long long>(n);
}

void print_layers(const std::vector<LayerSparsity>& before,
                  const std::vector<LayerSparsity>& after) {
    std::map<std::string, const LayerSparsity*> a;
    for (const auto& l : after) a[l.layer] = &l;
    std::printf("\n%-44s %-6s %10s %10s %9s %10s %10s\n", "layer", "op", "params", "after", "zeros",
                "MACs", "after");
    for (const auto& b : before) {
        const auto it = a.find(b.layer);
        if (it == a.end()) {
            std::printf("%-44s %-6s %10s %10s\n", b.layer.c_str(), b.op.c_str(),
                        human_count(b.params).c_str(), "removed");
            continue;
        }
        const LayerSparsity& x = *it->second;
        std::printf("%-44s %-6s %10s %10s %8.1f%% %10s %10s\n", b.layer.c_str(), b.op.c_str(),
                    human_count(b.params).c_str(), human_count(x.params).c_str(),
                    100.0 * static_cast<double>(x.zeros) /
                        static_cast<double>(std::max<int64_t>(1, x.params)),
                    human_count(b.macs).c_str(), human_count(x.macs).c_str());
    }
}

// One pruning step of `sparsity` (of the current model) on g: analyze, apply,
// and the fine-tuning when asked for.
Graph prune_step(const Graph& g, PruneOptions o, const PruneFlags& f, const DataSplits* data,
                 PrunePlan* plan_out) {
    if (o.method == PruneMethod::kTaylor) {
        if (!data) throw Failure{invalid_argument("--method taylor needs --data (gradients)")};
        std::printf("taylor: gradients over %lld batches of %lld...\n",
                    static_cast<long long>(f.taylor_batches), static_cast<long long>(f.cfg.batch));
        o.taylor =
            check(taylor_scores(g, data->train, f.cfg.batch, f.taylor_batches, f.cfg.threads));
    }
    PrunePlan plan;
    if (!f.plan.empty()) {
        plan = check(prune_plan_from_json(check(read_file(f.plan))), f.plan);
    } else {
        plan = check(analyze_pruning(g, o), f.model);
    }
    Graph out = check(apply_pruning(g, plan), f.plan.empty() ? f.model : f.plan);
    if (f.finetune) {
        TrainConfig cfg = f.cfg;
        cfg.masks = weight_masks(out, plan);
        const TrainResult tr = check(train_graph(out, *data, cfg));
        if (!tr.epochs.empty())
            std::printf("  fine-tuned %zu epoch(s): validation top-1 %.2f%%\n", tr.epochs.size(),
                        100 * tr.epochs.back().val_acc);
    }
    if (plan_out) *plan_out = plan;
    return out;
}

int cmd_prune(PruneFlags& f) {
    PruneOptions o;
    o.method = check(parse_prune_method(f.method));
    o.sparsity = f.sparsity;
    o.global = f.global;
    o.min_keep = f.min_keep;
    o.round_to = f.round_to;
    o.protect = split_names(f.protect);
    if (o.method == PruneMethod::kNM) {
        const size_t c = f.nm.find(':');
        try {
            if (c == std::string::npos) throw std::invalid_argument("");
            o.n = std::stoi(f.nm.substr(0, c));
            o.m = std::stoi(f.nm.substr(c + 1));
        } catch (const std::exception&) {
            throw Failure{invalid_argument("--nm must be N:M, like 2:4, not \"" + f.nm + "\"")};
        }
    }
    if (!(o.min_keep > 0 && o.min_keep <= 1))
        throw Failure{invalid_argument("--min-keep must be in (0, 1]")};
    if (f.schedule != "oneshot" && f.schedule != "gradual")
        throw Failure{
            invalid_argument("--schedule must be oneshot or gradual, not \"" + f.schedule + "\"")};
    const bool gradual = f.schedule == "gradual";
    if (gradual &&
        (f.steps < 1 || !f.plan.empty() || !f.save_plan.empty() || o.method == PruneMethod::kNM))
        throw Failure{invalid_argument(
            "--schedule gradual needs --steps >= 1 and a magnitude or structured method, and "
            "takes no --plan or --save-plan (each step has its own plan)")};
    if (gradual && !(f.initial >= 0 && f.initial <= f.sparsity))
        throw Failure{invalid_argument("--initial-sparsity must be in [0, --sparsity]")};
    if (f.finetune && f.data.empty())
        throw Failure{invalid_argument("--finetune needs --data (the training set)")};

    Graph g = check(load_model_file(f.model, import_options(f.shapes)));
    check(g.resolve_ops());
    check(prunable_layers(g, o).status());
    if (f.groups) {
        const std::vector<ChannelGroup> groups = check(channel_groups(g));
        std::printf("%-10s %-10s %s\n", "channels", "prunable", "layers making them (why frozen)");
        for (const auto& grp : groups) {
            std::string names;
            for (const auto& l : grp.layers) names += (names.empty() ? "" : ", ") + l;
            std::printf(
                "%-10lld %-10lld %s%s\n", static_cast<long long>(grp.channels),
                static_cast<long long>(grp.prunable), names.c_str(),
                grp.frozen_by.empty() ? "" : ("  (frozen by " + grp.frozen_by + ")").c_str());
        }
        return 0;
    }
    if (f.out.empty()) throw Failure{invalid_argument("-o/--output is required")};
    std::unique_ptr<DataSplits> data;
    if (!f.data.empty()) {
        DataOptions d;
        d.train_limit = f.limit;
        d.test_limit = f.test_limit;
        data = std::make_unique<DataSplits>(check(load_data(f.data, d)));
    }
    const std::vector<LayerSparsity> before = check(sparsity_report(g));
    Graph out;
    if (!gradual) {
        PrunePlan plan;
        out = prune_step(g, o, f, data.get(), &plan);
        if (!f.save_plan.empty()) check(write_file_atomic(f.save_plan, prune_plan_to_json(plan)));
        std::printf("%s pruning%s to %.3g %s\n", prune_method_name(o.method),
                    o.global ? " (global)" : "", plan.target,
                    is_structured(o.method) ? "of the channels removed" : "sparsity");
    } else {
        out = g;
        double done = 0;
        for (int t = 1; t <= f.steps; ++t) {
            const double s = polynomial_sparsity(f.initial, f.sparsity, t, f.steps);
            PruneOptions step = o;
            // Structured steps remove a fraction of the channels left; unstructured ones
            // set the sparsity of the weights (the zeros so far are the smallest).
            step.sparsity = is_structured(o.method) ? 1.0 - (1.0 - s) / (1.0 - done) : s;
            std::printf("step %d/%d: sparsity %.3f\n", t, f.steps, s);
            std::fflush(stdout);
            out = prune_step(out, step, f, data.get(), nullptr);
            done = s;
        }
    }
    check(export_onnx_file(out, f.out));
    std::printf("wrote %s\n", f.out.c_str());
    const std::vector<LayerSparsity> after = check(sparsity_report(out));
    if (f.layers || before.size() <= 40) print_layers(before, after);
    const LayerTotals t0 = layer_totals(before), t1 = layer_totals(after);
    CompareSpec spec;
    spec.models = {{"original", f.model}, {"pruned", f.out}};
    spec.data = data && data->test.size() > 0 ? f.data : "";
    spec.test_limit = f.test_limit;
    spec.shapes = f.shapes;
    spec.repeat = f.repeat;
    spec.extra_rows = {
        {"size deflated (zlib, bytes)",
         {std::to_string(deflated_size(f.model)), std::to_string(deflated_size(f.out))}},
        {"layer parameters", {std::to_string(t0.params), std::to_string(t1.params)}},
        {"nonzero layer parameters", {std::to_string(t0.nonzero), std::to_string(t1.nonzero)}},
        {"MACs (dense, per image)", {std::to_string(t0.macs), std::to_string(t1.macs)}},
    };
    compare_models(spec);
    return 0;
}

}  // namespace

void add_prune_verbs(CLI::App& app, VerbTable& verbs) {
    auto f = std::make_shared<PruneFlags>();
    f->cfg.epochs = 1;
    f->cfg.lr = 0.01;
    f->cfg.batch = 128;
    f->cfg.weight_decay = 1e-4;
    auto* p = app.add_subcommand(
        "prune",
        "Prune a model: zero weights (magnitude, N:M) or remove channels (l1, l2, bn, taylor), "
        "with a before/after table");
    p->add_option("model", f->model, "ONNX model (or .pare)")->required();
    p->add_option("-o,--output", f->out, "Pruned model (.onnx)");
    p->add_option("--method", f->method,
                  "magnitude | nm (zero weights) | l1 | l2 | bn | taylor (remove channels)")
        ->capture_default_str();
    p->add_option("--sparsity", f->sparsity,
                  "Fraction of weights zeroed (magnitude) or of channels removed (structured)")
        ->capture_default_str();
    p->add_flag("--global", f->global,
                "One threshold over all layers (default: the same fraction in every layer)");
    p->add_option("--protect", f->protect, "Comma-separated node names left untouched");
    p->add_option("--nm", f->nm, "For --method nm: keep N of every M weights")
        ->capture_default_str();
    p->add_option("--min-keep", f->min_keep,
                  "Structured --global: each channel group keeps at least this fraction")
        ->capture_default_str();
    p->add_option("--round-to", f->round_to,
                  "Structured: keep a multiple of this many channels per group (16 fills "
                  "AVX-512 vectors; removals are undone to round up)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    p->add_option("--schedule", f->schedule,
                  "oneshot, or gradual: --steps steps from --initial-sparsity to --sparsity "
                  "(cubic), fine-tuning after each with --finetune")
        ->capture_default_str();
    p->add_option("--steps", f->steps, "Gradual schedule steps")->capture_default_str();
    p->add_option("--initial-sparsity", f->initial, "Gradual schedule start")
        ->capture_default_str();
    p->add_flag("--finetune", f->finetune,
                "Fine-tune after pruning (masks keep pruned weights at zero); needs --data");
    p->add_option("--data", f->data,
                  "Labelled data: fine-tuning, taylor gradients, the accuracy rows");
    add_training_flags(p, f->cfg, "Fine-tuning epochs (per step when gradual)");
    p->add_option("--taylor-batches", f->taylor_batches, "Batches of gradients for taylor")
        ->capture_default_str();
    p->add_option("--limit", f->limit, "Train on the first N training images only");
    p->add_option("--test-limit", f->test_limit, "Evaluate on the first N test images only");
    p->add_option("--save-plan", f->save_plan, "Also write the plan (JSON)");
    p->add_option("--plan", f->plan, "Apply a saved plan instead of analyzing");
    p->add_flag("--groups", f->groups,
                "Print the channel groups (which layers' channels are tied, what is frozen) and "
                "exit");
    p->add_flag("--layers", f->layers, "Print the per-layer table for large models too");
    p->add_option("--input-shape", f->shapes, "Bind an input's shape, e.g. x=1,3,48,320");
    p->add_option("--repeat", f->repeat, "Timed runs per runtime for the latency rows")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    verbs.emplace_back(p, [f] { return cmd_prune(*f); });
}

}  // namespace pare::cli
