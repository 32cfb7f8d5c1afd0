// pare sensitivity: per layer, the top-1 each compression action costs on
// validation images (a table, a JSON file, the HTML report). pare auto: the
// search over per-layer combinations (toolkit/auto/auto.h), resumable, with the
// before/after table and the report.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include "cli/cli.h"
#include "toolkit/auto/auto.h"
#include "toolkit/auto/distributed.h"
#include "toolkit/auto/nas.h"
#include "toolkit/auto/sensitivity.h"
#include "toolkit/data/dataset.h"
#include "toolkit/io/files.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/report/evaluate.h"
#include "toolkit/report/html.h"
#include "toolkit/report/latency.h"
#include "toolkit/train/trainer.h"

namespace pare::cli {

namespace {

// Output files are checked before the long work, not after it: each one's folder
// must exist ("" is no file).
void check_output_folders(const std::vector<std::string>& outs) {
    for (const std::string& out : outs) {
        if (out.empty()) continue;
        const auto dir = std::filesystem::path(out).parent_path();
        if (!dir.empty() && !std::filesystem::is_directory(dir))
            throw Failure{
                invalid_argument(out + ": the folder " + dir.string() + " does not exist")};
    }
}

// "0.5,0.75" -> {0.5, 0.75}; "" -> {} (that action left out).
std::vector<double> parse_levels(const std::string& list, const char* flag) {
    std::vector<double> out;
    for (const std::string& item : split_names(list)) {
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (item.empty() || *end != '\0' || !std::isfinite(v))
            throw Failure{invalid_argument(std::string(flag) + ": \"" + item + "\" is no number")};
        out.push_back(v);
    }
    return out;
}

struct SensitivityFlags {
    std::string model, data = "fashion-mnist", calib, json, report, sparsities = "0.5,0.75,0.9",
                       channels = "0.25,0.5", ranks = "2,4", method = "minmax";
    std::vector<std::string> shapes;
    int64_t limit = 1000, calib_images = 256, bn_batches = 16;
    bool no_quant = false;
    int threads = 1;
};

// Channel-removed models get their BatchNormalization statistics re-estimated on
// `batches` batches of 64 training images before they are evaluated (0: not).
std::function<Status(Graph&)> bn_recalibration(const Dataset& train, int64_t batches, int threads) {
    if (batches <= 0) return {};
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < std::min(batches * 64, train.size()); ++i) idx.push_back(i);
    auto images = std::make_shared<Dataset>(train.subset(idx));
    return [images, batches, threads](Graph& m) -> Status {
        Result<int64_t> r = recalibrate_batchnorm(m, *images, 64, batches, threads);
        return r.ok() ? Status() : r.status();
    };
}

int cmd_sensitivity(const SensitivityFlags& f) {
    SensitivityOptions o;
    o.quant = !f.no_quant;
    o.sparsities = parse_levels(f.sparsities, "--sparsities");
    o.channel_ratios = parse_levels(f.channels, "--channels");
    o.rank_reductions = parse_levels(f.ranks, "--ranks");
    o.quant_options.method = check(parse_calib_method(f.method));
    if (f.limit < 1) throw Failure{invalid_argument("--limit must be at least 1")};
    if (f.calib_images < 1) throw Failure{invalid_argument("--calib-images must be at least 1")};
    check_output_folders({f.json, f.report});
    const Graph g = check(load_model_file(f.model, import_options(f.shapes)), f.model);
    DataOptions d;
    const DataSplits data = check(load_data(f.data, d), f.data);
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < std::min(f.limit, data.val.size()); ++i) idx.push_back(i);
    const Dataset val = data.val.subset(idx);
    o.recalibrate = bn_recalibration(data.train, f.bn_batches, f.threads);
    Tensor calib;
    if (o.quant) {
        calib = calibration_images(f.calib.empty() ? f.data + ":" + std::to_string(f.calib_images)
                                                   : f.calib);
    }
    std::printf("sensitivity of %s on %lld validation images (%s)...\n", f.model.c_str(),
                static_cast<long long>(val.size()), f.data.c_str());
    std::fflush(stdout);
    SensitivityReport r = check(analyze_sensitivity(g, val, calib, o), f.model);
    r.model = std::filesystem::path(f.model).filename().string();

