// Slice (opset >= 10 form: starts, ends, [axes], [steps] as inputs; the importer
// converts the opset-9 attributes). Starts and ends are clamped as numpy does.
// Any dtype.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

struct SliceDims {
    Shape start, step, count;  // per input dim
};

Status slice_dims(const InferContext& ctx, const Shape& xs, SliceDims* r) {
    const int64_t rank = static_cast<int64_t>(xs.size());
    std::vector<int64_t> starts = to_int64s(*ctx.in[1].data), ends = to_int64s(*ctx.in[2].data);
    std::vector<int64_t> axes, steps;
    if (ctx.has(3)) axes = to_int64s(*ctx.in[3].data);
    if (ctx.has(4)) steps = to_int64s(*ctx.in[4].data);
    if (axes.empty()) {
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (starts.size() != ends.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
        return invalid_argument("starts, ends, axes and steps must have the same length");
    }
    r->start.assign(rank, 0);
    r->step.assign(rank, 1);
    r->count = xs;
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < axes.size(); ++i) {
        int64_t a;
        PARE_RETURN_IF_ERROR(normalize_axis(axes[i], rank, &a));
        if (seen[a]) return invalid_argument("axis repeated in Slice");
        seen[a] = true;
        const int64_t dim = xs[a];
        const int64_t st = steps[i] == INT64_MIN ? -INT64_MAX : steps[i];
        if (st == 0) return invalid_argument("Slice step cannot be 0");
        int64_t s = starts[i], e = ends[i];
        if (dim < 0) {
            r->count[a] = -1;
            continue;
        }
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        if (st > 0) {
            s = std::min(std::max<int64_t>(s, 0), dim);
            e = std::min(std::max<int64_t>(e, 0), dim);
            r->count[a] = e > s ? (e - s - 1) / st + 1 : 0;
        } else {
            s = std::min(std::max<int64_t>(s, 0), dim - 1);
            e = std::min(std::max<int64_t>(e, -1), dim - 1);
            r->count[a] = s > e ? (s - e - 1) / (-st) + 1 : 0;
        }
        r->start[a] = s;
        r->step[a] = r->count[a] > 1 ? st : 1;  // a huge step over one element must not overflow
    }
    return Status();
}

}  // namespace

Status infer_slice(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 3));
    const ValueMeta& x = ctx.in[0];
    for (size_t i = 1; i < ctx.in.size(); ++i) {
        if (ctx.has(i) && ctx.in[i].dtype != DType::kInt64 && ctx.in[i].dtype != DType::kInt32) {
            return invalid_argument("starts/ends/axes/steps must be int32 or int64");
        }
    }
    bool all_known = true;
    for (size_t i = 1; i < ctx.in.size(); ++i) {
        if (ctx.has(i) && !ctx.in[i].data) all_known = false;
    }
    if (!x.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    if (!all_known) {
        ctx.out[0] = meta(x.dtype, Shape(x.shape.size(), -1));
        return Status();
    }
    SliceDims r;
    PARE_RETURN_IF_ERROR(slice_dims(ctx, x.shape, &r));
    ctx.out[0] = meta(x.dtype, r.count);
    return Status();
}

Status compute_slice(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    InferContext ictx{ctx.node, {}, {}};
    for (const Tensor* t : ctx.in) ictx.in.push_back(t ? ValueMeta::of(*t) : ValueMeta());
    SliceDims r;
    PARE_RETURN_IF_ERROR(slice_dims(ictx, X.shape(), &r));
    Tensor& Y = *ctx.out[0];
    const int64_t rank = X.rank();
    const size_t es = dtype_size(X.dtype());
    const std::vector<int64_t> xst = strides_of(X.shape());
    std::vector<int64_t> st(rank);
    int64_t base = 0;
    for (int64_t d = 0; d < rank; ++d) {
        st[d] = xst[d] * r.step[d];
        base += r.start[d] * xst[d];
    }
    std::vector<int64_t> strides[1] = {st};
    const uint8_t* x = static_cast<const uint8_t*>(X.raw());
    uint8_t* y = static_cast<uint8_t*>(Y.raw());
    for_each_broadcast<1>(Y.shape(), strides, [&](int64_t o, const int64_t* off) {
        std::memcpy(y + o * es, x + (base + off[0]) * es, es);
    });
    return Status();
}

}  // namespace pare
