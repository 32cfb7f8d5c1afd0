// Softmax and LogSoftmax along one axis (opset-13 semantics; the importer
// rewrites the older "flatten to 2-D" form). f32, numerically stable (max shifted).
#include <cmath>

#include "runtime/ops/op_util.h"

namespace pare {

Status infer_softmax(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    const ValueMeta& x = ctx.in[0];
    if (x.has_shape) {
        int64_t axis;
        PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", -1),
                                            static_cast<int64_t>(x.shape.size()), &axis));
    }
    ctx.out[0] = {DType::kFloat32, x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_softmax(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", -1), X.rank(), &axis));
    const int64_t D = X.shape()[axis];
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= X.shape()[i];
    for (int64_t i = axis + 1; i < X.rank(); ++i) inner *= X.shape()[i];
    const bool log = ctx.node.op == OpKind::kLogSoftmax;
    const float* x = X.data<float>();
    float* y = ctx.out[0]->data<float>();
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
            const float* xp = x + o * D * inner + i;
            float* yp = y + o * D * inner + i;
            float mx = -INFINITY;
            for (int64_t d = 0; d < D; ++d) mx = std::fmax(mx, xp[d * inner]);
            double sum = 0;
            for (int64_t d = 0; d < D; ++d)
                sum += std::exp(static_cast<double>(xp[d * inner] - mx));
            for (int64_t d = 0; d < D; ++d) {
                const double v = xp[d * inner] - mx;
                yp[d * inner] = static_cast<float>(log ? v - std::log(sum) : std::exp(v) / sum);
            }
        }
    }
    return Status();
}

}  // namespace pare