    // The table: points of top-1 changed per layer (rows) and action (columns).
    const std::vector<Action> actions = r.actions();
    std::printf(
        "\nbase top-1 %.2f%% (%lld validation images); top-1 change in points, each "
        "action on one layer (or channel group) alone:\n\n",
        r.base_top1, static_cast<long long>(r.examples));
    std::printf("%-32s %10s", "layer / group", "params");
    for (const Action& a : actions) std::printf(" %10s", action_name(a).c_str());
    std::printf("\n");
    std::vector<std::pair<std::string, int64_t>> targets;
    for (const auto& l : r.layers) targets.emplace_back(l.name, l.params);
    for (const auto& gr : r.groups) targets.emplace_back(gr.name + " (group)", -1);
    for (const auto& [name, params] : targets) {
        const bool group = params < 0;
        const std::string target = group ? name.substr(0, name.size() - 8) : name;
        bool any = false;
        for (const Action& a : actions) {
            const SensitivityEntry* e = r.find(target, a);
            any = any || (e && ((a.kind == ActionKind::kChannels) == group));
        }
        if (!any) continue;
        std::printf("%-32s %10s", name.c_str(), group ? "" : human_count(params).c_str());
        for (const Action& a : actions) {
            const SensitivityEntry* e = r.find(target, a);
            const bool show = e && (a.kind == ActionKind::kChannels) == group;
            if (!show)
                std::printf(" %10s", "");
            else if (!e->applicable)
                std::printf(" %10s", "n/a");
            else if (std::fabs(e->drop) < 0.005)
                std::printf(" %10s", "0.00");
            else
                std::printf(" %+10.2f", -e->drop);
        }
        std::printf("\n");
    }
    std::printf("\n%zu measurements in %.0f s\n", r.entries.size(), r.seconds);
    if (!f.json.empty()) {
        check(write_file_atomic(f.json, sensitivity_to_json(r)).with_context(f.json));
        std::printf("wrote %s\n", f.json.c_str());
    }
    if (!f.report.empty()) {
        LatencyOptions lo;
        lo.per_step = true;
        lo.threads = f.threads;
        const LatencyProfile lat = check(measure_latency(g, lo), f.model);
        HtmlReport page("pare sensitivity: " + r.model);
        report_sensitivity(page, r, &lat);
        check(page.write(f.report).with_context(f.report));
        std::printf("wrote %s\n", f.report.c_str());
    }
    return 0;
}

// "30m", "90s", "1h", "1800" -> seconds.
double parse_duration(const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    const std::string unit = end ? end : "";
    const double mul = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
    if (text.empty() || end == text.c_str() || mul < 0 || !(v > 0) || !std::isfinite(v))
        throw Failure{
            invalid_argument("--time-budget must be a positive duration like 90s, 30m "
                             "or 1h, not \"" +
                             text + "\"")};
    return v * mul;
}

struct AutoFlags {
    std::string model, data = "fashion-mnist", out, state, report, objective = "latency",
                       time_budget = "30m", channels = "0.25,0.5,0.75", ranks = "2,4", baselines;
    double max_drop = 1.0, finetune_lr = 0.01, final_stretch = 1.0;
    int64_t limit = 2000, sensitivity_limit = 1000, calib_images = 256, final_candidates = 3,
            finetune_images = 8192, final_epochs = 0, test_limit = 0, bn_batches = 16;
    bool resume = false;
    int threads = 1, latency_threads = 1;
    uint64_t seed = 1;
};

