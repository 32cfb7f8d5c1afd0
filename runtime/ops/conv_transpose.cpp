// ConvTranspose (reference): x (N, C, spatial) f32, w (C, M/group, k...), b (M).
// Scatter form: every input element adds w * x into the output window it maps to:
// o = i * stride + k * dilation - pad_begin.
#include "runtime/ops/conv_util.h"

namespace pare {

Status transpose_window(const Node& node, const Shape& xs, const Shape& ws, TWindow* t) {
    const Attributes& a = node.attrs;
    const int64_t r = static_cast<int64_t>(xs.size()) - 2;
    if (r < 1 || r > 3)
        return unsupported("spatial rank " + std::to_string(r) + " (supported: 1 to 3)");
    t->in.assign(xs.begin() + 2, xs.end());
    t->kernel.assign(ws.begin() + 2, ws.end());
    t->strides = a.get_ints("strides");
    t->dilations = a.get_ints("dilations");
    Shape out_pad = a.get_ints("output_padding");
    Shape out_shape = a.get_ints("output_shape");
    Shape pads = a.get_ints("pads");
    if (t->strides.empty()) t->strides.assign(r, 1);
    if (t->dilations.empty()) t->dilations.assign(r, 1);
    if (out_pad.empty()) out_pad.assign(r, 0);
    if (pads.empty()) pads.assign(2 * r, 0);
    if (static_cast<int64_t>(t->strides.size()) != r ||
        static_cast<int64_t>(t->dilations.size()) != r ||
        static_cast<int64_t>(out_pad.size()) != r || static_cast<int64_t>(pads.size()) != 2 * r) {
        return invalid_argument("strides/dilations/output_padding/pads lengths do not match rank");
    }
    if (!out_shape.empty() && static_cast<int64_t>(out_shape.size()) != r) {
        if (static_cast<int64_t>(out_shape.size()) == r + 2) {
            out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
        } else {
            return invalid_argument("output_shape length does not match rank");
        }
    }
    std::string auto_pad = a.get_string("auto_pad", "NOTSET");
    t->pad_begin.assign(r, 0);
    t->out.assign(r, -1);
    for (int64_t i = 0; i < r; ++i) {
        const int64_t s = t->strides[i], d = t->dilations[i], k = t->kernel[i];
        if (s < 1 || d < 1 || k < 1 || s > (1 << 20) || d > (1 << 20) || out_pad[i] < 0 ||
            out_pad[i] > (1 << 20) || pads[i] < 0 || pads[i + r] < 0 || pads[i] > (1 << 20) ||
            pads[i + r] > (1 << 20)) {
            return invalid_argument("invalid strides, dilations, pads or output_padding");
        }
        if (t->in[i] < 0) continue;
        const int64_t full = s * (t->in[i] - 1) + out_pad[i] + (k - 1) * d + 1;
        int64_t total;
        if (!out_shape.empty()) {
            total = full - out_shape[i];
        } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
            total = full - t->in[i] * s;
        } else {
            total = -1;
        }
        if (total >= 0 || !out_shape.empty()) {
            // A negative total (output_shape beyond the full output) pads the end with bias only.
            if (!out_shape.empty() && (out_shape[i] < 0 || out_shape[i] > full + (1 << 20))) {
                return invalid_argument("output_shape out of range");
            }
            const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor division
            t->pad_begin[i] = auto_pad == "SAME_UPPER" ? half : total - half;
            t->out[i] = full - total;
        } else {
            if (auto_pad == "VALID") pads[i] = pads[i + r] = 0;
            t->pad_begin[i] = pads[i];
            t->out[i] = full - pads[i] - pads[i + r];
            if (t->out[i] < 0) return invalid_argument("pads larger than the output");
        }
    }
    return Status();
}

