// The executor: kernels chosen and activations fused at prepare, the memory plan
// (arena, views, in place), threads; always against the reference kernels.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/exec/session.h"
#include "test_util.h"

using namespace pare;
using namespace pare::test;

namespace {

Attributes conv_attrs(int64_t pad, int64_t group = 1) {
    Attributes a;
    a.set("pads", Attribute::make_ints({pad, pad, pad, pad}));
    a.set("group", Attribute::make_int(group));
    return a;
}

// x[1,4,12,12] -> conv3x3 -> relu -> conv1x1 -> clip(0,6) -> add(x') -> depthwise
// conv -> hardswish -> reshape -> sigmoid: fusable pairs, a residual, a view, and
// elementwise ops that can work in place.
Graph small_net(const std::string& batch_dim = "") {
    Graph g;
    ValueInfo x = value("x", DType::kFloat32, {1, 4, 12, 12});
    if (!batch_dim.empty()) {
        x.shape[0] = -1;
        x.dim_params[0] = batch_dim;
    }
    g.inputs.push_back(x);
    g.initializers["w1"] = random_tensor({8, 4, 3, 3}, 1, -0.3f, 0.3f);
    g.initializers["b1"] = random_tensor({8}, 2);
    g.initializers["w2"] = random_tensor({4, 8, 1, 1}, 3, -0.5f, 0.5f);
    g.initializers["w3"] = random_tensor({4, 1, 3, 3}, 4);
    g.initializers["lo"] = Tensor::from_vector<float>({0.0f}, {});
    g.initializers["hi"] = Tensor::from_vector<float>({6.0f}, {});
    g.initializers["shape"] = Tensor::from_vector<int64_t>({0, -1}, {2});
    g.nodes.push_back(make_node("Conv", {"x", "w1", "b1"}, {"c1"}, conv_attrs(1)));
    g.nodes.push_back(make_node("Relu", {"c1"}, {"r1"}));
    g.nodes.push_back(make_node("Conv", {"r1", "w2"}, {"c2"}, conv_attrs(0)));
    g.nodes.push_back(make_node("Clip", {"c2", "lo", "hi"}, {"k2"}));
    g.nodes.push_back(make_node("Add", {"k2", "x"}, {"a"}));
    g.nodes.push_back(make_node("Conv", {"a", "w3"}, {"d"}, conv_attrs(1, 4)));
    g.nodes.push_back(make_node("HardSwish", {"d"}, {"h"}));
    g.nodes.push_back(make_node("Reshape", {"h", "shape"}, {"f"}));
    g.nodes.push_back(make_node("Sigmoid", {"f"}, {"y"}));
    g.outputs.push_back(value("y", DType::kFloat32, {1, 576}));
    return g;
}

TensorMap run_with(const Graph& g, const SessionOptions& opt, const TensorMap& in,
                   Session* keep = nullptr) {
    Result<Session> s = Session::prepare(g, opt);
    EXPECT_TRUE(s.ok()) << s.status().message();
    TensorMap out;
    if (!s.ok()) return out;
    Status st = s.value().run(in, &out);
    EXPECT_TRUE(st.ok()) << st.message();
    if (keep) *keep = std::move(s).value();
    return out;
}

double rel_l2(const Tensor& a, const Tensor& b) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const double d = a.data<float>()[i] - b.data<float>()[i];
        num += d * d;
        den += static_cast<double>(b.data<float>()[i]) * b.data<float>()[i];
    }
    return std::sqrt(num / den);
}

}  // namespace

