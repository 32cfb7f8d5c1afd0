// Quantized convolution and addition, the integer ops a QDQ model runs as once the
// fuse_qdq pass has rewritten it (and that ONNX exporters write directly):
//
// QLinearConv (ONNX): x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
//   y_zero_point[, B]. x and w uint8 or int8; w_scale and w_zero_point scalars or
//   one per output channel; B int32 with scale x_scale * w_scale; y takes
//   y_zero_point's type. acc = sum (x - zx)(w - zw) + B in int32, then
//   requantize(acc, x_scale * w_scale / y_scale, zy) (runtime/ops/requantize.h).
//   Attributes as Conv's; in a session's own graph also pare's fused float
//   activation and affine (activated_row, quantize_value).
// QLinearAdd (com.microsoft, as ONNX Runtime defines it): A, A_scale, A_zero_point,
//   B, B_scale, B_zero_point, C_scale, C_zero_point; C = A's type; numpy
//   broadcasting; requantize_add.
// QLinearMul (com.microsoft, as ONNX Runtime defines it): QLinearAdd's inputs; C =
//   A's type; numpy broadcasting; requantize_mul (a squeeze-excitation's scaling).
// QLinearConcat (com.microsoft, as ONNX Runtime defines it): Y_scale, Y_zero_point,
//   then (X, X_scale, X_zero_point) per input; Concat along `axis` of each input
//   requantized to y's parameters as DequantizeLinear then QuantizeLinear would:
//   saturate(round_half_to_even(float(x - zx) * sx / sy) + zy); a copy where the
//   parameters are y's.
// QLinearGlobalAveragePool (com.microsoft, as ONNX Runtime defines it): X, x_scale,
//   x_zero_point, y_scale, y_zero_point; NCHW... (channels_last 0); per channel
//   requantize(sum of x - zx * HW, x_scale / (y_scale * HW), zy): the mean in y's
//   steps, rounded half to even.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/ops/conv_util.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

bool is_8bit(DType t) { return t == DType::kUint8 || t == DType::kInt8; }

// A scale input: float32, every value finite and positive; count 1 or `per`.
Status check_scale(const Tensor* s, const char* what, int64_t per) {
    if (!s || s->dtype() != DType::kFloat32)
        return invalid_argument(std::string(what) + " must be float32");
    if (s->numel() != 1 && s->numel() != per)
        return invalid_argument(std::string(what) +
                                " must be a scalar or hold one value per channel");
    for (int64_t i = 0; i < s->numel(); ++i) {
        const float v = s->data<float>()[i];
        if (!(v > 0) || !std::isfinite(v))
            return invalid_argument(std::string(what) + " must be finite and positive");
    }
    return Status();
}

// A zero point input of type t (absent: 0), count 1 or `per`.
Status check_zero_point(const Tensor* z, DType t, const char* what, int64_t per) {
    if (!z) return Status();
    if (z->dtype() != t)
        return invalid_argument(std::string(what) + "'s type differs from its tensor's");
    if (z->numel() != 1 && z->numel() != per)
        return invalid_argument(std::string(what) +
                                " must be a scalar or hold one value per channel");
    return Status();
}

int32_t zero_at(const Tensor* z, int64_t i) { return z ? int_at(*z, z->numel() == 1 ? 0 : i) : 0; }

const Tensor* input(const ComputeContext& ctx, size_t i) {
    return i < ctx.in.size() ? ctx.in[i] : nullptr;
}

}  // namespace

