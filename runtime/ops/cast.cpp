// Cast between float32, float16, int8, uint8, int32, int64 and bool.
// Float to integer truncates toward zero; NaN and out-of-range values saturate
// (ONNX leaves them undefined; saturating keeps the conversion free of UB).
#include <cmath>
#include <limits>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

template <class T>
T from_double(double v) {
    if (std::is_floating_point<T>::value) return static_cast<T>(v);
    if (v != v) return 0;
    const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<T>::max());
    if (v <= lo) return std::numeric_limits<T>::lowest();
    if (v >= hi) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
}

void store(Tensor& y, int64_t i, double v) {
    switch (y.dtype()) {
        case DType::kFloat32:
            y.data<float>()[i] = static_cast<float>(v);
            break;
        case DType::kFloat16:
            y.data<uint16_t>()[i] = float_to_half(static_cast<float>(v));
            break;
        case DType::kInt8:
            y.data<int8_t>()[i] = from_double<int8_t>(v);
            break;
        case DType::kUint8:
            y.data<uint8_t>()[i] = from_double<uint8_t>(v);
            break;
        case DType::kInt32:
            y.data<int32_t>()[i] = from_double<int32_t>(v);
            break;
        case DType::kInt64:
            y.data<int64_t>()[i] = from_double<int64_t>(v);
            break;
        case DType::kBool:
            y.data<uint8_t>()[i] = v != 0 ? 1 : 0;
            break;
        case DType::kUndefined:
            break;
    }
}

}  // namespace

Status infer_cast(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const int64_t to = ctx.node.attrs.get_int("to", 0);
    if (to < INT32_MIN || to > INT32_MAX || !dtype_is_supported(static_cast<int32_t>(to))) {
        return unsupported("Cast to ONNX type " + std::to_string(to) + " is not supported");
    }
    const ValueMeta& x = ctx.in[0];
    ctx.out[0] = {static_cast<DType>(to), x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_cast(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    if (X.dtype() == DType::kInt64 && Y.dtype() == DType::kInt64) {
        for (int64_t i = 0; i < X.numel(); ++i) Y.data<int64_t>()[i] = X.data<int64_t>()[i];
        return Status();
    }
    if (X.dtype() == DType::kInt64) {  // exact for int64 -> int32 etc.
        for (int64_t i = 0; i < X.numel(); ++i) {
            const int64_t v = X.data<int64_t>()[i];
            if (Y.dtype() == DType::kInt32) {
                Y.data<int32_t>()[i] = static_cast<int32_t>(v);
            } else {
                store(Y, i, static_cast<double>(v));
            }
        }
        return Status();
    }
    for (int64_t i = 0; i < X.numel(); ++i) store(Y, i, X.at_double(i));
    return Status();
}

}  // namespace pare
