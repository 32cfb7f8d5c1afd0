// Gemm (reference): Y = alpha * op(A) * op(B) + beta * C, A (M,K) or (K,M) with
// transA, B (K,N) or (N,K) with transB, C broadcast to (M,N). f32.
#include "runtime/ops/op_util.h"

namespace pare {

Status infer_gemm(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    PARE_RETURN_IF_ERROR(require_float(ctx, 1));
    const ValueMeta& a = ctx.in[0];
    const ValueMeta& b = ctx.in[1];
    if (!a.has_shape || !b.has_shape) {
        ctx.out[0] = meta(DType::kFloat32, {-1, -1});
        return Status();
    }
    if (a.shape.size() != 2 || b.shape.size() != 2) {
        return invalid_argument("A " + shape_str(a.shape) + " and B " + shape_str(b.shape) +
                                " must be 2-D");
    }
    const bool ta = ctx.node.attrs.get_int("transA", 0) != 0;
    const bool tb = ctx.node.attrs.get_int("transB", 0) != 0;
    const int64_t M = ta ? a.shape[1] : a.shape[0], Ka = ta ? a.shape[0] : a.shape[1];
    const int64_t Kb = tb ? b.shape[1] : b.shape[0], N = tb ? b.shape[0] : b.shape[1];
    if (Ka >= 0 && Kb >= 0 && Ka != Kb) {
        return invalid_argument("inner dimensions differ: A " + shape_str(a.shape) + " B " +
                                shape_str(b.shape) + (ta ? " transA" : "") + (tb ? " transB" : ""));
    }
    if (ctx.has(2)) {
        PARE_RETURN_IF_ERROR(require_float(ctx, 2));
        Shape s;
        if (ctx.in[2].has_shape) {
            PARE_RETURN_IF_ERROR(broadcast_shapes({M, N}, ctx.in[2].shape, &s));
            if (ctx.in[2].shape.size() > 2 || (M >= 0 && N >= 0 && s != Shape{M, N})) {
                return invalid_argument("C " + shape_str(ctx.in[2].shape) +
                                        " does not broadcast to [" + std::to_string(M) + "," +
                                        std::to_string(N) + "]");
            }
        }
    }
    ctx.out[0] = meta(DType::kFloat32, {M, N});
    return Status();
}

Status compute_gemm(ComputeContext& ctx) {
    const Tensor& A = *ctx.in[0];
    const Tensor& B = *ctx.in[1];
    const Tensor* C = ctx.in.size() > 2 ? ctx.in[2] : nullptr;
    Tensor& Y = *ctx.out[0];
    const bool ta = ctx.node.attrs.get_int("transA", 0) != 0;
    const bool tb = ctx.node.attrs.get_int("transB", 0) != 0;
    const float alpha = ctx.node.attrs.get_float("alpha", 1.0f);
    const float beta = ctx.node.attrs.get_float("beta", 1.0f);
    const int64_t M = Y.shape()[0], N = Y.shape()[1];
    const int64_t K = ta ? A.shape()[0] : A.shape()[1];
    const float* a = A.data<float>();
    const float* b = B.data<float>();
    float* y = Y.data<float>();
    std::vector<float> row(static_cast<size_t>(N));
    for (int64_t m = 0; m < M; ++m) {
        std::fill(row.begin(), row.end(), 0.0f);
        for (int64_t k = 0; k < K; ++k) {
            const float av = ta ? a[k * M + m] : a[m * K + k];
            if (tb) {
                for (int64_t n = 0; n < N; ++n) row[n] += av * b[n * K + k];
            } else {
                const float* br = b + k * N;
                for (int64_t n = 0; n < N; ++n) row[n] += av * br[n];
            }
        }
        for (int64_t n = 0; n < N; ++n) y[m * N + n] = alpha * row[n];
    }
    if (C && beta != 0.0f) {
        std::vector<int64_t> st[1] = {broadcast_strides(C->shape(), Y.shape())};
        const float* c = C->data<float>();
        for_each_broadcast<1>(Y.shape(), st,
                              [&](int64_t o, const int64_t* off) { y[o] += beta * c[off[0]]; });
    }
    return Status();
}

}  // namespace pare
