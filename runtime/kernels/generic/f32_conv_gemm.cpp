// f32_conv_gemm: Conv as im2col + the dispatched packed f32 GEMM, with the bias
// and a following activation applied as the GEMM stores its results.
// x (N, C, spatial) f32, w (M, C/g, k...), b (M) -> y (N, M, out spatial).
// At prepare: each group's weights W_g (Mg x Cg*k) are packed once for the GEMM.
// Per image and group: col[(c, kd, kh, kw), (od, oh, ow)] gathers the inputs each
// output position needs (zeros for padding), then Y_g = act(W_g * col + b_g).
// 1x1 convolutions with stride 1 and no padding use the input as col directly.
// Depthwise convolutions (one input and one output channel per group) would make
// 1-row GEMMs; they are not handled here.
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

void f32_gemm_parallel(const KernelTable& kt, const F32PackedA& a, int64_t N, const float* B,
                       int64_t ldb, float* C, int64_t ldc, const float* bias, const Activation& act,
                       ThreadPool* pool) {
    const int64_t T = pool ? pool->size() : 1;
    if (T <= 1) {
        kt.f32_gemm_packed(a, 0, a.M, N, B, ldb, C, ldc, bias, act);
        return;
    }
    // Columns when there are enough for every thread (B panels stay private);
    // otherwise rows (whole micro-tile panels of A).
    const bool by_cols = N >= T * kt.f32_gemm_nr * 2 || a.M < T * kt.f32_gemm_mr;
    pool->parallel_for(T, [&](int64_t t) {
        int64_t b, e;
        if (by_cols) {
            split_range(N, T, kt.f32_gemm_nr, t, &b, &e);
            if (e > b) kt.f32_gemm_packed(a, 0, a.M, e - b, B + b, ldb, C + b, ldc, bias, act);
        } else {
            split_range(a.M, T, kt.f32_gemm_mr, t, &b, &e);
            if (e > b) kt.f32_gemm_packed(a, b, e, N, B, ldb, C, ldc, bias, act);
        }
    });
}

namespace {

class F32ConvGemm : public PreparedKernel {
  public:
    F32ConvGemm(const Node& node, const Tensor& w, const Tensor* b, const Activation& act)
        : attrs_(node.attrs), act_(act), kt_(kernels()) {
        group_ = node.attrs.get_int("group", 1);
        M_ = w.shape()[0];
        Mg_ = M_ / group_;
        kshape_.assign(w.shape().begin() + 2, w.shape().end());
        Kdim_ = w.numel() / M_;
        const int64_t per = f32_packed_a_size(Mg_, Kdim_, kt_.f32_gemm_mr);
        packed_.resize(static_cast<size_t>(per * group_));
        for (int64_t g = 0; g < group_; ++g) {
            f32_pack_a(Mg_, Kdim_, w.data<float>() + g * Mg_ * Kdim_, Kdim_, kt_.f32_gemm_mr,
                       packed_.data() + g * per);
        }
        if (b) bias_.assign(b->data<float>(), b->data<float>() + M_);
    }

