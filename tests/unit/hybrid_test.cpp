// Hybrid models: the XGBoost head converted to a TreeEnsembleClassifier reproduces
// XGBoost's own margins; cut points of a zoo ResNet; a backbone + head graph that
// pare and ONNX Runtime run alike; bad cuts and heads are clear errors.
#include "toolkit/hybrid/hybrid.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "runtime/exec/session.h"
#include "tests/unit/test_util.h"
#include "toolkit/arch/zoo.h"
#include "toolkit/hybrid/cascade.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/oracle/oracle.h"

namespace pare {
namespace {

// Three classes decided by a noisy rule on six features; some features NaN (XGBoost's
// missing values, which the converted trees must route the same way).
void synthetic(int64_t n, uint64_t seed, Tensor* x, std::vector<int64_t>* y) {
    *x = Tensor::create(DType::kFloat32, {n, 6}).value();
    y->resize(static_cast<size_t>(n));
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g(0, 1);
    for (int64_t i = 0; i < n; ++i) {
        float* r = x->data<float>() + i * 6;
        for (int f = 0; f < 6; ++f) r[f] = g(rng);
        const float s = r[0] + 0.5f * r[1] * r[2] + 0.3f * g(rng);
        (*y)[static_cast<size_t>(i)] = s < -0.5f ? 0 : s < 0.5f ? 1 : 2;
        if (rng() % 10 == 0) r[rng() % 6] = NAN;
    }
}

TEST(Hybrid, XgboostHeadReproducesXgboostsMarginsInPareAndOnnxRuntime) {
    Tensor tx, vx;
    std::vector<int64_t> ty, vy;
    synthetic(2000, 1, &tx, &ty);
    synthetic(300, 2, &vx, &vy);
    BoostOptions o;
    o.rounds = 25;
    o.depth = 4;
    o.early_stopping = 0;
    Result<BoostResult> r = train_xgboost_head(tx, ty, vx, vy, 3, o);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r.value().rounds, 25);
    EXPECT_LT(r.value().val_error, 0.35);  // the rule is learnable; chance is 0.67
    ASSERT_EQ(r.value().margins.size(), 300u * 3);
    Node head = r.value().head;
    head.attrs.set("post_transform", Attribute::make_string("NONE"));  // raw margins
    Graph g;
    g.inputs = {test::value("X", DType::kFloat32, {300, 6})};
    g.outputs = {test::value("head_probabilities", DType::kFloat32, {300, 3})};
    g.nodes = {head};
    ASSERT_TRUE(g.resolve_ops().ok());
    for (bool reference : {false, true}) {
        SessionOptions so;
        so.reference = reference;
        Session s = Session::prepare(g, so).value();
        TensorMap out;
        ASSERT_TRUE(s.run({{"X", vx}}, &out).ok());
        const float* z = out.at("head_probabilities").data<float>();
        for (size_t i = 0; i < r.value().margins.size(); ++i)
            ASSERT_NEAR(z[i], r.value().margins[i], 1e-5 + 1e-5 * std::fabs(r.value().margins[i]))
                << "margin " << i << (reference ? " (reference)" : " (fast)");
    }
    // ONNX Runtime on the exported softmax head agrees with pare.
    g.nodes[0] = r.value().head;
    const auto dir = test::temp_dir("hybrid-xgb");
    const std::string path = (dir / "head.onnx").string();
    ASSERT_TRUE(export_onnx_file(g, path).ok());
    Result<std::vector<Tensor>> ort = run_onnxruntime(path, {{"X", vx}});
    ASSERT_TRUE(ort.ok()) << ort.status().message();
    Session s = Session::prepare(g).value();
    TensorMap out;
    ASSERT_TRUE(s.run({{"X", vx}}, &out).ok());
    EXPECT_LT(relative_l2(out.at("head_probabilities"), ort.value()[0]).value(), 1e-5);
    std::filesystem::remove_all(dir);
    // Bad input: labels out of range, mismatched features.
    std::vector<int64_t> bad = ty;
    bad[5] = 3;
    EXPECT_NE(train_xgboost_head(tx, bad, vx, vy, 3, o).status().message().find("label 3"),
              std::string::npos);
    Tensor narrow = Tensor::create(DType::kFloat32, {300, 5}).value();
    EXPECT_NE(train_xgboost_head(tx, ty, narrow, vy, 3, o).status().message().find("do not match"),
              std::string::npos);
}

Graph small_resnet() {
    ArchOptions a;
    a.in_channels = 1;
    a.input_size = 28;
    a.num_classes = 10;
    std::string name;
    ArchOptions o;
    EXPECT_TRUE(parse_arch_spec("resnet:layers=8,width=0.5", a, &name, &o).ok());
    return build_arch(name, o).value();
}

TEST(Hybrid, CutsFeaturesAndAHeadThatOnnxRuntimeRunsAlike) {
    const Graph g = small_resnet();
    Result<std::vector<CutPoint>> cuts = cut_candidates(g);
    ASSERT_TRUE(cuts.ok()) << cuts.status().message();
    int blocks = 0;
    for (size_t i = 0; i < cuts.value().size(); ++i) {
        const CutPoint& c = cuts.value()[i];
        if (i > 0) {
            EXPECT_GE(c.macs, cuts.value()[i - 1].macs);  // in execution order
        }
        blocks += c.value.find("block") != std::string::npos;
        // Inside a residual block the block's input is still alive: never a cut.
        EXPECT_EQ(c.value.find(".a."), std::string::npos) << c.value;
    }
    EXPECT_GE(blocks, 3);
    const CutPoint mid = cuts.value()[cuts.value().size() / 2];
    ASSERT_EQ(mid.shape.size(), 4u);

    // Features at two cuts in one pass, global and 2x2 pooling.
    FeatureOptions fo;
    Result<Graph> fg = feature_graph(g, {mid.value, cuts.value().back().value}, fo);
    ASSERT_TRUE(fg.ok()) << fg.status().message();
    const Tensor images = test::random_tensor({5, 1, 28, 28}, 3, 0, 1);
    Result<std::vector<Tensor>> feats = extract_features(fg.value(), images, 2);
    ASSERT_TRUE(feats.ok()) << feats.status().message();
    ASSERT_EQ(feats.value().size(), 2u);
    EXPECT_EQ(feats.value()[0].shape(), (Shape{5, mid.shape[1]}));

    // A logistic head (untrained weights: the arithmetic is what is checked) attached
    // at the cut: one graph, one [N, 10] output, pare and ONNX Runtime agree.
    std::vector<float> off, sc;
    feature_standardization(feats.value()[0], &off, &sc);
    const Graph lin = linear_head_graph(mid.shape[1], 10, 1);
    Result<std::vector<Node>> head = linear_head_from_trained(lin, off, sc);
    ASSERT_TRUE(head.ok()) << head.status().message();
    Result<Graph> hybrid = attach_head(g, mid.value, fo, head.value());
    ASSERT_TRUE(hybrid.ok()) << hybrid.status().message();
    ASSERT_EQ(hybrid.value().outputs.size(), 1u);
    EXPECT_EQ(hybrid.value().outputs[0].shape.back(), 10);
    const auto dir = test::temp_dir("hybrid");
    const std::string path = (dir / "hybrid.onnx").string();
    ASSERT_TRUE(export_onnx_file(hybrid.value(), path).ok());
    ImportOptions io;
    io.dim_values["N"] = 3;
    Result<OracleReport> rep = compare_with_onnxruntime(path, io, OracleOptions());
    ASSERT_TRUE(rep.ok()) << rep.status().message();
    EXPECT_LT(rep.value().worst_rel_l2, 1e-5);
    std::filesystem::remove_all(dir);

    // Bad cuts and heads.
    EXPECT_NE(feature_graph(g, {"no_such_layer"}, fo).status().message().find("no node or value"),
              std::string::npos);
    FeatureOptions p3;
    p3.pool = 3;  // 28x28 or 7x7 planes: not always divisible
    Status s = feature_graph(g, {cuts.value()[2].value}, p3).status();
    if (cuts.value()[2].shape[2] % 3 != 0) {
        EXPECT_NE(s.message().find("does not divide"), std::string::npos) << s.message();
    }
    std::vector<float> off2(off.size() + 1, 0), sc2(sc.size() + 1, 1);
    const Graph wide = linear_head_graph(mid.shape[1] + 1, 10, 1);
    Result<std::vector<Node>> wrong = linear_head_from_trained(wide, off2, sc2);
    ASSERT_TRUE(wrong.ok());
    Status w = attach_head(g, mid.value, fo, wrong.value()).status();
    EXPECT_NE(w.message().find("does not fit"), std::string::npos) << w.message();
}

}  // namespace
}  // namespace pare

