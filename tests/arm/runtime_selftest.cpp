// The runtime's self-test without gtest, for targets where only the runtime is
// built (aarch64 under qemu-user: make test-arm). Every optimized kernel of every
// ISA this CPU runs against the reference kernels across the tile sweep; the
// executor (fusion, memory plan, threads) against the reference; a .pare round
// trip. Prints one line per failure and a summary; exits non-zero on any failure.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/cpu/cpu.h"
#include "runtime/exec/session.h"
#include "runtime/format/pare_format.h"
#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/requantize.h"

using namespace pare;

namespace {

int g_checks = 0, g_failures = 0;

void check(bool ok, const std::string& what) {
    ++g_checks;
    if (!ok) {
        ++g_failures;
        std::printf("FAIL %s\n", what.c_str());
    }
}

Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1, float hi = 1) {
    Tensor t = Tensor::create(DType::kFloat32, s).value();
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
    return t;
}

// A tensor of random bytes from rng (any 8-bit dtype).
Tensor random_bytes(DType t, const Shape& shape, std::mt19937_64& rng) {
    Tensor r = Tensor::create(t, shape).value();
    for (int64_t i = 0; i < r.numel(); ++i) static_cast<uint8_t*>(r.raw())[i] = rng() & 0xff;
    return r;
}

// A scalar of type t (float32, or an 8-bit type holding v's integer).
Tensor scalar_tensor(DType t, double v) {
    Tensor r = Tensor::create(t, {}).value();
    if (t == DType::kFloat32) {
        r.data<float>()[0] = static_cast<float>(v);
    } else {
        static_cast<uint8_t*>(r.raw())[0] = static_cast<uint8_t>(static_cast<int>(v));
    }
    return r;
}

double rel_err(const float* got, const float* want, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; ++i) {
        num += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
        den += static_cast<double>(want[i]) * want[i];
    }
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

Node node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
          Attributes a = {}) {
    Node n;
    n.name = op + "_" + out[0];
    n.op_type = op;
    n.op = op_from_name(op, "");
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attrs = std::move(a);
    return n;
}

std::vector<const KernelTable*> tables() {
    std::vector<const KernelTable*> v;
    for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
        if (const KernelTable* t = kernels_for(i)) v.push_back(t);
    }
    return v;
}

void gemm_sweep() {
    for (const KernelTable* kt : tables()) {
        const int64_t t = kt->f32_gemm_mr, u = kt->f32_gemm_nr;
        for (int64_t M : {int64_t{1}, t - 1, t, t + 1, 2 * t + 3, int64_t{37}})
            for (int64_t N : {int64_t{1}, u - 1, u, u + 1, 2 * u + 3, int64_t{101}})
                for (int64_t K : {int64_t{1}, int64_t{7}, int64_t{257}}) {
                    if (M < 1 || N < 1) continue;
                    Tensor a = random_tensor({M, K}, M * 1000 + K),
                           b = random_tensor({K, N}, N + K);
                    std::vector<float> want(M * N), got(M * N);
                    for (int64_t m = 0; m < M; ++m)
                        for (int64_t n = 0; n < N; ++n) {
                            double s = 0;
                            for (int64_t k = 0; k < K; ++k)
                                s += a.data<float>()[m * K + k] *
                                     static_cast<double>(b.data<float>()[k * N + n]);
                            want[m * N + n] = std::max(0.0, s);
                        }
                    std::vector<float> packed(f32_packed_a_size(M, K, kt->f32_gemm_mr));
                    f32_pack_a(M, K, a.data<float>(), K, kt->f32_gemm_mr, packed.data());
                    kt->f32_gemm_packed({packed.data(), M, K, kt->f32_gemm_mr}, 0, M, N,
                                        {b.data<float>(), N}, got.data(), N, nullptr, nullptr,
                                        {Activation::kRelu});
                    check(rel_err(got.data(), want.data(), M * N) < 1e-5,
                          std::string(kt->f32_gemm_name) + " " + std::to_string(M) + "x" +
                              std::to_string(N) + "x" + std::to_string(K));
                }
    }
}