    std::string name() const override {
        return with_activation(std::string("f32_conv_im2col+") + kt_.f32_gemm_name, act_);
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        const int64_t N = X.shape()[0], C = X.shape()[1], Cg = C / group_;
        Window w;
        Shape in_sp(X.shape().begin() + 2, X.shape().end());
        PARE_RETURN_IF_ERROR(window_forward(attrs_, in_sp, kshape_, false, &w));
        const Shape in = to3(w.in, 1), out = to3(w.out, 1), k = to3(w.kernel, 1);
        const Shape st = to3(w.strides, 1), dl = to3(w.dilations, 1), pb = to3(w.pad_begin, 0);
        const int64_t in_sz = in[0] * in[1] * in[2], P = out[0] * out[1] * out[2];
        const int64_t ksz = k[0] * k[1] * k[2];
        if (Cg * ksz != Kdim_) return internal_error("conv weights do not match the input");
        bool pointwise = ksz == 1;
        for (int d = 0; d < 3; ++d)
            pointwise = pointwise && st[d] == 1 && pb[d] == 0 && out[d] == in[d];
        // The im2col buffer respects the tensor size limit like any allocation; past it
        // (possible only for hostile shapes) the reference kernel needs no buffer.
        if (!pointwise && P > 0 &&
            Kdim_ > tensor_byte_limit() / static_cast<int64_t>(sizeof(float)) / P) {
            PARE_RETURN_IF_ERROR(compute_conv(ctx));
            float* y = Y.data<float>();
            for (int64_t i = 0; i < Y.numel(); ++i) y[i] = apply_activation(act_, y[i]);
            return Status();
        }
        float* col = pointwise ? nullptr : scratch_floats(2, static_cast<size_t>(Kdim_ * P));
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        const int64_t per = f32_packed_a_size(Mg_, Kdim_, kt_.f32_gemm_mr);
        for (int64_t n = 0; n < N; ++n) {
            for (int64_t g = 0; g < group_; ++g) {
                const float* xg = x + (n * C + g * Cg) * in_sz;
                if (!pointwise) {
                    auto fill = [&](int64_t c) {
                        for (int64_t kd = 0; kd < k[0]; ++kd)
                            for (int64_t kh = 0; kh < k[1]; ++kh)
                                for (int64_t kw = 0; kw < k[2]; ++kw) {
                                    float* row =
                                        col + (((c * k[0] + kd) * k[1] + kh) * k[2] + kw) * P;
                                    im2col_row(xg + c * in_sz, in, out, st, dl, pb, kd, kh, kw,
                                               row);
                                }
                    };
                    if (ctx.pool && Cg > 1) {
                        ctx.pool->parallel_for(Cg, fill);
                    } else {
                        for (int64_t c = 0; c < Cg; ++c) fill(c);
                    }
                }
                F32PackedA a{packed_.data() + g * per, Mg_, Kdim_, kt_.f32_gemm_mr};
                f32_gemm_parallel(kt_, a, P, pointwise ? xg : col, P, y + (n * M_ + g * Mg_) * P, P,
                                  bias_.empty() ? nullptr : bias_.data() + g * Mg_, act_, ctx.pool);
            }
        }
        return Status();
    }

  private:
    // One row of col: input plane x sampled at kernel offset (kd, kh, kw) for every
    // output position, zero where it falls in the padding.
    static void im2col_row(const float* x, const Shape& in, const Shape& out, const Shape& st,
                           const Shape& dl, const Shape& pb, int64_t kd, int64_t kh, int64_t kw,
                           float* r) {
        for (int64_t od = 0; od < out[0]; ++od) {
            const int64_t id = od * st[0] - pb[0] + kd * dl[0];
            for (int64_t oh = 0; oh < out[1]; ++oh, r += out[2]) {
                const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1]) {
                    std::memset(r, 0, static_cast<size_t>(out[2]) * sizeof(float));
                    continue;
                }
                const float* xr = x + (id * in[1] + ih) * in[2];
                const int64_t off = kw * dl[2] - pb[2];
                if (st[2] == 1) {
                    // Contiguous run: zeros left and right of the valid window.
                    const int64_t lo = std::min(out[2], std::max<int64_t>(0, -off));
                    const int64_t hi = std::max(lo, std::min(out[2], in[2] - off));
                    for (int64_t ow = 0; ow < lo; ++ow) r[ow] = 0.0f;
                    if (hi > lo)
                        std::memcpy(r + lo, xr + lo + off,
                                    static_cast<size_t>(hi - lo) * sizeof(float));
                    for (int64_t ow = hi; ow < out[2]; ++ow) r[ow] = 0.0f;
                } else {
                    for (int64_t ow = 0; ow < out[2]; ++ow) {
                        const int64_t iw = ow * st[2] + off;
                        r[ow] = (iw >= 0 && iw < in[2]) ? xr[iw] : 0.0f;
                    }
                }
            }
        }
    }

    Attributes attrs_;
    Activation act_;
    const KernelTable& kt_;
    int64_t group_ = 1, M_ = 0, Mg_ = 0, Kdim_ = 0;
    Shape kshape_;
    std::vector<float> packed_, bias_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_conv_gemm(const Node& node,
                                                      const std::vector<const Tensor*>& constants,
                                                      const Activation& act) {
    if (constants.size() < 2 || !constants[1]) return nullptr;
    const Tensor& w = *constants[1];
    const Tensor* b = constants.size() > 2 ? constants[2] : nullptr;
    if (w.dtype() != DType::kFloat32 || w.rank() < 3 || w.rank() > 5 || w.shape()[0] <= 0)
        return nullptr;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !b) return nullptr;  // runtime bias
    if (b && (b->dtype() != DType::kFloat32 || b->numel() != w.shape()[0])) return nullptr;
    const int64_t group = node.attrs.get_int("group", 1);
    if (group <= 0 || w.shape()[0] % group != 0) return nullptr;
    if (w.shape()[1] == 1 && w.shape()[0] == group) return nullptr;  // depthwise
    return std::make_unique<F32ConvGemm>(node, w, b, act);
}

}  // namespace pare
