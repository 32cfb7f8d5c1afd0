#include <cstring>
// Each pass, shown before and after on a small graph, with outputs unchanged.
#include <gtest/gtest.h>

#include "runtime/ir/passes/passes.h"
#include "runtime/ops/op_util.h"
#include "test_util.h"

using namespace pare;
using namespace pare::test;

namespace {

Attributes axis_attr(int64_t a) {
    Attributes at;
    at.set("axis", Attribute::make_int(a));
    return at;
}

// x[2,3,4] -> Shape -> Gather(0) -> Unsqueeze(0) -> Concat(.., [-1]) -> Reshape(x, ..) -> Relu
// The chain exporters emit for "x.view(x.size(0), -1)".
Graph shape_chain() {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {2, 3, 4})};
    g.outputs = {value("y", DType::kFloat32, {})};
    g.outputs[0].has_shape = false;
    g.initializers["zero"] = Tensor::from_vector<int64_t>({0}, {});
    g.initializers["axes0"] = Tensor::from_vector<int64_t>({0}, {1});
    g.initializers["minus1"] = Tensor::from_vector<int64_t>({-1}, {1});
    g.nodes.push_back(make_node("Shape", {"x"}, {"s"}));
    g.nodes.push_back(make_node("Gather", {"s", "zero"}, {"n"}, axis_attr(0)));
    g.nodes.push_back(make_node("Unsqueeze", {"n", "axes0"}, {"n1"}));
    g.nodes.push_back(make_node("Concat", {"n1", "minus1"}, {"spec"}, axis_attr(0)));
    g.nodes.push_back(make_node("Reshape", {"x", "spec"}, {"r"}));
    g.nodes.push_back(make_node("Relu", {"r"}, {"y"}));
    return g;
}

}  // namespace

TEST(Passes, ConstantFoldingRemovesShapeChains) {
    Graph g = shape_chain();
    Tensor x = random_tensor({2, 3, 4}, 1);
    TensorMap before = run_graph(g, {{"x", x}});
    ASSERT_EQ(g.nodes.size(), 6u);
    Result<int> folded = fold_constants(g);
    ASSERT_TRUE(folded.ok()) << folded.status().message();
    EXPECT_EQ(folded.value(), 4);  // Shape, Gather, Unsqueeze, Concat
    ASSERT_EQ(g.nodes.size(), 2u);
    EXPECT_EQ(g.nodes[0].op, OpKind::kReshape);
    ASSERT_TRUE(g.is_initializer(g.nodes[0].inputs[1]));
    EXPECT_EQ(to_int64s(g.initializers.at(g.nodes[0].inputs[1])), (std::vector<int64_t>{2, -1}));
    ASSERT_TRUE(infer_shapes(g).ok());
    EXPECT_EQ(g.value_info.at("r").shape, (Shape{2, 12}));
    TensorMap after = run_graph(g, {{"x", x}});
    EXPECT_EQ(max_abs_diff(before["y"], after["y"]), 0.0);
}

TEST(Passes, ConstantFoldingNeedsKnownShapes) {
    Graph g = shape_chain();
    g.inputs[0].shape = {-1, 3, 4};  // batch unknown: Shape cannot fold
    ASSERT_EQ(fold_constants(g).value(), 0);
    EXPECT_EQ(g.nodes.size(), 6u);
}

TEST(Passes, DeadCodeEliminationDropsUnusedNodesAndInitializers) {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {4})};
    g.outputs = {value("y", DType::kFloat32, {4})};
    g.initializers["unused"] = Tensor::from_vector<float>({1, 2}, {2});
    g.initializers["w"] = Tensor::from_vector<float>({1, 2, 3, 4}, {4});
    g.nodes.push_back(make_node("Mul", {"x", "w"}, {"y"}));
    g.nodes.push_back(make_node("Exp", {"x"}, {"dead1"}));
    g.nodes.push_back(make_node("Neg", {"dead1"}, {"dead2"}));
    EXPECT_EQ(eliminate_dead_code(g).value(), 2);
    EXPECT_EQ(g.nodes.size(), 1u);
    EXPECT_FALSE(g.is_initializer("unused"));
    EXPECT_TRUE(g.is_initializer("w"));
}

