// pare: the command line. Thin: parses flags, calls toolkit functions, prints.
// Every failure is one line "pare: <what and where>" and a non-zero exit
// (1 for errors in the model or data, 2 for bad flags).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "toolkit/data/npy.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/report/model_stats.h"

namespace {

using namespace pare;

struct Failure {
    Status status;
};

void check(const Status& s) {
    if (!s.ok()) throw Failure{s};
}
template <class T>
T check(Result<T> r) {
    if (!r.ok()) throw Failure{r.status()};
    return std::move(r).value();
}

ImportOptions import_options(const std::vector<std::string>& shapes) {
    ImportOptions o;
    for (const auto& spec : shapes) {
        std::string name;
        Shape shape;
        check(parse_input_shape(spec, &name, &shape));
        o.input_shapes[name] = shape;
    }
    return o;
}

std::string human_count(int64_t n) {
    char buf[32];
    if (n >= 1000000000) {
        std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
    } else if (n >= 1000000) {
        std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
    } else if (n >= 1000) {
        std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    }
    return buf;
}

std::string value_str(const ValueInfo& v) {
    std::string s = std::string(dtype_name(v.dtype)) + " [";
    for (size_t d = 0; d < v.shape.size(); ++d) {
        if (d) s += ",";
        if (v.shape[d] >= 0) {
            s += std::to_string(v.shape[d]);
        } else {
            s += d < v.dim_params.size() && !v.dim_params[d].empty() ? v.dim_params[d] : "?";
        }
    }
    return v.has_shape ? s + "]" : std::string(dtype_name(v.dtype)) + " (rank unknown)";
}

int cmd_info(const std::string& path, const std::vector<std::string>& shapes) {
    Graph g = check(import_onnx_file(path, import_options(shapes)));
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
    return 0;
}

int cmd_run(const std::string& path, const std::vector<std::string>& inputs,
            const std::string& out_dir, const std::vector<std::string>& shapes,
            int64_t random_seed) {
    Graph g = check(import_onnx_file(path, import_options(shapes)));
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
    if (std::filesystem::path(out).extension() != ".onnx") {
        throw Failure{invalid_argument(out + ": output must be an .onnx file")};
    }
    Graph g = check(import_onnx_file(in, import_options(shapes)));
    const size_t before = g.nodes.size();
    const int64_t params_before = g.parameter_count();
    if (!no_passes) check(run_default_passes(g).with_context(in));
    check(export_onnx_file(g, out));
    std::printf("%s -> %s: %zu -> %zu nodes, %lld -> %lld parameters\n", in.c_str(), out.c_str(),
                before, g.nodes.size(), static_cast<long long>(params_before),
                static_cast<long long>(g.parameter_count()));
    return 0;
}

int cmd_check(const std::vector<std::string>& models, const std::vector<std::string>& shapes,
              int repeat, double tolerance, const std::string& pattern) {
    std::printf("%-48s %6s %12s %10s %10s %8s\n", "model", "nodes", "worst relL2", "pare ms",
                "ORT ms", "pare/ORT");
    bool all_ok = true;
    for (const auto& m : models) {
        OracleOptions opt;
        opt.repeat = repeat;
        opt.pattern = pattern == "page" ? InputPattern::kPage : InputPattern::kUniform;
        OracleReport r = check(compare_with_onnxruntime(m, import_options(shapes), opt));
        const bool ok = r.worst_rel_l2 <= tolerance;
        all_ok = all_ok && ok;
        std::string name = std::filesystem::path(m).filename().string();
        std::printf("%-48s %6d %12.2e %10.1f %10.1f %8.1f %s\n", name.c_str(), r.nodes,
                    r.worst_rel_l2, r.pare_ms, r.ort_ms, r.ort_ms > 0 ? r.pare_ms / r.ort_ms : 0.0,
                    ok ? "ok" : "MISMATCH");
    }
    return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "pare: make neural networks small and fast, and prove it.\n"
        "Models are ONNX files; tensors are NumPy .npy files."};
    app.require_subcommand(1);
    std::vector<std::string> shapes;
    const char* shape_help = "Bind an input's shape, e.g. x=1,3,224,224 (repeatable)";

    auto* info =
        app.add_subcommand("info", "Show inputs, outputs, op histogram, parameters, MACs and size");
    std::string info_path;
    info->add_option("model", info_path, "ONNX model")->required();
    info->add_option("--input-shape", shapes, shape_help);

    auto* run =
        app.add_subcommand("run", "Run a model on .npy inputs and write its outputs as .npy");
    std::string run_path, out_dir = "out";
    std::vector<std::string> inputs;
    int64_t seed = -1;
    run->add_option("model", run_path, "ONNX model")->required();
    run->add_option("--input", inputs, "name=file.npy (repeatable)");
    run->add_option("--output-dir", out_dir, "Folder for <output>.npy files")
        ->capture_default_str();
    run->add_option("--input-shape", shapes, shape_help);
    run->add_option("--random-inputs", seed,
                    "Fill inputs not given with uniform [-1,1) values from this seed");

    auto* convert = app.add_subcommand("convert",
                                       "Import, optimize (fold constants and BatchNorm, remove "
                                       "dead code and Identity) and export ONNX");
    std::string conv_in, conv_out;
    bool no_passes = false;
    convert->add_option("input", conv_in, "ONNX model")->required();
    convert->add_option("output", conv_out, "ONNX model to write")->required();
    convert->add_option("--input-shape", shapes, shape_help);
    convert->add_flag("--no-passes", no_passes, "Only import and export");

    auto* chk =
        app.add_subcommand("check",
                           "Run models in pare and in ONNX Runtime on the same random inputs "
                           "and compare every output");
    std::vector<std::string> models;
    int repeat = 1;
    double tol = 1e-4;
    chk->add_option("models", models, "ONNX models")->required();
    chk->add_option("--input-shape", shapes, shape_help);
    chk->add_option("--repeat", repeat, "Timed runs of each runtime (median shown)")
        ->check(CLI::Range(1, 1000));
    chk->add_option("--tolerance", tol, "Largest relative L2 error accepted")
        ->capture_default_str();
    std::string pattern = "uniform";
    chk->add_option("--inputs", pattern,
                    "Random inputs: uniform in [-1,1), or page (a synthetic document, "
                    "ImageNet-normalized, for N,3,H,W document models)")
        ->check(CLI::IsMember({"uniform", "page"}))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        if (*info) return cmd_info(info_path, shapes);
        if (*run) return cmd_run(run_path, inputs, out_dir, shapes, seed);
        if (*convert) return cmd_convert(conv_in, conv_out, shapes, no_passes);
        if (*chk) return cmd_check(models, shapes, repeat, tol, pattern);
    } catch (const Failure& f) {
        std::fprintf(stderr, "pare: %s\n", f.status.message().c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pare: %s\n", e.what());
        return 1;
    }
    return 0;
}