Status infer_qlinear_conv(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 8));
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& w = ctx.in[3];
    if (!is_8bit(x.dtype) || !is_8bit(w.dtype))
        return unsupported(std::string("QLinearConv of ") + dtype_name(x.dtype) + " x " +
                           dtype_name(w.dtype) + " is not supported (uint8 and int8 are)");
    for (size_t i : {1, 4, 6})
        if (ctx.in[i].dtype != DType::kFloat32) return invalid_argument("scales must be float32");
    if (ctx.in[2].dtype != x.dtype || ctx.in[5].dtype != w.dtype)
        return invalid_argument("a zero point's type differs from its tensor's");
    const DType yt = ctx.in[7].dtype;
    if (!is_8bit(yt)) return invalid_argument("y_zero_point must be uint8 or int8");
    if (ctx.has(8) && ctx.in[8].dtype != DType::kInt32) return invalid_argument("B must be int32");
    if (!x.has_shape || !w.has_shape) {
        ctx.out[0] = meta_rank_unknown(yt);
        return Status();
    }
    if (x.shape.size() < 3 || x.shape.size() != w.shape.size())
        return invalid_argument("input " + shape_str(x.shape) + " and weight " +
                                shape_str(w.shape) +
                                " ranks do not match (expected N,C,spatial...)");
    const int64_t group = ctx.node.attrs.get_int("group", 1);
    if (group < 1) return invalid_argument("group must be >= 1");
    const int64_t C = x.shape[1], M = w.shape[0];
    if (C >= 0 && w.shape[1] >= 0 && C != w.shape[1] * group)
        return invalid_argument("input has " + std::to_string(C) + " channels but weight " +
                                shape_str(w.shape) + " with group " + std::to_string(group) +
                                " expects " + std::to_string(w.shape[1] * group));
    if (M >= 0 && M % group != 0) return invalid_argument("output channels not divisible by group");
    if (ctx.has(8) && ctx.in[8].has_shape &&
        (ctx.in[8].shape.size() != 1 ||
         (M >= 0 && ctx.in[8].shape[0] >= 0 && ctx.in[8].shape[0] != M)))
        return invalid_argument("B's shape " + shape_str(ctx.in[8].shape) + " must be [" +
                                std::to_string(M) + "]");
    Shape in(x.shape.begin() + 2, x.shape.end()), k(w.shape.begin() + 2, w.shape.end());
    Window win;
    PARE_RETURN_IF_ERROR(window_forward(ctx.node.attrs, in, k, false, &win));
    Shape out = {x.shape[0], M};
    out.insert(out.end(), win.out.begin(), win.out.end());
    ctx.out[0] = meta(yt, out);
    return Status();
}

