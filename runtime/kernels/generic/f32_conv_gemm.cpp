// f32_conv_gemm: Conv as im2col + the dispatched f32 GEMM.
// x (N, C, spatial) f32, w (M, C/g, k...), b (M) -> y (N, M, out spatial).
// Per image and group: col[(c, kd, kh, kw), (od, oh, ow)] gathers the inputs each
// output position needs (zeros for padding), then Y_g = W_g (Mg x Cg*k) * col + b_g.
// 1x1 convolutions with stride 1 and no padding use the input as col directly.
// Depthwise convolutions (one input and one output channel per group) would make
// 1-row GEMMs; they go to the reference kernel.
#include <vector>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

Status f32_conv_gemm(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const Tensor& W = *ctx.in[1];
    const Tensor* B = ctx.in.size() > 2 ? ctx.in[2] : nullptr;
    Tensor& Y = *ctx.out[0];
    const int64_t group = ctx.node.attrs.get_int("group", 1);
    const int64_t N = X.shape()[0], C = X.shape()[1], M = W.shape()[0];
    const int64_t Cg = C / group, Mg = M / group;
    if (Cg == 1 && Mg == 1) return compute_conv(ctx);
    Window w;
    Shape in_sp(X.shape().begin() + 2, X.shape().end()),
        k_sp(W.shape().begin() + 2, W.shape().end());
    PARE_RETURN_IF_ERROR(window_forward(ctx.node.attrs, in_sp, k_sp, false, &w));
    const Shape in = to3(w.in, 1), out = to3(w.out, 1), k = to3(w.kernel, 1);
    const Shape st = to3(w.strides, 1), dl = to3(w.dilations, 1), pb = to3(w.pad_begin, 0);
    const int64_t in_sz = in[0] * in[1] * in[2], P = out[0] * out[1] * out[2];
    const int64_t ksz = k[0] * k[1] * k[2], Kdim = Cg * ksz;
    bool pointwise = ksz == 1;
    for (int d = 0; d < 3; ++d)
        pointwise = pointwise && st[d] == 1 && pb[d] == 0 && out[d] == in[d];
    // The im2col buffer must respect the tensor size limit like any allocation; when it
    // would not (possible only for hostile shapes), the reference kernel needs no buffer.
    if (!pointwise &&
        (P > 0 && Kdim > tensor_byte_limit() / static_cast<int64_t>(sizeof(float)) / P)) {
        return compute_conv(ctx);
    }
    const KernelTable& kt = kernels();
    thread_local std::vector<float> col;
    if (!pointwise) col.resize(static_cast<size_t>(Kdim * P));
    const float* x = X.data<float>();
    const float* wp = W.data<float>();
    float* y = Y.data<float>();
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t g = 0; g < group; ++g) {
            const float* xg = x + (n * C + g * Cg) * in_sz;
            const float* bmat = xg;
            if (!pointwise) {
                for (int64_t c = 0; c < Cg; ++c)
                    for (int64_t kd = 0; kd < k[0]; ++kd)
                        for (int64_t kh = 0; kh < k[1]; ++kh)
                            for (int64_t kw = 0; kw < k[2]; ++kw) {
                                float* row =
                                    col.data() + (((c * k[0] + kd) * k[1] + kh) * k[2] + kw) * P;
                                const float* xc = xg + c * in_sz;
                                for (int64_t od = 0; od < out[0]; ++od) {
                                    const int64_t id = od * st[0] - pb[0] + kd * dl[0];
                                    for (int64_t oh = 0; oh < out[1]; ++oh) {
                                        const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                                        float* r = row + (od * out[1] + oh) * out[2];
                                        if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1]) {
                                            for (int64_t ow = 0; ow < out[2]; ++ow) r[ow] = 0.0f;
                                            continue;
                                        }
                                        const float* xr = xc + (id * in[1] + ih) * in[2];
                                        for (int64_t ow = 0; ow < out[2]; ++ow) {
                                            const int64_t iw = ow * st[2] - pb[2] + kw * dl[2];
                                            r[ow] = (iw >= 0 && iw < in[2]) ? xr[iw] : 0.0f;
                                        }
                                    }
                                }
                            }
                bmat = col.data();
            }
            kt.f32_gemm(Mg, P, Kdim, wp + g * Mg * Kdim, Kdim, bmat, P, y + (n * M + g * Mg) * P, P,
                        B ? B->data<float>() + g * Mg : nullptr);
        }
    }
    return Status();
}

ComputeFn fast_compute(OpKind op) {
    switch (op) {
        case OpKind::kConv:
            return f32_conv_gemm;
        default:
            return nullptr;
    }
}

}  // namespace pare
