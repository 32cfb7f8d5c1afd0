// Clip: y = min(max(x, min), max); min and max are optional scalar inputs
// (opset >= 11; the importer turns opset < 11 attributes into inputs).
#include <cmath>
#include <limits>

#include "runtime/ops/op_util.h"

namespace pare {

Status infer_clip(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    if (x.dtype == DType::kBool || x.dtype == DType::kFloat16) {
        return unsupported(std::string("dtype ") + dtype_name(x.dtype) + " is not supported");
    }
    for (size_t i = 1; i < 3; ++i) {
        if (!ctx.has(i)) continue;
        if (ctx.in[i].dtype != x.dtype) return invalid_argument("min/max dtype differs from input");
        if (ctx.in[i].has_shape && ctx.in[i].shape_known()) {
            int64_t n = 1;
            for (int64_t d : ctx.in[i].shape) n *= d;
            if (n != 1) return invalid_argument("min and max must be scalars");
        }
    }
    ctx.out[0] = {x.dtype, x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_clip(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    return dispatch_numeric(X.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
        if (ctx.in.size() > 1 && ctx.in[1]) lo = ctx.in[1]->template data<T>()[0];
        if (ctx.in.size() > 2 && ctx.in[2]) hi = ctx.in[2]->template data<T>()[0];
        const T* x = X.template data<T>();
        T* y = Y.template data<T>();
        for (int64_t i = 0; i < X.numel(); ++i) {
            T v = x[i] < lo ? lo : x[i];
            y[i] = v > hi ? hi : v;
        }
    });
}

}  // namespace pare