TEST(Passes, IdentityAndDropoutRemovalKeepsOutputNames) {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {3})};
    g.outputs = {value("out", DType::kFloat32, {3})};
    g.nodes.push_back(make_node("Identity", {"x"}, {"a"}));
    g.nodes.push_back(make_node("Relu", {"a"}, {"b"}));
    g.nodes.push_back(make_node("Dropout", {"b"}, {"c"}));
    g.nodes.push_back(make_node("Identity", {"c"}, {"out"}));
    Tensor x = Tensor::from_vector<float>({-1, 0, 2}, {3});
    TensorMap before = run_graph(g, {{"x", x}});
    EXPECT_EQ(remove_identity(g).value(), 3);
    ASSERT_EQ(g.nodes.size(), 1u);
    EXPECT_EQ(g.nodes[0].op, OpKind::kRelu);
    EXPECT_EQ(g.nodes[0].inputs[0], "x");
    EXPECT_EQ(g.nodes[0].outputs[0], "out");
    TensorMap after = run_graph(g, {{"x", x}});
    EXPECT_EQ(max_abs_diff(before["out"], after["out"]), 0.0);
}

TEST(Passes, BatchNormFoldsIntoConvAndGemm) {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {1, 3, 5, 5})};
    g.outputs = {value("y", DType::kFloat32, {1, 4})};
    g.initializers["w"] = random_tensor({4, 3, 3, 3}, 2);
    g.initializers["b"] = random_tensor({4}, 3);
    for (const char* p : {"g", "beta", "mean"}) g.initializers[p] = random_tensor({4}, p[0]);
    g.initializers["var"] = random_tensor({4}, 5, 0.5f, 2.0f);
    g.initializers["fw"] = random_tensor({4, 4}, 6);
    for (const char* p : {"g2", "beta2", "mean2"}) g.initializers[p] = random_tensor({4}, p[0] + 7);
    g.initializers["var2"] = random_tensor({4}, 8, 0.5f, 2.0f);
    g.nodes.push_back(make_node("Conv", {"x", "w", "b"}, {"c"}));
    g.nodes.push_back(make_node("BatchNormalization", {"c", "g", "beta", "mean", "var"}, {"bn"}));
    g.nodes.push_back(make_node("GlobalAveragePool", {"bn"}, {"p"}));
    g.nodes.push_back(make_node("Flatten", {"p"}, {"f"}));
    Attributes tb;
    tb.set("transB", Attribute::make_int(1));
    g.nodes.push_back(make_node("Gemm", {"f", "fw"}, {"m"}, tb));
    g.nodes.push_back(
        make_node("BatchNormalization", {"m", "g2", "beta2", "mean2", "var2"}, {"y"}));
    Tensor x = random_tensor({1, 3, 5, 5}, 9);
    TensorMap before = run_graph(g, {{"x", x}});
    EXPECT_EQ(fold_affine(g).value(), 2);
    EXPECT_EQ(count_op(g, OpKind::kBatchNormalization), 0);
    ASSERT_TRUE(g.topo_sort().ok());
    TensorMap after = run_graph(g, {{"x", x}});
    EXPECT_LT(max_abs_diff(before["y"], after["y"]), 1e-5);
}

