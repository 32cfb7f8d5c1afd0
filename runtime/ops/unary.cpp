// Elementwise unary ops: y = f(x), same shape. float32 for the math functions;
// Abs, Neg also int32/int64; Not on bool.
#include <cmath>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

bool allows_int(OpKind op) { return op == OpKind::kAbs || op == OpKind::kNeg; }

template <class T>
void apply_int(OpKind op, const T* x, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        y[i] =
            op == OpKind::kAbs ? (x[i] < 0 ? static_cast<T>(-x[i]) : x[i]) : static_cast<T>(-x[i]);
    }
}

}  // namespace

Status infer_unary(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    OpKind op = ctx.node.op;
    if (op == OpKind::kNot) {
        if (x.dtype != DType::kBool) return unsupported("Not expects bool input");
    } else if (x.dtype != DType::kFloat32 &&
               !(allows_int(op) && (x.dtype == DType::kInt32 || x.dtype == DType::kInt64))) {
        return unsupported(std::string("dtype ") + dtype_name(x.dtype) + " is not supported");
    }
    ctx.out[0] = {x.dtype, x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_unary(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    const int64_t n = X.numel();
    const OpKind op = ctx.node.op;
    if (X.dtype() == DType::kInt32) {
        apply_int(op, X.data<int32_t>(), Y.data<int32_t>(), n);
        return Status();
    }
    if (X.dtype() == DType::kInt64) {
        apply_int(op, X.data<int64_t>(), Y.data<int64_t>(), n);
        return Status();
    }
    if (op == OpKind::kNot) {
        const uint8_t* x = X.data<uint8_t>();
        uint8_t* y = Y.data<uint8_t>();
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] ? 0 : 1;
        return Status();
    }
    const Attributes& a = ctx.node.attrs;
    const float* x = X.data<float>();
    float* y = Y.data<float>();
    switch (op) {
        case OpKind::kAbs:
            for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]);
            break;
        case OpKind::kCeil:
            for (int64_t i = 0; i < n; ++i) y[i] = std::ceil(x[i]);
            break;
        case OpKind::kElu: {
            const float alpha = a.get_float("alpha", 1.0f);
            for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : alpha * (std::exp(x[i]) - 1);
            break;
        }
        case OpKind::kErf:
            for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
            break;
        case OpKind::kExp:
            for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
            break;
        case OpKind::kFloor:
            for (int64_t i = 0; i < n; ++i) y[i] = std::floor(x[i]);
            break;
        case OpKind::kHardSigmoid: {
            const float alpha = a.get_float("alpha", 0.2f), beta = a.get_float("beta", 0.5f);
            for (int64_t i = 0; i < n; ++i)
                y[i] = std::fmax(0.f, std::fmin(1.f, alpha * x[i] + beta));
            break;
        }
        case OpKind::kHardSwish:
            for (int64_t i = 0; i < n; ++i) {
                y[i] = x[i] * std::fmax(0.f, std::fmin(1.f, x[i] / 6.f + 0.5f));
            }
            break;
        case OpKind::kLeakyRelu: {
            const float alpha = a.get_float("alpha", 0.01f);
            for (int64_t i = 0; i < n; ++i) y[i] = x[i] >= 0 ? x[i] : alpha * x[i];
            break;
        }
        case OpKind::kLog:
            for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
            break;
        case OpKind::kNeg:
            for (int64_t i = 0; i < n; ++i) y[i] = -x[i];
            break;
        case OpKind::kReciprocal:
            for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / x[i];
            break;
        case OpKind::kRelu:
            for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0 ? x[i] : 0.0f;
            break;
        case OpKind::kSigmoid:
            for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
            break;
        case OpKind::kSoftplus:
            for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(std::exp(x[i]));
            break;
        case OpKind::kSqrt:
            for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
            break;
        case OpKind::kTanh:
            for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
            break;
        default:
            return internal_error("compute_unary called for a non-unary op");
    }
    return Status();
}

}  // namespace pare
