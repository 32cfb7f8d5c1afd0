// MatMul (reference): numpy matmul semantics. 1-D operands are promoted (a
// leading or trailing 1 added, then removed); leading batch dims broadcast.
// a (..., M, K) f32, b (..., K, N) f32 -> y (..., M, N).
#include <cmath>
#include <initializer_list>

#include "runtime/ops/op_util.h"
#include "runtime/ops/requantize.h"

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

// The numpy matmul of 8-bit a and b (shape r) in int32: fn(o, m, n, acc) for every
// output, o its index, m and n its row and column in its batch's matrix, acc the
// sum over k of (a - za(m)) (b - zb(n)). MatMulInteger, QLinearMatMul and
// MatMulIntegerToFloat differ only in the zero points and what fn makes of acc.
template <class Za, class Zb, class F>
void integer_matmul(const Tensor& A, const Tensor& B, const MatMulShape& r, Za za, Zb zb, F fn) {
    const int64_t M = r.M, K = r.K, N = r.N;
    Shape ba(r.a.begin(), r.a.end() - 2), bb(r.b.begin(), r.b.end() - 2);
    std::vector<int64_t> st[2] = {broadcast_strides(ba, r.batch), broadcast_strides(bb, r.batch)};
    Shape batch = r.batch.empty() ? Shape{1} : r.batch;
    if (r.batch.empty()) {
        st[0] = {0};
        st[1] = {0};
    }
    for_each_broadcast<2>(batch, st, [&](int64_t bi, const int64_t* off) {
        for (int64_t m = 0; m < M; ++m) {
            const int32_t zam = za(m);
            for (int64_t n = 0; n < N; ++n) {
                const int32_t zbn = zb(n);
                int32_t acc = 0;
                for (int64_t k = 0; k < K; ++k)
                    acc += (int_at(A, off[0] * M * K + m * K + k) - zam) *
                           (int_at(B, off[1] * K * N + k * N + n) - zbn);
                fn(bi * M * N + m * N + n, m, n, acc);
            }
        }
    });
}

// Every value of the given scale tensors (null ones skipped) finite and positive.
Status check_scales(std::initializer_list<const Tensor*> scales) {
    for (const Tensor* s : scales)
        for (int64_t i = 0; s && i < s->numel(); ++i)
            if (!(s->data<float>()[i] > 0) || !std::isfinite(s->data<float>()[i]))
                return invalid_argument("scales must be finite and positive");
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

// MatMulInteger: (a - a_zero_point) x (b - b_zero_point) in int32, uint8 or int8
// operands; a_zero_point scalar or one per row of a 2-D a, b_zero_point scalar or
// one per column (N).
Status infer_matmul_integer(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    for (size_t i = 0; i < 2; ++i) {
        const DType t = ctx.in[i].dtype;
        if (t != DType::kUint8 && t != DType::kInt8)
            return unsupported(std::string("MatMulInteger of ") + dtype_name(t) +
                               " is not supported (uint8 and int8 are)");
        if (ctx.has(i + 2) && ctx.in[i + 2].dtype != t)
            return invalid_argument("zero point type differs from its operand's");
    }
    if (!ctx.in[0].has_shape || !ctx.in[1].has_shape) {
        ctx.out[0] = meta_rank_unknown(DType::kInt32);
        return Status();
    }
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(ctx.in[0].shape, ctx.in[1].shape, &r));
    ctx.out[0] = meta(DType::kInt32, r.out);
    return Status();
}

Status compute_matmul_integer(ComputeContext& ctx) {
    const Tensor& A = *ctx.in[0];
    const Tensor& B = *ctx.in[1];
    const Tensor* ZA = ctx.in.size() > 2 ? ctx.in[2] : nullptr;
    const Tensor* ZB = ctx.in.size() > 3 ? ctx.in[3] : nullptr;
    Tensor& Y = *ctx.out[0];
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(A.shape(), B.shape(), &r));
    if (ZA && ZA->numel() != 1 && ZA->numel() != r.M)
        return invalid_argument("a_zero_point must be a scalar or one per row");
    if (ZB && ZB->numel() != 1 && ZB->numel() != r.N)
        return invalid_argument("b_zero_point must be a scalar or one per column");
    auto zero = [](const Tensor* z, int64_t i) {
        return z ? int_at(*z, z->numel() == 1 ? 0 : i) : 0;
    };
    int32_t* y = Y.data<int32_t>();
    integer_matmul(
        A, B, r, [&](int64_t m) { return zero(ZA, m); }, [&](int64_t n) { return zero(ZB, n); },
        [&](int64_t o, int64_t, int64_t, int32_t acc) { y[o] = acc; });
    return Status();
}