// Mul/Add/Sub/Div by constants after a Conv (as PaddlePaddle exports learnable
// affine layers): scalar and per-channel ([1,M,1,1], [M,1,1]) constants fold, the
// constant on either side of Mul and Add; a constant that broadcasts along another
// axis, or a Sub with the constant first, stays.
TEST(Passes, ConstantAffineOpsFoldIntoConv) {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {1, 3, 6, 6})};
    g.outputs = {value("y", DType::kFloat32, {1, 4, 6, 6})};
    g.initializers["w"] = random_tensor({4, 3, 3, 3}, 12);
    g.initializers["s"] = Tensor::from_vector<float>({1.7f}, {});
    g.initializers["t"] = random_tensor({1, 4, 1, 1}, 13);
    g.initializers["u"] = random_tensor({4, 1, 1}, 14, 0.5f, 2.0f);
    g.initializers["v"] = random_tensor({1, 1, 1, 6}, 15);  // along W: not per-channel
    g.initializers["k"] = Tensor::from_vector<float>({2.0f}, {});
    Attributes pads;
    pads.set("pads", Attribute::make_ints({1, 1, 1, 1}));
    g.nodes.push_back(make_node("Conv", {"x", "w"}, {"c"}, pads));
    g.nodes.push_back(make_node("Mul", {"s", "c"}, {"c1"}));
    g.nodes.push_back(make_node("Add", {"c1", "t"}, {"c2"}));
    g.nodes.push_back(make_node("Sub", {"c2", "t"}, {"c3"}));
    g.nodes.push_back(make_node("Div", {"c3", "u"}, {"c4"}));
    g.nodes.push_back(make_node("Add", {"v", "c4"}, {"c5"}));
    g.nodes.push_back(make_node("Sub", {"k", "c5"}, {"y"}));
    Tensor x = random_tensor({1, 3, 6, 6}, 16);
    TensorMap before = run_graph(g, {{"x", x}});
    EXPECT_EQ(fold_affine(g).value(), 4);
    EXPECT_EQ(g.nodes.size(), 3u);  // Conv, the Add along W, the Sub from a constant
    ASSERT_TRUE(g.topo_sort().ok());
    TensorMap after = run_graph(g, {{"x", x}});
    EXPECT_LT(max_abs_diff(before["y"], after["y"]), 1e-4);
}

TEST(Passes, BatchNormStaysWhenConvOutputHasOtherUsers) {
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {1, 1, 3, 3})};
    g.outputs = {value("y", DType::kFloat32, {1, 1, 3, 3}),
                 value("c", DType::kFloat32, {1, 1, 3, 3})};
    g.initializers["w"] = random_tensor({1, 1, 1, 1}, 1);
    for (const char* p : {"g", "beta", "mean"}) g.initializers[p] = random_tensor({1}, p[0]);
    g.initializers["var"] = Tensor::from_vector<float>({1}, {1});
    g.nodes.push_back(make_node("Conv", {"x", "w"}, {"c"}));
    g.nodes.push_back(make_node("BatchNormalization", {"c", "g", "beta", "mean", "var"}, {"y"}));
    EXPECT_EQ(fold_affine(g).value(), 0);
    EXPECT_EQ(count_op(g, OpKind::kBatchNormalization), 1);
}

TEST(Passes, FreeBatchDimRewritesBatchBakedReshapes) {
    // x[1,4,2,2] -> Reshape [1,2,2,2,2] -> Transpose -> Reshape [1,4,2,2]: a channel shuffle
    // exported at batch 1.
    Graph g;
    g.inputs = {value("x", DType::kFloat32, {1, 4, 2, 2})};
    g.outputs = {value("y", DType::kFloat32, {1, 4, 2, 2})};
    g.initializers["s5"] = Tensor::from_vector<int64_t>({1, 2, 2, 2, 2}, {5});
    g.initializers["s4"] = Tensor::from_vector<int64_t>({1, 4, 2, 2}, {4});
    Attributes perm;
    perm.set("perm", Attribute::make_ints({0, 2, 1, 3, 4}));
    g.nodes.push_back(make_node("Reshape", {"x", "s5"}, {"a"}));
    g.nodes.push_back(make_node("Transpose", {"a"}, {"b"}, perm));
    g.nodes.push_back(make_node("Reshape", {"b", "s4"}, {"y"}));
    Tensor x1 = random_tensor({1, 4, 2, 2}, 1);
    TensorMap one = run_graph(g, {{"x", x1}});
    EXPECT_EQ(free_batch_dim(g).value(), 2);
    EXPECT_EQ(g.inputs[0].shape[0], -1);
    Tensor x3 = random_tensor({3, 4, 2, 2}, 2);
    std::memcpy(x3.data<float>() + 16, x1.data<float>(), 16 * sizeof(float));  // example 1 = x1
    TensorMap three = run_graph(g, {{"x", x3}});
    ASSERT_EQ(three["y"].shape(), (Shape{3, 4, 2, 2}));
    for (int i = 0; i < 16; ++i)
        EXPECT_EQ(three["y"].data<float>()[16 + i], one["y"].data<float>()[i]);
}