int cmd_auto(const AutoFlags& f) {
    AutoOptions o;
    o.max_drop = f.max_drop;
    o.objective = check(parse_objective(f.objective));
    o.time_budget_s = parse_duration(f.time_budget);
    o.channel_levels = parse_levels(f.channels, "--channels");
    o.rank_levels = parse_levels(f.ranks, "--ranks");
    o.seed = f.seed;
    o.threads = f.latency_threads;
    // A final fine-tuning recovers part of what the short one leaves lost: the
    // search then explores up to --final-stretch points beyond --max-drop.
    if (f.final_epochs > 0) o.search_drop = f.max_drop + f.final_stretch;
    if (!std::isfinite(f.max_drop)) throw Failure{invalid_argument("--max-drop must be a number")};
    for (double v : o.channel_levels)
        if (!(v > 0 && v < 1)) throw Failure{invalid_argument("--channels levels are in (0, 1)")};
    for (double v : o.rank_levels)
        if (!(v > 1)) throw Failure{invalid_argument("--ranks reductions are above 1")};
    if (f.limit < 1 || f.finetune_images < 1 || f.calib_images < 1)
        throw Failure{
            invalid_argument("--limit, --finetune-images and --calib-images must be at "
                             "least 1")};
    if (f.out.empty()) throw Failure{invalid_argument("-o/--output is required")};
    // Under mpirun, rank 0 keeps the state and the others evaluate trials.
    const MpiWorld world = mpi_world();
    const bool lead = world.rank == 0;
    if (!lead) o.progress = false;
    const std::string state_path = f.state.empty() ? f.out + ".state.json" : f.state;
    check_output_folders({f.out, state_path, f.report});
    const bool have_state = lead && std::filesystem::exists(state_path);
    if (have_state && !f.resume)
        throw Failure{invalid_argument(state_path + ": a search state exists; --resume continues "
                                                    "it (or remove the file to start over)")};
    if (lead && !have_state && f.resume)
        throw Failure{invalid_argument(state_path + ": no search state to resume")};
    const std::string model_id = check(model_identity(f.model), f.model);
    const std::string settings = auto_settings(o, f.data);
    AutoState state;
    if (f.resume && lead) {
        const std::string text = check(read_file(state_path), state_path);
        state = check(auto_state_from_json(text), state_path);
        if (state.model_id != model_id)
            throw Failure{invalid_argument(state_path + ": the state is of another model (" +
                                           state.model_id + "), not " + model_id)};
        if (state.settings != settings)
            throw Failure{invalid_argument(state_path +
                                           ": the state was made with other settings (" +
                                           state.settings + "), not " + settings)};
    }
    const Graph g = check(load_model_file(f.model), f.model);
    // Models made by single techniques, compared with the result: read now, not
    // after the search.
    std::vector<std::pair<std::string, std::string>> baselines;
    for (const std::string& item : split_names(f.baselines)) {
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            throw Failure{
                invalid_argument("--baselines takes LABEL=FILE items, not \"" + item + "\"")};
        baselines.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        check(load_model_file(baselines.back().second)
                  .status()
                  .with_context(baselines.back().second));
    }
    DataOptions d;
    d.test_limit = f.test_limit;
    const DataSplits data = check(load_data(f.data, d), f.data);
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < std::min(f.limit, data.val.size()); ++i) idx.push_back(i);
    const Dataset val = data.val.subset(idx);
    const Tensor calib = calibration_images(f.data + ":" + std::to_string(f.calib_images));

    // Fine-tuning: distilled from the original, on the first training images
    // (per trial), or longer (the final candidate, --final-epochs).
    auto cfg = std::make_shared<TrainConfig>();
    cfg->epochs = 1;
    cfg->batch = 64;
    cfg->lr = f.finetune_lr;
    cfg->weight_decay = 5e-4;
    cfg->threads = f.threads;
    cfg->progress = false;
    cfg->distill.teacher = g;
    auto ft = std::make_shared<DataSplits>();
    std::vector<int64_t> tidx;
    for (int64_t i = 0; i < std::min(f.finetune_images, data.train.size()); ++i) tidx.push_back(i);
    ft->train = data.train.subset(tidx);
    AutoContext ctx;
    ctx.val = &val;
    ctx.calib = calib;
    ctx.finetune = [cfg, ft](Graph& m) -> Status {
        Result<TrainResult> r = train_graph(m, *ft, *cfg);
        return r.ok() ? Status() : r.status();
    };

    const auto t0 = std::chrono::steady_clock::now();
    SensitivityReport sens;
    if (!lead) {
        const std::string text = check(mpi_broadcast(""));
        sens = check(sensitivity_from_json(text), "the sensitivity from rank 0");
        o.latency_table = false;
        const AutoSearch worker = check(AutoSearch::create(g, sens, o, ctx), f.model);
        check(serve_trials(worker));
        mpi_finish();
        return 0;
    }
    if (f.resume) {
        sens = check(sensitivity_from_json(state.sensitivity), state_path);
    } else {
        std::vector<int64_t> sidx(idx.begin(),
                                  idx.begin() + std::min<int64_t>(f.sensitivity_limit, val.size()));
        const Dataset sval = val.subset(sidx);
        std::printf("auto: sensitivity of %s on %lld validation images...\n", f.model.c_str(),
                    static_cast<long long>(sval.size()));
        std::fflush(stdout);
        SensitivityOptions so;
        so.sparsities = {};
        so.int4 = false;
        so.channel_ratios = o.channel_levels;
        so.rank_reductions = o.rank_levels;
        so.recalibrate = bn_recalibration(data.train, f.bn_batches, f.threads);
        sens = check(analyze_sensitivity(g, sval, calib, so), f.model);
        sens.model = std::filesystem::path(f.model).filename().string();
    }
    check(mpi_broadcast(sensitivity_to_json(sens)).status());
    const AutoSearch search = check(AutoSearch::create(g, sens, o, ctx), f.model);
    if (!f.resume) {
        search.init_state(&state);
        state.model_id = model_id;
        state.settings = settings;
        state.sensitivity = sensitivity_to_json(sens);
        state.elapsed_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        check(write_file_atomic(state_path, auto_state_to_json(state)).with_context(state_path));
    } else {
        std::printf("auto: resuming %s: %zu trials, %.0f of %.0f s spent\n", state_path.c_str(),
                    state.trials.size(), state.elapsed_s, o.time_budget_s);
    }
    std::printf(
        "auto: original %.2f%% validation top-1, %.3f ms (int8 %.3f ms), %lld bytes; "
        "searching for %s within %.2f points, %.0f s budget\n",
        state.base_val_top1, state.base_latency_ms, state.base_int8_latency_ms,
        static_cast<long long>(state.base_size_bytes), objective_name(o.objective), o.max_drop,
        o.time_budget_s);
    std::fflush(stdout);
    const size_t trials_before = state.trials.size();
    const auto search_t0 = std::chrono::steady_clock::now();
    check(run_distributed(search, &state, state_path, f.out));
    const double search_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - search_t0).count();
    mpi_finish();

    int best = state.best(o.max_drop, o.objective);
    bool met = best >= 0, finetuned = false;
    std::vector<std::vector<std::string>> finals;  // for the report
    if (f.final_epochs > 0 && state.best(o.steer_drop(), o.objective) >= 0) {
        // The best trial within --max-drop and up to --final-candidates - 1 more
        // aggressive ones of the Pareto front (at most --final-stretch points beyond
        // --max-drop after the short fine-tuning) are fine-tuned --final-epochs on
        // every training image, the most aggressive first; the first that then meets
        // --max-drop on the validation images is written (those after it were
        // slower, or larger, to begin with).
        auto key = [&](const AutoTrial& t) {
            return o.objective == AutoObjective::kLatency ? t.latency_ms
                                                          : static_cast<double>(t.size_bytes);
        };
        // Front points in order of the objective, then the best within --max-drop
        // (every one taken is faster, or smaller, than it).
        std::vector<int> front = state.pareto();
        std::sort(front.begin(), front.end(), [&](int x, int y) {
            return key(state.trials[static_cast<size_t>(x)]) <
                   key(state.trials[static_cast<size_t>(y)]);
        });
        std::vector<int> cands;
        const int64_t more = f.final_candidates - (met ? 1 : 0);
        for (int i : front) {
            const AutoTrial& t = state.trials[static_cast<size_t>(i)];
            if (static_cast<int64_t>(cands.size()) >= more) break;
            if (i != best && (!met || key(t) < key(state.trials[static_cast<size_t>(best)])) &&
                state.base_val_top1 - t.val_top1 <= o.steer_drop())
                cands.push_back(i);
        }
        if (met) cands.push_back(best);
        cfg->epochs = f.final_epochs;
        cfg->progress = true;
        ft->train = data.train;
        for (int i : cands) {
            const AutoTrial& t = state.trials[static_cast<size_t>(i)];
            std::printf("auto: final fine-tuning of trial %d (%lld epoch%s on %lld images): %s\n",
                        t.index, static_cast<long long>(f.final_epochs),
                        f.final_epochs == 1 ? "" : "s", static_cast<long long>(data.train.size()),
                        config_summary(t.config).c_str());
            std::fflush(stdout);
            Graph m = check(search.build(t.config, true));
            AutoTrial ft_trial = t;
            ft_trial.val_top1 = 100 * check(evaluate(m, val)).top1;
            LatencyOptions lo;
            lo.runs = o.latency_runs;
            lo.threads = o.threads;
            ft_trial.latency_ms = state.base_latency_ms / check(alternating_speedup(g, m, lo, 5));
            const std::string bytes = check(export_onnx_bytes(m));
            ft_trial.size_bytes = static_cast<int64_t>(bytes.size());
            const bool ok = state.base_val_top1 - ft_trial.val_top1 <= o.max_drop;
            std::printf(
                "auto: trial %d after it: %.2f%% validation top-1 (%+.2f; %+.2f before), "
                "%.3f ms, %lld bytes%s\n",
                t.index, ft_trial.val_top1, ft_trial.val_top1 - state.base_val_top1,
                t.val_top1 - state.base_val_top1, ft_trial.latency_ms,
                static_cast<long long>(ft_trial.size_bytes), ok ? "" : "  (beyond --max-drop)");
            char a1[32], a2[32], l[32];
            std::snprintf(a1, sizeof a1, "%.2f", t.val_top1);
            std::snprintf(a2, sizeof a2, "%.2f", ft_trial.val_top1);
            std::snprintf(l, sizeof l, "%.3f", ft_trial.latency_ms);
            finals.push_back({std::to_string(t.index), config_summary(t.config), a1, a2, l,
                              std::to_string(ft_trial.size_bytes), ok ? "yes" : "no"});
            if (ok) {
                check(write_file_atomic(f.out, bytes).with_context(f.out));
                std::printf("auto: chose trial %d after the final fine-tuning\n", t.index);
                best = i;
                met = finetuned = true;
                break;
            }
        }
        if (!finetuned && met) {
            std::printf(
                "auto: no candidate met --max-drop after the final fine-tuning; the best "
                "trial's model stays\n");
        }
    }
    if (!met) {
        // The closest candidate was never written (only ones within the budget are).
        best = state.closest();
        if (best < 0) throw Failure{internal_error("auto: no trial could be measured")};
        const Graph m = check(search.build(state.trials[static_cast<size_t>(best)].config, true));
        check(export_onnx_file(m, f.out).with_context(f.out));
    }
    const AutoTrial b = state.trials[static_cast<size_t>(best)];
    int trials_ok = 0;
    for (const AutoTrial& t : state.trials) trials_ok += t.ok;
    std::printf("\nauto: %zu trials (%d measured) in %.0f s: %.2f trials per minute\n",
                state.trials.size(), trials_ok, state.elapsed_s,
                60.0 * static_cast<double>(state.trials.size()) / std::max(1.0, state.elapsed_s));
    std::printf(
        "this run: %zu trials in %.0f s of search on %d process%s: %.2f per minute\n",
        state.trials.size() - trials_before, search_s, world.size, world.size == 1 ? "" : "es",
        60.0 * static_cast<double>(state.trials.size() - trials_before) / std::max(1.0, search_s));
    std::printf("%-6s %-58s %8s %8s %10s %10s %9s\n", "trial", "configuration", "top-1", "change",
                "ms", "predicted", "bytes");
    const std::vector<int> front = state.pareto();
    for (int i : front) {
        const AutoTrial& t = state.trials[static_cast<size_t>(i)];
        std::printf("%-6d %-58s %7.2f%% %+8.2f %10.3f %10.3f %9lld%s\n", t.index,
                    config_summary(t.config).c_str(), t.val_top1, t.val_top1 - state.base_val_top1,
                    t.latency_ms, t.predicted_ms, static_cast<long long>(t.size_bytes),
                    i == best ? "  <- chosen" : "");
    }
    std::printf("(the Pareto front of validation top-1, latency and size; %zu of %d)\n",
                front.size(), trials_ok);
    if (finetuned)
        std::printf("\nauto: trial %d, fine-tuned %lld epoch%s, is within %.2f points: %s\n",
                    b.index, static_cast<long long>(f.final_epochs), f.final_epochs == 1 ? "" : "s",
                    o.max_drop, config_summary(b.config).c_str());
    else if (met)
        std::printf("\nauto: trial %d is the best within %.2f points: %s\n", b.index, o.max_drop,
                    config_summary(b.config).c_str());
    else
        std::printf(
            "\nauto: no candidate stayed within %.2f points of the original's validation "
            "top-1; the closest is trial %d (%+.2f points): %s\n",
            o.max_drop, b.index, b.val_top1 - state.base_val_top1,
            config_summary(b.config).c_str());
    std::printf("wrote %s (state: %s)\n\n", f.out.c_str(), state_path.c_str());
    std::fflush(stdout);
    AutoReportExtra extra;
    for (const auto& [label, file] : baselines) {
        const Graph m = check(load_model_file(file), file);
        AutoBaseline b;
        b.label = label;
        b.val_top1 = 100 * check(evaluate(m, val), file).top1;
        LatencyOptions lo;
        lo.runs = o.latency_runs;
        lo.threads = o.threads;
        b.latency_ms = state.base_latency_ms / check(alternating_speedup(g, m, lo, 5), file);
        b.size_bytes = static_cast<int64_t>(std::filesystem::file_size(file));
        extra.baselines.push_back(b);
    }
    if (!baselines.empty()) {
        std::printf("single techniques, measured like the trials:\n");
        for (const AutoBaseline& b : extra.baselines)
            std::printf("  %-16s %7.2f%% validation top-1 (%+.2f), %.3f ms, %lld bytes\n",
                        b.label.c_str(), b.val_top1, b.val_top1 - state.base_val_top1, b.latency_ms,
                        static_cast<long long>(b.size_bytes));
        std::printf("\n");
    }
    {
        // The speed-up, original and result alternating (the search's own figures
        // come from different minutes of a machine whose speed drifts).
        const Graph result = check(load_model_file(f.out), f.out);
        LatencyOptions lo;
        lo.runs = o.latency_runs;
        lo.threads = o.threads;
        extra.speedup = check(alternating_speedup(g, result, lo, 7), f.out);
        std::printf(
            "auto: %s runs %.2fx as fast as the original in pare (batch 1, %d thread%s; 7 "
            "alternating rounds of %d runs, median ratio) and is %.2fx smaller on disk\n\n",
            f.out.c_str(), extra.speedup, o.threads, o.threads == 1 ? "" : "s", o.latency_runs,
            static_cast<double>(std::filesystem::file_size(f.model)) /
                static_cast<double>(std::filesystem::file_size(f.out)));
    }
    CompareSpec spec;
    spec.models = {{"original", f.model}};
    for (const auto& bl : baselines) spec.models.push_back(bl);
    spec.models.emplace_back("auto", f.out);
    spec.data = f.data;
    spec.test_limit = f.test_limit;
    const Comparison cmp = compare_models(spec);
    if (!f.report.empty()) {
        HtmlReport page("pare auto: " + std::filesystem::path(f.model).filename().string());
        if (cmp.top1.size() == spec.models.size()) {
            extra.test_top1_before = 100 * cmp.top1.front();
            extra.test_top1_after = 100 * cmp.top1.back();
        }
        report_auto(page, state, o, best, extra);
        if (!finals.empty()) {
            page.paragraph("Final fine-tuning (" + std::to_string(f.final_epochs) +
                           " epoch(s) on every training image) of the best trial and the more "
                           "aggressive candidates of the front; the best that meets the budget "
                           "is written:");
            page.table({"trial", "configuration", "val top-1 % before", "after", "ms", "bytes",
                        "meets budget"},
                       finals);
        }
        report_sensitivity(page, sens, nullptr);
        check(page.write(f.report).with_context(f.report));
        std::printf("wrote %s\n", f.report.c_str());
    }
    return met ? 0 : 2;
}