// QLinearMatMul: a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
// y_zero_point; a and b uint8 or int8; a's scale and zero point scalars, b's
// scalars or one per column (N); y takes y_zero_point's type. acc = sum (a - za)(b -
// zb) in int32, then requantize(acc, a_scale * b_scale / y_scale, zy).
Status infer_qlinear_matmul(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 8));
    for (size_t i : {0, 3}) {
        const DType t = ctx.in[i].dtype;
        if (t != DType::kUint8 && t != DType::kInt8)
            return unsupported(std::string("QLinearMatMul of ") + dtype_name(t) +
                               " is not supported (uint8 and int8 are)");
        if (ctx.in[i + 2].dtype != t)
            return invalid_argument("a zero point's type differs from its operand's");
        if (ctx.in[i + 1].dtype != DType::kFloat32)
            return invalid_argument("scales must be float32");
    }
    const DType yt = ctx.in[7].dtype;
    if (yt != DType::kUint8 && yt != DType::kInt8)
        return invalid_argument("y_zero_point must be uint8 or int8");
    if (!ctx.in[0].has_shape || !ctx.in[3].has_shape) {
        ctx.out[0] = meta_rank_unknown(yt);
        return Status();
    }
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(ctx.in[0].shape, ctx.in[3].shape, &r));
    ctx.out[0] = meta(yt, r.out);
    return Status();
}

Status compute_qlinear_matmul(ComputeContext& ctx) {
    const Tensor& A = *ctx.in[0];
    const Tensor& B = *ctx.in[3];
    const Tensor& SA = *ctx.in[1];
    const Tensor& SB = *ctx.in[4];
    const Tensor& ZA = *ctx.in[2];
    const Tensor& ZB = *ctx.in[5];
    const Tensor& SY = *ctx.in[6];
    const Tensor& ZY = *ctx.in[7];
    Tensor& Y = *ctx.out[0];
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(A.shape(), B.shape(), &r));
    if (SA.numel() != 1 || ZA.numel() != 1 || SY.numel() != 1 || ZY.numel() != 1)
        return invalid_argument("a's and y's scales and zero points must be scalars");
    if ((SB.numel() != 1 && SB.numel() != r.N) || ZB.numel() != SB.numel())
        return invalid_argument("b's scale and zero point must be scalars or one per column");
    PARE_RETURN_IF_ERROR(check_scales({&SA, &SB, &SY}));
    const int32_t za = int_at(ZA, 0), zy = int_at(ZY, 0);
    int32_t lo, hi;
    type_range(Y.dtype(), &lo, &hi);
    auto column = [&](int64_t n) { return SB.numel() == 1 ? 0 : n; };
    integer_matmul(
        A, B, r, [&](int64_t) { return za; }, [&](int64_t n) { return int_at(ZB, column(n)); },
        [&](int64_t o, int64_t, int64_t n, int32_t acc) {
            const float mult = requant_multiplier(SA.data<float>()[0], SB.data<float>()[column(n)],
                                                  SY.data<float>()[0]);
            store_8bit(Y, o, requantize(acc, mult, zy, lo, hi));
        });
    return Status();
}

