// Hand-computed goldens for the reference kernels, and shape-inference errors.
// (The ONNX conformance suite covers every op more broadly.)
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/ops/op.h"
#include "test_util.h"

using namespace pare;
using namespace pare::test;

namespace {

// Runs a single node on the given inputs; returns output 0.
Tensor run1(const std::string& op, std::vector<Tensor> ins, Attributes attrs = {},
            Status* status = nullptr) {
    Node n = make_node(op, {}, {"y"}, attrs);
    std::vector<const Tensor*> ptrs;
    for (size_t i = 0; i < ins.size(); ++i) {
        n.inputs.push_back(ins[i].defined() ? "i" + std::to_string(i) : "");
        ptrs.push_back(ins[i].defined() ? &ins[i] : nullptr);
    }
    std::vector<Tensor> out;
    Status s = run_node(n, ptrs, &out);
    if (status) *status = s;
    if (!status) {
        EXPECT_TRUE(s.ok()) << s.message();
    }
    return s.ok() ? out[0] : Tensor();
}

std::vector<float> values(const Tensor& t) {
    std::vector<float> v;
    for (int64_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<float>(t.at_double(i)));
    return v;
}

Attributes attrs_ints(std::initializer_list<std::pair<std::string, std::vector<int64_t>>> l) {
    Attributes a;
    for (const auto& kv : l) a.set(kv.first, Attribute::make_ints(kv.second));
    return a;
}

Tensor iota(Shape s) {
    Tensor t = Tensor::create(DType::kFloat32, s).value();
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i + 1);
    return t;
}

}  // namespace

TEST(Ops, ConvValidAndPaddedStrided) {
    Tensor x = iota({1, 1, 3, 3});  // 1..9
    Tensor w = Tensor::from_vector<float>({1, 1, 1, 1}, {1, 1, 2, 2});
    EXPECT_EQ(values(run1("Conv", {x, w})), (std::vector<float>{12, 16, 24, 28}));
    Tensor y = run1("Conv", {x, w}, attrs_ints({{"pads", {1, 1, 1, 1}}, {"strides", {2, 2}}}));
    EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
    EXPECT_EQ(values(y), (std::vector<float>{1, 5, 11, 28}));
}

TEST(Ops, DepthwiseConvWithBiasAndSamePadding) {
    Tensor x = iota({1, 2, 2, 2});  // channel 0: 1..4, channel 1: 5..8
    Tensor w = Tensor::from_vector<float>({1, 0, 0, 0, 0, 0, 0, 2}, {2, 1, 2, 2});
    Tensor b = Tensor::from_vector<float>({10, 20}, {2});
    Attributes a;
    a.set("group", Attribute::make_int(2));
    a.set("auto_pad", Attribute::make_string("SAME_UPPER"));
    Tensor y = run1("Conv", {x, w, b}, a);
    ASSERT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
    // SAME_UPPER pads at the end: channel 0 picks x[i][j]; channel 1 picks 2*x[i+1][j+1].
    EXPECT_EQ(values(y), (std::vector<float>{11, 12, 13, 14, 36, 20, 20, 20}));
}

TEST(Ops, ConvChannelMismatchIsAClearError) {
    Status s;
    run1("Conv", {iota({1, 3, 4, 4}), iota({8, 2, 3, 3})}, {}, &s);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("input has 3 channels"), std::string::npos) << s.message();
}

// Ops given fewer inputs than they need (a fuzzed file's MaxPool with none) fail
// cleanly instead of reading past the inputs.
TEST(Ops, MissingRequiredInputsAreClearErrors) {
    const std::vector<std::pair<std::string, std::vector<Tensor>>> cases = {
        {"MaxPool", {}},
        {"AveragePool", {}},
        {"Softmax", {}},
        {"Resize", {}},
        {"Conv", {iota({1, 1, 3, 3})}},
        {"ConvTranspose", {iota({1, 1, 3, 3})}},
        {"Gemm", {iota({2, 2})}},
        {"BatchNormalization", {iota({1, 2, 2, 2})}}};
    for (const auto& [op, inputs] : cases) {
        Status s;
        run1(op, inputs, {}, &s);
        ASSERT_FALSE(s.ok()) << op;
        EXPECT_NE(s.message().find("is missing"), std::string::npos) << op << ": " << s.message();
    }
}

