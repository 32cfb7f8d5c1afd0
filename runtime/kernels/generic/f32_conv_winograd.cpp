// f32_conv_winograd: 3x3 convolutions with stride 1, dilation 1 and one group by
// Winograd's F(4x4, 3x3) (Lavin and Gray, 2015; points 0, +-1, +-2, infinity):
// each 4x4 block of outputs takes 36 multiplies per input channel instead of 144.
// x (N, C, H, W), w (M, C, 3, 3).
// At prepare: U_e = (G g G^T)_e for the 36 positions e of the 6x6 transformed tile,
// each an M x C matrix packed for the GEMM. Per run, whole rows of tiles in blocks
// of about kTiles tiles: the input transform (the dispatched f32_winograd_in,
// vectorized across tiles), 36 GEMMs M_e = U_e * V_e, and the output transform with
// bias, a fused residual and the activation; each thread a band of tile rows.
// Chosen for planes of at least 28x28 outputs and 32 input channels, where the
// saved multiplies outweigh the transforms.
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

constexpr int64_t kTiles = 192;  // about this many tiles per block (whole tile rows)

class F32ConvWinograd : public PreparedKernel {
  public:
    F32ConvWinograd(const Node& node, const Tensor& w, const Tensor* b, const Activation& act,
                    bool residual)
        : attrs_(node.attrs), act_(act), kt_(kernels()), residual_(residual) {
        M_ = w.shape()[0];
        C_ = w.shape()[1];
        mr_ = f32_gemm_pick_mr(kt_, M_);
        per_ = f32_packed_a_size(M_, C_, mr_);
        // G (6 x 3).
        static const double kG[6][3] = {{0.25, 0, 0},
                                        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                        {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                        {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                        {0, 0, 1}};
        std::vector<float> u(static_cast<size_t>(36 * M_ * C_));
        for (int64_t m = 0; m < M_; ++m)
            for (int64_t c = 0; c < C_; ++c) {
                const float* g = w.data<float>() + (m * C_ + c) * 9;
                // U = G g G^T, in double (one rounding per element).
                double gg[6][3];
                for (int i = 0; i < 6; ++i)
                    for (int j = 0; j < 3; ++j)
                        gg[i][j] = kG[i][0] * g[j] + kG[i][1] * g[3 + j] + kG[i][2] * g[6 + j];
                for (int i = 0; i < 6; ++i)
                    for (int j = 0; j < 6; ++j)
                        u[((i * 6 + j) * M_ + m) * C_ + c] = static_cast<float>(
                            gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2]);
            }
        packed_.resize(static_cast<size_t>(36 * per_));
        for (int e = 0; e < 36; ++e)
            f32_pack_a(M_, C_, u.data() + e * M_ * C_, C_, mr_, packed_.data() + e * per_);
        bias_.assign(static_cast<size_t>(M_), 0.0f);
        if (b) bias_.assign(b->data<float>(), b->data<float>() + M_);
    }

    std::string name() const override {
        return with_activation(std::string("f32_conv_winograd_4x4+") + f32_gemm_name_for(kt_, mr_) +
                                   (residual_ ? "+add" : ""),
                               act_);
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() != 4 || X.shape()[1] != C_)
            return internal_error("winograd conv weights do not match the input");
        Window win;
        PARE_RETURN_IF_ERROR(window_forward(attrs_, Shape(X.shape().begin() + 2, X.shape().end()),
                                            {3, 3}, false, &win));
        const int64_t N = X.shape()[0], H = win.in[0], W = win.in[1];
        const int64_t OH = win.out[0], OW = win.out[1], pt = win.pad_begin[0],
                      pl = win.pad_begin[1];
        if (OH <= 0 || OW <= 0) return Status();
        const int64_t TW = (OW + 3) / 4, TH = (OH + 3) / 4;
        // ld: a block's tiles plus room for the transforms' whole-vector stores and
        // loads past the last tile (16 floats, the widest vector).
        const int64_t rows = std::max<int64_t>(1, kTiles / TW), ld = rows * TW + 16;
        // The fused Add's other operand (the last input), or null.
        PARE_ASSIGN_OR_RETURN(const float* res, fused_residual(ctx, residual_, Y));
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        // Each thread a band of tile rows, start to end (input transform, 36 GEMMs,
        // output transform on its own scratch): one synchronization per image, and a
        // thread reads the part of the plane it wrote in the layer before (on this
        // machine's two vCPUs a cache line written by the other one reads 3x slower).
        for (int64_t n = 0; n < N; ++n) {
            const float* xn = x + n * C_ * H * W;
            float* yn = y + n * M_ * OH * OW;
            const float* rn = res ? res + n * M_ * OH * OW : nullptr;
            parallel_ranges(ctx.pool, TH, 1, [&](int64_t r0, int64_t r1) {
                // V_e: C x ld, M_e: M x ld, e = 0..35.
                float* V = scratch_floats(4, static_cast<size_t>(36 * C_ * ld));
                float* Mo = scratch_floats(5, static_cast<size_t>(36 * M_ * ld));
                for (int64_t th0 = r0; th0 < r1; th0 += rows) {
                    const int64_t nr = std::min(rows, r1 - th0), tb = nr * TW;
                    for (int64_t c = 0; c < C_; ++c)
                        for (int64_t r = 0; r < nr; ++r)
                            kt_.f32_winograd_in(xn + c * H * W, H, W, th0 + r, TW, pt, pl,
                                                V + c * ld + r * TW, C_ * ld);
                    for (int e = 0; e < 36; ++e) {
                        const F32PackedA a{packed_.data() + e * per_, M_, C_, mr_};
                        kt_.f32_gemm_packed(a, 0, M_, tb, {V + e * C_ * ld, ld}, Mo + e * M_ * ld,
                                            ld, nullptr, nullptr, Activation{});
                    }
                    for (int64_t m = 0; m < M_; ++m)
                        for (int64_t r = 0; r < nr; ++r)
                            kt_.f32_winograd_out(Mo + m * ld + r * TW, M_ * ld, th0 + r, TW,
                                                 yn + m * OH * OW, OH, OW, bias_[m],
                                                 rn ? rn + m * OH * OW : nullptr, act_);
                }
            });
        }
        return Status();
    }

