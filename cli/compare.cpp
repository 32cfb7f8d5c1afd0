// The comparison table that every compression verb prints: size on disk, top-1
// in pare and in ONNX Runtime with their agreement, latency of every model in
// both runtimes side by side. Two columns (before, after) or more (distill's
// teacher, plain student, distilled student); notes compare the last column
// with the first.
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

void print_row(const std::string& label, const std::vector<std::string>& cells,
               const std::string& note) {
    std::printf("%-38s", label.c_str());
    for (const auto& c : cells) std::printf(" %14s", c.c_str());
    std::printf("%s%s\n", note.empty() ? "" : "  ", note.c_str());
}

namespace {

std::string fixed(double v, const char* fmt) {
    char b[64];
    std::snprintf(b, sizeof b, fmt, v);
    return b;
}

}  // namespace

Comparison compare_models(const CompareSpec& s) {
    Comparison c;
    const size_t k = s.models.size();
    std::vector<std::string> labels, sizes;
    std::vector<long long> bytes;
    for (const auto& [label, path] : s.models) {
        labels.push_back(label);
        bytes.push_back(static_cast<long long>(std::filesystem::file_size(path)));
        sizes.push_back(std::to_string(bytes.back()));
    }
    std::printf("\n");
    print_row("", labels, "");
    print_row(
        "size on disk (bytes)", sizes,
        fixed(static_cast<double>(bytes.front()) / static_cast<double>(std::max(1LL, bytes.back())),
              "(%.2fx smaller)"));
    for (const auto& [label, cells] : s.extra_rows) print_row(label, cells, "");
    if (!s.data.empty()) {
        DataOptions d;
        d.test_limit = s.test_limit;
        DataSplits data = check(load_data(s.data, d));
        if (data.test.size() > 0) {
            c.samples = data.test.images;
            const int64_t n = data.test.size();
            std::vector<std::string> pare_cells, ort_cells, agree_cells;
            std::vector<double> ort_top1;
            for (const auto& [label, path] : s.models) {
                const Graph g = check(load_model_file(path), path);
                const EvalReport e = check(evaluate(g, data.test), path);
                const std::vector<Tensor> o =
                    check(run_onnxruntime(path, {{g.inputs[0].name, data.test.images}}), path);
                int64_t correct = 0, agree = 0;
                for (int64_t i = 0; i < n; ++i) {
                    const int64_t p = argmax_row(o[0], i);
                    correct += p == data.test.labels[i];
                    agree += p == e.predictions[i];
                }
                c.top1.push_back(e.top1);
                ort_top1.push_back(static_cast<double>(correct) / static_cast<double>(n));
                pare_cells.push_back(fixed(100 * e.top1, "%.2f%%"));
                ort_cells.push_back(fixed(100 * ort_top1.back(), "%.2f%%"));
                agree_cells.push_back(fixed(100.0 * static_cast<double>(agree) / n, "%.2f%%"));
            }
            print_row("top-1, pare", pare_cells,
                      fixed(100 * (c.top1.back() - c.top1.front()), "(%+.2f points)"));
            print_row("top-1, ONNX Runtime", ort_cells,
                      fixed(100 * (ort_top1.back() - ort_top1.front()), "(%+.2f points)"));
            print_row("top-1 agreement, pare vs ORT", agree_cells,
                      "(" + std::to_string(n) + " " + data.test.name + " test images)");
        }
    }
    // Latency at batch 1 (or --input-shape), each model against ONNX Runtime in
    // alternation.
    c.import = import_options(s.shapes);
    const Graph gi = check(load_model_file(s.models.front().second));
    for (const auto& d : gi.inputs[0].dim_params)
        if (!d.empty() && !c.import.dim_values.count(d)) c.import.dim_values[d] = 1;
    OracleOptions oo;
    oo.repeat = s.repeat;
    std::vector<std::string> pare_ms, ort_ms;
    for (size_t i = 0; i < k; ++i) {
        c.reports.push_back(check(compare_with_onnxruntime(s.models[i].second, c.import, oo)));
        pare_ms.push_back(fixed(c.reports.back().pare_ms, "%.3f"));
        ort_ms.push_back(fixed(c.reports.back().ort_ms, "%.3f"));
    }
    print_row("latency, pare (ms, batch 1)", pare_ms,
              "(median of " + std::to_string(s.repeat) + ")");
    print_row("latency, ONNX Runtime (ms)", ort_ms, "");
    return c;
}

}  // namespace pare::cli