TEST(Executor, FusesActivationsAndPlansMemoryAndMatchesTheReference) {
    const Graph g = small_net();
    const TensorMap in = {{"x", random_tensor({1, 4, 12, 12}, 9)}};
    SessionOptions ref_opt;
    ref_opt.reference = true;
    const TensorMap want = run_with(g, ref_opt, in);
    Session s;
    const TensorMap got = run_with(g, {}, in, &s);
    ASSERT_EQ(got.at("y").shape(), want.at("y").shape());
    EXPECT_LT(rel_l2(got.at("y"), want.at("y")), 1e-6);

    // Every convolution absorbed its activation: two GEMM ones and the depthwise one.
    int fused = 0, dw = 0;
    for (const PlanStep& p : s.plan()) {
        if (!p.fused.empty()) {
            ++fused;
            EXPECT_EQ(p.op, "Conv");
            EXPECT_NE(p.kernel.find("+" + std::string(p.fused == "HardSwish_h" ? "hardswish"
                                                      : p.fused == "Relu_r1"   ? "relu"
                                                                               : "clip")),
                      std::string::npos)
                << p.kernel;
        }
        dw += p.kernel.find("f32_dwconv") != std::string::npos;
    }
    EXPECT_EQ(fused, 3);
    EXPECT_EQ(dw, 1);
    EXPECT_EQ(s.plan().size(), g.nodes.size() - 3);

    const MemoryPlan& m = s.memory_plan();
    ASSERT_TRUE(m.planned);
    EXPECT_LT(m.arena_bytes, m.naive_bytes);
    EXPECT_GE(m.views, 1);     // the Reshape
    EXPECT_GE(m.in_place, 2);  // Add over k2, Sigmoid over f

    // A second run reuses the arena; the first run's outputs are untouched copies.
    TensorMap again;
    const Tensor first = got.at("y").clone();
    ASSERT_TRUE(s.run({{"x", random_tensor({1, 4, 12, 12}, 10)}}, &again).ok());
    EXPECT_EQ(max_abs_diff(got.at("y"), first), 0.0);
    EXPECT_GT(max_abs_diff(again.at("y"), first), 0.0);
    TensorMap third;
    ASSERT_TRUE(s.run(in, &third).ok());
    EXPECT_EQ(max_abs_diff(third.at("y"), got.at("y")), 0.0);
}

TEST(Executor, ResultsAreIdenticalForAnyThreadCount) {
    const Graph g = small_net();
    const TensorMap in = {{"x", random_tensor({1, 4, 12, 12}, 11)}};
    const TensorMap one = run_with(g, {}, in);
    for (int t : {2, 3}) {
        SessionOptions opt;
        opt.threads = t;
        Session s;
        const TensorMap many = run_with(g, opt, in, &s);
        EXPECT_EQ(s.threads(), t);
        EXPECT_EQ(max_abs_diff(many.at("y"), one.at("y")), 0.0) << t << " threads";
    }
}

TEST(Executor, UnboundDimsRunUnplannedWithTheSameKernels) {
    const Graph g = small_net("N");
    const TensorMap in = {{"x", random_tensor({1, 4, 12, 12}, 12)}};
    Session s;
    const TensorMap got = run_with(g, {}, in, &s);
    EXPECT_FALSE(s.memory_plan().planned);
    SessionOptions ref_opt;
    ref_opt.reference = true;
    const TensorMap want = run_with(small_net(), ref_opt, in);
    EXPECT_LT(rel_l2(got.at("y"), want.at("y")), 1e-6);
}

TEST(Executor, WithoutFusionTheActivationsRunAsTheirOwnNodes) {
    SessionOptions opt;
    opt.fuse = false;
    Result<Session> s = Session::prepare(small_net(), opt);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s.value().plan().size(), small_net().nodes.size());
    for (const PlanStep& p : s.value().plan()) EXPECT_TRUE(p.fused.empty());
}

