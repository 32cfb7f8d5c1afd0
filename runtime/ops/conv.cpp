// Conv (reference): x (N, C, [D,] [H,] W) f32, w (M, C/group, kD, kH, kW), b (M).
// Direct convolution; for each (n, m, c, kernel tap) the output row is updated
// in a contiguous inner loop over output columns.
#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

Status conv_window(const InferContext& ctx, Window* w) {
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& wt = ctx.in[1];
    Shape in(x.shape.begin() + 2, x.shape.end());
    Shape k(wt.shape.begin() + 2, wt.shape.end());
    Shape attr_k = ctx.node.attrs.get_ints("kernel_shape");
    if (!attr_k.empty() && attr_k != k && wt.shape_known()) {
        return invalid_argument("kernel_shape " + shape_str(attr_k) +
                                " does not match weight shape " + shape_str(wt.shape));
    }
    if (!wt.shape_known()) k = attr_k;
    return window_forward(ctx.node.attrs, in, k, false, w);
}

}  // namespace

Status infer_conv(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    PARE_RETURN_IF_ERROR(require_float(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& wt = ctx.in[1];
    if (!x.has_shape || !wt.has_shape) {
        ctx.out[0] = meta_rank_unknown(DType::kFloat32);
        return Status();
    }
    if (x.shape.size() < 3 || x.shape.size() != wt.shape.size()) {
        return invalid_argument("input " + shape_str(x.shape) + " and weight " +
                                shape_str(wt.shape) +
                                " ranks do not match (expected N,C,spatial...)");
    }
    const int64_t group = ctx.node.attrs.get_int("group", 1);
    if (group < 1) return invalid_argument("group must be >= 1");
    const int64_t C = x.shape[1], M = wt.shape[0];
    if (C >= 0 && wt.shape[1] >= 0 && C != wt.shape[1] * group) {
        return invalid_argument("input has " + std::to_string(C) + " channels but weight " +
                                shape_str(wt.shape) + " with group " + std::to_string(group) +
                                " expects " + std::to_string(wt.shape[1] * group));
    }
    if (M >= 0 && M % group != 0) return invalid_argument("output channels not divisible by group");
    if (ctx.has(2)) {
        PARE_RETURN_IF_ERROR(require_float(ctx, 2));
        const ValueMeta& b = ctx.in[2];
        if (b.has_shape &&
            (b.shape.size() != 1 || (b.shape[0] >= 0 && M >= 0 && b.shape[0] != M))) {
            return invalid_argument("bias shape " + shape_str(b.shape) + " must be [" +
                                    std::to_string(M) + "]");
        }
    }
    Window w;
    PARE_RETURN_IF_ERROR(conv_window(ctx, &w));
    Shape out = {x.shape[0], M};
    out.insert(out.end(), w.out.begin(), w.out.end());
    ctx.out[0] = meta(DType::kFloat32, out);
    return Status();
}

Status compute_conv(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const Tensor& W = *ctx.in[1];
    const Tensor* B = ctx.in.size() > 2 ? ctx.in[2] : nullptr;
    Tensor& Y = *ctx.out[0];
    InferContext ictx{ctx.node, {ValueMeta::of(X), ValueMeta::of(W)}, {}};
    Window w;
    PARE_RETURN_IF_ERROR(conv_window(ictx, &w));
    const int64_t N = X.shape()[0], C = X.shape()[1], M = W.shape()[0];
    const int64_t group = ctx.node.attrs.get_int("group", 1);
    const int64_t Cg = C / group, Mg = M / group;
    const Shape in = to3(w.in, 1), out = to3(w.out, 1), k = to3(w.kernel, 1);
    const Shape st = to3(w.strides, 1), dl = to3(w.dilations, 1), pb = to3(w.pad_begin, 0);
    const int64_t in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
    const int64_t k_sz = k[0] * k[1] * k[2];
    const float* x = X.data<float>();
    const float* wp = W.data<float>();
    float* y = Y.data<float>();
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < M; ++m) {
            float* yo = y + (n * M + m) * out_sz;
            const float bias = B ? B->data<float>()[m] : 0.0f;
            for (int64_t i = 0; i < out_sz; ++i) yo[i] = bias;
            const int64_t g = m / Mg;
            for (int64_t c = 0; c < Cg; ++c) {
                const float* xi = x + (n * C + g * Cg + c) * in_sz;
                const float* wk = wp + (m * Cg + c) * k_sz;
                for (int64_t kd = 0; kd < k[0]; ++kd)
                    for (int64_t kh = 0; kh < k[1]; ++kh)
                        for (int64_t kw = 0; kw < k[2]; ++kw) {
                            const float wv = wk[(kd * k[1] + kh) * k[2] + kw];
                            for (int64_t od = 0; od < out[0]; ++od) {
                                const int64_t id = od * st[0] - pb[0] + kd * dl[0];
                                if (id < 0 || id >= in[0]) continue;
                                for (int64_t oh = 0; oh < out[1]; ++oh) {
                                    const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                                    if (ih < 0 || ih >= in[1]) continue;
                                    const float* xr = xi + (id * in[1] + ih) * in[2];
                                    float* yr = yo + (od * out[1] + oh) * out[2];
                                    // valid ow range: 0 <= ow*s - p + kw*d < in[2]
                                    const int64_t off = kw * dl[2] - pb[2];
                                    int64_t ow0 = off >= 0 ? 0 : (-off + st[2] - 1) / st[2];
                                    int64_t ow1 =
                                        in[2] - off <= 0 ? 0 : (in[2] - off + st[2] - 1) / st[2];
                                    if (ow1 > out[2]) ow1 = out[2];
                                    for (int64_t ow = ow0; ow < ow1; ++ow)
                                        yr[ow] += wv * xr[ow * st[2] + off];
                                }
                            }
                        }
            }
        }
    }
    return Status();
}

}  // namespace pare
