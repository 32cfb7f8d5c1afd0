// Concat along axis; any dtype (bytes are copied).
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

Status infer_concat(InferContext& ctx) {
    if (ctx.in.empty()) return invalid_argument("expects at least one input");
    PARE_RETURN_IF_ERROR(require_inputs(ctx, ctx.in.size()));
    const DType t = ctx.in[0].dtype;
    int64_t rank = -1;
    for (const auto& m : ctx.in) {
        if (m.dtype != t) return invalid_argument("inputs have different dtypes");
        if (m.has_shape) {
            if (rank >= 0 && rank != static_cast<int64_t>(m.shape.size())) {
                return invalid_argument("inputs have different ranks");
            }
            rank = static_cast<int64_t>(m.shape.size());
        }
    }
    if (rank < 0) {
        ctx.out[0] = meta_rank_unknown(t);
        return Status();
    }
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 0), rank, &axis));
    Shape out(rank, -1);
    int64_t total = 0;
    for (const auto& m : ctx.in) {
        if (!m.has_shape) {
            total = -1;
            continue;
        }
        for (int64_t d = 0; d < rank; ++d) {
            if (d == axis) continue;
            if (m.shape[d] >= 0) {
                if (out[d] >= 0 && out[d] != m.shape[d]) {
                    return invalid_argument("dimension " + std::to_string(d) +
                                            " differs: " + std::to_string(out[d]) + " vs " +
                                            std::to_string(m.shape[d]));
                }
                out[d] = m.shape[d];
            }
        }
        if (total >= 0) total = m.shape[axis] < 0 ? -1 : total + m.shape[axis];
    }
    out[axis] = total;
    ctx.out[0] = meta(t, out);
    return Status();
}

Status compute_concat(ComputeContext& ctx) {
    Tensor& Y = *ctx.out[0];
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 0), Y.rank(), &axis));
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= Y.shape()[i];
    const size_t es = dtype_size(Y.dtype());
    const int64_t out_row = outer ? Y.numel() / outer : 0;
    uint8_t* y = static_cast<uint8_t*>(Y.raw());
    int64_t col = 0;
    for (const Tensor* t : ctx.in) {
        const int64_t row = outer ? t->numel() / outer : 0;
        const uint8_t* x = static_cast<const uint8_t*>(t->raw());
        for (int64_t o = 0; o < outer; ++o) {
            std::memcpy(y + (o * out_row + col) * es, x + o * row * es, row * es);
        }
        col += row;
    }
    return Status();
}

}  // namespace pare
