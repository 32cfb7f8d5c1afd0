// f32_pool: 2-D MaxPool (strides 1 or 2, dilation 1, no Indices output) through the
// dispatched plane kernel, and GlobalAveragePool with eight partial sums per
// plane; planes are split over the thread pool.
#include <algorithm>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

class F32MaxPool : public PreparedKernel {
  public:
    explicit F32MaxPool(const Node& node) : attrs_(node.attrs), kt_(kernels()) {}
    std::string name() const override { return kt_.f32_maxpool_name; }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.dtype() != DType::kFloat32) return compute_pool(ctx);
        Window w;
        Shape in_sp(X.shape().begin() + 2, X.shape().end());
        PARE_RETURN_IF_ERROR(window_forward(attrs_, in_sp, attrs_.get_ints("kernel_shape"),
                                            attrs_.get_int("ceil_mode", 0) != 0, &w));
        const int64_t H = w.in[0], W = w.in[1], OH = w.out[0], OW = w.out[1];
        if (OH <= 0 || OW <= 0) return Status();
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        // As the depthwise convolution (f32_dwconv.cpp): outputs of at most 56 columns
        // V planes at a time, vectorized across channels (measured on AVX-512, 64
        // channels 112x112 -> 56x56, 3x3 stride 2, one thread: 0.23 against 0.26 ms one
        // plane at a time); the planes past the last whole group one at a time; and
        // threads take bands of output rows of every channel.
        const int64_t N = X.shape()[0], C = X.shape()[1], V = kt_.f32_dwconv_lanes;
        const int64_t G = OW <= 56 ? C / V : 0, per = G + (C - G * V);
        const int64_t KH = w.kernel[0], KW = w.kernel[1], sh = w.strides[0], sw = w.strides[1];
        run_plane_bands(ctx.pool, N, per, OH, OW,
                        [&](int64_t n, int64_t j, int64_t o0, int64_t o1) {
                            const RowBand in = band_input_rows(o0, o1, sh, w.pad_begin[0], KH, H);
                            const int64_t c0 = j < G ? j * V : G * V + (j - G);
                            const float* xs = x + (n * C + c0) * H * W + in.first * W;
                            float* ys = y + (n * C + c0) * OH * OW + o0 * OW;
                            if (j < G) {
                                kt_.f32_maxpool_group(xs, in.rows, W, H * W, KH, KW, sh, sw, in.pad,
                                                      w.pad_begin[1], ys, o1 - o0, OW, OH * OW);
                            } else {
                                kt_.f32_maxpool(xs, in.rows, W, KH, KW, sh, sw, in.pad,
                                                w.pad_begin[1], ys, o1 - o0, OW);
                            }
                        });
        return Status();
    }

  private:
    Attributes attrs_;
    const KernelTable& kt_;
};

class F32GlobalAveragePool : public PreparedKernel {
  public:
    std::string name() const override { return "f32_global_avgpool"; }
    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        if (X.dtype() != DType::kFloat32) return compute_pool(ctx);
        const int64_t NC = X.shape()[0] * X.shape()[1];
        const int64_t sp = NC ? X.numel() / NC : 0;
        const float* x = X.data<float>();
        float* y = ctx.out[0]->data<float>();
        parallel_runs(NC >= 64 ? ctx.pool : nullptr, NC, [&](int64_t i) {
            const float* p = x + i * sp;
            float acc[8] = {};
            int64_t j = 0;
            for (; j + 8 <= sp; j += 8) {
                for (int k = 0; k < 8; ++k) acc[k] += p[j + k];
            }
            float s =
                ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; j < sp; ++j) s += p[j];
            y[i] = sp ? s / static_cast<float>(sp) : 0.0f;
        });
        return Status();
    }
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_pool(const Node& node,
                                                 const std::vector<const Tensor*>& constants,
                                                 const Activation& act) {
    (void)constants;
    if (act.kind != Activation::kNone || node.outputs.size() != 1) return nullptr;
    if (node.op == OpKind::kGlobalAveragePool) return std::make_unique<F32GlobalAveragePool>();
    if (node.op != OpKind::kMaxPool) return nullptr;
    if (node.attrs.get_ints("kernel_shape").size() != 2) return nullptr;
    for (int64_t d : node.attrs.get_ints("dilations")) {
        if (d != 1) return nullptr;
    }
    const std::vector<int64_t> st = node.attrs.get_ints("strides");
    if (!st.empty() && st.size() != 2) return nullptr;
    for (int64_t s : st) {
        if (s != 1 && s != 2) return nullptr;
    }
    for (int64_t k : node.attrs.get_ints("kernel_shape")) {
        if (k <= 0) return nullptr;
    }
    return std::make_unique<F32MaxPool>(node);
}

}  // namespace pare
