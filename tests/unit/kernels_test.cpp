// Optimized kernels against the reference kernels, across the tile sweep
// (sizes 1, t-1, t, t+1, 2t+3 and a large prime; strided operands), for every
// ISA this machine runs. `make test` also runs these with PARE_ISA=scalar.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/fast_ops.h"
#include "test_util.h"

using namespace pare;
using namespace pare::test;

namespace {

std::vector<Isa> isas() {
    std::vector<Isa> v;
    for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
        if (kernels_for(i)) v.push_back(i);
    }
    return v;
}

// Relative L2 error of got against want.
double rel_err(const float* got, const float* want, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; ++i) {
        num += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
        den += static_cast<double>(want[i]) * want[i];
    }
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// The dense kernel prepared for n with a fused Relu, run on `in` (on pool): its
// name, and its relative error against relu(ref) (infinite when it is not
// prepared or fails to run).
double dense_relu_error(const Node& n, const std::vector<const Tensor*>& in,
                        const std::vector<const Tensor*>& constants, const Tensor& ref,
                        ThreadPool* pool, std::string* name) {
    auto k = prepare_f32_dense(n, constants, {Activation::kRelu});
    *name = k ? k->name() : "";
    Tensor y = Tensor::create(DType::kFloat32, ref.shape()).value();
    ComputeContext ctx{n, in, {&y}, pool};
    if (!k || !k->run(ctx).ok()) return std::numeric_limits<double>::infinity();
    Tensor want = ref.clone();
    for (int64_t i = 0; i < want.numel(); ++i)
        want.data<float>()[i] = std::max(0.0f, want.data<float>()[i]);
    return rel_err(y.data<float>(), want.data<float>(), y.numel());
}

}  // namespace

TEST(Kernels, DetectedIsaIsReported) {
    const KernelTable& k = kernels();
    EXPECT_NE(std::string(k.f32_gemm_name), "");
    EXPECT_TRUE(kernels_for(Isa::kScalar) != nullptr);
    std::printf("  ISA in use: %s (detected %s), GEMM %s\n", isa_name(k.isa),
                isa_name(detect_isa()), k.f32_gemm_name);
}

TEST(Kernels, F32GemmMatchesTheMatMulReferenceAcrossTheTileSweep) {
    const std::vector<int64_t> ms = {1, 5, 6, 7, 15, 37}, ns = {1, 15, 16, 17, 35, 101},
                               ks = {1, 7, 255, 256, 257};
    for (Isa isa : isas()) {
        const KernelTable* kt = kernels_for(isa);
        SCOPED_TRACE(kt->f32_gemm_name);
        for (int64_t M : ms)
            for (int64_t N : ns)
                for (int64_t K : ks) {
                    Tensor a = random_tensor({M, K}, M * 1000 + K),
                           b = random_tensor({K, N}, N * 7 + K);
                    Tensor bias = random_tensor({M}, M + N);
                    std::vector<Tensor> ref;
                    Node mm = make_node("MatMul", {"a", "b"}, {"y"});
                    ASSERT_TRUE(run_node(mm, {&a, &b}, &ref, true).ok());
                    std::vector<float> c(static_cast<size_t>(M * N), -7.0f);
                    kt->f32_gemm(M, N, K, a.data<float>(), K, b.data<float>(), N, c.data(), N,
                                 bias.data<float>());
                    for (int64_t m = 0; m < M; ++m) {
                        for (int64_t n = 0; n < N; ++n)
                            ref[0].data<float>()[m * N + n] += bias.data<float>()[m];
                    }
                    ASSERT_LT(rel_err(c.data(), ref[0].data<float>(), M * N), 1e-6)
                        << M << "x" << N << "x" << K;
                }
        // Strided operands and output: leading dimensions larger than the rows; the
        // gaps must be neither read into the result nor written.
        const int64_t M = 13, N = 29, K = 263, lda = K + 5, ldb = N + 3, ldc = N + 11;
        Tensor a = random_tensor({M, lda}, 1), b = random_tensor({K, ldb}, 2);
        std::vector<float> c(static_cast<size_t>(M * ldc), 42.0f);
        kt->f32_gemm(M, N, K, a.data<float>(), lda, b.data<float>(), ldb, c.data(), ldc, nullptr);
        for (int64_t m = 0; m < M; ++m) {
            for (int64_t n = 0; n < N; ++n) {
                double want = 0;
                for (int64_t k = 0; k < K; ++k)
                    want += a.data<float>()[m * lda + k] *
                            static_cast<double>(b.data<float>()[k * ldb + n]);
                ASSERT_NEAR(c[m * ldc + n], want, 1e-4 * (1 + std::fabs(want)));
            }
            for (int64_t n = N; n < ldc; ++n)
                ASSERT_EQ(c[m * ldc + n], 42.0f) << "wrote into the gap";
        }
    }
}

TEST(Kernels, F32ConvGemmMatchesTheReferenceConv) {
    struct Case {
        Shape x, w;
        std::vector<int64_t> strides, pads, dilations;
        int64_t group;
    };
    const std::vector<Case> cases = {
        {{1, 3, 9, 9}, {5, 3, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1},
        {{2, 4, 10, 7}, {6, 4, 3, 3}, {2, 2}, {1, 0, 1, 2}, {1, 1}, 1},
        {{1, 8, 6, 6}, {16, 8, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1},  // pointwise: no im2col
        {{1, 8, 7, 7}, {6, 4, 3, 3}, {1, 1}, {1, 1, 1, 1}, {2, 2}, 2},   // grouped, dilated
        {{1, 6, 8, 8}, {6, 1, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 6},  // depthwise: reference path
        {{1, 2, 11, 13}, {7, 2, 5, 5}, {3, 2}, {2, 2, 2, 2}, {1, 1}, 1},
        {{1, 3, 17}, {4, 3, 3}, {2}, {1, 1}, {1}, 1},                                     // 1-D
        {{1, 2, 5, 6, 7}, {3, 2, 3, 3, 3}, {1, 2, 1}, {1, 1, 1, 1, 1, 1}, {1, 1, 1}, 1},  // 3-D
        {{3, 37, 5, 5}, {17, 37, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1},  // K past one KC block
    };
    int seed = 0;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
        Attributes a;
        a.set("strides", Attribute::make_ints(c.strides));
        a.set("pads", Attribute::make_ints(c.pads));
        a.set("dilations", Attribute::make_ints(c.dilations));
        a.set("group", Attribute::make_int(c.group));
        Node n = make_node("Conv", {"x", "w", "b"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               b = random_tensor({c.w[0]}, ++seed);
        std::vector<Tensor> ref, fast;
        ASSERT_TRUE(run_node(n, {&x, &w, &b}, &ref, true).ok());
        ASSERT_TRUE(run_node(n, {&x, &w, &b}, &fast, false).ok());
        ASSERT_EQ(ref[0].shape(), fast[0].shape());
        EXPECT_LT(rel_err(fast[0].data<float>(), ref[0].data<float>(), ref[0].numel()), 1e-6);
    }
}

// The im2col matrix is generated a row segment at a time as the GEMM packs its
// blocks: segments that start mid-row (more output positions than one column
// block, column splits over threads), rows wholly in the padding, strides 1, 2 and
// 3, dilation; on 1 and 3 threads, against the reference Conv.
TEST(Kernels, F32ConvGemmGeneratedRowsAcrossBlocksAndThreads) {
    struct Case {
        Shape x, w;
        std::vector<int64_t> strides, pads, dilations;
    };
    const std::vector<Case> cases = {
        {{1, 5, 37, 41}, {9, 5, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},  // 1517 positions
        {{1, 3, 30, 45}, {7, 3, 2, 2}, {1, 1}, {3, 3, 3, 3}, {1, 1}},  // rows of padding
        {{1, 4, 50, 61}, {6, 4, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},
        {{1, 3, 40, 43}, {5, 3, 3, 3}, {3, 3}, {2, 0, 1, 2}, {2, 2}},
    };
    ThreadPool pool(3);
    int seed = 100;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
        Attributes a;
        a.set("strides", Attribute::make_ints(c.strides));
        a.set("pads", Attribute::make_ints(c.pads));
        a.set("dilations", Attribute::make_ints(c.dilations));
        Node n = make_node("Conv", {"x", "w"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed);
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, {&x, &w}, &ref, true).ok());
        auto k = prepare_kernel(n, {nullptr, &w}, Activation{});
        ASSERT_TRUE(k != nullptr);
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
            ComputeContext ctx{n, {&x, &w}, {&y}, p};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_LT(rel_err(y.data<float>(), ref[0].data<float>(), y.numel()), 1e-6)
                << (p ? "3 threads" : "1 thread");
        }
    }
}

// ConvTranspose as GEMM plus scatter, against the reference: non-overlapping (k =
// stride) and overlapping windows, pads, output_padding, dilation, groups, 1-D and
// 3-D, a bias; on 1 and 3 threads.
TEST(Kernels, F32ConvTransposeMatchesTheReference) {
    struct Case {
        Shape x, w;
        std::vector<int64_t> strides, pads, dilations, out_pad;
        int64_t group;
    };
    const std::vector<Case> cases = {
        {{1, 8, 9, 11}, {8, 5, 2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, {0, 0}, 1},
        {{2, 6, 7, 5}, {6, 4, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, {1, 1}, 1},
        {{1, 4, 6, 6}, {4, 3, 3, 3}, {1, 1}, {0, 2, 1, 0}, {2, 2}, {0, 0}, 2},
        {{1, 3, 13}, {3, 2, 4}, {3}, {1, 2}, {1}, {2}, 1},
        {{1, 2, 3, 4, 5}, {2, 3, 2, 3, 2}, {2, 1, 2}, {0, 1, 0, 0, 1, 1}, {1, 1, 1}, {1, 0, 0}, 1},
        {{1, 37, 5, 5}, {37, 30, 2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, {0, 0}, 1},  // 120 rows
    };
    ThreadPool pool(3);
    int seed = 300;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
        Attributes a;
        a.set("strides", Attribute::make_ints(c.strides));
        a.set("pads", Attribute::make_ints(c.pads));
        a.set("dilations", Attribute::make_ints(c.dilations));
        a.set("output_padding", Attribute::make_ints(c.out_pad));
        a.set("group", Attribute::make_int(c.group));
        Node n = make_node("ConvTranspose", {"x", "w", "b"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               b = random_tensor({c.w[1] * c.group}, ++seed);
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, {&x, &w, &b}, &ref, true).ok());
        const Activation relu{Activation::kRelu};
        auto k = prepare_kernel(n, {nullptr, &w, &b}, relu);
        ASSERT_TRUE(k != nullptr);
        std::vector<float> want(ref[0].data<float>(), ref[0].data<float>() + ref[0].numel());
        for (float& v : want) v = std::max(v, 0.0f);
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
            ComputeContext ctx{n, {&x, &w, &b}, {&y}, p};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_LT(rel_err(y.data<float>(), want.data(), y.numel()), 1e-6)
                << (p ? "3 threads" : "1 thread");
        }
    }
}

// Nearest Resize through index tables equals the reference exactly: upsampling by 2
// (asymmetric, floor: the PaddleOCR detector), fractional scales with rounding
// modes, downsampling, sizes instead of scales, and a resize of the channel axis
// (handed to the reference); on 1 and 3 threads.
TEST(Kernels, F32ResizeNearestMatchesTheReference) {
    struct Case {
        Shape x;
        std::vector<float> scales;
        std::vector<int64_t> sizes;
        const char* ct;
        const char* nm;
    };
    const std::vector<Case> cases = {
        {{1, 3, 5, 7}, {1, 1, 2, 2}, {}, "asymmetric", "floor"},
        {{2, 2, 7, 6}, {}, {2, 2, 10, 13}, "half_pixel", "round_prefer_floor"},
        {{1, 4, 9, 9}, {1, 1, 0.5f, 0.75f}, {}, "align_corners", "round_prefer_ceil"},
        {{1, 1, 4, 5}, {1, 1, 3, 1.5f}, {}, "pytorch_half_pixel", "ceil"},
        {{1, 2, 3, 3}, {1, 2, 1, 1}, {}, "asymmetric", "floor"},
    };
    ThreadPool pool(3);
    int seed = 400;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " " + c.ct);
        Attributes a;
        a.set("mode", Attribute::make_string("nearest"));
        a.set("coordinate_transformation_mode", Attribute::make_string(c.ct));
        a.set("nearest_mode", Attribute::make_string(c.nm));
        Tensor x = random_tensor(c.x, ++seed);
        Tensor roi = Tensor::from_vector<float>({}, {0});
        Tensor scales =
            Tensor::from_vector<float>(c.scales, {static_cast<int64_t>(c.scales.size())});
        Tensor sizes =
            Tensor::from_vector<int64_t>(c.sizes, {static_cast<int64_t>(c.sizes.size())});
        Node n = c.sizes.empty() ? make_node("Resize", {"x", "roi", "scales"}, {"y"}, a)
                                 : make_node("Resize", {"x", "roi", "", "sizes"}, {"y"}, a);
        std::vector<const Tensor*> in = {&x, &roi, &scales};
        if (!c.sizes.empty()) in = {&x, &roi, nullptr, &sizes};
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, in, &ref, true).ok());
        auto k = prepare_kernel(n, in, Activation{});
        ASSERT_TRUE(k != nullptr);
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
            ComputeContext ctx{n, in, {&y}, p};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_EQ(rel_err(y.data<float>(), ref[0].data<float>(), y.numel()), 0.0);
        }
    }
}

