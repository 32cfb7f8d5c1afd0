// Split along axis into the node's outputs; sizes from input 1 (opset >= 13, the
// importer's normal form) or equal parts. Any dtype.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

Status split_sizes(const InferContext& ctx, int64_t dim, std::vector<int64_t>* sizes, bool* known) {
    const size_t n = ctx.out.size();
    *known = true;
    if (ctx.has(1)) {
        if (!ctx.in[1].data) {
            *known = false;
            return Status();
        }
        *sizes = to_int64s(*ctx.in[1].data);
        if (sizes->size() != n)
            return invalid_argument("split has " + std::to_string(sizes->size()) + " sizes for " +
                                    std::to_string(n) + " outputs");
        int64_t sum = 0;
        for (int64_t s : *sizes) {
            if (s < 0) return invalid_argument("negative split size");
            sum += s;
        }
        if (dim >= 0 && sum != dim)
            return invalid_argument("split sizes do not sum to the dimension");
        return Status();
    }
    if (dim < 0) {
        *known = false;
        return Status();
    }
    const int64_t part = (dim + static_cast<int64_t>(n) - 1) / static_cast<int64_t>(n);
    sizes->clear();
    int64_t left = dim;
    for (size_t i = 0; i < n; ++i) {
        sizes->push_back(std::min(part, left));
        left -= sizes->back();
    }
    return Status();
}

}  // namespace

Status infer_split(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    if (ctx.out.empty()) return invalid_argument("Split needs at least one output");
    if (!x.has_shape) {
        for (auto& o : ctx.out) o = meta_rank_unknown(x.dtype);
        return Status();
    }
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 0),
                                        static_cast<int64_t>(x.shape.size()), &axis));
    std::vector<int64_t> sizes;
    bool known;
    PARE_RETURN_IF_ERROR(split_sizes(ctx, x.shape[axis], &sizes, &known));
    for (size_t i = 0; i < ctx.out.size(); ++i) {
        Shape s = x.shape;
        s[axis] = known ? sizes[i] : -1;
        ctx.out[i] = meta(x.dtype, s);
    }
    return Status();
}

Status compute_split(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    int64_t axis;
    PARE_RETURN_IF_ERROR(normalize_axis(ctx.node.attrs.get_int("axis", 0), X.rank(), &axis));
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= X.shape()[i];
    const size_t es = dtype_size(X.dtype());
    const int64_t in_row = outer ? X.numel() / outer : 0;
    const uint8_t* x = static_cast<const uint8_t*>(X.raw());
    int64_t col = 0;
    for (Tensor* t : ctx.out) {
        if (!t) continue;
        const int64_t row = outer ? t->numel() / outer : 0;
        uint8_t* y = static_cast<uint8_t*>(t->raw());
        for (int64_t o = 0; o < outer; ++o) {
            std::memcpy(y + o * row * es, x + (o * in_row + col) * es, row * es);
        }
        col += row;
    }
    return Status();
}

}  // namespace pare