// QGemm (com.microsoft, as ONNX Runtime defines it): A, a_scale, a_zero_point, B,
// b_scale, b_zero_point[, C[, y_scale, y_zero_point]]; A and B 2-D, uint8 or int8;
// a's scale and zero point scalars, b's scalars or one per column (N); C int32,
// broadcastable to (M, N), at scale alpha * a_scale * b_scale. acc = sum (a - za)(b
// - zb) + C in int32; with y_scale, requantize(acc, alpha * a_scale * b_scale /
// y_scale, zy) into y_zero_point's type; without, float(acc) * (alpha * a_scale *
// b_scale) in float32. Attributes alpha, transA, transB.
Status infer_qgemm(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 6));
    for (size_t i : {0, 3}) {
        const DType t = ctx.in[i].dtype;
        if (t != DType::kUint8 && t != DType::kInt8)
            return unsupported(std::string("QGemm of ") + dtype_name(t) +
                               " is not supported (uint8 and int8 are)");
        if (ctx.in[i + 2].dtype != t)
            return invalid_argument("a zero point's type differs from its operand's");
        if (ctx.in[i + 1].dtype != DType::kFloat32)
            return invalid_argument("scales must be float32");
    }
    if (ctx.has(6) && ctx.in[6].dtype != DType::kInt32) return invalid_argument("C must be int32");
    if (ctx.has(7) != ctx.has(8))
        return invalid_argument("y_scale and y_zero_point come together or not at all");
    DType yt = DType::kFloat32;
    if (ctx.has(7)) {
        if (ctx.in[7].dtype != DType::kFloat32) return invalid_argument("y_scale must be float32");
        yt = ctx.in[8].dtype;
        if (yt != DType::kUint8 && yt != DType::kInt8)
            return invalid_argument("y_zero_point must be uint8 or int8");
    }
    if (!ctx.in[0].has_shape || !ctx.in[3].has_shape) {
        ctx.out[0] = meta_rank_unknown(yt);
        return Status();
    }
    const Shape& a = ctx.in[0].shape;
    const Shape& b = ctx.in[3].shape;
    if (a.size() != 2 || b.size() != 2)
        return invalid_argument("QGemm takes 2-D A and B, got " + shape_str(a) + " and " +
                                shape_str(b));
    const bool ta = ctx.node.attrs.get_int("transA", 0) != 0;
    const bool tb = ctx.node.attrs.get_int("transB", 0) != 0;
    const int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1];
    const int64_t kb = tb ? b[1] : b[0], N = tb ? b[0] : b[1];
    if (K >= 0 && kb >= 0 && K != kb)
        return invalid_argument("inner dimensions differ: " + shape_str(a) + " x " + shape_str(b));
    ctx.out[0] = meta(yt, {M, N});
    return Status();
}

Status compute_qgemm(ComputeContext& ctx) {
    const Tensor& A = *ctx.in[0];
    const Tensor& B = *ctx.in[3];
    const Tensor& SA = *ctx.in[1];
    const Tensor& SB = *ctx.in[4];
    const Tensor& ZA = *ctx.in[2];
    const Tensor& ZB = *ctx.in[5];
    const Tensor* C = ctx.in.size() > 6 ? ctx.in[6] : nullptr;
    const Tensor* SY = ctx.in.size() > 7 ? ctx.in[7] : nullptr;
    const Tensor* ZY = ctx.in.size() > 8 ? ctx.in[8] : nullptr;
    Tensor& Y = *ctx.out[0];
    const bool ta = ctx.node.attrs.get_int("transA", 0) != 0;
    const bool tb = ctx.node.attrs.get_int("transB", 0) != 0;
    const float alpha = ctx.node.attrs.get_float("alpha", 1.0f);
    const int64_t M = Y.shape()[0], N = Y.shape()[1], K = ta ? A.shape()[0] : A.shape()[1];
    if (SA.numel() != 1 || ZA.numel() != 1 || (SY && (SY->numel() != 1 || !ZY || ZY->numel() != 1)))
        return invalid_argument("a's and y's scales and zero points must be scalars");
    if ((SB.numel() != 1 && SB.numel() != N) || (ZB.numel() != 1 && ZB.numel() != N))
        return invalid_argument("b's scale and zero point must be scalars or one per column");
    PARE_RETURN_IF_ERROR(check_scales({&SA, &SB, SY}));
    if (!(alpha > 0) || !std::isfinite(alpha))
        return invalid_argument("alpha must be finite and positive");
    std::vector<int64_t> cst;
    if (C) {
        Shape out;
        if (!broadcast_shapes(C->shape(), Y.shape(), &out).ok() || out != Y.shape())
            return invalid_argument("C's shape " + shape_str(C->shape()) +
                                    " does not broadcast to " + shape_str(Y.shape()));
        cst = broadcast_strides(C->shape(), Y.shape());
    }
    const int32_t za = int_at(ZA, 0), zy = ZY ? int_at(*ZY, 0) : 0;
    int32_t lo, hi;
    type_range(Y.dtype(), &lo, &hi);
    // In a session's own graph: a fused float activation (requantize.h).
    const FusedActivation act = fused_activation(ctx.node.attrs);
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
            const int64_t c = SB.numel() == 1 ? 0 : n;
            const int32_t zb = int_at(ZB, ZB.numel() == 1 ? 0 : n);
            int32_t acc = C ? C->data<int32_t>()[m * cst[0] + n * cst[1]] : 0;
            for (int64_t k = 0; k < K; ++k)
                acc += (int_at(A, ta ? k * M + m : m * K + k) - za) *
                       (int_at(B, tb ? n * K + k : k * N + n) - zb);
            const float scale = alpha * SA.data<float>()[0] * SB.data<float>()[c];
            const int64_t o = m * N + n;
            if (!SY) {
                Y.data<float>()[o] = static_cast<float>(acc) * scale;
                continue;
            }
            if (act.act.kind != Activation::kNone) {
                float v;
                activated_row(&acc, 1, scale, act, &v);
                store_8bit(Y, o, quantize_value(v, SY->data<float>()[0], zy, lo, hi));
                continue;
            }
            store_8bit(Y, o, requantize(acc, scale / SY->data<float>()[0], zy, lo, hi));
        }
    }
    return Status();
}