// The vector-matrix product of the batch-1 dense layer, per ISA: row counts around
// its four-row step, widths around the vector, a leading dimension past the width
// (the gap is neither read into the result nor written).
TEST(Kernels, F32GemvMatchesADoubleSum) {
    for (Isa isa : isas()) {
        const KernelTable* kt = kernels_for(isa);
        SCOPED_TRACE(isa_name(isa));
        for (int64_t K : {1, 3, 4, 5, 257})
            for (int64_t n : {1, 15, 16, 17, 101}) {
                const int64_t ldw = n + 7;
                Tensor x = random_tensor({K}, K + n), w = random_tensor({K, ldw}, K * n);
                std::vector<float> y(static_cast<size_t>(n + 3), 0.25f);
                kt->f32_gemv(x.data<float>(), K, w.data<float>(), ldw, n, y.data());
                for (int64_t j = 0; j < n; ++j) {
                    double want = 0.25;
                    for (int64_t k = 0; k < K; ++k)
                        want +=
                            x.data<float>()[k] * static_cast<double>(w.data<float>()[k * ldw + j]);
                    ASSERT_NEAR(y[j], want, 1e-5 * (1 + std::fabs(want))) << K << "x" << n;
                }
                for (int64_t j = n; j < n + 3; ++j) ASSERT_EQ(y[j], 0.25f) << "wrote past n";
            }
    }
}

// Winograd F(4x4, 3x3) against the reference Conv: same and asymmetric padding,
// output sizes that fill no whole 4x4 tile, several tile-row blocks, a batch of
// two, bias, Relu and a fused residual, on 1 and 3 threads, with the transforms of
// every ISA the machine runs; chosen only with a known input shape, planes of at
// least 28x28 outputs and 32 input channels.
TEST(Kernels, F32ConvWinogradMatchesTheReferenceConv) {
    struct Case {
        Shape x, w;
        std::vector<int64_t> pads;
    };
    const std::vector<Case> cases = {
        {{1, 32, 28, 28}, {16, 32, 3, 3}, {1, 1, 1, 1}},
        {{2, 40, 30, 29}, {17, 40, 3, 3}, {0, 1, 2, 1}},
        {{1, 33, 71, 40}, {32, 33, 3, 3}, {1, 1, 1, 1}},
    };
    ThreadPool pool(3);
    int seed = 900;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
        Attributes a;
        a.set("pads", Attribute::make_ints(c.pads));
        Node n = make_node("Conv", {"x", "w", "b"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               b = random_tensor({c.w[0]}, ++seed);
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, {&x, &w, &b}, &ref, true).ok());
        Tensor r = random_tensor(ref[0].shape(), ++seed);
        for (bool residual : {false, true}) {
            auto k = prepare_f32_conv_winograd(n, {nullptr, &w, &b}, {Activation::kRelu}, residual,
                                               &c.x);
            ASSERT_TRUE(k != nullptr);
            EXPECT_NE(k->name().find("winograd"), std::string::npos) << k->name();
            std::vector<float> want(static_cast<size_t>(ref[0].numel()));
            for (size_t i = 0; i < want.size(); ++i)
                want[i] = std::max(
                    0.0f, ref[0].data<float>()[i] + (residual ? r.data<float>()[i] : 0.0f));
            for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
                std::vector<const Tensor*> in = {&x, &w, &b};
                if (residual) in.push_back(&r);
                ComputeContext ctx{n, in, {&y}, p};
                ASSERT_TRUE(k->run(ctx).ok());
                EXPECT_LT(rel_err(y.data<float>(), want.data(), y.numel()), 1e-5)
                    << (residual ? "residual, " : "") << (p ? "3 threads" : "1 thread");
            }
        }
    }
    // The transforms of every ISA: one tile row in and out, against the scalar table.
    const KernelTable* ref_kt = kernels_for(Isa::kScalar);
    Tensor plane = random_tensor({9, 23}, 77);
    for (Isa isa : isas()) {
        const KernelTable* kt = kernels_for(isa);
        SCOPED_TRACE(isa_name(isa));
        const int64_t TW = 11, ld = TW + 16;  // room for whole-vector stores
        std::vector<float> va(36 * ld, 0.0f), vb(36 * ld, 0.0f);
        kt->f32_winograd_in(plane.data<float>(), 9, 23, 1, TW, 1, 0, va.data(), ld);
        ref_kt->f32_winograd_in(plane.data<float>(), 9, 23, 1, TW, 1, 0, vb.data(), ld);
        for (int64_t e = 0; e < 36; ++e)
            for (int64_t t = 0; t < TW; ++t) ASSERT_EQ(va[e * ld + t], vb[e * ld + t]);
        std::vector<float> ya(7 * 21, 0.0f), yb(7 * 21, 0.0f);
        kt->f32_winograd_out(va.data(), ld, 1, TW, ya.data(), 7, 21, 0.5f, nullptr,
                             {Activation::kRelu});
        ref_kt->f32_winograd_out(vb.data(), ld, 1, TW, yb.data(), 7, 21, 0.5f, nullptr,
                                 {Activation::kRelu});
        EXPECT_LT(rel_err(ya.data(), yb.data(), 7 * 21), 1e-6);
    }
    // Not without a known shape, nor for small planes or few input channels.
    Attributes a;
    a.set("pads", Attribute::make_ints({1, 1, 1, 1}));
    Node n = make_node("Conv", {"x", "w"}, {"y"}, a);
    Tensor w = random_tensor({16, 32, 3, 3}, 1), w16 = random_tensor({16, 16, 3, 3}, 2);
    const Shape small = {1, 32, 14, 14}, large = {1, 32, 28, 28}, narrow = {1, 16, 28, 28};
    EXPECT_EQ(prepare_kernel(n, {nullptr, &w}, {})->name().find("winograd"), std::string::npos);
    EXPECT_EQ(prepare_kernel(n, {nullptr, &w}, {}, false, &small)->name().find("winograd"),
              std::string::npos);
    EXPECT_NE(prepare_kernel(n, {nullptr, &w}, {}, false, &large)->name().find("winograd"),
              std::string::npos);
    EXPECT_TRUE(prepare_f32_conv_winograd(n, {nullptr, &w}, {}, false, &large) != nullptr);
    EXPECT_TRUE(prepare_f32_conv_winograd(n, {nullptr, &w}, {}, false, &small) == nullptr);
    EXPECT_TRUE(prepare_f32_conv_winograd(n, {nullptr, &w16}, {}, false, &narrow) == nullptr);
}