Status compute_qlinear_conv(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const Tensor& W = *ctx.in[3];
    const Tensor* B = input(ctx, 8);
    Tensor& Y = *ctx.out[0];
    const int64_t N = X.shape()[0], C = X.shape()[1], M = W.shape()[0];
    const int64_t group = ctx.node.attrs.get_int("group", 1);
    const int64_t Cg = C / group, Mg = M / group;
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[1], "x_scale", 1));
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[4], "w_scale", M));
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[6], "y_scale", 1));
    PARE_RETURN_IF_ERROR(check_zero_point(ctx.in[2], X.dtype(), "x_zero_point", 1));
    PARE_RETURN_IF_ERROR(check_zero_point(ctx.in[5], W.dtype(), "w_zero_point", M));
    PARE_RETURN_IF_ERROR(check_zero_point(ctx.in[7], Y.dtype(), "y_zero_point", 1));
    if (B && B->numel() != M) return invalid_argument("B must hold one value per output channel");
    Shape ins(X.shape().begin() + 2, X.shape().end()), ks(W.shape().begin() + 2, W.shape().end());
    Window w;
    PARE_RETURN_IF_ERROR(window_forward(ctx.node.attrs, ins, ks, false, &w));
    const Shape in = to3(w.in, 1), out = to3(w.out, 1), k = to3(w.kernel, 1);
    const Shape st = to3(w.strides, 1), dl = to3(w.dilations, 1), pb = to3(w.pad_begin, 0);
    const int64_t in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
    const int64_t k_sz = k[0] * k[1] * k[2];
    const int32_t zx = zero_at(ctx.in[2], 0), zy = zero_at(ctx.in[7], 0);
    const float sx = ctx.in[1]->data<float>()[0], sy = ctx.in[6]->data<float>()[0];
    int32_t lo, hi;
    type_range(Y.dtype(), &lo, &hi);
    const FusedActivation act = fused_activation(ctx.node.attrs);
    std::vector<int32_t> acc(static_cast<size_t>(out_sz));
    std::vector<float> real(act.act.kind != Activation::kNone ? static_cast<size_t>(out_sz) : 0);
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t m = 0; m < M; ++m) {
            const int32_t zw = zero_at(ctx.in[5], m);
            std::fill(acc.begin(), acc.end(), B ? B->data<int32_t>()[m] : 0);
            const int64_t g = m / Mg;
            for (int64_t c = 0; c < Cg; ++c) {
                const int64_t xi = (n * C + g * Cg + c) * in_sz;
                const int64_t wk = (m * Cg + c) * k_sz;
                for (int64_t kd = 0; kd < k[0]; ++kd)
                    for (int64_t kh = 0; kh < k[1]; ++kh)
                        for (int64_t kw = 0; kw < k[2]; ++kw) {
                            const int32_t wv = int_at(W, wk + (kd * k[1] + kh) * k[2] + kw) - zw;
                            for (int64_t od = 0; od < out[0]; ++od) {
                                const int64_t id = od * st[0] - pb[0] + kd * dl[0];
                                for (int64_t oh = 0; oh < out[1]; ++oh) {
                                    const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                                    for (int64_t ow = 0; ow < out[2]; ++ow) {
                                        const int64_t iw = ow * st[2] - pb[2] + kw * dl[2];
                                        // Padding holds the real value 0: x = zx.
                                        const bool inside = id >= 0 && id < in[0] && ih >= 0 &&
                                                            ih < in[1] && iw >= 0 && iw < in[2];
                                        const int32_t xv =
                                            inside ? int_at(X, xi + (id * in[1] + ih) * in[2] + iw)
                                                   : zx;
                                        acc[(od * out[1] + oh) * out[2] + ow] += (xv - zx) * wv;
                                    }
                                }
                            }
                        }
            }
            const float swm = ctx.in[4]->data<float>()[ctx.in[4]->numel() == 1 ? 0 : m];
            const float mult = requant_multiplier(sx, swm, sy);
            const int64_t yo = (n * M + m) * out_sz;
            if (act.act.kind != Activation::kNone) {
                activated_row(acc.data(), out_sz, sx * swm, act, real.data());
                for (int64_t i = 0; i < out_sz; ++i)
                    store_8bit(Y, yo + i, quantize_value(real[i], sy, zy, lo, hi));
                continue;
            }
            for (int64_t i = 0; i < out_sz; ++i)
                store_8bit(Y, yo + i, requantize(acc[i], mult, zy, lo, hi));
        }
    }
    return Status();
}

namespace {

// QLinearAdd's and QLinearMul's inputs and broadcast output.
Status infer_qlinear_binary(InferContext& ctx, const char* op) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 7));
    const ValueMeta& a = ctx.in[0];
    const ValueMeta& b = ctx.in[3];
    if (!is_8bit(a.dtype) || b.dtype != a.dtype)
        return unsupported(std::string(op) + " of " + dtype_name(a.dtype) + " and " +
                           dtype_name(b.dtype) + " is not supported (two uint8 or two int8)");
    for (size_t i : {1, 4, 6})
        if (ctx.in[i].dtype != DType::kFloat32) return invalid_argument("scales must be float32");
    for (size_t i : {2, 5, 7})
        if (ctx.has(i) && ctx.in[i].dtype != a.dtype)
            return invalid_argument("a zero point's type differs from the inputs'");
    if (!a.has_shape || !b.has_shape) {
        ctx.out[0] = meta_rank_unknown(a.dtype);
        return Status();
    }
    Shape out;
    PARE_RETURN_IF_ERROR(broadcast_shapes(a.shape, b.shape, &out));
    ctx.out[0] = meta(a.dtype, out);
    return Status();
}

}  // namespace

Status infer_qlinear_add(InferContext& ctx) { return infer_qlinear_binary(ctx, "QLinearAdd"); }
Status infer_qlinear_mul(InferContext& ctx) { return infer_qlinear_binary(ctx, "QLinearMul"); }

