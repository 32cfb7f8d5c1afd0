// The before/after table that every compression verb prints: size on disk, top-1
// in pare and in ONNX Runtime with their agreement, latency of both models in
// both runtimes side by side.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/cli.h"
#include "toolkit/data/dataset.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/report/evaluate.h"

namespace pare::cli {

namespace {

int64_t argmax_row(const Tensor& t, int64_t i) {
    const int64_t K = t.shape()[1];
    const float* r = t.data<float>() + i * K;
    return std::max_element(r, r + K) - r;
}

}  // namespace

void print_row(const char* label, const std::string& before, const std::string& after,
               const std::string& note) {
    std::printf("%-38s %14s %14s%s%s\n", label, before.c_str(), after.c_str(),
                note.empty() ? "" : "  ", note.c_str());
}

Comparison compare_models(const CompareSpec& s) {
    Comparison c;
    const auto size_of = [](const std::string& p) {
        return static_cast<long long>(std::filesystem::file_size(p));
    };
    const long long s0 = size_of(s.before), s1 = size_of(s.after);
    std::printf("\n%-38s %14s %14s\n", "", s.label_before.c_str(), s.label_after.c_str());
    char note[64];
    std::snprintf(note, sizeof note, "(%.2fx smaller)",
                  static_cast<double>(s0) / static_cast<double>(std::max(1LL, s1)));
    print_row("size on disk (bytes)", std::to_string(s0), std::to_string(s1), note);
    for (const auto& [label, b, a] : s.extra_rows) print_row(label.c_str(), b, a, "");
    if (!s.data.empty()) {
        DataOptions d;
        d.test_limit = s.test_limit;
        DataSplits data = check(load_data(s.data, d));
        if (data.test.size() > 0) {
            c.samples = data.test.images;
            const Graph g0 = check(load_model_file(s.before));
            const Graph g1 = check(load_model_file(s.after));
            const EvalReport e0 = check(evaluate(g0, data.test));
            const EvalReport e1 = check(evaluate(g1, data.test));
            c.top1_before = e0.top1;
            c.top1_after = e1.top1;
            const std::string in = g0.inputs[0].name;
            const std::vector<Tensor> o0 =
                check(run_onnxruntime(s.before, {{in, data.test.images}}));
            const std::vector<Tensor> o1 =
                check(run_onnxruntime(s.after, {{in, data.test.images}}));
            const int64_t n = data.test.size();
            int64_t c0 = 0, c1 = 0, agree = 0;
            for (int64_t i = 0; i < n; ++i) {
                const int64_t p0 = argmax_row(o0[0], i), p1 = argmax_row(o1[0], i);
                c0 += p0 == data.test.labels[i];
                c1 += p1 == data.test.labels[i];
                agree += p1 == e1.predictions[i];
            }
            std::printf("%-38s %13.2f%% %13.2f%%  (%+.2f points)\n", "top-1, pare", 100 * e0.top1,
                        100 * e1.top1, 100 * (e1.top1 - e0.top1));
            std::printf("%-38s %13.2f%% %13.2f%%  (%+.2f points)\n", "top-1, ONNX Runtime",
                        100.0 * c0 / n, 100.0 * c1 / n, 100.0 * (c1 - c0) / n);
            std::printf("%-38s %14s %13.2f%%  (%s; %lld of %lld %s test images)\n",
                        "top-1 agreement, pare vs ORT", "", 100.0 * agree / n,
                        s.label_after.c_str(), static_cast<long long>(agree),
                        static_cast<long long>(n), data.test.name.c_str());
        }
    }
    // Latency at batch 1 (or --input-shape), each model against ONNX Runtime in
    // alternation.
    c.import = import_options(s.shapes);
    const Graph gi = check(load_model_file(s.before));
    for (const auto& d : gi.inputs[0].dim_params)
        if (!d.empty() && !c.import.dim_values.count(d)) c.import.dim_values[d] = 1;
    OracleOptions oo;
    oo.repeat = s.repeat;
    c.before = check(compare_with_onnxruntime(s.before, c.import, oo));
    c.after = check(compare_with_onnxruntime(s.after, c.import, oo));
    std::printf("%-38s %14.3f %14.3f  (median of %d)\n", "latency, pare (ms, batch 1)",
                c.before.pare_ms, c.after.pare_ms, s.repeat);
    std::printf("%-38s %14.3f %14.3f\n", "latency, ONNX Runtime (ms)", c.before.ort_ms,
                c.after.ort_ms);
    return c;
}

}  // namespace pare::cli
