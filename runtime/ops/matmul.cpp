// MatMul (reference): numpy matmul semantics. 1-D operands are promoted (a
// leading or trailing 1 added, then removed); leading batch dims broadcast.
// a (..., M, K) f32, b (..., K, N) f32 -> y (..., M, N).
#include "runtime/ops/op_util.h"

namespace pare {

namespace {

struct MatMulShape {
    Shape a, b;   // promoted to rank >= 2
    Shape batch;  // broadcast batch dims
    Shape out;    // final output shape (promoted dims removed)
    int64_t M, K, N;
};

Status matmul_shape(const Shape& sa, const Shape& sb, MatMulShape* r) {
    if (sa.empty() || sb.empty()) return invalid_argument("MatMul operands must have rank >= 1");
    r->a = sa;
    r->b = sb;
    if (sa.size() == 1) r->a.insert(r->a.begin(), 1);
    if (sb.size() == 1) r->b.push_back(1);
    r->M = r->a[r->a.size() - 2];
    r->K = r->a.back();
    r->N = r->b.back();
    const int64_t kb = r->b[r->b.size() - 2];
    if (r->K >= 0 && kb >= 0 && r->K != kb) {
        return invalid_argument("inner dimensions differ: " + shape_str(sa) + " x " +
                                shape_str(sb));
    }
    Shape ba(r->a.begin(), r->a.end() - 2), bb(r->b.begin(), r->b.end() - 2);
    PARE_RETURN_IF_ERROR(broadcast_shapes(ba, bb, &r->batch));
    r->out = r->batch;
    if (sa.size() != 1) r->out.push_back(r->M);
    if (sb.size() != 1) r->out.push_back(r->N);
    return Status();
}

}  // namespace

Status infer_matmul(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    PARE_RETURN_IF_ERROR(require_float(ctx, 1));
    if (!ctx.in[0].has_shape || !ctx.in[1].has_shape) {
        ctx.out[0] = meta_rank_unknown(DType::kFloat32);
        return Status();
    }
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(ctx.in[0].shape, ctx.in[1].shape, &r));
    ctx.out[0] = meta(DType::kFloat32, r.out);
    return Status();
}

Status compute_matmul(ComputeContext& ctx) {
    const Tensor& A = *ctx.in[0];
    const Tensor& B = *ctx.in[1];
    Tensor& Y = *ctx.out[0];
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(A.shape(), B.shape(), &r));
    const int64_t M = r.M, K = r.K, N = r.N;
    Shape ba(r.a.begin(), r.a.end() - 2), bb(r.b.begin(), r.b.end() - 2);
    // Offsets of each batch's matrix in A and B, in elements.
    std::vector<int64_t> st[2] = {broadcast_strides(ba, r.batch), broadcast_strides(bb, r.batch)};
    const float* a = A.data<float>();
    const float* b = B.data<float>();
    float* y = Y.data<float>();
    std::vector<float> row(static_cast<size_t>(N));
    Shape batch = r.batch.empty() ? Shape{1} : r.batch;
    if (r.batch.empty()) {
        st[0] = {0};
        st[1] = {0};
    }
    for_each_broadcast<2>(batch, st, [&](int64_t bi, const int64_t* off) {
        const float* ab = a + off[0] * M * K;
        const float* bbp = b + off[1] * K * N;
        float* yb = y + bi * M * N;
        for (int64_t m = 0; m < M; ++m) {
            std::fill(row.begin(), row.end(), 0.0f);
            for (int64_t k = 0; k < K; ++k) {
                const float av = ab[m * K + k];
                const float* br = bbp + k * N;
                for (int64_t n = 0; n < N; ++n) row[n] += av * br[n];
            }
            std::copy(row.begin(), row.end(), yb + m * N);
        }
    });
    return Status();
}

}  // namespace pare
