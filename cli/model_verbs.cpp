// pare info | run | convert | check: inspecting, running, optimizing and
// checking ONNX models against ONNX Runtime.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/cli.h"
#include "runtime/cpu/cpu.h"
#include "runtime/exec/session.h"
#include "runtime/format/pare_format.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/data/npy.h"
#include "toolkit/io/files.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/report/latency.h"
#include "toolkit/report/model_stats.h"

namespace pare::cli {

namespace {

// The executor's plan: a kernel per node (with fused activations) and the memory
// plan, for the model after pare's default passes; unbound input dims are taken as 1.
void print_plan(Graph g, const std::string& path, int threads) {
    for (auto& i : g.inputs) {
        for (auto& d : i.shape) {
            if (d < 0) d = 1;
        }
    }
    check(run_default_passes(g).with_context(path));
    SessionOptions opt;
    opt.threads = threads;
    Session s = check(Session::prepare(std::move(g), opt));
    std::printf("\nplan (ISA %s, %d thread%s)\n", isa_name(kernels().isa), threads,
                threads == 1 ? "" : "s");
    std::printf("  %-40s %-20s %s\n", "node", "op", "kernel");
    for (const PlanStep& p : s.plan()) {
        std::printf("  %-40s %-20s %s%s\n", p.node.c_str(), p.op.c_str(), p.kernel.c_str(),
                    p.fused.empty() ? "" : (" (fused " + p.fused + ")").c_str());
    }
    const MemoryPlan& m = s.memory_plan();
    if (!m.planned) {
        std::printf("memory    not planned: some shapes are only known at run time\n");
        return;
    }
    std::printf(
        "memory    arena %s bytes for %d values (naive sum %s bytes, %.1f%%); %d views, "
        "%d in place\n",
        human_count(m.arena_bytes).c_str(), m.values, human_count(m.naive_bytes).c_str(),
        m.naive_bytes ? 100.0 * m.arena_bytes / m.naive_bytes : 0.0, m.views, m.in_place);
}

int cmd_info(const std::string& path, const std::vector<std::string>& shapes, bool plan,
             int threads) {
    Graph g = check(load_model_file(path, import_options(shapes)));
    check(g.topo_sort());
    check(infer_shapes(g).with_context(path));
    ModelStats st = compute_stats(g);
    std::printf("model     %s (producer: %s)\n", path.c_str(),
                g.producer.empty() ? "?" : g.producer.c_str());
    for (const auto& i : g.inputs)
        std::printf("input     %-24s %s\n", i.name.c_str(), value_str(i).c_str());
    for (const auto& o : g.outputs)
        std::printf("output    %-24s %s\n", o.name.c_str(), value_str(o).c_str());
    std::printf("nodes     %zu\n", g.nodes.size());
    std::printf("params    %s (%lld)\n", human_count(st.parameters).c_str(),
                static_cast<long long>(st.parameters));
    std::printf("MACs      %s%s\n", human_count(st.macs).c_str(),
                st.macs_complete ? "" : " (partial: bind dynamic dims with --input-shape)");
    for (const auto& kv : st.bytes_by_dtype) {
        std::printf("size      %-8s %s bytes\n", kv.first.c_str(), human_count(kv.second).c_str());
    }
    std::printf("ops      ");
    for (const auto& kv : st.op_counts) std::printf(" %s:%d", kv.first.c_str(), kv.second);
    std::printf("\n");
    if (plan) print_plan(std::move(g), path, threads);
    return 0;
}

int cmd_run(const std::string& path, const std::vector<std::string>& inputs,
            const std::string& out_dir, const std::vector<std::string>& shapes,
            int64_t random_seed) {
    Graph g = check(load_model_file(path, import_options(shapes)));
    TensorMap feed;
    for (const auto& spec : inputs) {
        const size_t eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
            throw Failure{
                invalid_argument("malformed --input \"" + spec + "\": expected name=file.npy")};
        }
        const std::string name = spec.substr(0, eq);
        if (!g.is_input(name)) {
            std::string names;
            for (const auto& i : g.inputs) names += (names.empty() ? "" : ", ") + i.name;
            throw Failure{invalid_argument(path + ": --input names \"" + name +
                                           "\", but the model's inputs are: " + names)};
        }
        feed[name] = check(read_npy(spec.substr(eq + 1)));
    }
    if (random_seed >= 0) {
        // Bind unbound dims of inputs given as files, then fill the rest randomly.
        TensorMap rnd = check(random_inputs(g, static_cast<uint64_t>(random_seed)));
        for (auto& kv : rnd) feed.emplace(kv.first, kv.second);
    }
    for (auto& i : g.inputs) {
        auto it = feed.find(i.name);
        if (it == feed.end()) {
            throw Failure{invalid_argument(path + ": input \"" + i.name + "\" (" + value_str(i) +
                                           ") was not given; pass --input " + i.name +
                                           "=file.npy")};
        }
        check(check_input(i, it->second).with_context(path));
        i.shape = it->second.shape();  // bind dynamic dims to the data given
    }
    check(run_default_passes(g).with_context(path));
    Session s = check(Session::prepare(std::move(g)));
    TensorMap out;
    check(s.run(feed, &out).with_context(path));
    std::filesystem::create_directories(out_dir);
    for (const auto& o : s.graph().outputs) {
        std::string file = o.name;
        for (char& c : file) {
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
                c = '_';
        }
        const std::string dest = out_dir + "/" + file + ".npy";
        check(write_npy(out.at(o.name), dest));
        std::printf("%s  %s %s -> %s\n", o.name.c_str(), dtype_name(out.at(o.name).dtype()),
                    shape_str(out.at(o.name).shape()).c_str(), dest.c_str());
    }
    return 0;
}

int cmd_convert(const std::string& in, const std::string& out,
                const std::vector<std::string>& shapes, bool no_passes) {
    const std::string ext = std::filesystem::path(out).extension().string();
    if (ext != ".onnx" && ext != ".pare") {
        throw Failure{invalid_argument(out + ": output must be an .onnx or a .pare file")};
    }
    Graph g = check(load_model_file(in, import_options(shapes)));
    const size_t before = g.nodes.size();
    const int64_t params_before = g.parameter_count();
    if (!no_passes) check(run_default_passes(g).with_context(in));
    if (ext == ".onnx") {
        check(export_onnx_file(g, out));
    } else {
        const std::vector<uint8_t> bytes = check(save_pare(g));
        check(write_file_atomic(out, std::string(bytes.begin(), bytes.end())));
    }
    std::printf("%s -> %s: %zu -> %zu nodes, %lld -> %lld parameters\n", in.c_str(), out.c_str(),
                before, g.nodes.size(), static_cast<long long>(params_before),
                static_cast<long long>(g.parameter_count()));
    return 0;
}

int cmd_check(const std::vector<std::string>& models, const std::vector<std::string>& shapes,
              int repeat, double tolerance, const std::string& pattern, int threads) {
    std::printf("%-48s %6s %12s %10s %10s %8s\n", "model", "nodes", "worst relL2", "pare ms",
                "ORT ms", "pare/ORT");
    bool all_ok = true;
    for (const auto& m : models) {
        OracleOptions opt;
        opt.repeat = repeat;
        opt.threads = threads;
        opt.pattern = pattern == "page" ? InputPattern::kPage : InputPattern::kUniform;
        OracleReport r = check(compare_with_onnxruntime(m, import_options(shapes), opt));
        const bool ok = r.worst_rel_l2 <= tolerance;
        all_ok = all_ok && ok;
        std::string name = std::filesystem::path(m).filename().string();
        std::printf("%-48s %6d %12.2e %10.2f %10.2f %8.2f %s\n", name.c_str(), r.nodes,
                    r.worst_rel_l2, r.pare_ms, r.ort_ms, r.ratio, ok ? "ok" : "MISMATCH");
    }
    return all_ok ? 0 : 1;
}

int cmd_bench(const std::string& path, const std::vector<std::string>& shapes, int runs, int warmup,
              int threads, bool profile) {
    const Graph g = check(load_model_file(path, import_options(shapes)));
    LatencyOptions lo;
    lo.runs = runs;
    lo.warmup = warmup;
    lo.threads = threads;
    lo.per_step = profile;
    const LatencyProfile p = check(measure_latency(g, lo), path);
    if (profile) {
        // Per step: median over the timed runs, largest first.
        std::vector<const StepTime*> order;
        double total = 0;
        for (const StepTime& st : p.steps) {
            order.push_back(&st);
            total += st.ms;
        }
        std::stable_sort(order.begin(), order.end(),
                         [](const StepTime* a, const StepTime* b) { return a->ms > b->ms; });
        std::printf("%-8s %6s  %-18s %-44s %s\n", "ms", "%", "op", "kernel", "node");
        for (const StepTime* st : order)
            std::printf("%8.3f %5.1f%%  %-18s %-44s %s\n", st->ms, 100.0 * st->ms / total,
                        st->op.c_str(), st->kernel.c_str(), st->node.c_str());
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("model     %s\nruns      %d after %d warm-up, %d thread%s, ISA %s (%s)\n",
                path.c_str(), runs, warmup, threads, threads == 1 ? "" : "s",
                isa_name(kernels().isa), kernels().f32_gemm_name);
    // Four significant digits: a tiny model's run is well under a microsecond.
    std::printf(
        "latency   median %.4g ms, p90 %.4g ms, min %.4g ms\npeak RSS  %.1f MB (whole process)\n",
        p.median_ms, p.p90_ms, p.min_ms, ru.ru_maxrss / 1024.0);
    return 0;
}

struct ModelFlags {
    std::vector<std::string> shapes;
    std::string info_path, run_path, out_dir = "out", conv_in, conv_out, pattern = "uniform";
    std::vector<std::string> inputs, models;
    int64_t seed = -1;
    bool no_passes = false, plan = false, profile = false;
    int repeat = 1, runs = 50, warmup = 5, threads = 1;
    double tol = 1e-4;
    std::string bench_path;
};

}  // namespace

void add_model_verbs(CLI::App& app, VerbTable& verbs) {
    auto f = std::make_shared<ModelFlags>();
    const char* shape_help = "Bind an input's shape, e.g. x=1,3,224,224 (repeatable)";

    auto* info =
        app.add_subcommand("info", "Show inputs, outputs, op histogram, parameters, MACs and size");
    info->add_option("model", f->info_path, "ONNX or .pare model")->required();
    info->add_option("--input-shape", f->shapes, shape_help);
    info->add_flag("--plan", f->plan,
                   "Also show the runtime's plan: the kernel chosen for each node (with fused "
                   "activations) and the memory plan against the naive sum");
    info->add_option("--threads", f->threads, "Threads the plan is made for")
        ->check(CLI::Range(1, 256));
    verbs.emplace_back(info,
                       [f] { return cmd_info(f->info_path, f->shapes, f->plan, f->threads); });

    auto* run =
        app.add_subcommand("run", "Run a model on .npy inputs and write its outputs as .npy");
    run->add_option("model", f->run_path, "ONNX or .pare model")->required();
    run->add_option("--input", f->inputs, "name=file.npy (repeatable)");
    run->add_option("--output-dir", f->out_dir, "Folder for <output>.npy files")
        ->capture_default_str();
    run->add_option("--input-shape", f->shapes, shape_help);
    run->add_option("--random-inputs", f->seed,
                    "Fill inputs not given with uniform [-1,1) values from this seed");
    verbs.emplace_back(
        run, [f] { return cmd_run(f->run_path, f->inputs, f->out_dir, f->shapes, f->seed); });

    auto* convert = app.add_subcommand("convert",
                                       "Import, optimize (fold constants and BatchNorm, remove "
                                       "dead code and Identity) and write ONNX or .pare (by the "
                                       "output's extension)");
    convert->add_option("input", f->conv_in, "ONNX or .pare model")->required();
    convert->add_option("output", f->conv_out, "model.onnx or model.pare to write")->required();
    convert->add_option("--input-shape", f->shapes, shape_help);
    convert->add_flag("--no-passes", f->no_passes, "Only import and export");
    verbs.emplace_back(
        convert, [f] { return cmd_convert(f->conv_in, f->conv_out, f->shapes, f->no_passes); });

    auto* chk =
        app.add_subcommand("check",
                           "Run models in pare and in ONNX Runtime on the same random inputs "
                           "and compare every output");
    chk->add_option("models", f->models, "ONNX models")->required();
    chk->add_option("--input-shape", f->shapes, shape_help);
    chk->add_option("--repeat", f->repeat,
                    "Timed runs of each runtime, in alternation (medians and the median pare/ORT "
                    "ratio of the pairs shown)")
        ->check(CLI::Range(1, 1000));
    chk->add_option("--tolerance", f->tol, "Largest relative L2 error accepted")
        ->capture_default_str();
    chk->add_option("--inputs", f->pattern,
                    "Random inputs: uniform in [-1,1), or page (a synthetic document, "
                    "ImageNet-normalized, for N,3,H,W document models)")
        ->check(CLI::IsMember({"uniform", "page"}))
        ->capture_default_str();
    chk->add_option("--threads", f->threads, "Threads for both runtimes")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    verbs.emplace_back(chk, [f] {
        return cmd_check(f->models, f->shapes, f->repeat, f->tol, f->pattern, f->threads);
    });

    auto* bench =
        app.add_subcommand("bench",
                           "Latency of a model in pare's runtime: median and p90 over many runs "
                           "after warm-up, and peak memory");
    bench->add_option("model", f->bench_path, "ONNX or .pare model")->required();
    bench->add_option("--input-shape", f->shapes, shape_help);
    bench->add_option("--runs", f->runs, "Timed runs")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    bench->add_option("--warmup", f->warmup, "Untimed runs first")
        ->capture_default_str()
        ->check(CLI::Range(0, 10000));
    bench->add_flag("--profile", f->profile,
                    "Also time every step (median over the runs), largest first");
    bench->add_option("--threads", f->threads, "Threads (the calling thread counts as one)")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    verbs.emplace_back(bench, [f] {
        return cmd_bench(f->bench_path, f->shapes, f->runs, f->warmup, f->threads, f->profile);
    });
}

}  // namespace pare::cli