// MatMulIntegerToFloat (com.microsoft, as ONNX Runtime defines it): A, B, a_scale,
// b_scale[, a_zero_point[, b_zero_point[, bias]]]; numpy matmul of A and B (uint8
// or int8); a's scale and zero point scalars, b's scalars or one per column (N);
// bias float32 of N values. y = float(sum (a - za)(b - zb)) * (a_scale * b_scale)
// + bias, float32.
Status infer_matmul_integer_to_float(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 4));
    for (size_t i = 0; i < 2; ++i) {
        const DType t = ctx.in[i].dtype;
        if (t != DType::kUint8 && t != DType::kInt8)
            return unsupported(std::string("MatMulIntegerToFloat of ") + dtype_name(t) +
                               " is not supported (uint8 and int8 are)");
        if (ctx.has(i + 4) && ctx.in[i + 4].dtype != t)
            return invalid_argument("zero point type differs from its operand's");
        if (ctx.in[i + 2].dtype != DType::kFloat32)
            return invalid_argument("scales must be float32");
    }
    if (ctx.has(6) && ctx.in[6].dtype != DType::kFloat32)
        return invalid_argument("bias must be float32");
    if (!ctx.in[0].has_shape || !ctx.in[1].has_shape) {
        ctx.out[0] = meta_rank_unknown(DType::kFloat32);
        return Status();
    }
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(ctx.in[0].shape, ctx.in[1].shape, &r));
    ctx.out[0] = meta(DType::kFloat32, r.out);
    return Status();
}

Status compute_matmul_integer_to_float(ComputeContext& ctx) {
    const Tensor& A = *ctx.in[0];
    const Tensor& B = *ctx.in[1];
    const Tensor& SA = *ctx.in[2];
    const Tensor& SB = *ctx.in[3];
    const Tensor* ZA = ctx.in.size() > 4 ? ctx.in[4] : nullptr;
    const Tensor* ZB = ctx.in.size() > 5 ? ctx.in[5] : nullptr;
    const Tensor* bias = ctx.in.size() > 6 ? ctx.in[6] : nullptr;
    Tensor& Y = *ctx.out[0];
    MatMulShape r;
    PARE_RETURN_IF_ERROR(matmul_shape(A.shape(), B.shape(), &r));
    const int64_t N = r.N;
    if (SA.numel() != 1 || (ZA && ZA->numel() != 1))
        return invalid_argument("a's scale and zero point must be scalars");
    if ((SB.numel() != 1 && SB.numel() != N) || (ZB && ZB->numel() != SB.numel()))
        return invalid_argument("b's scale and zero point must be scalars or one per column");
    if (bias && bias->numel() != N)
        return invalid_argument("bias must hold one value per column (" + std::to_string(N) + ")");
    PARE_RETURN_IF_ERROR(check_scales({&SA, &SB}));
    const int32_t za = ZA ? int_at(*ZA, 0) : 0;
    auto column = [&](int64_t n) { return SB.numel() == 1 ? 0 : n; };
    integer_matmul(
        A, B, r, [&](int64_t) { return za; },
        [&](int64_t n) { return ZB ? int_at(*ZB, column(n)) : 0; },
        [&](int64_t o, int64_t, int64_t n, int32_t acc) {
            const float scale = SA.data<float>()[0] * SB.data<float>()[column(n)];
            Y.data<float>()[o] =
                static_cast<float>(acc) * scale + (bias ? bias->data<float>()[n] : 0.0f);
        });
    return Status();
}

}  // namespace pare