// The direct convolution (where the ISA has its tile: AVX-512) against the
// reference Conv: strides 1 and 2, same, asymmetric and no padding, dilation,
// 7x7 kernels, channel counts that fill no whole 64-channel tile (narrower last
// tiles, within the eighth of padding it accepts), outputs that
// fill no whole tile or 16-position group, planes of several position blocks, K
// over several chunks, a batch of two, bias, Relu and a fused residual, on 1 and
// 3 threads; pointwise ones. prepare_kernel picks it for KxK convolutions of one
// group with a known input shape and pointwise ones on planes of at most 14x14, not
// for larger pointwise, grouped or unknown-shape ones. Layers of at most 8 output
// channels take the row tile where their output rows fill three quarters of the
// vectors at unit horizontal stride and dilation (a batch of two, rows of one and
// two vectors, fewer than 8 channels, a vertical stride and dilation, the last
// group of vectors short), the channel tile otherwise.
TEST(Kernels, F32ConvDirectMatchesTheReferenceConv) {
    if (!kernels().f32_conv_tile) GTEST_SKIP() << "no direct convolution tile on this ISA";
    struct Case {
        Shape x, w;
        std::vector<int64_t> strides, pads, dilations;
        bool rows = false;  // the row tile expected (where the ISA has it)
    };
    const std::vector<Case> cases = {
        {{1, 16, 7, 7}, {64, 16, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
        {{2, 5, 13, 11}, {120, 5, 3, 3}, {2, 2}, {0, 1, 2, 1}, {1, 1}},
        {{1, 3, 21, 21}, {32, 3, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},   // one 32-channel tile
        {{1, 6, 10, 10}, {112, 6, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},  // 64 + 48
        {{1, 6, 10, 10}, {80, 6, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},   // 64 + 16
        {{1, 3, 40, 38}, {64, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, {1, 1}},
        {{1, 37, 12, 12}, {250, 37, 3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}},
        {{1, 8, 45, 45}, {64, 8, 3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
        // 100 positions (not whole cache lines) and 10 channel blocks: split by blocks
        {{1, 4, 10, 10}, {600, 4, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
        {{1, 4, 9, 20}, {59, 4, 1, 5}, {1, 3}, {0, 2, 0, 1}, {1, 1}},
        {{1, 96, 7, 7}, {192, 96, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},  // pointwise
        {{1, 33, 14, 14}, {64, 33, 1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 1}},
        {{1, 8, 28, 28}, {8, 8, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true},  // 2 vectors a row
        {{2, 5, 14, 14}, {5, 5, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true},  // 5 channels, batch 2
        {{1, 1, 28, 28}, {8, 1, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, true},  // a stem
        {{1, 4, 21, 30}, {3, 4, 3, 3}, {2, 1}, {0, 0, 0, 0}, {2, 1}, true},  // 28 wide, 9 rows
        {{1, 16, 14, 14}, {8, 16, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, true},  // pointwise
        {{1, 6, 18, 18}, {8, 6, 5, 5}, {1, 1}, {2, 2, 2, 2}, {1, 1}},  // 18 of 32 lanes: channels
        {{1, 8, 28, 28}, {8, 8, 3, 3}, {1, 2}, {1, 1, 1, 1}, {1, 1}},  // horizontal stride
        {{1, 8, 7, 7}, {8, 8, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},    // 7 of 16 lanes
    };
    ThreadPool pool(3);
    int seed = 1200;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
        Attributes a;
        a.set("strides", Attribute::make_ints(c.strides));
        a.set("pads", Attribute::make_ints(c.pads));
        a.set("dilations", Attribute::make_ints(c.dilations));
        Node n = make_node("Conv", {"x", "w", "b"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               b = random_tensor({c.w[0]}, ++seed);
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, {&x, &w, &b}, &ref, true).ok());
        Tensor r = random_tensor(ref[0].shape(), ++seed);
        for (bool residual : {false, true}) {
            auto k = prepare_kernel(n, {nullptr, &w, &b}, {Activation::kRelu}, residual, &c.x);
            ASSERT_TRUE(k != nullptr);
            const bool rows = c.rows && kernels().f32_conv_rows;
            EXPECT_NE(k->name().find(rows ? "f32_conv_rows" : "f32_conv_direct"), std::string::npos)
                << k->name();
            std::vector<float> want(static_cast<size_t>(ref[0].numel()));
            for (size_t i = 0; i < want.size(); ++i)
                want[i] = std::max(
                    0.0f, ref[0].data<float>()[i] + (residual ? r.data<float>()[i] : 0.0f));
            // Threads first: the padded copy is the caller's scratch, which a one-thread run
            // of the same case would leave filled (rows a band failed to copy would pass).
            for (ThreadPool* p : {&pool, static_cast<ThreadPool*>(nullptr)}) {
                Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
                std::vector<const Tensor*> in = {&x, &w, &b};
                if (residual) in.push_back(&r);
                ComputeContext ctx{n, in, {&y}, p};
                ASSERT_TRUE(k->run(ctx).ok());
                EXPECT_LT(rel_err(y.data<float>(), want.data(), y.numel()), 1e-6)
                    << (residual ? "residual, " : "") << (p ? "3 threads" : "1 thread");
            }
        }
    }
    Node n = make_node("Conv", {"x", "w"}, {"y"}, {});
    const Shape shape = {1, 16, 14, 14}, wide = {1, 16, 15, 14};
    Tensor w3 = random_tensor({64, 16, 3, 3}, 1), w1 = random_tensor({64, 16, 1, 1}, 2);
    Tensor w32 = random_tensor({70, 16, 3, 3}, 4);  // 80 channels of tiles for 70: im2col
    EXPECT_NE(prepare_kernel(n, {nullptr, &w3}, {}, false, &shape)->name().find("f32_conv_direct"),
              std::string::npos);
    EXPECT_EQ(prepare_kernel(n, {nullptr, &w32}, {}, false, &shape)->name().find("f32_conv_direct"),
              std::string::npos);
    EXPECT_EQ(prepare_kernel(n, {nullptr, &w3}, {})->name().find("f32_conv_direct"),
              std::string::npos);
    EXPECT_NE(prepare_kernel(n, {nullptr, &w1}, {}, false, &shape)->name().find("f32_conv_direct"),
              std::string::npos);
    EXPECT_EQ(prepare_kernel(n, {nullptr, &w1}, {}, false, &wide)->name().find("f32_conv_direct"),
              std::string::npos);
    Attributes g;
    g.set("group", Attribute::make_int(2));
    Node grouped = make_node("Conv", {"x", "w"}, {"y"}, g);
    Tensor wg = random_tensor({64, 8, 3, 3}, 3);
    EXPECT_EQ(
        prepare_kernel(grouped, {nullptr, &wg}, {}, false, &shape)->name().find("f32_conv_direct"),
        std::string::npos);
}

// Pruned weights (85% zeros): the sparse convolution (CSR rows over a padded
// plane) against the reference, with padding, dilation, pointwise planes, planes
// smaller than one block, a fused residual and activations, 1 and 3 threads.
TEST(Kernels, F32ConvSparseMatchesTheReferenceConv) {
    struct Case {
        Shape x, w;
        std::vector<int64_t> pads, dilations;
    };
    const std::vector<Case> cases = {
        {{2, 16, 28, 28}, {16, 16, 3, 3}, {1, 1, 1, 1}, {1, 1}},
        {{1, 64, 7, 7}, {64, 64, 3, 3}, {1, 1, 1, 1}, {1, 1}},  // one block, slack positions
        {{1, 5, 13, 11}, {37, 5, 3, 3}, {0, 1, 2, 1}, {1, 1}},  // asymmetric pads
        {{1, 7, 12, 12}, {21, 7, 3, 3}, {2, 2, 2, 2}, {2, 2}},  // dilation
        {{1, 40, 9, 9}, {24, 40, 1, 1}, {0, 0, 0, 0}, {1, 1}},  // pointwise, the input itself
        {{1, 8, 6, 5}, {9, 8, 1, 1}, {1, 0, 0, 1}, {1, 1}},     // pointwise with padding
        {{1, 3, 31, 17}, {70, 3, 5, 3}, {2, 1, 2, 1}, {1, 1}},
    };
    ThreadPool pool(3);
    int seed = 3100;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w));
        Attributes a;
        a.set("pads", Attribute::make_ints(c.pads));
        a.set("dilations", Attribute::make_ints(c.dilations));
        Node n = make_node("Conv", {"x", "w", "b"}, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               b = random_tensor({c.w[0]}, ++seed);
        for (int64_t i = 0; i < w.numel(); ++i)
            if ((i * 2654435761u >> 7) % 100 < 85) w.data<float>()[i] = 0.0f;
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, {&x, &w, &b}, &ref, true).ok());
        Tensor r = random_tensor(ref[0].shape(), ++seed);
        for (Activation::Kind act : {Activation::kRelu, Activation::kHardSwish}) {
            for (bool residual : {false, true}) {
                auto k = prepare_kernel(n, {nullptr, &w, &b}, {act}, residual, &c.x);
                ASSERT_TRUE(k != nullptr);
                EXPECT_NE(k->name().find("f32_conv_sparse"), std::string::npos) << k->name();
                std::vector<float> want(static_cast<size_t>(ref[0].numel()));
                for (size_t i = 0; i < want.size(); ++i)
                    want[i] = apply_activation(
                        {act}, ref[0].data<float>()[i] + (residual ? r.data<float>()[i] : 0.0f));
                for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                    Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
                    std::vector<const Tensor*> in = {&x, &w, &b};
                    if (residual) in.push_back(&r);
                    ComputeContext ctx{n, in, {&y}, p};
                    ASSERT_TRUE(k->run(ctx).ok());
                    EXPECT_LT(rel_err(y.data<float>(), want.data(), y.numel()), 1e-5)
                        << (residual ? "residual, " : "") << (p ? "3 threads" : "1 thread");
                }
            }
        }
    }
    // Dense weights, strides, groups: the dense kernels.
    Node n = make_node("Conv", {"x", "w"}, {"y"}, {});
    const Shape shape = {1, 16, 14, 14};
    Tensor dense = random_tensor({32, 16, 3, 3}, 1), sparse = dense.clone();
    for (int64_t i = 0; i < sparse.numel(); ++i)
        if (i % 5 != 0) sparse.data<float>()[i] = 0.0f;  // density 0.2
    EXPECT_EQ(prepare_kernel(n, {nullptr, &dense}, {}, false, &shape)->name().find("sparse"),
              std::string::npos);
    EXPECT_NE(prepare_kernel(n, {nullptr, &sparse}, {}, false, &shape)->name().find("sparse"),
              std::string::npos);
    Attributes s2;
    s2.set("strides", Attribute::make_ints({2, 2}));
    Node strided = make_node("Conv", {"x", "w"}, {"y"}, s2);
    EXPECT_EQ(prepare_kernel(strided, {nullptr, &sparse}, {}, false, &shape)->name().find("sparse"),
              std::string::npos);
}

// The packed GEMM with a fused activation, computed over row ranges and split over
// threads: every element equals the single-call result exactly, and the activation
// equals apply_activation of the unfused result.
TEST(Kernels, F32PackedGemmRowRangesThreadsAndActivations) {
    const std::vector<Activation> acts = {{Activation::kNone},
                                          {Activation::kRelu},
                                          {Activation::kClip, 0.0f, 6.0f},
                                          {Activation::kHardSwish},
                                          {Activation::kSigmoid},
                                          {Activation::kHardSigmoid, 0, 0, 0.2f, 0.5f}};
    ThreadPool pool(3);
    for (Isa isa : isas())
        for (int mr : {kernels_for(isa)->f32_gemm_mr, kernels_for(isa)->f32_gemm_mr_alt}) {
            if (mr == 0) continue;  // no alternative height
            const KernelTable* kt = kernels_for(isa);
            SCOPED_TRACE(f32_gemm_name_for(*kt, mr));
            for (int64_t M : {1, 7, 2 * mr + 3, 61})
                for (int64_t N : {1, 17, 2 * kt->f32_gemm_nr + 3, 101})
                    for (int64_t K : {3, 257}) {
                        Tensor a = random_tensor({M, K}, M + K),
                               b = random_tensor({K, N}, N + 3 * K);
                        Tensor bias = random_tensor({M}, M * N);
                        std::vector<float> packed(static_cast<size_t>(f32_packed_a_size(M, K, mr)));
                        f32_pack_a(M, K, a.data<float>(), K, mr, packed.data());
                        const F32PackedA pa{packed.data(), M, K, mr};
                        std::vector<float> plain(static_cast<size_t>(M * N));
                        kt->f32_gemm(M, N, K, a.data<float>(), K, b.data<float>(), N, plain.data(),
                                     N, bias.data<float>());
                        for (const Activation& act : acts) {
                            std::vector<float> whole(plain.size(), -9.0f),
                                split(plain.size(), -9.0f), threaded(plain.size(), -9.0f);
                            kt->f32_gemm_packed(pa, 0, M, N, {b.data<float>(), N}, whole.data(), N,
                                                bias.data<float>(), nullptr, act);
                            // Two row ranges, the boundary on a panel edge.
                            const int64_t mid = std::min<int64_t>(M, mr);
                            kt->f32_gemm_packed(pa, 0, mid, N, {b.data<float>(), N}, split.data(),
                                                N, bias.data<float>(), nullptr, act);
                            kt->f32_gemm_packed(pa, mid, M, N, {b.data<float>(), N}, split.data(),
                                                N, bias.data<float>(), nullptr, act);
                            f32_gemm_parallel(*kt, pa, N, {b.data<float>(), N}, threaded.data(), N,
                                              bias.data<float>(), nullptr, act, &pool);
                            // With a residual added as the results are stored, on 3 threads.
                            Tensor res = random_tensor({M, N}, M * 31 + N);
                            std::vector<float> with_res(plain.size(), -9.0f);
                            f32_gemm_parallel(*kt, pa, N, {b.data<float>(), N}, with_res.data(), N,
                                              bias.data<float>(), res.data<float>(), act, &pool);
                            for (size_t i = 0; i < plain.size(); ++i) {
                                const float want =
                                    apply_activation(act, plain[i] + res.data<float>()[i]);
                                ASSERT_NEAR(with_res[i], want, 1e-5f * (1.0f + std::fabs(want)))
                                    << "residual, " << activation_name(act);
                            }
                            for (size_t i = 0; i < plain.size(); ++i) {
                                // Exact where the activation is (max/min); the vector exp
                                // of sigmoid and SiLU within 1e-6 relative.
                                const float want = apply_activation(act, plain[i]);
                                ASSERT_NEAR(whole[i], want, 1e-6f * (1.0f + std::fabs(want)))
                                    << activation_name(act) << " " << M << "x" << N << "x" << K;
                                if (act.kind == Activation::kRelu ||
                                    act.kind == Activation::kClip) {
                                    ASSERT_EQ(whole[i], want);
                                }
                                ASSERT_EQ(split[i], whole[i]);
                                ASSERT_EQ(threaded[i], whole[i]);
                            }
                        }
                    }
        }
}

// The depthwise kernel (through the prepared-kernel path) against the reference
// Conv: kernel sizes 3 and 5, strides 1 and 2, symmetric and asymmetric padding,
// widths around the vector width, with and without bias, with fused activations.
TEST(Kernels, F32DwConvMatchesTheReferenceConv) {
    struct Case {
        Shape x;
        int64_t k, stride;
        std::vector<int64_t> pads;
    };
    const std::vector<Case> cases = {
        {{1, 3, 9, 9}, 3, 1, {1, 1, 1, 1}},
        {{2, 4, 16, 17}, 3, 2, {1, 1, 1, 1}},
        {{1, 2, 15, 16}, 3, 1, {0, 0, 0, 0}},
        {{1, 5, 33, 31}, 5, 2, {2, 2, 2, 2}},
        {{1, 3, 7, 40}, 5, 1, {2, 1, 2, 3}},
        {{1, 1, 1, 1}, 3, 1, {1, 1, 1, 1}},
        {{1, 6, 112, 112}, 3, 2, {0, 0, 1, 1}},
        // Planes of at most 56 output columns with channels for whole groups and a
        // remainder (the kernel vectorized across channels, then the plane kernel),
        // and on 2 threads bands of output rows (at least 16 rows):
        // 3x3, 5x5, other sizes; positions past whole vectors; inputs the taps
        // never reach (stride 2, no padding); asymmetric padding.
        {{1, 37, 7, 7}, 3, 1, {1, 1, 1, 1}},
        {{1, 35, 28, 28}, 3, 1, {1, 1, 1, 1}},
        {{1, 20, 56, 55}, 3, 2, {1, 1, 1, 1}},
        {{1, 17, 16, 16}, 3, 2, {0, 0, 0, 0}},
        {{1, 19, 20, 21}, 5, 1, {2, 1, 2, 3}},
        {{2, 21, 14, 13}, 3, 2, {1, 1, 1, 1}},
        {{1, 18, 8, 8}, 5, 1, {2, 2, 2, 2}},
        {{1, 17, 6, 6}, 2, 1, {0, 1, 0, 1}},
    };
    const std::vector<Activation> acts = {
        {Activation::kNone}, {Activation::kClip, 0.0f, 6.0f}, {Activation::kHardSwish}};
    int seed = 100;
    for (Isa isa : isas()) {
        const KernelTable* kt = kernels_for(isa);
        SCOPED_TRACE(kt->f32_dwconv_name);
        for (const Case& c : cases)
            for (bool with_bias : {true, false}) {
                SCOPED_TRACE(shape_str(c.x) + " k" + std::to_string(c.k) + " s" +
                             std::to_string(c.stride));
                const int64_t C = c.x[1];
                Attributes a;
                a.set("strides", Attribute::make_ints({c.stride, c.stride}));
                a.set("pads", Attribute::make_ints(c.pads));
                a.set("group", Attribute::make_int(C));
                Node n = make_node("Conv",
                                   with_bias ? std::vector<std::string>{"x", "w", "b"}
                                             : std::vector<std::string>{"x", "w"},
                                   {"y"}, a);
                Tensor x = random_tensor(c.x, ++seed), w = random_tensor({C, 1, c.k, c.k}, ++seed),
                       b = random_tensor({C}, ++seed);
                std::vector<const Tensor*> in = {&x, &w};
                if (with_bias) in.push_back(&b);
                std::vector<Tensor> ref;
                ASSERT_TRUE(run_node(n, in, &ref, true).ok());
                for (const Activation& act : acts) {
                    // Prepared with this ISA's table: build the kernel directly.
                    std::vector<const Tensor*> constants = {nullptr, &w};
                    if (with_bias) constants.push_back(&b);
                    auto k = prepare_f32_dwconv(n, constants, act);
                    ASSERT_TRUE(k != nullptr);
                    Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
                    std::vector<float> want(static_cast<size_t>(y.numel()));
                    for (int64_t i = 0; i < y.numel(); ++i)
                        want[i] = apply_activation(act, ref[0].data<float>()[i]);
                    // The plane kernel of this ISA, called directly on every plane.
                    const int64_t H = c.x[2], W = c.x[3], OH = y.shape()[2], OW = y.shape()[3];
                    for (int64_t p = 0; p < c.x[0] * C; ++p) {
                        kt->f32_dwconv(x.data<float>() + p * H * W, H, W,
                                       w.data<float>() + (p % C) * c.k * c.k, c.k, c.k, c.stride,
                                       c.stride, c.pads[0], c.pads[1],
                                       with_bias ? b.data<float>()[p % C] : 0.0f,
                                       y.data<float>() + p * OH * OW, OH, OW, act);
                    }
                    EXPECT_LT(rel_err(y.data<float>(), want.data(), y.numel()), 1e-6)
                        << activation_name(act);
                    // This ISA's channel-group kernel on every whole group of channels.
                    const int64_t V = kt->f32_dwconv_lanes;
                    if (C >= V) {
                        std::vector<float> wt(static_cast<size_t>(c.k * c.k * V)), bias(V, 0.0f);
                        Tensor y3 = y.clone();
                        for (int64_t n0 = 0; n0 < c.x[0]; ++n0)
                            for (int64_t c0 = 0; c0 + V <= C; c0 += V) {
                                for (int64_t t = 0; t < c.k * c.k; ++t)
                                    for (int64_t j = 0; j < V; ++j)
                                        wt[t * V + j] = w.data<float>()[(c0 + j) * c.k * c.k + t];
                                for (int64_t j = 0; j < V; ++j)
                                    bias[j] = with_bias ? b.data<float>()[c0 + j] : 0.0f;
                                float* out = y3.data<float>() + (n0 * C + c0) * OH * OW;
                                std::fill(out, out + V * OH * OW, std::nanf(""));  // overwritten
                                kt->f32_dwconv_group(x.data<float>() + (n0 * C + c0) * H * W, H, W,
                                                     H * W, wt.data(), bias.data(), c.k, c.k,
                                                     c.stride, c.stride, c.pads[0], c.pads[1], out,
                                                     OH, OW, OH * OW, act);
                            }
                        EXPECT_LT(rel_err(y3.data<float>(), want.data(), y3.numel()), 1e-6)
                            << "channel groups, " << activation_name(act);
                    }
                    // And the prepared kernel (the dispatched ISA) through ComputeContext.
                    Tensor y2 = Tensor::create(DType::kFloat32, ref[0].shape()).value();
                    ThreadPool pool(2);
                    ComputeContext ctx{n, in, {&y2}, &pool};
                    ASSERT_TRUE(k->run(ctx).ok());
                    EXPECT_LT(rel_err(y2.data<float>(), want.data(), y2.numel()), 1e-6);
                }
            }
    }
    // Dilated or stride-3 depthwise convolutions are not this kernel's.
    Attributes a;
    a.set("group", Attribute::make_int(2));
    a.set("dilations", Attribute::make_ints({2, 2}));
    Tensor w = random_tensor({2, 1, 3, 3}, 1);
    EXPECT_EQ(prepare_f32_dwconv(make_node("Conv", {"x", "w"}, {"y"}, a), {nullptr, &w}, {}),
              nullptr);
}

// MaxPool and GlobalAveragePool kernels against the reference: kernel sizes,
// strides 1 and 2, padding, ceil mode, planes split over threads.
TEST(Kernels, F32PoolsMatchTheReference) {
    struct Case {
        Shape x;
        int64_t k, stride, ceil;
        std::vector<int64_t> pads;
    };
    const std::vector<Case> cases = {
        {{1, 3, 112, 112}, 3, 2, 0, {1, 1, 1, 1}},
        {{2, 4, 9, 10}, 2, 2, 0, {0, 0, 0, 0}},
        {{1, 2, 13, 17}, 3, 2, 1, {0, 0, 0, 0}},
        {{1, 2, 8, 8}, 5, 1, 0, {2, 2, 2, 2}},
        {{1, 1, 1, 1}, 1, 1, 0, {0, 0, 0, 0}},
        // Enough channels for the channel-group kernel (V planes at once, the rest
        // one at a time), with padding and ceil mode.
        {{1, 20, 112, 112}, 3, 2, 0, {1, 1, 1, 1}},
        {{2, 17, 9, 10}, 2, 2, 0, {0, 0, 0, 0}},
        {{1, 33, 13, 17}, 3, 2, 1, {1, 0, 1, 0}},
        {{1, 16, 8, 8}, 5, 1, 0, {2, 2, 2, 2}},
        // Bands of output rows per thread (2 threads, at least 16 rows), ceil mode.
        {{1, 17, 40, 37}, 3, 2, 1, {1, 0, 0, 0}},
    };
    ThreadPool pool(2);
    int seed = 300;
    for (Isa isa : isas()) {
        const KernelTable* kt = kernels_for(isa);
        SCOPED_TRACE(kt->f32_maxpool_name);
        for (const Case& c : cases) {
            Attributes a;
            a.set("kernel_shape", Attribute::make_ints({c.k, c.k}));
            a.set("strides", Attribute::make_ints({c.stride, c.stride}));
            a.set("pads", Attribute::make_ints(c.pads));
            a.set("ceil_mode", Attribute::make_int(c.ceil));
            Node n = make_node("MaxPool", {"x"}, {"y"}, a);
            Tensor x = random_tensor(c.x, ++seed);
            std::vector<Tensor> ref;
            ASSERT_TRUE(run_node(n, {&x}, &ref, true).ok());
            Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
            const int64_t H = c.x[2], W = c.x[3], OH = y.shape()[2], OW = y.shape()[3];
            for (int64_t p = 0; p < c.x[0] * c.x[1]; ++p)
                kt->f32_maxpool(x.data<float>() + p * H * W, H, W, c.k, c.k, c.stride, c.stride,
                                c.pads[0], c.pads[1], y.data<float>() + p * OH * OW, OH, OW);
            EXPECT_EQ(max_abs_diff(y, ref[0]), 0.0) << shape_str(c.x);
            // This ISA's channel-group kernel on every whole group of channels.
            const int64_t C = c.x[1], V = kt->f32_dwconv_lanes;
            if (C >= V) {
                Tensor y3 = y.clone();
                for (int64_t n0 = 0; n0 < c.x[0]; ++n0)
                    for (int64_t c0 = 0; c0 + V <= C; c0 += V) {
                        float* out = y3.data<float>() + (n0 * C + c0) * OH * OW;
                        std::fill(out, out + V * OH * OW, 1e30f);  // must be overwritten
                        kt->f32_maxpool_group(x.data<float>() + (n0 * C + c0) * H * W, H, W, H * W,
                                              c.k, c.k, c.stride, c.stride, c.pads[0], c.pads[1],
                                              out, OH, OW, OH * OW);
                    }
                EXPECT_EQ(max_abs_diff(y3, ref[0]), 0.0) << "channel groups " << shape_str(c.x);
            }
            auto k = prepare_f32_pool(n, {nullptr}, {});
            ASSERT_TRUE(k != nullptr);
            Tensor y2 = Tensor::create(DType::kFloat32, ref[0].shape()).value();
            ComputeContext ctx{n, {&x}, {&y2}, &pool};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_EQ(max_abs_diff(y2, ref[0]), 0.0);
        }
    }
    for (Shape s : {Shape{1, 96, 7, 7}, Shape{2, 3, 1, 1}, Shape{1, 5, 3, 11}}) {
        Node n = make_node("GlobalAveragePool", {"x"}, {"y"});
        Tensor x = random_tensor(s, ++seed);
        std::vector<Tensor> ref, fast;
        ASSERT_TRUE(run_node(n, {&x}, &ref, true).ok());
        ASSERT_TRUE(run_node(n, {&x}, &fast, false).ok());
        EXPECT_LT(max_abs_diff(fast[0], ref[0]), 1e-6) << shape_str(s);
    }
}

// Gemm and MatMul with constant weights (the dense kernel) against the reference:
// transB, alpha and beta, bias shapes, one row and several, batched MatMul, threads.
TEST(Kernels, F32DenseMatchesTheReferenceGemmAndMatMul) {
    struct Case {
        std::string op;
        Shape x, w, c;
        int64_t trans_b;
        float alpha, beta;
    };
    const std::vector<Case> cases = {
        {"Gemm", {1, 37}, {101, 37}, {101}, 1, 1.0f, 1.0f},
        {"Gemm", {5, 37}, {37, 19}, {1, 19}, 0, 0.5f, 2.0f},
        {"Gemm", {3, 300}, {300, 70}, {}, 0, 1.0f, 1.0f},
        {"Gemm", {1, 16}, {8, 16}, {1}, 1, 1.0f, -1.0f},
        {"MatMul", {2, 7, 33}, {33, 17}, {}, 0, 1.0f, 1.0f},
        {"MatMul", {1, 64}, {64, 130}, {}, 0, 1.0f, 1.0f},
        {"Gemm", {70, 96}, {96, 200}, {200}, 0, 1.0f, 1.0f},  // rows enough for the sparse path
    };
    ThreadPool pool(2);
    int seed = 500;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.op + " " + shape_str(c.x) + " * " + shape_str(c.w));
        Attributes a;
        if (c.op == "Gemm") {
            a.set("transB", Attribute::make_int(c.trans_b));
            a.set("alpha", Attribute::make_float(c.alpha));
            a.set("beta", Attribute::make_float(c.beta));
        }
        std::vector<std::string> names = {"x", "w"};
        if (!c.c.empty()) names.push_back("c");
        Node n = make_node(c.op, names, {"y"}, a);
        Tensor x = random_tensor(c.x, ++seed), w = random_tensor(c.w, ++seed),
               bias = random_tensor(c.c.empty() ? Shape{1} : c.c, ++seed);
        std::vector<const Tensor*> in = {&x, &w}, constants = {nullptr, &w};
        if (!c.c.empty()) {
            in.push_back(&bias);
            constants.push_back(&bias);
        }
        // Dense weights, then the same pruned to 15% (the sparse kernel).
        for (bool pruned : {false, true}) {
            if (pruned)
                for (int64_t i = 0; i < w.numel(); ++i)
                    if ((i * 2654435761u >> 7) % 100 < 85) w.data<float>()[i] = 0.0f;
            std::vector<Tensor> ref;
            ASSERT_TRUE(run_node(n, in, &ref, true).ok());
            for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                std::string name;
                const double err = dense_relu_error(n, in, constants, ref[0], p, &name);
                ASSERT_FALSE(name.empty());
                EXPECT_EQ(name.find("sparse") != std::string::npos, pruned) << name;
                EXPECT_LT(err, 1e-5) << (pruned ? "pruned" : "dense");
            }
        }
    }
    // transA, or a C with one value per row and column, is the reference's.
    Attributes ta;
    ta.set("transA", Attribute::make_int(1));
    Tensor w = random_tensor({4, 3}, 1), full_c = random_tensor({2, 3}, 2);
    EXPECT_EQ(prepare_f32_dense(make_node("Gemm", {"x", "w"}, {"y"}, ta), {nullptr, &w}, {}),
              nullptr);
    EXPECT_EQ(
        prepare_f32_dense(make_node("Gemm", {"x", "w", "c"}, {"y"}), {nullptr, &w, &full_c}, {}),
        nullptr);
}

// N:M-pruned weights of at least a megabyte (2:4 and 1:4 along k: pare prune
// --method nm) run the batch-1 product on f32_gemv_nm, named in the plan, and
// match the reference Gemm and MatMul (transB; output counts that leave a partial
// block of lanes; 1 and 2 threads); several rows, weights with 3 nonzeros in one
// group of 4, k not a multiple of 4 or a small layer stay on the dense paths.
TEST(Kernels, F32DenseNmPathMatchesTheReferenceAtBatchOne) {
    struct Case {
        std::string op;
        int64_t K, N, keep, trans_b, rows;
        bool nm;  // the N:M path expected
    };
    const std::vector<Case> cases = {
        {"Gemm", 512, 520, 2, 0, 1, true},    {"Gemm", 640, 413, 2, 1, 1, true},
        {"MatMul", 1024, 300, 1, 0, 1, true}, {"Gemm", 512, 520, 2, 0, 3, false},
        {"Gemm", 512, 520, 3, 0, 1, false},   {"Gemm", 514, 520, 2, 0, 1, false},
        {"Gemm", 128, 256, 2, 0, 1, false},
    };
    ThreadPool pool(2);
    int seed = 900;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.op + " K " + std::to_string(c.K) + " N " + std::to_string(c.N) + " keep " +
                     std::to_string(c.keep) + " rows " + std::to_string(c.rows));
        Attributes a;
        if (c.op == "Gemm") a.set("transB", Attribute::make_int(c.trans_b));
        std::vector<std::string> names = {"x", "w"};
        if (c.op == "Gemm") names.push_back("c");
        Node n = make_node(c.op, names, {"y"}, a);
        const Shape ws = c.trans_b ? Shape{c.N, c.K} : Shape{c.K, c.N};
        Tensor x = random_tensor({c.rows, c.K}, ++seed), w = random_tensor(ws, ++seed),
               bias = random_tensor({c.N}, ++seed);
        // Keep c.keep of every 4 consecutive k of each output (which ones varies).
        for (int64_t o = 0; o < c.N; ++o)
            for (int64_t k = 0; k < c.K; ++k) {
                const int64_t at = c.trans_b ? o * c.K + k : k * c.N + o;
                if ((k % 4 + o + k / 4) % 4 >= c.keep) w.data<float>()[at] = 0.0f;
            }
        std::vector<const Tensor*> in = {&x, &w}, constants = {nullptr, &w};
        if (c.op == "Gemm") {
            in.push_back(&bias);
            constants.push_back(&bias);
        }
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, in, &ref, true).ok());
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            std::string name;
            const double err = dense_relu_error(n, in, constants, ref[0], p, &name);
            ASSERT_FALSE(name.empty());
            const bool nm = name.find("f32_gemv_nm") != std::string::npos;
            EXPECT_EQ(nm && c.rows == 1, c.nm) << name;
            EXPECT_LT(err, 1e-5);
        }
    }
}

// The vector exponential behind the fused sigmoid and SiLU: relative error against
// std::exp over the clamped range, and saturation beyond it.
TEST(Kernels, VectorSigmoidAndSiluAreAccurate) {
    const int64_t n = 20001;
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = -100.0f + 200.0f * static_cast<float>(i) / (n - 1);
    for (Isa isa : isas()) {
        const KernelTable* kt = kernels_for(isa);
        SCOPED_TRACE(kt->f32_gemm_name);
        for (Activation::Kind kind : {Activation::kSigmoid, Activation::kSiLU}) {
            // Through the GEMM epilogue: A = identity column, B = the values.
            const Activation act{kind};
            std::vector<float> a = {1.0f}, packed(f32_packed_a_size(1, 1, kt->f32_gemm_mr));
            f32_pack_a(1, 1, a.data(), 1, kt->f32_gemm_mr, packed.data());
            std::vector<float> y(n);
            kt->f32_gemm_packed({packed.data(), 1, 1, kt->f32_gemm_mr}, 0, 1, n, {x.data(), n},
                                y.data(), n, nullptr, nullptr, act);
            for (int64_t i = 0; i < n; ++i) {
                const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
                const double want = kind == Activation::kSigmoid ? s : x[i] * s;
                if (std::fabs(x[i]) < 80) {
                    ASSERT_LE(std::fabs(y[i] - want), 1e-6 * std::fabs(want) + 1e-30)
                        << activation_name(act) << "(" << x[i] << ")";
                }
            }
            EXPECT_EQ(y[n - 1], kind == Activation::kSigmoid ? 1.0f : 100.0f);
        }
    }
}

// Elementwise kernels against the reference: same shapes, a single value, per-channel
// and last-dim broadcasts on either side, shapes the kernel leaves to the reference,
// a fused Relu, standalone activations, and in place.
// Softmax along the last axis on the vector exponential: within 1e-6 relative L2
// of the reference (double exp and sum) for rows of 1, 7, 16, 17 and 6625 values
// (the PaddleOCR recognizer's classes) with large logits, and the same on 3
// threads as on one; another axis is left to the reference.
TEST(Kernels, F32SoftmaxMatchesTheReference) {
    ThreadPool pool(3);
    for (const Shape& sh :
         {Shape{1, 1}, Shape{3, 7}, Shape{2, 4, 16}, Shape{5, 17}, Shape{1, 40, 6625}}) {
        SCOPED_TRACE(shape_str(sh));
        Node n = make_node("Softmax", {"x"}, {"y"});
        Tensor x = random_tensor(sh, 900 + sh.back(), -30.0f, 30.0f);
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, {&x}, &ref, true).ok());
        auto k = prepare_f32_elementwise(n, {nullptr}, {});
        ASSERT_TRUE(k != nullptr);
        EXPECT_EQ(k->name(), "f32_softmax");
        Tensor y1 = Tensor::create(DType::kFloat32, sh).value();
        Tensor y3 = Tensor::create(DType::kFloat32, sh).value();
        ComputeContext c1{n, {&x}, {&y1}, nullptr}, c3{n, {&x}, {&y3}, &pool};
        ASSERT_TRUE(k->run(c1).ok());
        ASSERT_TRUE(k->run(c3).ok());
        EXPECT_LT(rel_err(y1.data<float>(), ref[0].data<float>(), y1.numel()), 1e-6);
        EXPECT_EQ(max_abs_diff(y1, y3), 0.0);
    }
    Attributes a;
    a.set("axis", Attribute::make_int(0));
    EXPECT_EQ(prepare_f32_elementwise(make_node("Softmax", {"x"}, {"y"}, a), {nullptr}, {}),
              nullptr);
}

