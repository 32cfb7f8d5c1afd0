// QuantizeLinear and DequantizeLinear (opsets 10-18 semantics, 8-bit types), and
// DynamicQuantizeLinear (uint8 with the scale and zero point of x's own range
// widened to hold 0: scale = (max - min) / 255, zero_point = round(-min / scale)):
//   Quantize:   y = saturate(round_half_to_even(x / scale) + zero_point)
//   Dequantize: y = (x - zero_point) * scale
// scale (and zero_point) are scalars (per tensor) or 1-D along `axis` (per
// channel, default axis 1). Quantize's output type is zero_point's (uint8 when
// absent); Dequantize reads uint8, int8 or int32 (int32 with zero point 0: biases).
// DequantizeLinear's block_size (opset 21: grouped weights, 4-bit values imported
// as int8/uint8): scale has x's rank and shape but ceil(d / block_size) along axis,
// element j of a block along axis reading the scale of index j / block_size.
#include <algorithm>
#include <cmath>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

// The scale (and zero point) layout: per tensor, or one value per index of `axis`.
Status quant_axis(const InferContext& ctx, int64_t* axis) {
    *axis = -1;
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& s = ctx.in[1];
    if (s.dtype != DType::kFloat32) return unsupported("scale must be float32");
    const int64_t block = ctx.node.attrs.get_int("block_size", 0);
    if (block != 0) {
        if (ctx.node.op != OpKind::kDequantizeLinear || block < 0)
            return invalid_argument("block_size must be positive (DequantizeLinear only)");
        if (ctx.has(2) && ctx.in[2].has_shape && s.has_shape && ctx.in[2].shape != s.shape)
            return invalid_argument("zero_point's shape differs from scale's");
        if (!s.has_shape || !x.has_shape) return Status();
        if (s.shape.size() != x.shape.size())
            return invalid_argument("a blocked scale must have the input's rank");
        PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 1),
                                            static_cast<int64_t>(x.shape.size()), axis));
        for (size_t d = 0; d < x.shape.size(); ++d) {
            const int64_t want =
                static_cast<int64_t>(d) == *axis ? (x.shape[d] + block - 1) / block : x.shape[d];
            if (x.shape[d] >= 0 && s.shape[d] >= 0 && s.shape[d] != want)
                return invalid_argument("blocked scale has shape " + shape_str(s.shape) +
                                        " for input " + shape_str(x.shape) + " and block_size " +
                                        std::to_string(block));
        }
        return Status();
    }
    if (!s.has_shape) return Status();
    if (s.shape.size() > 1) return invalid_argument("scale must be a scalar or 1-D");
    if (ctx.has(2)) {
        const ValueMeta& z = ctx.in[2];
        if (z.has_shape && z.shape != s.shape)
            return invalid_argument("zero_point's shape differs from scale's");
    }
    if (s.shape.empty() || (s.shape[0] == 1 && !ctx.node.attrs.has("axis"))) return Status();
    if (!x.has_shape) return Status();
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 1),
                                        static_cast<int64_t>(x.shape.size()), axis));
    if (s.shape[0] >= 0 && x.shape[*axis] >= 0 && s.shape[0] != x.shape[*axis])
        return invalid_argument("scale has " + std::to_string(s.shape[0]) +
                                " values for an axis of " + std::to_string(x.shape[*axis]));
    return Status();
}

// Index of the scale for element i: 0 per tensor, else its coordinate on axis.
struct ChannelOf {
    int64_t inner = 1, count = 1;            // elements after axis; scales
    int64_t dim = 0, block = 0, blocks = 0;  // blocked: axis length, block size, blocks on it
    int64_t operator()(int64_t i) const {
        if (block > 0) {
            const int64_t r = i % inner, a = i / inner % dim, o = i / inner / dim;
            return (o * blocks + a / block) * inner + r;
        }
        return count == 1 ? 0 : i / inner % count;
    }
};

Result<ChannelOf> channel_of(const ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const Tensor& S = *ctx.in[1];
    ChannelOf c;
    c.count = S.numel();
    if (c.count <= 0) return invalid_argument("scale is empty");
    const int64_t block = ctx.node.attrs.get_int("block_size", 0);
    if (block > 0) {
        int64_t axis;
        PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 1), X.rank(), &axis));
        if (S.rank() != X.rank())
            return invalid_argument("a blocked scale must have the input's rank");
        for (int64_t d = 0; d < X.rank(); ++d) {
            const int64_t want = d == axis ? (X.shape()[d] + block - 1) / block : X.shape()[d];
            if (S.shape()[d] != want)
                return invalid_argument("blocked scale does not match the input");
        }
        for (int64_t d = axis + 1; d < X.rank(); ++d) c.inner *= X.shape()[d];
        c.dim = X.shape()[axis];
        c.block = block;
        c.blocks = S.shape()[axis];
        return c;
    }
    if (c.count == 1) return c;
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 1), X.rank(), &axis));
    if (X.shape()[axis] != c.count) return invalid_argument("scale does not match the axis");
    for (int64_t d = axis + 1; d < X.rank(); ++d) c.inner *= X.shape()[d];
    return c;
}