// --latency-budget: "1.5ms" or "1.5" -> {1.5 ms, 0}; "0.9x" -> {0, 0.9} (a multiple
// of the reference model's latency).
struct LatencyBudget {
    double ms = 0, ratio = 0;
};
LatencyBudget parse_latency_budget(const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    const std::string unit = end ? end : "";
    if (text.empty() || end == text.c_str() || !(unit.empty() || unit == "ms" || unit == "x") ||
        !(v > 0) || !std::isfinite(v))
        throw Failure{
            invalid_argument("--latency-budget must be a positive time in ms like 1.5ms "
                             "or a multiple of the reference model's latency like 0.9x, not \"" +
                             text + "\"")};
    return unit == "x" ? LatencyBudget{0, v} : LatencyBudget{v, 0};
}

struct NasFlags {
    std::string space, data = "fashion-mnist", out, report, latency_budget = "1.5ms",
                       time_budget = "60m", compare, reference, arch;
    int64_t samples = 3000, shortlist = 12, short_images = 8192, short_epochs = 2, final_epochs = 0,
            limit = 2000, test_limit = 0;
    double lr = 0.05;
    int threads = 1, latency_threads = 1;
    uint64_t seed = 1;
};

int cmd_nas(const NasFlags& f) {
    // --arch: an architecture given (one a search printed), trained without a search.
    std::optional<NasArch> given;
    if (!f.arch.empty()) {
        given = check(nas_arch_from_summary(f.arch), "--arch");
        if (!f.space.empty() && f.space != given->space)
            throw Failure{invalid_argument("--space " + f.space + " and --arch's space " +
                                           given->space + " differ")};
        if (!f.report.empty())
            throw Failure{invalid_argument("--report plots a search; --arch skips it")};
        if (mpi_world().size > 1)
            throw Failure{invalid_argument("--arch trains one model: run it without mpirun")};
    } else if (f.space.empty()) {
        throw Failure{invalid_argument("--space is required (or --arch)")};
    }
    const NasSpace space = check(nas_space(given ? given->space : f.space));
    NasOptions o;
    const LatencyBudget budget = parse_latency_budget(f.latency_budget);
    const double budget_ratio = budget.ratio;
    o.latency_budget_ms = budget.ms;
    o.time_budget_s = parse_duration(f.time_budget);
    o.samples = static_cast<int>(f.samples);
    o.shortlist = static_cast<int>(f.shortlist);
    o.threads = f.latency_threads;
    o.seed = f.seed;
    if (f.samples < 1 || f.shortlist < 1 || f.short_images < 1 || f.short_epochs < 1 || f.limit < 1)
        throw Failure{
            invalid_argument("--samples, --shortlist, --short-images, --short-epochs and "
                             "--limit must be at least 1")};
    if (f.out.empty()) throw Failure{invalid_argument("-o/--output is required")};
    check_output_folders({f.out, f.report});
    std::vector<std::pair<std::string, std::string>> compare;
    for (const std::string& file : split_names(f.compare)) {
        check(load_model_file(file).status().with_context(file));
        compare.emplace_back(std::filesystem::path(file).stem().string(), file);
    }
    // The reference model: a relative budget's unit, and the model the chosen
    // architecture's speed is measured against in alternation at the end.
    const std::string reference =
        !f.reference.empty() ? f.reference : (compare.empty() ? "" : compare.front().second);
    if (budget_ratio > 0 && reference.empty())
        throw Failure{invalid_argument("--latency-budget " + f.latency_budget +
                                       " is relative: name the model with --reference (or "
                                       "--compare)")};
    std::optional<Graph> ref;
    LatencyOptions ref_lo;
    ref_lo.runs = o.latency_runs;
    ref_lo.threads = o.threads;
    if (!reference.empty()) ref = check(load_model_file(reference), reference);
    DataOptions d;
    d.test_limit = f.test_limit;
    const DataSplits data = check(load_data(f.data, d), f.data);
    ArchOptions base;
    base.in_channels = data.train.images.shape()[1];
    base.input_size = data.train.images.shape()[2];
    base.num_classes = data.train.num_classes;
    base.seed = f.seed;
    std::vector<int64_t> vidx, tidx;
    for (int64_t i = 0; i < std::min(f.limit, data.val.size()); ++i) vidx.push_back(i);
    for (int64_t i = 0; i < std::min(f.short_images, data.train.size()); ++i) tidx.push_back(i);
    const Dataset val = data.val.subset(vidx);
    DataSplits short_data;
    short_data.train = data.train.subset(tidx);
    TrainConfig cfg;
    cfg.epochs = f.short_epochs;
    cfg.batch = 64;
    cfg.lr = f.lr;
    cfg.weight_decay = 1e-4;
    cfg.threads = f.threads;
    cfg.progress = false;
    cfg.augment.pad = 2;
    const NasTrainer train = [&](Graph& g) -> Result<double> {
        PARE_RETURN_IF_ERROR(train_graph(g, short_data, cfg).status());
        PARE_ASSIGN_OR_RETURN(EvalReport e, evaluate(g, val));
        return 100.0 * e.top1;
    };
    const MpiWorld world = mpi_world();
    if (world.rank != 0) {  // an MPI worker: train what rank 0 sends
        check(serve_nas(base, o, train));
        mpi_finish();
        return 0;
    }
    if (budget_ratio > 0 && !given) {
        // Measured now, just before the block table, so that the budget and the
        // table share the machine's present speed (a shared machine drifts).
        ref_lo.rounds = 3;
        const LatencyProfile p = check(measure_latency(*ref, ref_lo), reference);
        o.latency_budget_ms = budget_ratio * p.median_ms;
        std::printf("nas: %s runs in %.3f ms (median, best of 3 rounds of %d runs); budget %gx\n",
                    reference.c_str(), p.median_ms, ref_lo.runs, budget_ratio);
    }
    NasResult r;
    NasArch chosen;
    if (given) {
        mpi_finish();
        chosen = *given;
        std::printf("nas: no search; the architecture given: %s\n",
                    nas_arch_summary(chosen).c_str());
    } else {
        std::printf(
            "nas: %s space, latency budget %.3f ms (pare, batch 1, %d thread%s), time budget "
            "%.0f s\n",
            space.name.c_str(), o.latency_budget_ms, o.threads, o.threads == 1 ? "" : "s",
            o.time_budget_s);
        std::fflush(stdout);
        r = check(run_nas(space, base, o, train));
        mpi_finish();
        std::printf("\n%-3s %-72s %8s %9s %9s %8s\n", "#", "architecture", "MACs", "predicted",
                    "measured", "top-1");
        for (size_t i = 0; i < r.candidates.size(); ++i) {
            const NasCandidate& c = r.candidates[i];
            if (!c.trained) continue;
            std::printf("%-3zu %-72s %7.2fM %9.3f %9.3f %7.2f%%%s\n", i,
                        nas_arch_summary(c.arch).c_str(), static_cast<double>(c.macs) / 1e6,
                        c.predicted_ms, c.measured_ms, c.val_top1,
                        static_cast<int>(i) == r.best ? "  <- chosen" : "");
        }
        std::printf(
            "(%d sampled, %d predicted within the budget, %zu blocks measured; validation "
            "top-1 after %lld epoch%s on %lld images)\n",
            r.sampled, r.within_budget, r.table_entries, static_cast<long long>(f.short_epochs),
            f.short_epochs == 1 ? "" : "s", static_cast<long long>(short_data.train.size()));
        chosen = r.candidates[static_cast<size_t>(r.best)].arch;
    }
    Graph g = check(build_nas_arch(chosen, base));
    if (f.final_epochs > 0) {
        TrainConfig full = cfg;
        full.epochs = f.final_epochs;
        full.batch = 128;  // the zoo's recipe (models/README.md), as the student trained
        full.lr = 0.1;
        full.warmup_epochs = 1;
        full.label_smoothing = 0.1;
        full.augment.hflip = true;
        full.progress = true;
        std::printf("\nnas: training the chosen architecture %lld epochs on %lld images\n",
                    static_cast<long long>(f.final_epochs),
                    static_cast<long long>(data.train.size()));
        std::fflush(stdout);
        check(train_graph(g, data, full).status());
    } else {
        check(train(g).status());  // the short training again (deterministic seed)
    }
    check(export_onnx_file(g, f.out).with_context(f.out));
    std::printf("wrote %s: %s\n\n", f.out.c_str(), nas_arch_summary(chosen).c_str());
    if (ref) {
        // The candidates' latencies come from different minutes; this ratio does not.
        const Graph written = check(load_model_file(f.out), f.out);
        const double speedup = check(alternating_speedup(*ref, written, ref_lo, 7), f.out);
        std::printf(
            "nas: the chosen architecture runs %.2fx as fast as %s in pare (batch 1, %d "
            "thread%s; 7 alternating rounds of %d runs, median ratio)\n\n",
            speedup, reference.c_str(), o.threads, o.threads == 1 ? "" : "s", ref_lo.runs);
    }
    std::fflush(stdout);
    CompareSpec spec;
    spec.models = compare;
    spec.models.emplace_back("nas", f.out);
    spec.data = f.data;
    spec.test_limit = f.test_limit;
    compare_models(spec);
    if (!f.report.empty()) {
        HtmlReport page("pare nas: " + space.name);
        report_nas(page, r, o);
        check(page.write(f.report).with_context(f.report));
        std::printf("wrote %s\n", f.report.c_str());
    }
    return 0;
}

}  // namespace

