// pare sensitivity: per layer, the top-1 each compression action costs on
// validation images (a table, a JSON file, the HTML report).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "toolkit/auto/sensitivity.h"
#include "toolkit/data/dataset.h"
#include "toolkit/io/files.h"
#include "toolkit/report/html.h"
#include "toolkit/report/latency.h"

namespace pare::cli {

namespace {

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
    int64_t limit = 1000, calib_images = 256;
    bool no_quant = false;
    int threads = 1;
};

int cmd_sensitivity(const SensitivityFlags& f) {
    SensitivityOptions o;
    o.quant = !f.no_quant;
    o.sparsities = parse_levels(f.sparsities, "--sparsities");
    o.channel_ratios = parse_levels(f.channels, "--channels");
    o.rank_reductions = parse_levels(f.ranks, "--ranks");
    o.quant_options.method = check(parse_calib_method(f.method));
    if (f.limit < 1) throw Failure{invalid_argument("--limit must be at least 1")};
    if (f.calib_images < 1) throw Failure{invalid_argument("--calib-images must be at least 1")};
    // Output paths are checked before the long measurement, not after it.
    for (const std::string& out : {f.json, f.report}) {
        if (out.empty()) continue;
        const auto dir = std::filesystem::path(out).parent_path();
        if (!dir.empty() && !std::filesystem::is_directory(dir))
            throw Failure{invalid_argument(out + ": the folder " + dir.string() + " does not exist")};
    }
    const Graph g = check(load_model_file(f.model, import_options(f.shapes)), f.model);
    DataOptions d;
    const DataSplits data = check(load_data(f.data, d), f.data);
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < std::min(f.limit, data.val.size()); ++i) idx.push_back(i);
    const Dataset val = data.val.subset(idx);
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
    std::printf("\nbase top-1 %.2f%% (%lld validation images); top-1 change in points, each "
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
    p->add_option("--json", f->json, "Write the measurements as JSON");
    p->add_option("--report", f->report, "Write the HTML report (heat map, per-layer size and "
                                         "latency)");
    p->add_option("--threads", f->threads, "Threads for the report's latency profile")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    p->add_option("--shape", f->shapes, "Input shape override NAME=D0xD1x...");
    verbs.emplace_back(p, [f] { return cmd_sensitivity(*f); });
}

}  // namespace pare::cli