TEST(Ops, GemmTransposeAlphaBeta) {
    Tensor a = Tensor::from_vector<float>({1, 2}, {1, 2});
    Tensor b = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {3, 2});  // transB: (N=3, K=2)
    Tensor c = Tensor::from_vector<float>({1, 1, 1}, {3});
    Attributes at;
    at.set("transB", Attribute::make_int(1));
    at.set("alpha", Attribute::make_float(2));
    at.set("beta", Attribute::make_float(0.5));
    EXPECT_EQ(values(run1("Gemm", {a, b, c}, at)), (std::vector<float>{10.5f, 22.5f, 34.5f}));
}

TEST(Ops, MatMulBroadcastsBatchAndPromotes1D) {
    Tensor y = run1("MatMul", {iota({2, 1, 2, 3}), iota({3, 4})});
    EXPECT_EQ(y.shape(), (Shape{2, 1, 2, 4}));
    EXPECT_EQ(y.data<float>()[0], 1 * 1 + 2 * 5 + 3 * 9);
    Tensor v = run1("MatMul", {iota({3}), iota({3, 2})});
    EXPECT_EQ(v.shape(), (Shape{2}));
    EXPECT_EQ(values(v), (std::vector<float>{1 * 1 + 2 * 3 + 3 * 5, 1 * 2 + 2 * 4 + 3 * 6}));
}

TEST(Ops, SoftmaxAndLogSoftmax) {
    Tensor x = Tensor::from_vector<float>({1, 2, 3}, {1, 3});
    std::vector<float> y = values(run1("Softmax", {x}));
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    EXPECT_NEAR(y[0], std::exp(1.0) / z, 1e-7);
    EXPECT_NEAR(y[2], std::exp(3.0) / z, 1e-7);
    EXPECT_NEAR(values(run1("LogSoftmax", {x}))[1], 2 - std::log(z), 1e-6);
}

TEST(Ops, SliceNegativeStepClampsLikeNumpy) {
    Tensor x = iota({10});  // 1..10
    Tensor y = run1("Slice", {x, Tensor::from_vector<int64_t>({-1}, {1}),
                              Tensor::from_vector<int64_t>({INT64_MIN}, {1}), Tensor(),
                              Tensor::from_vector<int64_t>({-3}, {1})});
    EXPECT_EQ(values(y), (std::vector<float>{10, 7, 4, 1}));
}

TEST(Ops, PadReflectEdgeConstant) {
    Tensor x = Tensor::from_vector<float>({1, 2, 3}, {3});
    Tensor pads = Tensor::from_vector<int64_t>({2, 2}, {2});
    Attributes reflect;
    reflect.set("mode", Attribute::make_string("reflect"));
    EXPECT_EQ(values(run1("Pad", {x, pads}, reflect)), (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
    Attributes edge;
    edge.set("mode", Attribute::make_string("edge"));
    EXPECT_EQ(values(run1("Pad", {x, pads}, edge)), (std::vector<float>{1, 1, 1, 2, 3, 3, 3}));
    EXPECT_EQ(values(run1("Pad", {x, pads, Tensor::from_vector<float>({7}, {})})),
              (std::vector<float>{7, 7, 1, 2, 3, 7, 7}));
}

TEST(Ops, ResizeNearestAndLinear) {
    Tensor x = Tensor::from_vector<float>({1, 2}, {1, 1, 1, 2});
    Tensor scales = Tensor::from_vector<float>({1, 1, 1, 2}, {4});
    Attributes nearest;
    nearest.set("coordinate_transformation_mode", Attribute::make_string("asymmetric"));
    nearest.set("nearest_mode", Attribute::make_string("floor"));
    EXPECT_EQ(values(run1("Resize", {x, Tensor(), scales}, nearest)),
              (std::vector<float>{1, 1, 2, 2}));
    Attributes linear;
    linear.set("mode", Attribute::make_string("linear"));
    // half_pixel: x_src = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped at the edges)
    EXPECT_EQ(values(run1("Resize", {x, Tensor(), scales}, linear)),
              (std::vector<float>{1, 1.25f, 1.75f, 2}));
}

TEST(Ops, ResizeOfAnEmptyAxisIsAnError) {
    Status s;
    run1("Resize",
         {Tensor::create(DType::kFloat32, {1, 1, 0, 2}).value(), Tensor(), Tensor(),
          Tensor::from_vector<int64_t>({1, 1, 3, 2}, {4})},
         {}, &s);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("empty axis"), std::string::npos) << s.message();
}

TEST(Ops, GatherNegativeIndicesAndOutOfRange) {
    Tensor x = iota({3, 2});
    Tensor y = run1("Gather", {x, Tensor::from_vector<int64_t>({-1, 0}, {2})});
    EXPECT_EQ(values(y), (std::vector<float>{5, 6, 1, 2}));
    Status s;
    run1("Gather", {x, Tensor::from_vector<int64_t>({3}, {1})}, {}, &s);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("out of range"), std::string::npos);
}