TEST(Kernels, F32ElementwiseMatchesTheReference) {
    const std::vector<std::pair<Shape, Shape>> shapes = {
        {{1, 8, 5, 7}, {1, 8, 5, 7}},
        {{1, 8, 5, 7}, {1}},
        {{1, 8, 5, 7}, {1, 8, 1, 1}},
        {{1, 8, 1, 1}, {2, 8, 5, 7}},
        {{3, 10}, {10}},
        {{4, 1, 6}, {4, 5, 6}},
        {{1, 3, 1, 4}, {1, 1, 5, 1}},
        {{2, 3, 5}, {1, 3, 1}},
        {{7}, {}},
        // Past one 2048-float chunk: split over threads by ranges and blocks.
        {{1, 3, 61, 67}, {1, 3, 61, 67}},
        {{1, 3, 61, 67}, {1}},
        {{1, 3, 61, 67}, {1, 3, 1, 1}},
    };
    ThreadPool pool(3);
    int seed = 700;
    for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
        for (const auto& sh : shapes) {
            SCOPED_TRACE(std::string(op) + " " + shape_str(sh.first) + " " + shape_str(sh.second));
            Node n = make_node(op, {"a", "b"}, {"y"});
            Tensor a = random_tensor(sh.first, ++seed, 0.5f, 2.0f),
                   b = random_tensor(sh.second, ++seed, 0.5f, 2.0f);
            std::vector<Tensor> ref;
            ASSERT_TRUE(run_node(n, {&a, &b}, &ref, true).ok());
            for (bool relu : {false, true}) {
                auto k = prepare_f32_elementwise(
                    n, {nullptr, nullptr}, relu ? Activation{Activation::kRelu} : Activation{});
                ASSERT_TRUE(k != nullptr);
                Tensor want = ref[0].clone();
                if (relu) {
                    // Relu of (a op b) computed as the reference would.
                    for (int64_t i = 0; i < want.numel(); ++i)
                        want.data<float>()[i] = std::max(0.0f, ref[0].data<float>()[i]);
                }
                for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                    Tensor y = Tensor::create(DType::kFloat32, ref[0].shape()).value();
                    ComputeContext ctx{n, {&a, &b}, {&y}, p};
                    ASSERT_TRUE(k->run(ctx).ok());
                    EXPECT_LT(max_abs_diff(y, want), 1e-6);
                }
            }
            if (sh.first == ref[0].shape()) {
                // In place over the first operand.
                Tensor a2 = a.clone();
                auto k = prepare_f32_elementwise(n, {nullptr, nullptr}, {});
                ComputeContext ctx{n, {&a2, &b}, {&a2}, nullptr};
                ASSERT_TRUE(k->run(ctx).ok());
                EXPECT_LT(max_abs_diff(a2, ref[0]), 1e-6);
            }
        }
    }
    for (const char* op : {"Relu", "Sigmoid", "HardSwish", "HardSigmoid"}) {
        Node n = make_node(op, {"x"}, {"y"});
        for (const Shape& sh : {Shape{3, 37}, Shape{2, 3, 41, 43}}) {
            Tensor x = random_tensor(sh, ++seed, -6.0f, 6.0f);
            std::vector<Tensor> ref, fast;
            ASSERT_TRUE(run_node(n, {&x}, &ref, true).ok());
            ASSERT_TRUE(run_node(n, {&x}, &fast, false).ok());
            EXPECT_LT(max_abs_diff(fast[0], ref[0]), 1e-6) << op;
            auto k = prepare_kernel(n, {nullptr}, {});
            ASSERT_TRUE(k != nullptr);
            Tensor y = Tensor::create(DType::kFloat32, sh).value();
            ComputeContext ctx{n, {&x}, {&y}, &pool};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_EQ(max_abs_diff(y, fast[0]), 0.0) << op << " on 3 threads";
        }
    }
}