TEST(Executor, FusesSiluWrittenAsMulOfSigmoid) {
    Graph g;
    g.inputs.push_back(value("x", DType::kFloat32, {1, 3, 10, 10}));
    g.initializers["w"] = random_tensor({6, 3, 3, 3}, 21);
    g.initializers["w2"] = random_tensor({6, 1, 3, 3}, 22);
    g.nodes.push_back(make_node("Conv", {"x", "w"}, {"c"}, conv_attrs(1)));
    g.nodes.push_back(make_node("Sigmoid", {"c"}, {"s"}));
    g.nodes.push_back(make_node("Mul", {"s", "c"}, {"m"}));  // either operand order
    g.nodes.push_back(make_node("Conv", {"m", "w2"}, {"d"}, conv_attrs(1, 6)));
    g.nodes.push_back(make_node("Sigmoid", {"d"}, {"t"}));
    g.nodes.push_back(make_node("Mul", {"d", "t"}, {"y"}));
    g.outputs.push_back(value("y", DType::kFloat32, {1, 6, 10, 10}));
    const TensorMap in = {{"x", random_tensor({1, 3, 10, 10}, 23, -4.0f, 4.0f)}};
    SessionOptions ref_opt;
    ref_opt.reference = true;
    const TensorMap want = run_with(g, ref_opt, in);
    Session s;
    const TensorMap got = run_with(g, {}, in, &s);
    ASSERT_EQ(s.plan().size(), 2u);
    for (const PlanStep& p : s.plan()) EXPECT_NE(p.kernel.find("+silu"), std::string::npos);
    EXPECT_LT(rel_l2(got.at("y"), want.at("y")), 1e-6);
    // A Sigmoid whose result is also used elsewhere is not part of a fusion.
    g.outputs.push_back(value("t", DType::kFloat32, {1, 6, 10, 10}));
    Result<Session> s2 = Session::prepare(g);
    ASSERT_TRUE(s2.ok());
    EXPECT_EQ(s2.value().plan().size(), 4u);
}

// PyTorch exports hardswish as Mul(v, HardSigmoid(v; alpha 1/6, beta 1/2)): fused as
// HardSwish; other HardSigmoid parameters make a plain HardSigmoid, fused alone when
// it is the only consumer and run by the vector kernel otherwise.
TEST(Executor, FusesHardSwishWrittenAsMulOfHardSigmoid) {
    Attributes hs;
    hs.set("alpha", Attribute::make_float(1.0f / 6.0f));
    hs.set("beta", Attribute::make_float(0.5f));
    Graph g;
    g.inputs.push_back(value("x", DType::kFloat32, {1, 3, 10, 10}));
    g.initializers["w"] = random_tensor({6, 3, 3, 3}, 31);
    g.initializers["w2"] = random_tensor({6, 1, 3, 3}, 32);
    g.nodes.push_back(make_node("Conv", {"x", "w"}, {"c"}, conv_attrs(1)));
    g.nodes.push_back(make_node("HardSigmoid", {"c"}, {"s"}, hs));
    g.nodes.push_back(make_node("Mul", {"c", "s"}, {"m"}));
    g.nodes.push_back(make_node("Conv", {"m", "w2"}, {"d"}, conv_attrs(1, 6)));
    g.nodes.push_back(make_node("HardSigmoid", {"d"}, {"y"}));  // default alpha 0.2
    g.outputs.push_back(value("y", DType::kFloat32, {1, 6, 10, 10}));
    const TensorMap in = {{"x", random_tensor({1, 3, 10, 10}, 33, -8.0f, 8.0f)}};
    SessionOptions ref_opt;
    ref_opt.reference = true;
    const TensorMap want = run_with(g, ref_opt, in);
    Session s;
    const TensorMap got = run_with(g, {}, in, &s);
    ASSERT_EQ(s.plan().size(), 2u);
    EXPECT_NE(s.plan()[0].kernel.find("+hardswish"), std::string::npos);
    EXPECT_NE(s.plan()[1].kernel.find("+hardsigmoid"), std::string::npos);
    EXPECT_LT(rel_l2(got.at("y"), want.at("y")), 1e-6);
}