TEST(Ops, IntegerDivisionByZeroDoesNotTrap) {
    Tensor a = Tensor::from_vector<int64_t>({7, INT64_MIN, 9}, {3});
    Tensor b = Tensor::from_vector<int64_t>({2, -1, 0}, {3});
    Tensor y = run1("Div", {a, b});
    EXPECT_EQ(y.data<int64_t>()[0], 3);
    EXPECT_EQ(y.data<int64_t>()[2], 0);
}

TEST(Ops, ReshapeInfersMinusOneAndRejectsBadCounts) {
    Tensor y = run1("Reshape", {iota({2, 3, 4}), Tensor::from_vector<int64_t>({0, -1}, {2})});
    EXPECT_EQ(y.shape(), (Shape{2, 12}));
    Status s;
    run1("Reshape", {iota({2, 3}), Tensor::from_vector<int64_t>({4, -1}, {2})}, {}, &s);
    EXPECT_FALSE(s.ok());
}

TEST(Ops, CastSaturatesAndHandlesFloat16) {
    Tensor x = Tensor::from_vector<float>({1.7f, -300.0f, NAN, 0.5f}, {4});
    Attributes to_i8;
    to_i8.set("to", Attribute::make_int(static_cast<int64_t>(DType::kInt8)));
    Tensor y = run1("Cast", {x}, to_i8);
    EXPECT_EQ(y.data<int8_t>()[0], 1);
    EXPECT_EQ(y.data<int8_t>()[1], -128);
    EXPECT_EQ(y.data<int8_t>()[2], 0);
    Attributes to_f16;
    to_f16.set("to", Attribute::make_int(static_cast<int64_t>(DType::kFloat16)));
    Tensor h = run1("Cast", {x}, to_f16);
    EXPECT_EQ(h.data<uint16_t>()[3], 0x3800);  // 0.5
}

TEST(Ops, PoolingCeilModeAndCountIncludePad) {
    Tensor x = iota({1, 1, 3, 3});
    Attributes a = attrs_ints({{"kernel_shape", {2, 2}}, {"strides", {2, 2}}});
    a.set("ceil_mode", Attribute::make_int(1));
    EXPECT_EQ(values(run1("MaxPool", {x}, a)), (std::vector<float>{5, 6, 8, 9}));
    Attributes avg = attrs_ints({{"kernel_shape", {2, 2}}, {"pads", {1, 1, 0, 0}}});
    EXPECT_EQ(values(run1("AveragePool", {x}, avg))[0], 1.0f);  // only x[0][0] is inside
    avg.set("count_include_pad", Attribute::make_int(1));
    EXPECT_EQ(values(run1("AveragePool", {x}, avg))[0], 0.25f);
}

// Found by the fuzzer: a scalar shape input made ConstantOfShape read shape[0] of a rank-0 shape.
TEST(Ops, ShapeInputsMustBeOneDimensionalAndBounded) {
    Node n = make_node("ConstantOfShape", {"s"}, {"y"});
    InferContext ctx{n, {ValueMeta{DType::kInt64, true, {}, nullptr}}, std::vector<ValueMeta>(1)};
    Status s = op_def(n.op).infer(ctx);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("must be 1-D"), std::string::npos) << s.message();
    InferContext huge{n,
                      {ValueMeta{DType::kInt64, true, {int64_t{1} << 40}, nullptr}},
                      std::vector<ValueMeta>(1)};
    EXPECT_FALSE(op_def(n.op).infer(huge).ok());
    Node u = make_node("Unsqueeze", {"x", "axes"}, {"y"});
    InferContext uc{u,
                    {ValueMeta{DType::kFloat32, false, {}, nullptr},
                     ValueMeta{DType::kInt64, true, {}, nullptr}},
                    std::vector<ValueMeta>(1)};
    EXPECT_FALSE(op_def(u.op).infer(uc).ok());
}