namespace {

Tensor random_bytes(DType t, Shape s, uint64_t seed) {
    Tensor r = Tensor::create(t, s).value();
    std::mt19937_64 rng(seed);
    for (int64_t i = 0; i < r.numel(); ++i) static_cast<uint8_t*>(r.raw())[i] = rng() & 0xff;
    return r;
}

Tensor scalar_tensor(DType t, double v) {
    Tensor r = Tensor::create(t, {}).value();
    if (t == DType::kFloat32) {
        r.data<float>()[0] = static_cast<float>(v);
    } else {
        static_cast<uint8_t*>(r.raw())[0] = static_cast<uint8_t>(static_cast<int>(v));
    }
    return r;
}

}  // namespace

// The int8 convolution tile against the reference QLinearConv: every output byte
// equal (the reference defines the integer results), across pointwise, padded
// stride-1 (positions over the padded width), strided and dilated (im2col) cases,
// channel counts around the 6-row tile, K around groups of 4, positions around
// the 64-column panel, two images, 1 and 3 threads.
TEST(Kernels, Qu8ConvEqualsTheReferenceQLinearConvByteForByte) {
    if (!kernels().qu8_conv_tile) GTEST_SKIP() << "no int8 convolution tile on this CPU";
    struct Case {
        Shape x, w;
        std::vector<int64_t> strides, pads, dilations;
    };
    const std::vector<Case> cases = {
        {{1, 16, 8, 8}, {16, 16, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},    // pointwise, P = 64
        {{2, 7, 9, 11}, {13, 7, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},     // K 7, M 13, P 99
        {{1, 16, 28, 28}, {16, 16, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},  // padded, wide
        {{1, 5, 10, 13}, {7, 5, 3, 3}, {1, 1}, {0, 2, 1, 0}, {1, 1}},     // asymmetric pads
        {{1, 3, 12, 12}, {6, 3, 3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}},     // valid: no copy
        {{1, 64, 7, 7}, {130, 64, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
        {{1, 3, 30, 30}, {8, 3, 7, 7}, {2, 2}, {3, 3, 3, 3}, {1, 1}},     // stem: im2col
        {{1, 12, 15, 15}, {24, 12, 1, 1}, {2, 2}, {0, 0, 0, 0}, {1, 1}},  // strided pointwise
        {{1, 9, 11, 11}, {10, 9, 3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}},    // dilated, wide
        {{1, 4, 9, 20}, {5, 4, 1, 5}, {1, 3}, {0, 2, 0, 1}, {1, 1}},
        {{1, 8, 6, 6}, {9, 8, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},  // M 9: a block of 3 rows
        // Many channels over few positions (the transposed tile where the table has
        // one): 25 positions; 100 channels (a partial block of 36) over 20; 72
        // positions (two tasks of 48).
        {{1, 32, 5, 5}, {64, 32, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
        {{1, 16, 4, 5}, {100, 16, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
        {{1, 8, 8, 9}, {64, 8, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}},
    };
    ThreadPool pool(3);
    uint64_t seed = 5100;
    int direct = 0, packed = 0, lanes = 0;
    for (const bool seven_bit : {false, true})
        for (const Case& c : cases) {
            SCOPED_TRACE(shape_str(c.x) + " * " + shape_str(c.w) +
                         (seven_bit ? ", weights in [-64, 64]" : ""));
            Attributes a;
            a.set("strides", Attribute::make_ints(c.strides));
            a.set("pads", Attribute::make_ints(c.pads));
            a.set("dilations", Attribute::make_ints(c.dilations));
            Node n = make_node("QLinearConv", {"x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"},
                               {"y"}, a);
            const int64_t M = c.w[0];
            Tensor x = random_bytes(DType::kUint8, c.x, ++seed);
            Tensor w = random_bytes(DType::kInt8, c.w, ++seed);
            for (int64_t i = 0; i < w.numel(); ++i) {  // symmetric weights: -127..127
                int8_t& v = w.data<int8_t>()[i];
                if (v == -128) v = -127;
                if (seven_bit) v = static_cast<int8_t>(v / 2);  // -63..63 (and the extremes below)
            }
            if (seven_bit) {
                w.data<int8_t>()[0] = 64;
                w.data<int8_t>()[w.numel() - 1] = -64;
            }
            Tensor sx = scalar_tensor(DType::kFloat32, 0.02),
                   zx = scalar_tensor(DType::kUint8, 117);
            Tensor sy = scalar_tensor(DType::kFloat32, 0.9), zy = scalar_tensor(DType::kUint8, 131);
            Tensor sw = random_tensor({M}, ++seed, 0.002f, 0.02f);
            Tensor zw = Tensor::create(DType::kInt8, {M}).value();
            Tensor b = Tensor::create(DType::kInt32, {M}).value();
            std::mt19937_64 rng(++seed);
            for (int64_t m = 0; m < M; ++m) {
                zw.data<int8_t>()[m] = 0;
                b.data<int32_t>()[m] = static_cast<int32_t>(rng() % 20001) - 10000;
            }
            const std::vector<const Tensor*> in = {&x, &sx, &zx, &w, &sw, &zw, &sy, &zy, &b};
            std::vector<Tensor> ref;
            ASSERT_TRUE(run_node(n, in, &ref, true).ok());
            // Outputs spread over the range, clamped at both ends somewhere.
            int low = 0, high = 0;
            for (int64_t i = 0; i < ref[0].numel(); ++i) {
                low += ref[0].data<uint8_t>()[i] == 0;
                high += ref[0].data<uint8_t>()[i] == 255;
            }
            EXPECT_LT(low + high, ref[0].numel() / 2) << "mostly saturated: a weak test";
            std::vector<const Tensor*> consts = in;
            consts[0] = nullptr;
            auto k = prepare_kernel(n, consts, {}, false, &c.x);
            ASSERT_TRUE(k != nullptr);
            const std::string packed_name = seven_bit && kernels().qu8_conv_tile_7bit
                                                ? kernels().qu8_conv_name_7bit
                                                : kernels().qu8_conv_name;
            // The direct tile (on the input interleaved by channel quads) where the
            // table has one and the padding of the channels to quads costs less than
            // packing panels.
            if (k->name() == packed_name + "_direct") {
                ++direct;
            } else if (k->name() == std::string(kernels().qu8_conv_name) + "_lanes") {
                ++direct;  // the direct tile transposed: channels in the vector lanes
                ++lanes;
            } else {
                EXPECT_EQ(k->name(), packed_name);
                ++packed;
            }
            for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                Tensor y = Tensor::create(DType::kUint8, ref[0].shape()).value();
                ComputeContext ctx{n, in, {&y}, p};
                ASSERT_TRUE(k->run(ctx).ok());
                int64_t diff = 0;
                for (int64_t i = 0; i < y.numel(); ++i)
                    diff += y.data<uint8_t>()[i] != ref[0].data<uint8_t>()[i];
                EXPECT_EQ(diff, 0) << "of " << y.numel() << (p ? ", 3 threads" : ", 1 thread")
                                   << " (" << low << " at 0, " << high << " at 255)";
            }
        }
    // Both ways are exercised where the table has the direct tile.
    EXPECT_GE(packed, 2);
    if (kernels().qu8_conv_tile_direct) {
        EXPECT_GE(direct, 6);
    }
    if (kernels().qu8_conv_tile_lanes) {
        EXPECT_GE(lanes, 6);
    }
    std::printf(
        "int8 convolution cases: %d on the direct tile (%d of them transposed), %d on packed "
        "panels\n",
        direct, lanes, packed);
    // One prepared kernel on inputs of changing spatial size (its geometry is
    // worked out again for each): 12x12, 7x9, 12x12, padded 3x3; 5 input channels
    // (packed panels) and 8 (the direct tile where the table has one).
    for (const int64_t C : {5, 8}) {
        SCOPED_TRACE(std::to_string(C) + " input channels");
        Attributes a;
        a.set("pads", Attribute::make_ints({1, 1, 1, 1}));
        Node n = make_node("QLinearConv", {"x", "sx", "zx", "w", "sw", "zw", "sy", "zy"}, {"y"}, a);
        Tensor w = random_bytes(DType::kInt8, {8, C, 3, 3}, 61);
        for (int64_t i = 0; i < w.numel(); ++i)
            if (w.data<int8_t>()[i] == -128) w.data<int8_t>()[i] = -127;
        Tensor sx = scalar_tensor(DType::kFloat32, 0.02), zx = scalar_tensor(DType::kUint8, 117);
        Tensor sw = scalar_tensor(DType::kFloat32, 0.01), zw = scalar_tensor(DType::kInt8, 0);
        Tensor sy = scalar_tensor(DType::kFloat32, 0.5), zy = scalar_tensor(DType::kUint8, 128);
        const Shape first = {1, C, 12, 12};
        auto k = prepare_kernel(n, {nullptr, &sx, &zx, &w, &sw, &zw, &sy, &zy}, {}, false, &first);
        ASSERT_TRUE(k != nullptr);
        if (kernels().qu8_conv_tile_direct) {
            EXPECT_EQ(k->name(), kernels().qu8_conv_name + std::string(C == 8 ? "_direct" : ""));
        }
        int64_t checked = 0;
        for (const Shape& xs : {first, Shape{1, C, 7, 9}, first}) {
            SCOPED_TRACE(shape_str(xs));
            Tensor x = random_bytes(DType::kUint8, xs, 62 + checked);
            const std::vector<const Tensor*> in = {&x, &sx, &zx, &w, &sw, &zw, &sy, &zy};
            std::vector<Tensor> ref;
            ASSERT_TRUE(run_node(n, in, &ref, true).ok());
            Tensor y = Tensor::create(DType::kUint8, ref[0].shape()).value();
            ComputeContext ctx{n, in, {&y}, nullptr};
            ASSERT_TRUE(k->run(ctx).ok());
            ASSERT_EQ(0, std::memcmp(y.data<uint8_t>(), ref[0].data<uint8_t>(),
                                     static_cast<size_t>(y.numel())));
            checked += y.numel();
        }
        EXPECT_EQ(checked, 8 * (144 + 63 + 144));
    }
    // Not taken: weight zero points other than 0, or a fused float activation.
    Node n = make_node("QLinearConv", {"x", "sx", "zx", "w", "sw", "zw", "sy", "zy"}, {"y"}, {});
    Tensor x = random_bytes(DType::kUint8, {1, 4, 5, 5}, 1);
    Tensor w = random_bytes(DType::kInt8, {6, 4, 3, 3}, 2);
    Tensor s = scalar_tensor(DType::kFloat32, 0.1), z = scalar_tensor(DType::kUint8, 3);
    Tensor zw = scalar_tensor(DType::kInt8, 1), zw0 = scalar_tensor(DType::kInt8, 0);
    const Shape xs = x.shape();
    EXPECT_EQ(prepare_kernel(n, {nullptr, &s, &z, &w, &s, &zw, &s, &z}, {}, false, &xs), nullptr);
    EXPECT_EQ(
        prepare_kernel(n, {nullptr, &s, &z, &w, &s, &zw0, &s, &z}, {Activation::kRelu}, false, &xs),
        nullptr);
    EXPECT_NE(prepare_kernel(n, {nullptr, &s, &z, &w, &s, &zw0, &s, &z}, {}, false, &xs), nullptr);
}

// MatMulInteger (int32 out), QLinearMatMul (uint8), QGemm (uint8, or float32
// without y_scale) and MatMulIntegerToFloat (float32 plus a float bias) on the int8
// tile equal the reference to the last bit (float outputs: the same float product
// and sum per output in both).
// Rows of a around the 64-row panel, K around groups of 4, output columns around
// the 6-column tile; batched a, a zero point known at prepare or read at run time
// (dynamic quantization), weights in [-64, 64] (the 7-bit tile where the table has
// one), 1 and 3 threads.
TEST(Kernels, Qu8GemmEqualsTheReferenceIntegerMatMulsAndQGemm) {
    if (!kernels().qu8_conv_tile) GTEST_SKIP() << "no int8 tile on this CPU";
    struct Case {
        Shape a;
        int64_t Mo;
    };
    const std::vector<Case> cases = {{{1, 1}, 1},     {{5, 3}, 7},      {{63, 4}, 6},
                                     {{64, 5}, 5},    {{65, 17}, 13},   {{131, 67}, 64},
                                     {{2, 3, 9}, 11}, {{40, 120}, 1105}};
    ThreadPool pool(3);
    uint64_t seed = 7300;
    int checked = 0;
    for (const bool seven_bit : {false, true})
        for (const Case& c : cases)
            for (const char* op :
                 {"MatMulInteger", "QLinearMatMul", "QGemm", "QGemm ", "MatMulIntegerToFloat"})
                for (const bool dynamic_za : {false, true}) {
                    const std::string kind = op;
                    const bool mmi = kind == "MatMulInteger", qgemm = kind.rfind("QGemm", 0) == 0;
                    const bool float_out = kind == "QGemm ";  // no y_scale
                    if (dynamic_za && !mmi) continue;
                    if (qgemm && c.a.size() != 2) continue;
                    SCOPED_TRACE(kind + " " + shape_str(c.a) + " x " + std::to_string(c.Mo) +
                                 (seven_bit ? ", 7-bit" : "") + (dynamic_za ? ", dynamic" : ""));
                    const int64_t K = c.a.back();
                    const bool trans_b = qgemm && c.Mo % 2 == 1;  // both layouts
                    Tensor a = random_bytes(DType::kUint8, c.a, ++seed);
                    Tensor w = random_bytes(DType::kInt8, trans_b ? Shape{c.Mo, K} : Shape{K, c.Mo},
                                            ++seed);
                    for (int64_t i = 0; i < w.numel(); ++i) {
                        int8_t& v = w.data<int8_t>()[i];
                        if (v == -128) v = -127;
                        if (seven_bit) v = static_cast<int8_t>(v / 2);
                    }
                    if (seven_bit) w.data<int8_t>()[0] = -64;
                    Tensor sa = scalar_tensor(DType::kFloat32, 0.03),
                           za = scalar_tensor(DType::kUint8, 121);
                    Tensor sb = random_tensor({c.Mo}, ++seed, 0.002f, 0.02f);
                    Tensor zb = Tensor::create(DType::kInt8, {c.Mo}).value();
                    std::memset(zb.raw(), 0, static_cast<size_t>(c.Mo));
                    // y's scale: the outputs spread over the range.
                    Tensor sy = scalar_tensor(DType::kFloat32,
                                              0.03 * 0.011 * 5400.0 * std::sqrt(double(K)) / 50.0);
                    Tensor zy = scalar_tensor(DType::kUint8, 125);
                    Tensor bias = Tensor::create(DType::kInt32, {c.Mo}).value();
                    std::mt19937_64 rng(++seed);
                    for (int64_t m = 0; m < c.Mo; ++m)
                        bias.data<int32_t>()[m] = static_cast<int32_t>(rng() % 4001) - 2000;
                    Tensor fbias = random_tensor({c.Mo}, ++seed, -3.0f, 3.0f);
                    Node n;
                    std::vector<const Tensor*> in;
                    if (mmi) {
                        n = make_node("MatMulInteger", {"a", "b", "za", "zb"}, {"y"});
                        in = {&a, &w, &za, &zb};
                    } else if (kind == "MatMulIntegerToFloat") {
                        n = make_node(kind, {"a", "b", "sa", "sb", "za", "zb", "fb"}, {"y"});
                        in = {&a, &w, &sa, &sb, &za, &zb, &fbias};
                    } else if (!qgemm) {
                        n = make_node("QLinearMatMul",
                                      {"a", "sa", "za", "b", "sb", "zb", "sy", "zy"}, {"y"});
                        in = {&a, &sa, &za, &w, &sb, &zb, &sy, &zy};
                    } else {
                        Attributes at;
                        at.set("transB", Attribute::make_int(trans_b ? 1 : 0));
                        std::vector<std::string> names = {"a", "sa", "za", "b", "sb", "zb", "c"};
                        in = {&a, &sa, &za, &w, &sb, &zb, &bias};
                        if (!float_out) {
                            names.insert(names.end(), {"sy", "zy"});
                            in.insert(in.end(), {&sy, &zy});
                        }
                        n = make_node("QGemm", names, {"y"}, at);
                    }
                    std::vector<Tensor> ref;
                    ASSERT_TRUE(run_node(n, in, &ref, true).ok());
                    std::vector<const Tensor*> consts = in;
                    consts[0] = nullptr;
                    if (dynamic_za) consts[2] = nullptr;
                    auto k = prepare_kernel(n, consts, {}, false, nullptr, DType::kUint8);
                    ASSERT_TRUE(k != nullptr);
                    EXPECT_EQ(k->name().rfind("qu8_gemm+", 0), 0u) << k->name();
                    if (!float_out && !mmi) {  // outputs spread: not mostly clamped
                        int64_t ends = 0;
                        for (int64_t i = 0; i < ref[0].numel(); ++i)
                            ends +=
                                ref[0].data<uint8_t>()[i] == 0 || ref[0].data<uint8_t>()[i] == 255;
                        EXPECT_LT(ends, ref[0].numel() / 2 + 1) << "mostly saturated";
                    }
                    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                        Tensor y = Tensor::create(ref[0].dtype(), ref[0].shape()).value();
                        ComputeContext ctx{n, in, {&y}, p};
                        ASSERT_TRUE(k->run(ctx).ok());
                        EXPECT_EQ(
                            0, std::memcmp(y.raw(), ref[0].raw(),
                                           static_cast<size_t>(y.numel()) * dtype_size(y.dtype())))
                            << (p ? "3 threads" : "1 thread");
                        ++checked;
                    }
                }
    EXPECT_EQ(checked, 2 * 2 * (8 * 2 + 8 + 7 * 2 + 8));
    // One prepared kernel on inputs of changing row counts (the offsets it keeps
    // between runs are made again) and zero points: 5, 70, 5 rows.
    {
        Node mm = make_node("MatMulInteger", {"a", "b", "za"}, {"y"});
        Tensor w = random_bytes(DType::kInt8, {19, 9}, 81);
        for (int64_t i = 0; i < w.numel(); ++i)
            if (w.data<int8_t>()[i] == -128) w.data<int8_t>()[i] = -127;
        auto k = prepare_kernel(mm, {nullptr, &w, nullptr}, {}, false, nullptr, DType::kUint8);
        ASSERT_TRUE(k != nullptr);
        int64_t seen = 0;
        for (const int64_t rows : {5, 70, 5}) {
            Tensor a = random_bytes(DType::kUint8, {rows, 19}, 82 + rows + seen);
            Tensor za = scalar_tensor(DType::kUint8, 100 + rows);
            std::vector<Tensor> ref;
            ASSERT_TRUE(run_node(mm, {&a, &w, &za}, &ref, true).ok());
            Tensor y = Tensor::create(DType::kInt32, ref[0].shape()).value();
            ComputeContext ctx{mm, {&a, &w, &za}, {&y}, nullptr};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_EQ(0, std::memcmp(y.raw(), ref[0].raw(), static_cast<size_t>(y.nbytes())))
                << rows << " rows";
            seen += y.numel();
        }
        EXPECT_EQ(seen, (5 + 70 + 5) * 9);
    }
    // Not taken: weight zero points other than 0, QGemm's alpha, a fused activation.
    Tensor a = random_bytes(DType::kUint8, {4, 8}, 1), w = random_bytes(DType::kInt8, {8, 6}, 2);
    Tensor zb1 = scalar_tensor(DType::kInt8, 1), zb0 = scalar_tensor(DType::kInt8, 0);
    Tensor s = scalar_tensor(DType::kFloat32, 0.1), z = scalar_tensor(DType::kUint8, 3);
    Node mmi = make_node("MatMulInteger", {"a", "b", "za", "zb"}, {"y"});
    EXPECT_EQ(prepare_kernel(mmi, {nullptr, &w, &z, &zb1}, {}, false, nullptr, DType::kUint8),
              nullptr);
    EXPECT_EQ(prepare_kernel(mmi, {nullptr, &w, &z, &zb0}, {}, false, nullptr, DType::kInt8),
              nullptr);
    EXPECT_NE(prepare_kernel(mmi, {nullptr, &w, &z, &zb0}, {}, false, nullptr, DType::kUint8),
              nullptr);
    Attributes alpha;
    alpha.set("alpha", Attribute::make_float(0.5f));
    Node qg = make_node("QGemm", {"a", "sa", "za", "b", "sb", "zb"}, {"y"}, alpha);
    EXPECT_EQ(
        prepare_kernel(qg, {nullptr, &s, &z, &w, &s, &zb0}, {}, false, nullptr, DType::kUint8),
        nullptr);
    Node qm = make_node("QLinearMatMul", {"a", "sa", "za", "b", "sb", "zb", "sy", "zy"}, {"y"});
    EXPECT_EQ(prepare_kernel(qm, {nullptr, &s, &z, &w, &s, &zb0, &s, &z}, {Activation::kRelu},
                             false, nullptr, DType::kUint8),
              nullptr);
}

// QuantizeLinear, DequantizeLinear and QLinearAdd on the vector kernels equal the
// reference exactly: lengths around the vector width and the chunk, values past
// the range at both ends, halves (rounding to even), NaN and infinities; 1 and 3
// threads.
TEST(Kernels, Qu8ElementwiseEqualsTheReferenceExactly) {
    if (!kernels().qu8_add) GTEST_SKIP() << "no int8 elementwise kernels on this ISA";
    ThreadPool pool(3);
    Tensor s = scalar_tensor(DType::kFloat32, 0.05), z = scalar_tensor(DType::kUint8, 100);
    Tensor s2 = scalar_tensor(DType::kFloat32, 0.07), z2 = scalar_tensor(DType::kUint8, 3);
    Tensor s3 = scalar_tensor(DType::kFloat32, 0.09), z3 = scalar_tensor(DType::kUint8, 140);
    for (int64_t len : {1, 15, 16, 17, 1000, 16384 * 2 + 5}) {
        SCOPED_TRACE(len);
        Tensor x = random_tensor({len}, 77 + len, -12.0f, 12.0f);
        for (int64_t i = 0; i < len; i += 7) x.data<float>()[i] = 0.025f * (i % 41) - 0.5f;
        if (len > 20) {
            x.data<float>()[3] = NAN;
            x.data<float>()[4] = INFINITY;
            x.data<float>()[5] = -INFINITY;
            x.data<float>()[6] = 3e38f;
        }
        Tensor a = random_bytes(DType::kUint8, {len}, 5 + len),
               b = random_bytes(DType::kUint8, {len}, 9 + len);
        struct Op {
            Node node;
            std::vector<const Tensor*> in;
        };
        const std::vector<Op> ops = {
            {make_node("QuantizeLinear", {"x", "s", "z"}, {"y"}), {&x, &s, &z}},
            {make_node("DequantizeLinear", {"a", "s", "z"}, {"y"}), {&a, &s, &z}},
            {make_node("QLinearAdd", {"a", "s", "z", "b", "s2", "z2", "s3", "z3"}, {"y"}),
             {&a, &s, &z, &b, &s2, &z2, &s3, &z3}},
        };
        for (const Op& op : ops) {
            SCOPED_TRACE(op.node.op_type);
            Node n = op.node;
            n.domain = n.op_type == "QLinearAdd" ? kMicrosoftDomain : "";
            n.op = op_from_name(n.op_type, n.domain);
            std::vector<Tensor> ref;
            ASSERT_TRUE(run_node(n, op.in, &ref, true).ok());
            std::vector<const Tensor*> consts = op.in;
            consts[0] = nullptr;
            if (n.op == OpKind::kQLinearAdd) consts[3] = nullptr;
            auto k = prepare_kernel(n, consts, {});
            ASSERT_TRUE(k != nullptr);
            for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
                Tensor y = Tensor::create(ref[0].dtype(), ref[0].shape()).value();
                ComputeContext ctx{n, op.in, {&y}, p};
                ASSERT_TRUE(k->run(ctx).ok());
                EXPECT_EQ(std::memcmp(y.raw(), ref[0].raw(), y.nbytes()), 0)
                    << k->name() << (p ? ", 3 threads" : ", 1 thread");
            }
        }
    }
}

// MaxPool of uint8 equals the reference byte for byte: 3x3 stride 2 pad 1 (the
// ResNet stem's), 2x2 stride 2, asymmetric pads, ceil_mode, 1 and 3 threads.
TEST(Kernels, Qu8MaxPoolEqualsTheReference) {
    struct Case {
        Shape x;
        std::vector<int64_t> k, s, p;
        int ceil;
    };
    const std::vector<Case> cases = {
        {{1, 5, 17, 17}, {3, 3}, {2, 2}, {1, 1, 1, 1}, 0},
        {{2, 3, 8, 9}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0},
        {{1, 4, 11, 7}, {3, 2}, {1, 2}, {1, 0, 2, 1}, 0},
        {{1, 2, 10, 10}, {3, 3}, {2, 2}, {0, 0, 0, 0}, 1},
    };
    ThreadPool pool(3);
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x));
        Attributes a;
        a.set("kernel_shape", Attribute::make_ints(c.k));
        a.set("strides", Attribute::make_ints(c.s));
        a.set("pads", Attribute::make_ints(c.p));
        a.set("ceil_mode", Attribute::make_int(c.ceil));
        Node n = make_node("MaxPool", {"x"}, {"y"}, a);
        Tensor x = random_bytes(DType::kUint8, c.x, 31 + c.x[2]);
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, {&x}, &ref, true).ok());
        auto k = prepare_kernel(n, {nullptr}, {}, false, &c.x, DType::kUint8);
        ASSERT_TRUE(k != nullptr);
        EXPECT_EQ(k->name(), "qu8_maxpool");
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            Tensor y = Tensor::create(DType::kUint8, ref[0].shape()).value();
            ComputeContext ctx{n, {&x}, {&y}, p};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_EQ(std::memcmp(y.raw(), ref[0].raw(), y.nbytes()), 0);
        }
    }
}

// Depthwise QLinearConv, exact in float, equals the reference byte for byte: 3x3
// stride 1 and 2, 5x5, planes of at most 28 columns (channel groups) and wider
// (one plane at a time), channel counts past a whole group, 1 and 3 threads.
TEST(Kernels, Qu8DwConvEqualsTheReferenceByteForByte) {
    if (!kernels().qu8_requantize) GTEST_SKIP() << "no int8 requantization kernel on this ISA";
    struct Case {
        Shape x;
        int64_t k, s, p;
    };
    const std::vector<Case> cases = {
        {{1, 37, 14, 14}, 3, 1, 1}, {{2, 16, 28, 28}, 3, 2, 1}, {{1, 20, 30, 33}, 3, 1, 1},
        {{1, 19, 9, 9}, 5, 2, 2},   {{1, 8, 7, 7}, 5, 1, 2},
    };
    ThreadPool pool(3);
    uint64_t seed = 8100;
    for (const Case& c : cases) {
        SCOPED_TRACE(shape_str(c.x) + " k" + std::to_string(c.k) + " s" + std::to_string(c.s));
        const int64_t C = c.x[1];
        Attributes a;
        a.set("group", Attribute::make_int(C));
        a.set("strides", Attribute::make_ints({c.s, c.s}));
        a.set("pads", Attribute::make_ints({c.p, c.p, c.p, c.p}));
        Node n =
            make_node("QLinearConv", {"x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"}, {"y"}, a);
        Tensor x = random_bytes(DType::kUint8, c.x, ++seed);
        Tensor w = random_bytes(DType::kInt8, {C, 1, c.k, c.k}, ++seed);
        Tensor sx = scalar_tensor(DType::kFloat32, 0.02), zx = scalar_tensor(DType::kUint8, 90);
        Tensor sy = scalar_tensor(DType::kFloat32, 0.3), zy = scalar_tensor(DType::kUint8, 128);
        Tensor sw = random_tensor({C}, ++seed, 0.002f, 0.02f);
        Tensor zw = scalar_tensor(DType::kInt8, 0);
        Tensor b = Tensor::create(DType::kInt32, {C}).value();
        std::mt19937_64 rng(++seed);
        for (int64_t m = 0; m < C; ++m)
            b.data<int32_t>()[m] = static_cast<int32_t>(rng() % 4001) - 2000;
        const std::vector<const Tensor*> in = {&x, &sx, &zx, &w, &sw, &zw, &sy, &zy, &b};
        std::vector<Tensor> ref;
        ASSERT_TRUE(run_node(n, in, &ref, true).ok());
        int sat = 0;
        for (int64_t i = 0; i < ref[0].numel(); ++i)
            sat += ref[0].data<uint8_t>()[i] == 0 || ref[0].data<uint8_t>()[i] == 255;
        EXPECT_LT(sat, ref[0].numel() / 2) << "mostly saturated: a weak test";
        std::vector<const Tensor*> consts = in;
        consts[0] = nullptr;
        auto k = prepare_kernel(n, consts, {}, false, &c.x);
        ASSERT_TRUE(k != nullptr);
        EXPECT_EQ(k->name().rfind("qu8_dwconv", 0), 0u) << k->name();
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            Tensor y = Tensor::create(DType::kUint8, ref[0].shape()).value();
            ComputeContext ctx{n, in, {&y}, p};
            ASSERT_TRUE(k->run(ctx).ok());
            EXPECT_EQ(std::memcmp(y.raw(), ref[0].raw(), y.nbytes()), 0)
                << (p ? "3 threads" : "1 thread");
        }
    }
}
