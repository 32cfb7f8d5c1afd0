// Optimized kernels, an addition to the reference kernels of runtime/ops/ (never
// a replacement): same inputs, outputs and shape inference. The executor asks for
// one per node at prepare time; the kernel packs what it can then (constant
// weights) and may absorb the activation that follows the node (fusion). Tested
// against the reference kernels (tests/unit/kernels_test.cpp).
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/thread_pool.h"
#include "runtime/cpu/cpu.h"
#include "runtime/ops/op.h"
#include "runtime/ops/requantize.h"

namespace pare {

class PreparedKernel {
  public:
    virtual ~PreparedKernel() = default;
    // What runs, e.g. "f32_conv_im2col+f32_gemm_6x16_avx2+relu" (pare info --plan).
    virtual std::string name() const = 0;
    // ctx.out holds tensors of the right shapes; ctx.pool may be null (one thread).
    virtual Status run(ComputeContext& ctx) const = 0;
};

// A kernel's name with its fused activation: "base" or "base+relu".
inline std::string with_activation(std::string base, const Activation& act) {
    if (act.kind != Activation::kNone) base += std::string("+") + activation_name(act);
    return base;
}

// The activation node computes, when it is one a kernel can apply as it stores:
// Relu, HardSwish, Sigmoid, or Clip whose bounds are constant float scalars (or
// absent). constants as for prepare_kernel.
bool activation_of(const Node& node, const std::vector<const Tensor*>& constants, Activation* act);

// The optimized kernel for node, or nullptr when there is none for these inputs or
// it cannot apply act. constants[i] is input i's value when it is known at prepare
// time (an initializer), else nullptr; the kernel copies what it keeps. residual:
// the kernel also adds a tensor of the output's shape, given as one more input
// after the node's own, before the activation (Conv only: a fused skip-connection
// Add).
// input_shape: input 0's shape when the executor knows it statically (it selects
// kernels that pay only on large planes; any shape still runs), else null.
// input_dtype: input 0's type when known (MaxPool of uint8 gets the integer kernel).
std::unique_ptr<PreparedKernel> prepare_kernel(const Node& node,
                                               const std::vector<const Tensor*>& constants,
                                               const Activation& act, bool residual = false,
                                               const Shape* input_shape = nullptr,
                                               DType input_dtype = DType::kUndefined);

// The fused residual of a Conv kernel prepared with residual = true (the last
// input, in the output's shape), or null when not fused; fails when it does not
// match the output.
inline Result<const float*> fused_residual(const ComputeContext& ctx, bool fused, const Tensor& Y) {
    if (!fused) return static_cast<const float*>(nullptr);
    const Tensor* R = ctx.in.back();
    if (!R || R->shape() != Y.shape() || R->dtype() != DType::kFloat32)
        return internal_error("fused residual does not match the conv output");
    return R->data<float>();
}

// Per-op factories (one file each); same contract as prepare_kernel.

// TreeEnsembleClassifier/Regressor parsed once and re-laid out (ml_tree.cpp).
std::unique_ptr<PreparedKernel> prepare_ml_tree(const Node& node);
std::unique_ptr<PreparedKernel> prepare_f32_conv_gemm(const Node& node,
                                                      const std::vector<const Tensor*>& constants,
                                                      const Activation& act, bool residual = false);

std::unique_ptr<PreparedKernel> prepare_f32_conv_transpose(
    const Node& node, const std::vector<const Tensor*>& constants, const Activation& act);

std::unique_ptr<PreparedKernel> prepare_f32_resize(const Node& node,
                                                   const std::vector<const Tensor*>& constants,
                                                   const Activation& act);

// A convolution of one group whose weights have at most kSparseDensity of
// them nonzero (pruned), on the table's f32_spmm over CSR weights (null otherwise);
// prepare_f32_dense likewise for Gemm/MatMul weights. The density below which it
// beats the dense kernels on this machine's AVX-512 (measured on ResNet-20's
// pruned layers; docs/design.md, "Sparse kernels").
constexpr double kSparseDensity = 0.3;

// Pruned weights as CSR rows for the table's f32_spmm: row r holds the nonzeros of
// w[r * row_stride + k * col_stride], k < cols, with their k.
struct F32Csr {
    std::vector<int32_t> row_ptr, col;
    std::vector<float> val;
    F32Csr() = default;
    F32Csr(const float* w, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride);
    bool empty() const { return row_ptr.empty(); }
    // "(density 0.10)" for a kernel's name: the nonzero fraction of rows x cols.
    std::string density_tag(int64_t rows, int64_t cols) const;
};
// Whether n weights are sparse enough for the sparse kernels (at most
// kSparseDensity nonzero, fewer than 2^31 of them) and the table has f32_spmm.
bool sparse_enough(const float* w, int64_t n);
std::unique_ptr<PreparedKernel> prepare_f32_conv_sparse(const Node& node,
                                                        const std::vector<const Tensor*>& constants,
                                                        const Activation& act, bool residual);

// Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions of at least 32 input and 16
// output channels and 28x28 outputs (input_shape required).
std::unique_ptr<PreparedKernel> prepare_f32_conv_winograd(
    const Node& node, const std::vector<const Tensor*>& constants, const Activation& act,
    bool residual, const Shape* input_shape);

// Direct convolution (the dispatched f32_conv_tile) for 2-D convolutions of one group:
// KxK ones, and pointwise ones on planes of at most 14x14 (input_shape required).
std::unique_ptr<PreparedKernel> prepare_f32_conv_direct(const Node& node,
                                                        const std::vector<const Tensor*>& constants,
                                                        const Activation& act, bool residual,
                                                        const Shape* input_shape);

// QLinearConv with uint8 activations and symmetric int8 weights, one group, 2-D, on
// the table's int8 tile (null when the table has none: the reference runs). With a
// static input_shape its geometry is worked out at prepare (and the kernel's name
// says which tile it takes).
std::unique_ptr<PreparedKernel> prepare_qu8_conv(const Node& node,
                                                 const std::vector<const Tensor*>& constants,
                                                 const Activation& act,
                                                 const Shape* input_shape = nullptr);

// MatMulInteger, QLinearMatMul and QGemm (alpha 1, transA 0) of uint8 a (input_dtype
// for MatMulInteger) and a constant 2-D int8 weight with zero points 0, on the
// table's int8 tile; out uint8 (y's zero point uint8), int32 or float32 (QGemm
// without y_scale). Null when the table has no int8 tile.
std::unique_ptr<PreparedKernel> prepare_qu8_gemm(const Node& node,
                                                 const std::vector<const Tensor*>& constants,
                                                 const Activation& act, DType input_dtype);

// How the int8 tile kernels (qu8_conv, qu8_gemm) split their work: tasks of one
// panel of positions by one run of consecutive blocks of output channels, with
// enough runs that few panels still give about 4 tasks per thread. Returns the
// number of runs; *per_run gets the blocks of each (the last may have fewer).
inline int64_t qu8_block_runs(int64_t panels, int64_t blocks, const ThreadPool* pool,
                              int64_t* per_run) {
    const int64_t T = pool ? pool->size() : 1;
    int64_t runs = 1;
    if (T > 1 && panels < 4 * T) runs = std::min(blocks, (4 * T + panels - 1) / panels);
    *per_run = (blocks + runs - 1) / runs;
    return (blocks + *per_run - 1) / *per_run;
}

// Depthwise QLinearConv (uint8, int8 weights, strides 1 or 2, dilation 1), exact in
// float on the float depthwise kernels (null when the table lacks a piece).
std::unique_ptr<PreparedKernel> prepare_qu8_dwconv(const Node& node,
                                                   const std::vector<const Tensor*>& constants,
                                                   const Activation& act);

// n int32 accumulators through a fused float activation (activated_row,
// runtime/ops/requantize.h) quantized to uint8 at (y_scale, zy) as QuantizeLinear:
// the table's qu8_quantize, or the reference's scalar step. The epilogue of every
// int8 kernel carrying one (qu8_conv, qu8_dwconv, qu8_gemm).
void qu8_store_activated(const int32_t* acc, int64_t n, float acc_scale, const FusedActivation& f,
                         float y_scale, int32_t zy, uint8_t* y);

// QuantizeLinear to uint8, DequantizeLinear of uint8, QLinearAdd and QLinearMul
// (uint8), with constant per-tensor parameters, on the table's vector kernels
// (null when none; QLinearMul by a generic loop).
std::unique_ptr<PreparedKernel> prepare_q8_elementwise(const Node& node,
                                                       const std::vector<const Tensor*>& constants,
                                                       const Activation& act);

// 2-D MaxPool of uint8 (dilation 1): rows of the window reduced with vector byte
// maxima, then the columns.
std::unique_ptr<PreparedKernel> prepare_qu8_maxpool(const Node& node);

// The plane kernels' work (depthwise convolution, max pooling) over the threads:
// task(n, j, o0, o1) computes output rows [o0, o1) of image n's channel group or
// plane j (per of them). Threads take bands of output rows of every channel (a
// thread's share of the plane stays the same from layer to layer, so it reads
// what it wrote: on this machine's two vCPUs a cache line written by the other
// one reads 3x slower). Bands start at whole cache lines; planes that are not
// whole lines (14x14, 7x7: the last line of one plane holds the next plane's
// first floats, which the other thread would write), or too short for a few
// line-aligned bands per thread, split by j.
void run_plane_bands(ThreadPool* pool, int64_t N, int64_t per, int64_t OH, int64_t OW,
                     const std::function<void(int64_t, int64_t, int64_t, int64_t)>& task);
// The input rows a band of output rows [o0, o1) reads (window K, stride s, padding
// p before row 0, H input rows): from row `first`, `rows` of them, with `pad` rows
// of padding above.
struct RowBand {
    int64_t first, rows, pad;
};
RowBand band_input_rows(int64_t o0, int64_t o1, int64_t s, int64_t p, int64_t K, int64_t H);

std::unique_ptr<PreparedKernel> prepare_f32_dwconv(const Node& node,
                                                   const std::vector<const Tensor*>& constants,
                                                   const Activation& act);

std::unique_ptr<PreparedKernel> prepare_f32_pool(const Node& node,
                                                 const std::vector<const Tensor*>& constants,
                                                 const Activation& act);

std::unique_ptr<PreparedKernel> prepare_f32_dense(const Node& node,
                                                  const std::vector<const Tensor*>& constants,
                                                  const Activation& act);

std::unique_ptr<PreparedKernel> prepare_f32_elementwise(const Node& node,
                                                        const std::vector<const Tensor*>& constants,
                                                        const Activation& act);

// C[M,N] = act(A * B + bias + R) with A packed (rows 0..M), split over pool's threads by
// column or row ranges aligned to the micro-tile, so every element is computed by
// the same arithmetic for any thread count.
void f32_gemm_parallel(const KernelTable& kt, const F32PackedA& a, int64_t N, const F32BSource& B,
                       float* C, int64_t ldc, const float* bias, const float* R,
                       const Activation& act, ThreadPool* pool);

}  // namespace pare