namespace {

// QLinearAdd (is_mul false) or QLinearMul of A and B, broadcast.
Status compute_qlinear_binary(ComputeContext& ctx, bool is_mul) {
    const Tensor& A = *ctx.in[0];
    const Tensor& B = *ctx.in[3];
    Tensor& Y = *ctx.out[0];
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[1], "A_scale", 1));
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[4], "B_scale", 1));
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[6], "C_scale", 1));
    const Tensor* ZA = input(ctx, 2);
    const Tensor* ZB = input(ctx, 5);
    const Tensor* ZC = input(ctx, 7);
    PARE_RETURN_IF_ERROR(check_zero_point(ZA, A.dtype(), "A_zero_point", 1));
    PARE_RETURN_IF_ERROR(check_zero_point(ZB, A.dtype(), "B_zero_point", 1));
    PARE_RETURN_IF_ERROR(check_zero_point(ZC, A.dtype(), "C_zero_point", 1));
    const float sa = ctx.in[1]->data<float>()[0], sb = ctx.in[4]->data<float>()[0];
    const float sc = ctx.in[6]->data<float>()[0];
    const float ka = sa / sc, kb = sb / sc, mult = sa * sb / sc;
    const int32_t za = zero_at(ZA, 0), zb = zero_at(ZB, 0), zc = zero_at(ZC, 0);
    int32_t lo, hi;
    type_range(Y.dtype(), &lo, &hi);
    std::vector<int64_t> st[2] = {broadcast_strides(A.shape(), Y.shape()),
                                  broadcast_strides(B.shape(), Y.shape())};
    for_each_broadcast<2>(Y.shape(), st, [&](int64_t i, const int64_t* off) {
        const int32_t a = int_at(A, off[0]) - za, b = int_at(B, off[1]) - zb;
        store_8bit(Y, i,
                   is_mul ? requantize_mul(a, b, mult, zc, lo, hi)
                          : requantize_add(a, b, ka, kb, zc, lo, hi));
    });
    return Status();
}

}  // namespace

Status compute_qlinear_add(ComputeContext& ctx) { return compute_qlinear_binary(ctx, false); }
Status compute_qlinear_mul(ComputeContext& ctx) { return compute_qlinear_binary(ctx, true); }

Status infer_qlinear_concat(InferContext& ctx) {
    if (ctx.in.size() < 5 || (ctx.in.size() - 2) % 3 != 0)
        return invalid_argument(
            "QLinearConcat takes Y_scale, Y_zero_point and (X, X_scale, "
            "X_zero_point) per input");
    PARE_RETURN_IF_ERROR(require_inputs(ctx, ctx.in.size()));
    const DType t = ctx.in[1].dtype;
    if (!is_8bit(t)) return unsupported("QLinearConcat of uint8 or int8 only");
    InferContext xs{ctx.node, {}, {ValueMeta()}};
    for (size_t i = 2; i < ctx.in.size(); i += 3) {
        if (ctx.in[i].dtype != t || ctx.in[i + 2].dtype != t)
            return invalid_argument("input " + std::to_string((i - 2) / 3) +
                                    "'s type or zero point type differs from Y_zero_point's");
        if (ctx.in[i + 1].dtype != DType::kFloat32 || ctx.in[0].dtype != DType::kFloat32)
            return invalid_argument("scales must be float32");
        xs.in.push_back(ctx.in[i]);
    }
    PARE_RETURN_IF_ERROR(infer_concat(xs));
    ctx.out[0] = xs.out[0];
    return Status();
}