void conv_sweep() {
    struct Case {
        Shape x, w;
        int64_t stride, pad, group;
    };
    const std::vector<Case> cases = {
        {{1, 3, 9, 9}, {5, 3, 3, 3}, 1, 1, 1},   {{2, 4, 10, 7}, {6, 4, 3, 3}, 2, 1, 1},
        {{1, 8, 6, 6}, {16, 8, 1, 1}, 1, 0, 1},  {{1, 6, 17, 16}, {6, 1, 3, 3}, 1, 1, 6},
        {{1, 5, 33, 31}, {5, 1, 5, 5}, 2, 2, 5}, {{1, 4, 15, 15}, {4, 1, 3, 3}, 2, 0, 4},
    };
    int seed = 1;
    for (const Case& c : cases) {
        Attributes a;
        a.set("strides", Attribute::make_ints({c.stride, c.stride}));
        a.set("pads", Attribute::make_ints({c.pad, c.pad, c.pad, c.pad}));
        a.set("group", Attribute::make_int(c.group));
        Node n = node("Conv", {"x", "w", "b"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               b = random_tensor({c.w[0]}, ++seed);
        std::vector<Tensor> ref, fast;
        check(run_node(n, {&x, &w, &b}, &ref, true).ok(), "reference conv");
        check(run_node(n, {&x, &w, &b}, &fast, false).ok(), "fast conv");
        check(rel_err(fast[0].data<float>(), ref[0].data<float>(), ref[0].numel()) < 1e-5,
              "conv " + shape_str(c.x) + " * " + shape_str(c.w));
        Attributes p;
        p.set("kernel_shape", Attribute::make_ints({3, 3}));
        p.set("strides", Attribute::make_ints({c.stride, c.stride}));
        p.set("pads", Attribute::make_ints({1, 1, 1, 1}));
        Node mp = node("MaxPool", {"x"}, {"y"}, p);
        std::vector<Tensor> pr, pf;
        check(run_node(mp, {&x}, &pr, true).ok() && run_node(mp, {&x}, &pf, false).ok(),
              "maxpool runs");
        check(rel_err(pf[0].data<float>(), pr[0].data<float>(), pr[0].numel()) == 0.0,
              "maxpool " + shape_str(c.x));
    }
}

// Pruned convolutions (85% zero weights) on the sparse kernel (f32_spmm at the
// ISA's width) against the reference: padding, a small plane, pointwise.
void sparse_conv_sweep() {
    struct Case {
        Shape x, w;
        int64_t pad;
    };
    const std::vector<Case> cases = {
        {{1, 16, 14, 14}, {16, 16, 3, 3}, 1},
        {{2, 24, 7, 7}, {40, 24, 3, 3}, 1},
        {{1, 32, 9, 9}, {20, 32, 1, 1}, 0},
    };
    int seed = 500;
    for (const Case& c : cases) {
        Attributes a;
        a.set("pads", Attribute::make_ints({c.pad, c.pad, c.pad, c.pad}));
        Node n = node("Conv", {"x", "w", "b"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               b = random_tensor({c.w[0]}, ++seed);
        for (int64_t i = 0; i < w.numel(); ++i)
            if ((i * 2654435761u >> 7) % 100 < 85) w.data<float>()[i] = 0.0f;
        auto k = prepare_kernel(n, {nullptr, &w, &b}, {Activation::kRelu}, false, &c.x);
        check(k != nullptr && k->name().find("f32_conv_sparse") != std::string::npos,
              "sparse conv kernel chosen");
        if (!k) continue;
        std::vector<Tensor> ref;
        check(run_node(n, {&x, &w, &b}, &ref, true).ok(), "reference conv");
        Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
        ComputeContext ctx{n, {&x, &w, &b}, {&y}, nullptr};
        check(k->run(ctx).ok(), "sparse conv runs");
        for (int64_t i = 0; i < ref[0].numel(); ++i)
            ref[0].data<float>()[i] = std::max(0.0f, ref[0].data<float>()[i]);
        check(rel_err(y.data<float>(), ref[0].data<float>(), y.numel()) < 1e-5,
              "sparse conv " + shape_str(c.x) + " * " + shape_str(c.w));
    }
}

// A session's fused float activation on a QLinearConv (HardSwish, then * 1.3 -
// 0.2): activated_row, quantize_value, in the kernels and the reference alike.
void set_hardswish_affine(Attributes* a) {
    FusedActivation f;
    f.act.kind = Activation::kHardSwish;
    f.scale = 1.3f;
    f.bias = -0.2f;
    set_fused_activation(a, f);
}

// QLinearConv on the table's int8 tile equals the reference byte for byte, also
// with a fused float activation (the tile's int32 output, then the epilogue).
void qconv_sweep() {
    struct Case {
        Shape x, w;
        int64_t stride, pad;
    };
    const std::vector<Case> cases = {
        {{1, 3, 9, 9}, {5, 3, 3, 3}, 1, 1},
        {{2, 4, 10, 7}, {7, 4, 3, 3}, 2, 1},
        {{1, 16, 8, 8}, {13, 16, 1, 1}, 1, 0},
        {{1, 9, 12, 11}, {6, 9, 3, 3}, 1, 0},
    };
    std::mt19937_64 rng(7);
    for (const bool act : {false, true})
        for (const Case& c : cases) {
            Attributes a;
            a.set("strides", Attribute::make_ints({c.stride, c.stride}));
            a.set("pads", Attribute::make_ints({c.pad, c.pad, c.pad, c.pad}));
            if (act) set_hardswish_affine(&a);
            Node n =
                node("QLinearConv", {"x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"}, {"y"}, a);
            Tensor x = random_bytes(DType::kUint8, c.x, rng),
                   w = random_bytes(DType::kInt8, c.w, rng);
            for (int64_t i = 0; i < w.numel(); ++i)
                if (w.data<int8_t>()[i] == -128) w.data<int8_t>()[i] = -127;
            Tensor sx = scalar_tensor(DType::kFloat32, 0.02),
                   zx = scalar_tensor(DType::kUint8, 117);
            Tensor sw = scalar_tensor(DType::kFloat32, 0.01), zw = scalar_tensor(DType::kInt8, 0);
            Tensor sy = scalar_tensor(DType::kFloat32, 0.5), zy = scalar_tensor(DType::kUint8, 131);
            Tensor b = Tensor::create(DType::kInt32, {c.w[0]}).value();
            for (int64_t m = 0; m < c.w[0]; ++m)
                b.data<int32_t>()[m] = static_cast<int32_t>(rng() % 2001) - 1000;
            const std::vector<const Tensor*> in = {&x, &sx, &zx, &w, &sw, &zw, &sy, &zy, &b};
            std::vector<Tensor> ref;
            check(run_node(n, in, &ref, true).ok(), "reference QLinearConv");
            std::vector<const Tensor*> consts = in;
            consts[0] = nullptr;
            auto k = prepare_kernel(n, consts, {}, false, &c.x);
            if (!kernels().qu8_conv_tile) {
                check(k == nullptr, "no int8 tile, no int8 kernel");
                continue;
            }
            check(k != nullptr && k->name().rfind(kernels().qu8_conv_name, 0) == 0 &&
                      (k->name().find("+hardswish+affine") != std::string::npos) == act,
                  "int8 conv kernel chosen");
            if (!k) continue;
            Tensor y = Tensor::create(DType::kUint8, ref[0].shape()).value();
            ComputeContext ctx{n, in, {&y}, nullptr};
            check(k->run(ctx).ok(), "int8 conv runs");
            int64_t diff = 0;
            for (int64_t i = 0; i < y.numel(); ++i)
                diff += y.data<uint8_t>()[i] != ref[0].data<uint8_t>()[i];
            check(diff == 0, std::string("int8 conv ") + (act ? "(hard-swish) " : "") +
                                 shape_str(c.x) + " * " + shape_str(c.w) + " byte-exact");
        }
}

// Depthwise QLinearConv (exact in float on the float depthwise kernel, then the
// table's requantization) and the elementwise int8 ops equal the reference.
void q8_depthwise_and_elementwise_sweep() {
    std::mt19937_64 rng(13);
    auto same = [](const Tensor& a, const Tensor& b) {
        return a.shape() == b.shape() &&
               std::memcmp(a.raw(), b.raw(),
                           static_cast<size_t>(a.numel()) * dtype_size(a.dtype())) == 0;
    };
    const bool vector = kernels().qu8_requantize != nullptr;
    for (const bool act : {false, true})
        for (const int64_t stride : {1, 2}) {
            const int64_t C = 9;
            Attributes a;
            if (act) set_hardswish_affine(&a);
            a.set("group", Attribute::make_int(C));
            a.set("strides", Attribute::make_ints({stride, stride}));
            a.set("pads", Attribute::make_ints({1, 1, 1, 1}));
            Node n =
                node("QLinearConv", {"x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"}, {"y"}, a);
            Tensor x = random_bytes(DType::kUint8, {1, C, 13, 11}, rng),
                   w = random_bytes(DType::kInt8, {C, 1, 3, 3}, rng);
            for (int64_t i = 0; i < w.numel(); ++i)
                if (w.data<int8_t>()[i] == -128) w.data<int8_t>()[i] = -127;
            Tensor sx = scalar_tensor(DType::kFloat32, 0.02f),
                   zx = scalar_tensor(DType::kUint8, 117);
            Tensor sw = scalar_tensor(DType::kFloat32, 0.01f), zw = scalar_tensor(DType::kInt8, 0);
            Tensor sy = scalar_tensor(DType::kFloat32, 0.4f),
                   zy = scalar_tensor(DType::kUint8, 131);
            Tensor b = Tensor::create(DType::kInt32, {C}).value();
            for (int64_t m = 0; m < C; ++m)
                b.data<int32_t>()[m] = static_cast<int32_t>(rng() % 2001) - 1000;
            const std::vector<const Tensor*> in = {&x, &sx, &zx, &w, &sw, &zw, &sy, &zy, &b};
            std::vector<Tensor> ref;
            check(run_node(n, in, &ref, true).ok(), "reference depthwise QLinearConv");
            std::vector<const Tensor*> consts = in;
            consts[0] = nullptr;
            const Shape xs = x.shape();
            auto k = prepare_kernel(n, consts, {}, false, &xs);
            if (!vector) continue;
            check(k != nullptr && k->name().rfind("qu8_dwconv", 0) == 0,
                  "depthwise int8 kernel chosen");
            if (!k || ref.empty()) continue;
            Tensor y = Tensor::create(DType::kUint8, ref[0].shape()).value();
            ComputeContext ctx{n, in, {&y}, nullptr};
            check(k->run(ctx).ok() && same(y, ref[0]),
                  "depthwise int8 stride " + std::to_string(stride) + " byte-exact");
        }
    // QuantizeLinear (values past both ends of the range), DequantizeLinear, QLinearAdd.
    const int64_t count = 203;
    Tensor f = random_tensor({count}, 17, -3.0f, 3.0f);
    Tensor u = random_bytes(DType::kUint8, {count}, rng),
           v = random_bytes(DType::kUint8, {count}, rng);
    Tensor s = scalar_tensor(DType::kFloat32, 0.013f), z = scalar_tensor(DType::kUint8, 100);
    Tensor s2 = scalar_tensor(DType::kFloat32, 0.021f), z2 = scalar_tensor(DType::kUint8, 7);
    Tensor s3 = scalar_tensor(DType::kFloat32, 0.03f), z3 = scalar_tensor(DType::kUint8, 140);
    Node qadd = node("QLinearAdd", {"a", "s", "z", "b", "s2", "z2", "s3", "z3"}, {"y"});
    qadd.domain = "com.microsoft";
    qadd.op = op_from_name("QLinearAdd", qadd.domain);
    const std::vector<std::pair<Node, std::vector<const Tensor*>>> ops = {
        {node("QuantizeLinear", {"x", "s", "z"}, {"y"}), {&f, &s, &z}},
        {node("DequantizeLinear", {"x", "s", "z"}, {"y"}), {&u, &s, &z}},
        {qadd, {&u, &s, &z, &v, &s2, &z2, &s3, &z3}}};
    for (const auto& op : ops) {
        std::vector<Tensor> ref;
        check(run_node(op.first, op.second, &ref, true).ok(), "reference " + op.first.op_type);
        std::vector<const Tensor*> consts = op.second;
        consts[0] = nullptr;
        if (op.first.op == OpKind::kQLinearAdd) consts[3] = nullptr;
        auto k = prepare_kernel(op.first, consts, {});
        if (!vector) continue;
        check(k != nullptr, "int8 vector kernel chosen for " + op.first.op_type);
        if (!k || ref.empty()) continue;
        Tensor y = Tensor::create(ref[0].dtype(), ref[0].shape()).value();
        ComputeContext ctx{op.first, op.second, {&y}, nullptr};
        check(k->run(ctx).ok() && same(y, ref[0]), op.first.op_type + " exact");
    }
}

// MatMulInteger (int32 out), QLinearMatMul (uint8) and QGemm without y_scale
// (float) on the table's int8 tile equal the reference exactly.
void qgemm_sweep() {
    std::mt19937_64 rng(11);
    const int64_t sizes[][3] = {{1, 1, 1}, {9, 5, 7}, {65, 17, 13}, {70, 67, 64}};
    for (const auto& sz : sizes) {
        const int64_t N = sz[0], K = sz[1], Mo = sz[2];
        Tensor a = random_bytes(DType::kUint8, {N, K}, rng),
               w = random_bytes(DType::kInt8, {K, Mo}, rng);
        for (int64_t i = 0; i < w.numel(); ++i)
            if (w.data<int8_t>()[i] == -128) w.data<int8_t>()[i] = -127;
        Tensor sa = scalar_tensor(DType::kFloat32, 0.03f), za = scalar_tensor(DType::kUint8, 121);
        Tensor sb = scalar_tensor(DType::kFloat32, 0.01f), zb = scalar_tensor(DType::kInt8, 0);
        Tensor sy = scalar_tensor(DType::kFloat32, 0.05f * static_cast<float>(K)),
               zy = scalar_tensor(DType::kUint8, 125);
        Node mmi = node("MatMulInteger", {"a", "b", "za", "zb"}, {"y"});
        Node qlm = node("QLinearMatMul", {"a", "sa", "za", "b", "sb", "zb", "sy", "zy"}, {"y"});
        Node qg = node("QGemm", {"a", "sa", "za", "b", "sb", "zb"}, {"y"});
        qg.domain = "com.microsoft";
        qg.op = op_from_name("QGemm", qg.domain);
        // uint8 through a session's fused HardSwish (and affine).
        Node qga = qg;
        qga.inputs = {"a", "sa", "za", "b", "sb", "zb", "", "sy", "zy"};
        set_hardswish_affine(&qga.attrs);
        const std::vector<std::pair<Node, std::vector<const Tensor*>>> ops = {
            {mmi, {&a, &w, &za, &zb}},
            {qlm, {&a, &sa, &za, &w, &sb, &zb, &sy, &zy}},
            {qg, {&a, &sa, &za, &w, &sb, &zb}},
            {qga, {&a, &sa, &za, &w, &sb, &zb, nullptr, &sy, &zy}}};
        for (const auto& op : ops) {
            const std::string what =
                op.first.op_type +
                (op.first.attrs.has(kFusedActivationAttr) ? "+hardswish " : " ") +
                std::to_string(N) + "x" + std::to_string(K) + "x" + std::to_string(Mo);
            std::vector<Tensor> ref;
            check(run_node(op.first, op.second, &ref, true).ok(), "reference " + what);
            std::vector<const Tensor*> consts = op.second;
            consts[0] = nullptr;
            auto k = prepare_kernel(op.first, consts, {}, false, nullptr, DType::kUint8);
            if (!kernels().qu8_conv_tile) {
                check(k == nullptr, "no int8 tile, no int8 gemm");
                continue;
            }
            check(k != nullptr, "int8 gemm chosen for " + what);
            if (!k || ref.empty()) continue;
            Tensor y = Tensor::create(ref[0].dtype(), ref[0].shape()).value();
            ComputeContext ctx{op.first, op.second, {&y}, nullptr};
            check(k->run(ctx).ok(), "int8 gemm runs");
            check(std::memcmp(y.raw(), ref[0].raw(),
                              static_cast<size_t>(y.numel()) * dtype_size(y.dtype())) == 0,
                  "int8 gemm " + what + " exact");
        }
    }
}

Graph small_net() {
    Graph g;
    ValueInfo x;
    x.name = "x";
    x.dtype = DType::kFloat32;
    x.has_shape = true;
    x.shape = {1, 4, 12, 12};
    x.dim_params.assign(4, "");
    g.inputs.push_back(x);
    g.initializers["w1"] = random_tensor({8, 4, 3, 3}, 1, -0.3f, 0.3f);
    g.initializers["w2"] = random_tensor({8, 1, 3, 3}, 2);
    g.initializers["fc"] = random_tensor({8 * 144, 10}, 3, -0.1f, 0.1f);
    g.initializers["shape"] = Tensor::from_vector<int64_t>({1, -1}, {2});
    Attributes a1, a2;
    a1.set("pads", Attribute::make_ints({1, 1, 1, 1}));
    a2.set("pads", Attribute::make_ints({1, 1, 1, 1}));
    a2.set("group", Attribute::make_int(8));
    g.nodes.push_back(node("Conv", {"x", "w1"}, {"c1"}, a1));
    g.nodes.push_back(node("Relu", {"c1"}, {"r1"}));
    g.nodes.push_back(node("Conv", {"r1", "w2"}, {"c2"}, a2));
    g.nodes.push_back(node("Sigmoid", {"c2"}, {"s2"}));
    g.nodes.push_back(node("Mul", {"c2", "s2"}, {"m2"}));
    g.nodes.push_back(node("Add", {"m2", "r1"}, {"a"}));
    g.nodes.push_back(node("Reshape", {"a", "shape"}, {"f"}));
    g.nodes.push_back(node("MatMul", {"f", "fc"}, {"y"}));
    ValueInfo y;
    y.name = "y";
    y.dtype = DType::kFloat32;
    g.outputs.push_back(y);
    return g;
}

void executor() {
    const TensorMap in = {{"x", random_tensor({1, 4, 12, 12}, 9)}};
    SessionOptions ref;
    ref.reference = true;
    TensorMap want, one, two;
    Result<Session> r = Session::prepare(small_net(), ref);
    check(r.ok() && r.value().run(in, &want).ok(), "reference session");
    Result<Session> s1 = Session::prepare(small_net());
    check(s1.ok() && s1.value().run(in, &one).ok(), "session");
    check(s1.ok() && s1.value().memory_plan().planned, "memory planned");
    SessionOptions t2;
    t2.threads = 2;
    Result<Session> s2 = Session::prepare(small_net(), t2);
    check(s2.ok() && s2.value().run(in, &two).ok(), "session, 2 threads");
    if (want.count("y") && one.count("y") && two.count("y")) {
        check(rel_err(one["y"].data<float>(), want["y"].data<float>(), 10) < 1e-5,
              "executor vs reference");
        check(rel_err(two["y"].data<float>(), one["y"].data<float>(), 10) == 0.0,
              "1 and 2 threads identical");
    }
    Result<std::vector<uint8_t>> bytes = save_pare(small_net());
    check(bytes.ok(), "save .pare");
    Result<Graph> back = load_pare(bytes.value().data(), bytes.value().size(), "mem");
    check(back.ok(), "load .pare");
    TensorMap again;
    Result<Session> s3 = Session::prepare(std::move(back).value());
    check(s3.ok() && s3.value().run(in, &again).ok(), "run loaded .pare");
    if (again.count("y") && one.count("y"))
        check(rel_err(again["y"].data<float>(), one["y"].data<float>(), 10) == 0.0,
              ".pare round trip identical");
    std::vector<uint8_t> cut(bytes.value().begin(), bytes.value().begin() + 100);
    check(!load_pare(cut.data(), cut.size(), "cut").ok(), "truncated .pare rejected");
}

}  // namespace

int main() {
    gemm_sweep();
    conv_sweep();
    sparse_conv_sweep();
    qconv_sweep();
    qgemm_sweep();
    q8_depthwise_and_elementwise_sweep();
    executor();
    std::printf(
        "runtime selftest (ISA %s, detected %s, GEMM %s, int8 %s): %d of %d checks passed\n",
        isa_name(kernels().isa), isa_name(detect_isa()), kernels().f32_gemm_name,
        kernels().qu8_conv_tile ? kernels().qu8_conv_name : "reference", g_checks - g_failures,
        g_checks);
    return g_failures == 0 ? 0 : 1;
}