namespace pare {
namespace {

Graph zoo(const std::string& spec, int64_t classes) {
    ArchOptions a;
    a.in_channels = 1;
    a.input_size = 28;
    a.num_classes = classes;
    std::string name;
    ArchOptions o;
    EXPECT_TRUE(parse_arch_spec(spec, a, &name, &o).ok());
    return build_arch(name, o).value();
}

// One image at a time through a prepared model: its probabilities.
Tensor probabilities_of(const Graph& model, const Tensor& images) {
    std::vector<Tensor> out = extract_features(model, images).value();
    return as_probabilities(out[0]);
}

TEST(Cascade, IfGraphRunsTheBranchTheThresholdPicksInPareAndOnnxRuntime) {
    const Graph small = zoo("lenet5", 10), large = zoo("resnet:layers=8,width=0.5", 10);
    const int64_t n = 12;
    const Tensor images = test::random_tensor({n, 1, 28, 28}, 5, 0, 1);
    const Tensor ps = probabilities_of(small, images), pl = probabilities_of(large, images);
    std::vector<float> conf;
    for (int64_t i = 0; i < n; ++i)
        conf.push_back(
            *std::max_element(ps.data<float>() + i * 10, ps.data<float>() + i * 10 + 10));
    std::vector<float> sorted = conf;
    std::sort(sorted.begin(), sorted.end());
    const float threshold = sorted[n / 2];  // half the images to each branch
    Result<Graph> c = build_cascade(small, large, threshold);
    ASSERT_TRUE(c.ok()) << c.status().message();
    // Through an ONNX file and back: the importer's If, then pare's executor.
    const auto dir = test::temp_dir("cascade");
    const std::string path = (dir / "cascade.onnx").string();
    ASSERT_TRUE(export_onnx_file(c.value(), path).ok());
    Result<Graph> back = import_onnx_file(path);
    ASSERT_TRUE(back.ok()) << back.status().message();
    Session s = Session::prepare(back.value()).value();
    bool saw_if = false;
    for (const auto& p : s.plan()) saw_if |= p.op == "If" && p.kernel.rfind("if (", 0) == 0;
    EXPECT_TRUE(saw_if);
    Tensor x = Tensor::create(DType::kFloat32, {1, 1, 28, 28}).value();
    int branches[2] = {0, 0};
    Tensor mine = Tensor::create(DType::kFloat32, {n, 10}).value();
    for (int64_t i = 0; i < n; ++i) {
        std::memcpy(x.data<float>(), images.data<float>() + i * 784, 784 * sizeof(float));
        TensorMap out;
        ASSERT_TRUE(s.run({{back.value().inputs[0].name, x}}, &out).ok());
        const Tensor& p = out.begin()->second;
        const bool unsure = conf[static_cast<size_t>(i)] < threshold;
        ++branches[unsure];
        const float* want = (unsure ? pl : ps).data<float>() + i * 10;
        for (int k = 0; k < 10; ++k)
            ASSERT_NEAR(p.data<float>()[k], want[k], 1e-5) << "image " << i << " class " << k;
        std::memcpy(mine.data<float>() + i * 10, p.data<float>(), 10 * sizeof(float));
    }
    EXPECT_GT(branches[0], 0);
    EXPECT_GT(branches[1], 0);
    // ONNX Runtime runs the same file, one image per run.
    std::vector<double> ms;
    Result<std::vector<Tensor>> ort =
        run_onnxruntime_per_example(path, {{back.value().inputs[0].name, images}}, 1, &ms);
    ASSERT_TRUE(ort.ok()) << ort.status().message();
    EXPECT_EQ(ms.size(), static_cast<size_t>(n));
    EXPECT_LT(relative_l2(mine, ort.value()[0]).value(), 1e-5);
    std::filesystem::remove_all(dir);
    // A cut at a value that is not a feature tensor (the cascade's bool condition).
    Status not_features = feature_graph(c.value(), {"cascade/unsure"}, FeatureOptions()).status();
    EXPECT_NE(not_features.message().find("not a float feature map"), std::string::npos)
        << not_features.message();
    // Models that do not fit together.
    Status bad = build_cascade(small, zoo("lenet5", 5), 0.5f).status();
    EXPECT_NE(bad.message().find("10 classes and the large model 5"), std::string::npos)
        << bad.message();
}

TEST(Cascade, ThresholdIsTheCheapestWithinTheBudget) {
    // Four examples, labels 0: the small model is right when it is sure.
    const std::vector<int64_t> labels = {0, 0, 0, 0};
    auto probs = [](std::vector<std::vector<float>> rows) {
        std::vector<float> v;
        for (auto& r : rows) v.insert(v.end(), r.begin(), r.end());
        return Tensor::from_vector<float>(v, {static_cast<int64_t>(rows.size()), 2})
            .reshaped({static_cast<int64_t>(rows.size()), 2})
            .value();
    };
    const Tensor small = probs({{0.95f, 0.05f}, {0.9f, 0.1f}, {0.4f, 0.6f}, {0.45f, 0.55f}});
    const Tensor large = probs({{0.9f, 0.1f}, {0.9f, 0.1f}, {0.8f, 0.2f}, {0.3f, 0.7f}});
    // The large model: 3 of 4. Within 0 points: the two unsure examples go to it.
    ThresholdChoice c = tune_threshold(small, large, labels, 0.0);
    ASSERT_TRUE(c.met);
    EXPECT_DOUBLE_EQ(c.large_accuracy, 0.75);
    EXPECT_DOUBLE_EQ(c.small_accuracy, 0.5);
    EXPECT_DOUBLE_EQ(c.point.accuracy, 0.75);
    EXPECT_DOUBLE_EQ(c.point.large_fraction, 0.5);
    EXPECT_GT(c.point.threshold, 0.6);
    EXPECT_LE(c.point.threshold, 0.9);
    // Within 25 points the small model may answer everything.
    c = tune_threshold(small, large, labels, 25.0);
    EXPECT_DOUBLE_EQ(c.point.large_fraction, 0.0);
    // A budget no threshold meets: not met, the most accurate point reported.
    c = tune_threshold(small, large, labels, -10.0);
    EXPECT_FALSE(c.met);
    EXPECT_DOUBLE_EQ(c.point.accuracy, 0.75);
}

}  // namespace
}  // namespace pare