Status compute_qlinear_concat(ComputeContext& ctx) {
    Tensor& Y = *ctx.out[0];
    const size_t n = (ctx.in.size() - 2) / 3;
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[0], "Y_scale", 1));
    PARE_RETURN_IF_ERROR(check_zero_point(ctx.in[1], Y.dtype(), "Y_zero_point", 1));
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 0), Y.rank(), &axis));
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= Y.shape()[i];
    const int64_t out_row = outer ? Y.numel() / outer : 0;
    const float sy = ctx.in[0]->data<float>()[0];
    const int32_t zy = zero_at(ctx.in[1], 0);
    int32_t lo, hi;
    type_range(Y.dtype(), &lo, &hi);
    const int32_t off = Y.dtype() == DType::kInt8 ? 128 : 0;  // a byte's value: b - off
    uint8_t* y = static_cast<uint8_t*>(Y.raw());
    int64_t col = 0;
    for (size_t j = 0; j < n; ++j) {
        const Tensor& X = *ctx.in[2 + 3 * j];
        PARE_RETURN_IF_ERROR(check_scale(ctx.in[3 + 3 * j], "X_scale", 1));
        PARE_RETURN_IF_ERROR(check_zero_point(ctx.in[4 + 3 * j], Y.dtype(), "X_zero_point", 1));
        if (X.rank() != Y.rank()) return invalid_argument("inputs have different ranks");
        const float sx = ctx.in[3 + 3 * j]->data<float>()[0];
        const int32_t zx = zero_at(ctx.in[4 + 3 * j], 0);
        // Each of the 256 byte values once: as DequantizeLinear then QuantizeLinear.
        uint8_t table[256];
        const bool same = sx == sy && zx == zy;
        for (int b = 0; b < 256 && !same; ++b) {
            const float v = static_cast<float>(b - off - zx) * sx;
            const double q = std::nearbyint(static_cast<double>(v / sy)) + zy;
            table[b] = static_cast<uint8_t>(
                static_cast<int32_t>(std::min<double>(hi, std::max<double>(lo, q))) + off);
        }
        const int64_t row = outer ? X.numel() / outer : 0;
        const uint8_t* x = static_cast<const uint8_t*>(X.raw());
        for (int64_t o = 0; o < outer; ++o) {
            uint8_t* dst = y + o * out_row + col;
            const uint8_t* src = x + o * row;
            if (same) {
                std::memcpy(dst, src, static_cast<size_t>(row));
            } else {
                for (int64_t i = 0; i < row; ++i) dst[i] = table[src[i]];
            }
        }
        col += row;
    }
    return Status();
}

Status infer_qlinear_global_average_pool(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 5));
    const ValueMeta& x = ctx.in[0];
    if (!is_8bit(x.dtype)) return unsupported("QLinearGlobalAveragePool of uint8 or int8 only");
    if (ctx.node.attrs.get_int("channels_last", 0) != 0)
        return unsupported("QLinearGlobalAveragePool with channels_last (NCHW only)");
    if (ctx.in[1].dtype != DType::kFloat32 || ctx.in[3].dtype != DType::kFloat32)
        return invalid_argument("scales must be float32");
    if (ctx.in[2].dtype != x.dtype || ctx.in[4].dtype != x.dtype)
        return invalid_argument("a zero point's type differs from X's");
    if (!x.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    if (x.shape.size() < 3)
        return invalid_argument("input " + shape_str(x.shape) + " must be N, C, spatial...");
    Shape out(x.shape.begin(), x.shape.begin() + 2);
    out.resize(x.shape.size(), 1);
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

Status compute_qlinear_global_average_pool(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[1], "x_scale", 1));
    PARE_RETURN_IF_ERROR(check_scale(ctx.in[3], "y_scale", 1));
    PARE_RETURN_IF_ERROR(check_zero_point(ctx.in[2], X.dtype(), "x_zero_point", 1));
    PARE_RETURN_IF_ERROR(check_zero_point(ctx.in[4], X.dtype(), "y_zero_point", 1));
    const int64_t NC = X.shape()[0] * X.shape()[1];
    const int64_t HW = NC ? X.numel() / NC : 0;
    if (HW <= 0 || HW > (int64_t{1} << 23))
        return invalid_argument("the plane size must be in [1, 2^23]");
    const int32_t zx = zero_at(ctx.in[2], 0), zy = zero_at(ctx.in[4], 0);
    const float mult =
        ctx.in[1]->data<float>()[0] / (ctx.in[3]->data<float>()[0] * static_cast<float>(HW));
    int32_t lo, hi;
    type_range(Y.dtype(), &lo, &hi);
    const bool u8 = X.dtype() == DType::kUint8;
    for (int64_t c = 0; c < NC; ++c) {
        int32_t sum = 0;
        if (u8) {
            const uint8_t* x = X.data<uint8_t>() + c * HW;
            for (int64_t i = 0; i < HW; ++i) sum += x[i];
        } else {
            const int8_t* x = X.data<int8_t>() + c * HW;
            for (int64_t i = 0; i < HW; ++i) sum += x[i];
        }
        store_8bit(Y, c, requantize(sum - zx * static_cast<int32_t>(HW), mult, zy, lo, hi));
    }
    return Status();
}

}  // namespace pare
