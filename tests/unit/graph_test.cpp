#include <gtest/gtest.h>

#include "runtime/ir/passes/passes.h"
#include "test_util.h"

using namespace pare;
using namespace pare::test;

namespace {

Graph chain() {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {2, 3})};
    g.outputs = {value("z", DType::kFloat32, {2, 3})};
    g.nodes.push_back(make_node("Relu", {"y"}, {"z"}));  // out of order on purpose
    g.nodes.push_back(make_node("Neg", {"x"}, {"y"}));
    return g;
}

}  // namespace

TEST(Graph, TopoSortOrdersProducersFirst) {
    Graph g = chain();
    ASSERT_TRUE(verify(g).ok());
    ASSERT_TRUE(g.topo_sort().ok());
    EXPECT_EQ(g.nodes[0].op_type, "Neg");
    EXPECT_EQ(g.nodes[1].op_type, "Relu");
}

TEST(Graph, VerifierNamesAnUndefinedInput) {
    Graph g = chain();
    g.nodes[0].inputs[0] = "nowhere";
    Status s = verify(g);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("\"nowhere\""), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("Relu"), std::string::npos) << s.message();
}

TEST(Graph, VerifierFindsCyclesAndDuplicateOutputs) {
    Graph g = chain();
    g.nodes[1].inputs[0] = "z";  // Neg(z) -> y -> Relu -> z
    Status s = verify(g);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();

    Graph d = chain();
    d.nodes.push_back(make_node("Abs", {"x"}, {"y"}));
    EXPECT_FALSE(verify(d).ok());
}

// Found by the fuzzer: a node without outputs reached shape inference and crashed it.
TEST(Graph, NodeWithoutOutputsIsRejected) {
    Graph g = chain();
    g.nodes.push_back(make_node("Shape", {"x"}, {}));
    Status s = verify(g);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("has no output"), std::string::npos) << s.message();
    EXPECT_FALSE(infer_shapes(g).ok());
    std::vector<Tensor> out;
    Tensor x = Tensor::create(DType::kFloat32, {2, 3}).value();
    EXPECT_FALSE(run_node(g.nodes.back(), {&x}, &out).ok());
}

TEST(Graph, ResolveOpsReportsUnsupportedOp) {
    Graph g = chain();
    g.nodes[0].op_type = "FancyOp";
    Status s = g.resolve_ops();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    EXPECT_NE(s.message().find("FancyOp"), std::string::npos);
}

TEST(Graph, SessionChecksInputShapeAndDtype) {
    Result<Session> s = Session::prepare(chain());
    ASSERT_TRUE(s.ok());
    TensorMap out;
    Status bad_shape =
        s.value().run({{"x", Tensor::create(DType::kFloat32, {3, 2}).value()}}, &out);
    EXPECT_FALSE(bad_shape.ok());
    EXPECT_NE(bad_shape.message().find("expected shape [2,3]"), std::string::npos)
        << bad_shape.message();
    Status bad_type = s.value().run({{"x", Tensor::create(DType::kInt64, {2, 3}).value()}}, &out);
    EXPECT_NE(bad_type.message().find("expected dtype float32"), std::string::npos)
        << bad_type.message();
    Tensor x = Tensor::from_vector<float>({-1, 2, -3, 4, -5, 6}, {2, 3});
    ASSERT_TRUE(s.value().run({{"x", x}}, &out).ok());
    EXPECT_EQ(out["z"].data<float>()[0], 1.0f);  // relu(-(-1))
    EXPECT_EQ(out["z"].data<float>()[1], 0.0f);
}
