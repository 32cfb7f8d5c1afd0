// f32_conv_winograd: 3x3 convolutions with stride 1, dilation 1 and one group by
// Winograd's F(2x2, 3x3) (Lavin and Gray, 2015): each 2x2 block of outputs takes 16
// multiplies per input channel instead of 36. x (N, C, H, W), w (M, C, 3, 3).
// At prepare: U_e = (G g G^T)_e for the 16 positions e of the 4x4 transformed tile,
// each an M x C matrix packed for the GEMM. Per run, whole rows of tiles in blocks
// of about kTiles tiles: the input transform (the dispatched f32_winograd_in,
// vectorized across tiles), 16 GEMMs M_e = U_e * V_e, and the output transform
// with bias, a fused residual and the activation. Chosen for planes of at least
// 28x28 outputs, where the saved multiplies outweigh the transforms.
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
        std::vector<float> u(static_cast<size_t>(16 * M_ * C_));
        for (int64_t m = 0; m < M_; ++m)
            for (int64_t c = 0; c < C_; ++c) {
                const float* g = w.data<float>() + (m * C_ + c) * 9;
                // G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
                float gg[4][3];
                for (int j = 0; j < 3; ++j) {
                    const float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                    gg[0][j] = g0;
                    gg[1][j] = 0.5f * (g0 + g1 + g2);
                    gg[2][j] = 0.5f * (g0 - g1 + g2);
                    gg[3][j] = g2;
                }
                for (int i = 0; i < 4; ++i) {
                    const float a0 = gg[i][0], a1 = gg[i][1], a2 = gg[i][2];
                    const float row[4] = {a0, 0.5f * (a0 + a1 + a2), 0.5f * (a0 - a1 + a2), a2};
                    for (int j = 0; j < 4; ++j) u[((i * 4 + j) * M_ + m) * C_ + c] = row[j];
                }
            }
        packed_.resize(static_cast<size_t>(16 * per_));
        for (int e = 0; e < 16; ++e)
            f32_pack_a(M_, C_, u.data() + e * M_ * C_, C_, mr_, packed_.data() + e * per_);
        bias_.assign(static_cast<size_t>(M_), 0.0f);
        if (b) bias_.assign(b->data<float>(), b->data<float>() + M_);
    }

    std::string name() const override {
        return with_activation(std::string("f32_conv_winograd_2x2+") + f32_gemm_name_for(kt_, mr_) +
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
        const int64_t TW = (OW + 1) / 2, TH = (OH + 1) / 2;
        // ld: a block's tiles plus room for the transforms' whole-vector stores and
        // loads past the last tile (16 floats, the widest vector).
        const int64_t rows = std::max<int64_t>(1, kTiles / TW), ld = rows * TW + 16;
        // The fused Add's other operand (the last input), or null.
        PARE_ASSIGN_OR_RETURN(const float* res, fused_residual(ctx, residual_, Y));
        // V_e: C x ld, M_e: M x ld, e = 0..15.
        float* V = scratch_floats(4, static_cast<size_t>(16 * C_ * ld));
        float* Mo = scratch_floats(5, static_cast<size_t>(16 * M_ * ld));
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        for (int64_t n = 0; n < N; ++n) {
            const float* xn = x + n * C_ * H * W;
            float* yn = y + n * M_ * OH * OW;
            const float* rn = res ? res + n * M_ * OH * OW : nullptr;
            for (int64_t th0 = 0; th0 < TH; th0 += rows) {
                const int64_t nr = std::min(rows, TH - th0), tb = nr * TW;
                parallel_runs(ctx.pool, C_, [&](int64_t c) {
                    for (int64_t r = 0; r < nr; ++r)
                        kt_.f32_winograd_in(xn + c * H * W, H, W, th0 + r, TW, pt, pl,
                                            V + c * ld + r * TW, C_ * ld);
                });
                for (int e = 0; e < 16; ++e) {
                    const F32PackedA a{packed_.data() + e * per_, M_, C_, mr_};
                    f32_gemm_parallel(kt_, a, tb, {V + e * C_ * ld, ld}, Mo + e * M_ * ld, ld,
                                      nullptr, nullptr, Activation{}, ctx.pool);
                }
                parallel_runs(ctx.pool, M_, [&](int64_t m) {
                    for (int64_t r = 0; r < nr; ++r)
                        kt_.f32_winograd_out(Mo + m * ld + r * TW, M_ * ld, th0 + r, TW,
                                             yn + m * OH * OW, OH, OW, bias_[m],
                                             rn ? rn + m * OH * OW : nullptr, act_);
                });
            }
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
    if (w.shape()[0] < 16 || w.shape()[1] < 16) return nullptr;
    Window win;
    if (!window_forward(node.attrs, Shape(input_shape->begin() + 2, input_shape->end()), {3, 3},
                        false, &win)
             .ok() ||
        win.out[0] < 28 || win.out[1] < 28)
        return nullptr;
    return std::make_unique<F32ConvWinograd>(node, w, b, act, residual);
}

}  // namespace pare