Status infer_conv_transpose(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    PARE_RETURN_IF_ERROR(require_float(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& w = ctx.in[1];
    if (!x.has_shape || !w.shape_known()) {
        ctx.out[0] = meta_rank_unknown(DType::kFloat32);
        return Status();
    }
    if (x.shape.size() < 3 || x.shape.size() != w.shape.size()) {
        return invalid_argument("input " + shape_str(x.shape) + " and weight " +
                                shape_str(w.shape) + " ranks do not match");
    }
    const int64_t group = ctx.node.attrs.get_int("group", 1);
    if (group < 1) return invalid_argument("group must be >= 1");
    if (x.shape[1] >= 0 && x.shape[1] != w.shape[0]) {
        return invalid_argument("input channels " + std::to_string(x.shape[1]) +
                                " do not match weight " + shape_str(w.shape));
    }
    if (w.shape[0] % group != 0) return invalid_argument("channels not divisible by group");
    const int64_t M = w.shape[1] * group;
    if (ctx.has(2)) {
        PARE_RETURN_IF_ERROR(require_float(ctx, 2));
        if (ctx.in[2].has_shape && (ctx.in[2].shape.size() != 1 || ctx.in[2].shape[0] != M)) {
            return invalid_argument("bias shape must be [" + std::to_string(M) + "]");
        }
    }
    TWindow t;
    PARE_RETURN_IF_ERROR(transpose_window(ctx.node, x.shape, w.shape, &t));
    Shape out = {x.shape[0], M};
    out.insert(out.end(), t.out.begin(), t.out.end());
    ctx.out[0] = meta(DType::kFloat32, out);
    return Status();
}

Status compute_conv_transpose(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const Tensor& W = *ctx.in[1];
    const Tensor* B = ctx.in.size() > 2 ? ctx.in[2] : nullptr;
    Tensor& Y = *ctx.out[0];
    TWindow t;
    PARE_RETURN_IF_ERROR(transpose_window(ctx.node, X.shape(), W.shape(), &t));
    const int64_t group = ctx.node.attrs.get_int("group", 1);
    const int64_t N = X.shape()[0], C = X.shape()[1], Mg = W.shape()[1], M = Mg * group,
                  Cg = C / group;
    const Shape in = to3(t.in, 1), out = to3(t.out, 1), k = to3(t.kernel, 1);
    const Shape st = to3(t.strides, 1), dl = to3(t.dilations, 1), pb = to3(t.pad_begin, 0);
    const int64_t in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
    const int64_t k_sz = k[0] * k[1] * k[2];
    const float* x = X.data<float>();
    const float* w = W.data<float>();
    float* y = Y.data<float>();
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < M; ++m) {
            float* yo = y + (n * M + m) * out_sz;
            const float bias = B ? B->data<float>()[m] : 0.0f;
            for (int64_t i = 0; i < out_sz; ++i) yo[i] = bias;
            const int64_t g = m / Mg, mg = m % Mg;
            for (int64_t c = 0; c < Cg; ++c) {
                const float* xi = x + (n * C + g * Cg + c) * in_sz;
                const float* wk = w + ((g * Cg + c) * Mg + mg) * k_sz;
                for (int64_t id = 0; id < in[0]; ++id)
                    for (int64_t ih = 0; ih < in[1]; ++ih)
                        for (int64_t iw = 0; iw < in[2]; ++iw) {
                            const float xv = xi[(id * in[1] + ih) * in[2] + iw];
                            for (int64_t kd = 0; kd < k[0]; ++kd) {
                                const int64_t od = id * st[0] + kd * dl[0] - pb[0];
                                if (od < 0 || od >= out[0]) continue;
                                for (int64_t kh = 0; kh < k[1]; ++kh) {
                                    const int64_t oh = ih * st[1] + kh * dl[1] - pb[1];
                                    if (oh < 0 || oh >= out[1]) continue;
                                    for (int64_t kw = 0; kw < k[2]; ++kw) {
                                        const int64_t ow = iw * st[2] + kw * dl[2] - pb[2];
                                        if (ow < 0 || ow >= out[2]) continue;
                                        yo[(od * out[1] + oh) * out[2] + ow] +=
                                            xv * wk[(kd * k[1] + kh) * k[2] + kw];
                                    }
                                }
                            }
                        }
            }
        }
    }
    return Status();
}

}  // namespace pare
