// Gather along axis with int32/int64 indices (negative counts from the end).
// Out-of-range indices are an error, never a read outside the tensor. Any dtype.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

Status infer_gather(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& idx = ctx.in[1];
    if (idx.dtype != DType::kInt64 && idx.dtype != DType::kInt32) {
        return invalid_argument("indices must be int32 or int64");
    }
    if (!x.has_shape || !idx.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    if (rank == 0) return invalid_argument("cannot Gather from a scalar");
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 0), rank, &axis));
    Shape out(x.shape.begin(), x.shape.begin() + axis);
    out.insert(out.end(), idx.shape.begin(), idx.shape.end());
    out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

Status compute_gather(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const Tensor& I = *ctx.in[1];
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 0), X.rank(), &axis));
    const int64_t dim = X.shape()[axis];
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= X.shape()[i];
    for (int64_t i = axis + 1; i < X.rank(); ++i) inner *= X.shape()[i];
    const size_t es = dtype_size(X.dtype());
    const uint8_t* x = static_cast<const uint8_t*>(X.raw());
    uint8_t* y = static_cast<uint8_t*>(ctx.out[0]->raw());
    const int64_t n = I.numel();
    for (int64_t j = 0; j < n; ++j) {
        int64_t k = I.at_int64(j);
        if (k < -dim || k >= dim) {
            return out_of_range("index " + std::to_string(k) + " out of range for axis of size " +
                                std::to_string(dim));
        }
    }
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < n; ++j) {
            int64_t k = I.at_int64(j);
            if (k < 0) k += dim;
            std::memcpy(y + ((o * n + j) * inner) * es, x + ((o * dim + k) * inner) * es,
                        inner * es);
        }
    }
    return Status();
}

}  // namespace pare