// A skip connection: Add(Conv(...), r) with r computed before the Conv is done by
// the Conv's kernel as it stores, with the Relu after the Add; an Add whose other
// operand comes later is fused into that later Conv instead. Same results as the
// reference on 1 and 3 threads.
TEST(Executor, FusesResidualAddIntoTheConvBeforeIt) {
    Graph g;
    g.inputs.push_back(value("x", DType::kFloat32, {1, 8, 9, 9}));
    g.initializers["w1"] = random_tensor({8, 8, 3, 3}, 51);
    g.initializers["w2"] = random_tensor({8, 8, 3, 3}, 52);
    g.initializers["b2"] = random_tensor({8}, 53);
    g.initializers["w3"] = random_tensor({8, 8, 1, 1}, 54);
    g.nodes.push_back(make_node("Conv", {"x", "w1"}, {"c1"}, conv_attrs(1)));
    g.nodes.push_back(make_node("Relu", {"c1"}, {"r1"}));
    g.nodes.push_back(make_node("Conv", {"r1", "w2", "b2"}, {"c2"}, conv_attrs(1)));
    g.nodes.push_back(make_node("Add", {"x", "c2"}, {"s"}));  // residual first
    g.nodes.push_back(make_node("Relu", {"s"}, {"r2"}));
    g.nodes.push_back(make_node("Conv", {"r2", "w3"}, {"c3"}));
    g.nodes.push_back(make_node("Conv", {"r2", "w3"}, {"c4"}));
    g.nodes.push_back(make_node("Add", {"c3", "c4"}, {"y"}));  // c4's Conv fuses it
    g.outputs.push_back(value("y", DType::kFloat32, {1, 8, 9, 9}));
    const TensorMap in = {{"x", random_tensor({1, 8, 9, 9}, 55)}};
    SessionOptions ref_opt;
    ref_opt.reference = true;
    const TensorMap want = run_with(g, ref_opt, in);
    for (int t : {1, 3}) {
        SessionOptions opt;
        opt.threads = t;
        Session s;
        const TensorMap got = run_with(g, opt, in, &s);
        ASSERT_EQ(s.plan().size(), 4u);
        EXPECT_NE(s.plan()[1].kernel.find("+add+relu"), std::string::npos) << s.plan()[1].kernel;
        EXPECT_EQ(s.plan()[2].kernel.find("+add"), std::string::npos);
        EXPECT_NE(s.plan()[3].kernel.find("+add"), std::string::npos);
        EXPECT_LT(rel_l2(got.at("y"), want.at("y")), 1e-6) << t << " threads";
    }
}

// HardSwish written out as v * Clip(v + 3, 0, 6) / 6 (PaddlePaddle's export), with
// the division as Div by 6 or Mul by 1/6: four nodes fused into the Conv before.
TEST(Executor, FusesHardSwishWrittenOutAsAddClipMulDiv) {
    for (bool div : {true, false}) {
        Graph g;
        g.inputs.push_back(value("x", DType::kFloat32, {1, 3, 10, 10}));
        g.initializers["w"] = random_tensor({6, 3, 3, 3}, 41);
        g.initializers["three"] = Tensor::from_vector<float>({3.0f}, {});
        g.initializers["zero"] = Tensor::from_vector<float>({0.0f}, {});
        g.initializers["six"] = Tensor::from_vector<float>({6.0f}, {});
        g.initializers["sixth"] = Tensor::from_vector<float>({1.0f / 6.0f}, {});
        g.nodes.push_back(make_node("Conv", {"x", "w"}, {"c"}, conv_attrs(1)));
        g.nodes.push_back(make_node("Add", {"three", "c"}, {"a"}));
        g.nodes.push_back(make_node("Clip", {"a", "zero", "six"}, {"k"}));
        g.nodes.push_back(make_node("Mul", {"c", "k"}, {"m"}));
        g.nodes.push_back(div ? make_node("Div", {"m", "six"}, {"y"})
                              : make_node("Mul", {"m", "sixth"}, {"y"}));
        g.outputs.push_back(value("y", DType::kFloat32, {1, 6, 10, 10}));
        const TensorMap in = {{"x", random_tensor({1, 3, 10, 10}, 42, -4.0f, 4.0f)}};
        SessionOptions ref_opt;
        ref_opt.reference = true;
        const TensorMap want = run_with(g, ref_opt, in);
        Session s;
        const TensorMap got = run_with(g, {}, in, &s);
        ASSERT_EQ(s.plan().size(), 1u);
        EXPECT_NE(s.plan()[0].kernel.find("+hardswish"), std::string::npos);
        EXPECT_LT(rel_l2(got.at("y"), want.at("y")), 1e-6);
        // A Clip to other bounds is not HardSwish.
        g.initializers["six"] = Tensor::from_vector<float>({5.0f}, {});
        Result<Session> other = Session::prepare(g);
        ASSERT_TRUE(other.ok());
        EXPECT_GT(other.value().plan().size(), 1u);
    }
}
