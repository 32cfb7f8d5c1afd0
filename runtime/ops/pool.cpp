// Pooling (reference): MaxPool (also of uint8 and int8), AveragePool over x (N, C,
// spatial...) f32 with
// kernel_shape/strides/pads/dilations/ceil_mode; GlobalAveragePool and
// GlobalMaxPool reduce every spatial dim to 1. AveragePool divides by the count
// of non-padding elements unless count_include_pad=1.
#include <cmath>
#include <limits>

#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

bool is_global(OpKind op) {
    return op == OpKind::kGlobalAveragePool || op == OpKind::kGlobalMaxPool;
}

Status pool_window(const Node& node, const Shape& xs, Window* w) {
    Shape in(xs.begin() + 2, xs.end());
    Shape k = node.attrs.get_ints("kernel_shape");
    if (k.empty()) return invalid_argument("kernel_shape is required");
    return window_forward(node.attrs, in, k, node.attrs.get_int("ceil_mode", 0) != 0, w);
}

}  // namespace

Status infer_pool(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    // MaxPool also of 8-bit integers (a quantized model's: order is kept by the
    // quantization, so the maximum of the integers is the integer of the maximum).
    const bool int8 =
        ctx.node.op == OpKind::kMaxPool && (x.dtype == DType::kUint8 || x.dtype == DType::kInt8);
    if (!int8) PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    if (ctx.out.size() > 1) return unsupported("the Indices output of MaxPool is not supported");
    if (!x.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    if (x.shape.size() < 3)
        return invalid_argument("input " + shape_str(x.shape) + " must be N,C,spatial");
    Shape out = {x.shape[0], x.shape[1]};
    if (is_global(ctx.node.op)) {
        out.resize(x.shape.size(), 1);
    } else {
        if (ctx.node.op == OpKind::kAveragePool && !ctx.node.attrs.get_ints("dilations").empty()) {
            for (int64_t d : ctx.node.attrs.get_ints("dilations")) {
                if (d != 1) return unsupported("AveragePool with dilations");
            }
        }
        Window w;
        PARE_RETURN_IF_ERROR(pool_window(ctx.node, x.shape, &w));
        out.insert(out.end(), w.out.begin(), w.out.end());
    }
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

namespace {

// MaxPool of 8-bit values: the largest value in the window's inside part.
template <class T>
Status max_pool_int(const Window& w, const Tensor& X, Tensor& Y) {
    const int64_t NC = X.shape()[0] * X.shape()[1];
    const Shape in = to3(w.in, 1), out = to3(w.out, 1), k = to3(w.kernel, 1);
    const Shape st = to3(w.strides, 1), dl = to3(w.dilations, 1), pb = to3(w.pad_begin, 0);
    const int64_t in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
    for (int64_t i = 0; i < NC; ++i) {
        const T* xi = X.data<T>() + i * in_sz;
        T* yo = Y.data<T>() + i * out_sz;
        for (int64_t od = 0; od < out[0]; ++od)
            for (int64_t oh = 0; oh < out[1]; ++oh)
                for (int64_t ow = 0; ow < out[2]; ++ow) {
                    T acc = std::numeric_limits<T>::lowest();
                    for (int64_t kd = 0; kd < k[0]; ++kd) {
                        const int64_t id = od * st[0] - pb[0] + kd * dl[0];
                        for (int64_t kh = 0; kh < k[1]; ++kh) {
                            const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                            for (int64_t kw = 0; kw < k[2]; ++kw) {
                                const int64_t iw = ow * st[2] - pb[2] + kw * dl[2];
                                if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 ||
                                    iw >= in[2])
                                    continue;
                                const T v = xi[(id * in[1] + ih) * in[2] + iw];
                                acc = v > acc ? v : acc;
                            }
                        }
                    }
                    yo[(od * out[1] + oh) * out[2] + ow] = acc;
                }
    }
    return Status();
}

}  // namespace

Status compute_pool(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    const int64_t NC = X.shape()[0] * X.shape()[1];
    if (X.dtype() == DType::kUint8 || X.dtype() == DType::kInt8) {
        Window w;
        PARE_RETURN_IF_ERROR(pool_window(ctx.node, X.shape(), &w));
        return X.dtype() == DType::kUint8 ? max_pool_int<uint8_t>(w, X, Y)
                                          : max_pool_int<int8_t>(w, X, Y);
    }
    const float* x = X.data<float>();
    float* y = Y.data<float>();
    const OpKind op = ctx.node.op;
    if (is_global(op)) {
        const int64_t sp = NC ? X.numel() / NC : 0;
        for (int64_t i = 0; i < NC; ++i) {
            const float* xi = x + i * sp;
            if (op == OpKind::kGlobalAveragePool) {
                double s = 0;
                for (int64_t j = 0; j < sp; ++j) s += xi[j];
                y[i] = sp ? static_cast<float>(s / static_cast<double>(sp)) : 0.f;
            } else {
                float m = -std::numeric_limits<float>::infinity();
                for (int64_t j = 0; j < sp; ++j) m = std::fmax(m, xi[j]);
                y[i] = m;
            }
        }
        return Status();
    }
    Window w;
    PARE_RETURN_IF_ERROR(pool_window(ctx.node, X.shape(), &w));
    const bool is_max = op == OpKind::kMaxPool;
    const bool include_pad = ctx.node.attrs.get_int("count_include_pad", 0) != 0;
    const Shape in = to3(w.in, 1), out = to3(w.out, 1), k = to3(w.kernel, 1);
    const Shape st = to3(w.strides, 1), dl = to3(w.dilations, 1), pb = to3(w.pad_begin, 0);
    const Shape pe = to3(w.pad_end, 0);
    const int64_t in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
    for (int64_t i = 0; i < NC; ++i) {
        const float* xi = x + i * in_sz;
        float* yo = y + i * out_sz;
        for (int64_t od = 0; od < out[0]; ++od)
            for (int64_t oh = 0; oh < out[1]; ++oh)
                for (int64_t ow = 0; ow < out[2]; ++ow) {
                    float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
                    int64_t count = 0, padded_count = 0;
                    for (int64_t kd = 0; kd < k[0]; ++kd) {
                        const int64_t id = od * st[0] - pb[0] + kd * dl[0];
                        for (int64_t kh = 0; kh < k[1]; ++kh) {
                            const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                            for (int64_t kw = 0; kw < k[2]; ++kw) {
                                const int64_t iw = ow * st[2] - pb[2] + kw * dl[2];
                                // positions inside input + explicit pads count for
                                // count_include_pad
                                if (id < in[0] + pe[0] && ih < in[1] + pe[1] &&
                                    iw < in[2] + pe[2]) {
                                    ++padded_count;
                                }
                                if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 ||
                                    iw >= in[2]) {
                                    continue;
                                }
                                const float v = xi[(id * in[1] + ih) * in[2] + iw];
                                if (is_max) {
                                    acc = (v > acc || v != v) ? v : acc;
                                } else {
                                    acc += v;
                                }
                                ++count;
                            }
                        }
                    }
                    float& dst = yo[(od * out[1] + oh) * out[2] + ow];
                    if (is_max) {
                        dst = acc;
                    } else {
                        const int64_t div = include_pad ? padded_count : count;
                        dst = div ? acc / static_cast<float>(div) : 0.0f;
                    }
                }
    }
    return Status();
}

}  // namespace pare