  private:
    Attributes attrs_;
    Activation act_;
    const KernelTable& kt_;
    bool residual_ = false;
    int mr_ = 1;
    int64_t M_ = 0, C_ = 0, per_ = 0;
    std::vector<float> packed_, bias_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_conv_winograd(
    const Node& node, const std::vector<const Tensor*>& constants, const Activation& act,
    bool residual, const Shape* input_shape) {
    if (!input_shape || input_shape->size() != 4 || constants.size() < 2 || !constants[1])
        return nullptr;
    const Tensor& w = *constants[1];
    const Tensor* b = constants.size() > 2 ? constants[2] : nullptr;
    if (w.dtype() != DType::kFloat32 || w.rank() != 4 || w.shape()[2] != 3 || w.shape()[3] != 3)
        return nullptr;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !b) return nullptr;
    if (b && (b->dtype() != DType::kFloat32 || b->numel() != w.shape()[0])) return nullptr;
    if (node.attrs.get_int("group", 1) != 1 || w.shape()[1] != (*input_shape)[1]) return nullptr;
    for (int64_t s : node.attrs.get_ints("strides"))
        if (s != 1) return nullptr;
    for (int64_t d : node.attrs.get_ints("dilations"))
        if (d != 1) return nullptr;
    // At least 16 output and 32 input channels (with 16 inputs, squeezenet1_1's
    // expand layers at 55x55, the GEMMs are too short: no faster than the direct
    // convolution).
    if (w.shape()[0] < 16 || w.shape()[1] < 32) return nullptr;
    Window win;
    if (!window_forward(node.attrs, Shape(input_shape->begin() + 2, input_shape->end()), {3, 3},
                        false, &win)
             .ok() ||
        win.out[0] < 28 || win.out[1] < 28)
        return nullptr;
    return std::make_unique<F32ConvWinograd>(node, w, b, act, residual);
}

}  // namespace pare
