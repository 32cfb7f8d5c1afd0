// BatchNormalization, inference form (reference): x (N, C, ...) f32, scale, bias,
// mean, var (C). y = scale * (x - mean) / sqrt(var + epsilon) + bias.
// Training-mode outputs (running statistics) are not supported.
#include <cmath>

#include "runtime/ops/op_util.h"

namespace pare {

Status infer_batchnorm(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 5));
    for (size_t i = 0; i < 5; ++i) PARE_RETURN_IF_ERROR(require_float(ctx, i));
    if (ctx.out.size() > 1 || ctx.node.attrs.get_int("training_mode", 0) != 0) {
        return unsupported("training-mode BatchNormalization (extra outputs) is not supported");
    }
    const ValueMeta& x = ctx.in[0];
    if (x.has_shape && x.shape.size() < 2) return invalid_argument("input must have rank >= 2");
    const int64_t C = x.has_shape ? x.shape[1] : -1;
    for (size_t i = 1; i < 5; ++i) {
        const ValueMeta& p = ctx.in[i];
        if (p.has_shape &&
            (p.shape.size() != 1 || (C >= 0 && p.shape[0] >= 0 && p.shape[0] != C))) {
            return invalid_argument("parameter " + std::to_string(i) + " has shape " +
                                    shape_str(p.shape) + ", expected [" + std::to_string(C) + "]");
        }
    }
    ctx.out[0] = {DType::kFloat32, x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_batchnorm(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const float* scale = ctx.in[1]->data<float>();
    const float* bias = ctx.in[2]->data<float>();
    const float* mean = ctx.in[3]->data<float>();
    const float* var = ctx.in[4]->data<float>();
    const float eps = ctx.node.attrs.get_float("epsilon", 1e-5f);
    const int64_t N = X.shape()[0], C = X.shape()[1];
    const int64_t inner = (N != 0 && C != 0) ? X.numel() / (N * C) : 0;
    const float* x = X.data<float>();
    float* y = ctx.out[0]->data<float>();
    for (int64_t c = 0; c < C; ++c) {
        const float s = scale[c] / std::sqrt(var[c] + eps);
        const float b = bias[c] - mean[c] * s;
        for (int64_t n = 0; n < N; ++n) {
            const float* xi = x + (n * C + c) * inner;
            float* yi = y + (n * C + c) * inner;
            for (int64_t i = 0; i < inner; ++i) yi[i] = xi[i] * s + b;
        }
    }
    return Status();
}

}  // namespace pare