void add_auto_verbs(CLI::App& app, VerbTable& verbs) {
    auto f = std::make_shared<SensitivityFlags>();
    auto* p = app.add_subcommand(
        "sensitivity",
        "Per layer, the top-1 each compression action (int8, int4 weights, sparsity, channel "
        "removal, low rank) costs on its own, measured on validation images");
    p->add_option("model", f->model, "The model (ONNX or .pare)")->required();
    p->add_option("--data", f->data, "Labelled data (its validation split is measured)")
        ->capture_default_str();
    p->add_option("--limit", f->limit, "Validation images measured")->capture_default_str();
    p->add_option("--calib", f->calib,
                  "int8 calibration images: DATASET[:N] or a .npy file (default: N training "
                  "images of --data)");
    p->add_option("--calib-images", f->calib_images, "N of the default calibration set")
        ->capture_default_str();
    p->add_option("--method", f->method, "int8 calibration: minmax, percentile, entropy, mse")
        ->capture_default_str();
    p->add_flag("--no-quant", f->no_quant, "Leave out int8 and int4 weights");
    p->add_option("--sparsities", f->sparsities, "Unstructured sparsity levels (\"\": none)")
        ->capture_default_str();
    p->add_option("--channels", f->channels,
                  "Fractions of a channel group's channels removed (\"\": none)")
        ->capture_default_str();
    p->add_option("--ranks", f->ranks, "Low-rank parameter reductions (\"\": none)")
        ->capture_default_str();
    p->add_option("--bn-batches", f->bn_batches,
                  "Channel removal measured after re-estimating BatchNormalization statistics "
                  "on this many batches of 64 training images (0: not)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{0}, int64_t{100000}));
    p->add_option("--json", f->json, "Write the measurements as JSON");
    p->add_option("--report", f->report,
                  "Write the HTML report (heat map, per-layer size and "
                  "latency)");
    p->add_option("--threads", f->threads, "Threads for the report's latency profile")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    p->add_option("--shape", f->shapes, "Input shape override NAME=D0xD1x...");
    verbs.emplace_back(p, [f] { return cmd_sensitivity(*f); });
    auto a = std::make_shared<AutoFlags>();
    auto* q = app.add_subcommand(
        "auto",
        "Search per-layer channel removal, low rank and int8 for the fastest (or smallest) "
        "model within --max-drop of the original's top-1; resumable; exit 2 when nothing met "
        "the budget (the closest candidate is written)");
    q->add_option("model", a->model, "The model (ONNX)")->required();
    q->add_option("--data", a->data,
                  "Labelled data: validation split for the search, test split "
                  "for the final figures")
        ->capture_default_str();
    q->add_option("-o,--output", a->out,
                  "The result (.onnx); rewritten whenever a better "
                  "candidate is found");
    q->add_option("--max-drop", a->max_drop, "Validation top-1 points the result may lose")
        ->capture_default_str();
    q->add_option("--objective", a->objective, "latency (pare, batch 1) or size (ONNX file)")
        ->capture_default_str();
    q->add_option("--time-budget", a->time_budget,
                  "Search time, sensitivity included (90s, 30m, "
                  "1h)")
        ->capture_default_str();
    q->add_option("--state", a->state, "The search state (default: OUTPUT.state.json)");
    q->add_flag("--resume", a->resume, "Continue the search in --state");
    q->add_option("--report", a->report, "Write the HTML report");
    q->add_option("--limit", a->limit, "Validation images per candidate")->capture_default_str();
    q->add_option("--sensitivity-limit", a->sensitivity_limit,
                  "Validation images for the sensitivity (the first of --limit)")
        ->capture_default_str();
    q->add_option("--baselines", a->baselines,
                  "LABEL=FILE,...: models of single techniques, measured like the trials and "
                  "compared with the result (table, report)");
    q->add_option("--calib-images", a->calib_images, "int8 calibration images")
        ->capture_default_str();
    q->add_option("--finetune-images", a->finetune_images,
                  "Training images each candidate is fine-tuned on (one pass, distilled)")
        ->capture_default_str();
    q->add_option("--finetune-lr", a->finetune_lr, "Fine-tuning learning rate")
        ->capture_default_str();
    q->add_option("--final-epochs", a->final_epochs,
                  "Fine-tune the chosen candidate this many epochs on all training images")
        ->capture_default_str();
    q->add_option("--final-candidates", a->final_candidates,
                  "With --final-epochs: the best trial and up to N-1 more aggressive ones of the "
                  "Pareto front are fine-tuned, fastest (or smallest) first; the first then "
                  "meeting --max-drop is written")
        ->capture_default_str();
    q->add_option("--final-stretch", a->final_stretch,
                  "With --final-epochs: the search explores, and the final fine-tuning takes, "
                  "candidates that lost up to this many points more than --max-drop after their "
                  "short fine-tuning")
        ->capture_default_str();
    q->add_option("--channels", a->channels, "Channel fractions a group may lose")
        ->capture_default_str();
    q->add_option("--ranks", a->ranks, "Low-rank parameter reductions")->capture_default_str();
    q->add_option("--bn-batches", a->bn_batches,
                  "The sensitivity of channel removal measured after re-estimating "
                  "BatchNormalization statistics on this many batches of 64 training images "
                  "(0: not)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{0}, int64_t{100000}));
    q->add_option("--seed", a->seed, "Search seed")->capture_default_str();
    q->add_option("--test-limit", a->test_limit, "Final figures on the first N test images");
    q->add_option("--threads", a->threads, "Threads for fine-tuning")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    q->add_option("--latency-threads", a->latency_threads,
                  "Threads the latency is measured with (pare's runtime, batch 1)")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    verbs.emplace_back(q, [a] { return cmd_auto(*a); });
    auto n = std::make_shared<NasFlags>();
    auto* r = app.add_subcommand(
        "nas",
        "Hardware-aware architecture search: MobileNetV2- or EfficientNet-like stages (depth, "
        "expansion, kernel, squeeze-excitation, width) within a latency budget measured on pare's "
        "runtime, ranked by short training");
    r->add_option("--space", n->space, "mobilenet_v2 or efficientnet");
    r->add_option("--arch", n->arch,
                  "No search: train this architecture, written as the search prints it "
                  "(\"mobilenet_v2 x0.5: 1x(e1 k3) 1x(e3 k5) ...\")");
    r->add_option("--data", n->data, "Labelled data")->capture_default_str();
    r->add_option("--latency-budget", n->latency_budget,
                  "Latency in pare, batch 1: a time (1.5ms) or a multiple of the reference "
                  "model's latency measured at the start (0.9x)")
        ->capture_default_str();
    r->add_option("--reference", n->reference,
                  "The model a relative budget refers to, and the chosen architecture is timed "
                  "against at the end (default: the first --compare model)");
    r->add_option("--time-budget", n->time_budget, "Search time (90s, 30m, 1h)")
        ->capture_default_str();
    r->add_option("-o,--output", n->out, "The chosen architecture, trained (.onnx)");
    r->add_option("--report", n->report, "Write the HTML report");
    r->add_option("--samples", n->samples, "Random architectures whose latency is predicted")
        ->capture_default_str();
    r->add_option("--shortlist", n->shortlist,
                  "Of those within the budget, how many (most MACs first) are trained briefly")
        ->capture_default_str();
    r->add_option("--short-images", n->short_images, "Training images of the short training")
        ->capture_default_str();
    r->add_option("--short-epochs", n->short_epochs, "Epochs of the short training")
        ->capture_default_str();
    r->add_option("--lr", n->lr, "Learning rate of the short training")->capture_default_str();
    r->add_option("--final-epochs", n->final_epochs,
                  "Train the chosen architecture this many epochs on every training image "
                  "(0: its short training)")
        ->capture_default_str();
    r->add_option("--compare", n->compare, "Models to compare the result with (a,b,...)");
    r->add_option("--limit", n->limit, "Validation images per candidate")->capture_default_str();
    r->add_option("--test-limit", n->test_limit, "Final figures on the first N test images");
    r->add_option("--seed", n->seed, "Search seed")->capture_default_str();
    r->add_option("--threads", n->threads, "Threads for training")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    r->add_option("--latency-threads", n->latency_threads, "Threads the latency is measured with")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    verbs.emplace_back(r, [n] { return cmd_nas(*n); });
}

}  // namespace pare::cli