double zero_point_at(const Tensor* Z, int64_t k) {
    if (!Z) return 0.0;
    switch (Z->dtype()) {
        case DType::kUint8:
            return Z->data<uint8_t>()[k];
        case DType::kInt8:
            return Z->data<int8_t>()[k];
        case DType::kInt32:
            return Z->data<int32_t>()[k];
        default:
            return 0.0;
    }
}

}  // namespace

Status infer_quantize(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    const ValueMeta& x = ctx.in[0];
    int64_t axis;
    PARE_RETURN_IF_ERROR(quant_axis(ctx, &axis));
    if (ctx.node.op == OpKind::kQuantizeLinear) {
        if (x.dtype != DType::kFloat32) return unsupported("QuantizeLinear input must be float32");
        DType out = DType::kUint8;
        if (ctx.has(2)) {
            out = ctx.in[2].dtype;
            if (out != DType::kUint8 && out != DType::kInt8)
                return unsupported(std::string("QuantizeLinear to ") + dtype_name(out) +
                                   " is not supported (uint8 and int8 are)");
        }
        ctx.out[0] = {out, x.has_shape, x.shape, nullptr};
        return Status();
    }
    if (x.dtype != DType::kUint8 && x.dtype != DType::kInt8 && x.dtype != DType::kInt32)
        return unsupported(std::string("DequantizeLinear of ") + dtype_name(x.dtype) +
                           " is not supported (uint8, int8 and int32 are)");
    if (ctx.has(2) && ctx.in[2].dtype != x.dtype)
        return invalid_argument("zero_point's type differs from the input's");
    ctx.out[0] = {DType::kFloat32, x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_quantize(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const Tensor& S = *ctx.in[1];
    const Tensor* Z = ctx.in.size() > 2 ? ctx.in[2] : nullptr;
    Tensor& Y = *ctx.out[0];
    PARE_ASSIGN_OR_RETURN(ChannelOf ch, channel_of(ctx));
    if (Z && Z->numel() != ch.count) return invalid_argument("zero_point does not match scale");
    const float* s = S.data<float>();
    if (ctx.node.op == OpKind::kQuantizeLinear) {
        const bool is_signed = Y.dtype() == DType::kInt8;
        const double lo = is_signed ? -128.0 : 0.0, hi = is_signed ? 127.0 : 255.0;
        const float* x = X.data<float>();
        for (int64_t i = 0; i < X.numel(); ++i) {
            const int64_t k = ch(i);
            // x / scale in float, as the specification and ONNX Runtime compute it,
            // rounded half to even (nearbyint in the default rounding mode).
            double q = std::nearbyint(static_cast<double>(x[i] / s[k])) + zero_point_at(Z, k);
            q = q != q ? lo : (q < lo ? lo : (q > hi ? hi : q));
            if (is_signed) {
                Y.data<int8_t>()[i] = static_cast<int8_t>(q);
            } else {
                Y.data<uint8_t>()[i] = static_cast<uint8_t>(q);
            }
        }
        return Status();
    }
    float* y = Y.data<float>();
    for (int64_t i = 0; i < X.numel(); ++i) {
        const int64_t k = ch(i);
        double v = 0;
        switch (X.dtype()) {
            case DType::kUint8:
                v = X.data<uint8_t>()[i];
                break;
            case DType::kInt8:
                v = X.data<int8_t>()[i];
                break;
            default:
                v = X.data<int32_t>()[i];
                break;
        }
        y[i] = static_cast<float>(v - zero_point_at(Z, k)) * s[k];
    }
    return Status();
}

Status infer_dynamic_quantize(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    if (x.dtype != DType::kFloat32)
        return unsupported("DynamicQuantizeLinear input must be float32");
    if (ctx.out.size() != 3) return invalid_argument("DynamicQuantizeLinear has three outputs");
    ctx.out[0] = {DType::kUint8, x.has_shape, x.shape, nullptr};
    ctx.out[1] = meta(DType::kFloat32, {});
    ctx.out[2] = meta(DType::kUint8, {});
    return Status();
}

Status compute_dynamic_quantize(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const float* x = X.data<float>();
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < X.numel(); ++i) {
        if (x[i] != x[i]) return invalid_argument("DynamicQuantizeLinear input holds NaN");
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    const float scale = (hi - lo) / 255.0f;
    double zp =
        scale > 0 ? std::nearbyint(std::min(255.0, std::max(0.0, -lo / static_cast<double>(scale))))
                  : 0.0;
    uint8_t* y = ctx.out[0]->data<uint8_t>();
    for (int64_t i = 0; i < X.numel(); ++i) {
        double q = scale > 0 ? std::nearbyint(static_cast<double>(x[i] / scale)) + zp : zp;
        y[i] = static_cast<uint8_t>(q < 0 ? 0 : (q > 255 ? 255 : q));
    }
    ctx.out[1]->data<float>()[0] = scale;
    ctx.out[2]->data<uint8_t>()[0] = static_cast<uint8_t>(zp);
    return Status();
}

}  // namespace pare
