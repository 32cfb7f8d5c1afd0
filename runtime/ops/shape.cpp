// Shape: the input's shape as int64, optionally sliced by start/end (opset 15).
// Known statically whenever the input's shape is, which is what lets constant
// folding remove the Shape -> Gather -> ... -> Reshape chains exporters emit.
#include "runtime/ops/op_util.h"

namespace pare {

void shape_op_range(const Node& node, int64_t rank, int64_t* b, int64_t* e) {
    int64_t s = node.attrs.get_int("start", 0), t = node.attrs.get_int("end", rank);
    if (s < 0) s += rank;
    if (t < 0) t += rank;
    *b = std::min(std::max<int64_t>(s, 0), rank);
    *e = std::min(std::max<int64_t>(t, 0), rank);
    if (*e < *b) *e = *b;
}

Status infer_shape(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    if (!x.has_shape) {
        ctx.out[0] = meta(DType::kInt64, {-1});
        return Status();
    }
    int64_t b, e;
    shape_op_range(ctx.node, static_cast<int64_t>(x.shape.size()), &b, &e);
    ctx.out[0] = meta(DType::kInt64, {e - b});
    return Status();
}

Status compute_shape(ComputeContext& ctx) {
    const Shape& s = ctx.in[0]->shape();
    int64_t b, e;
    shape_op_range(ctx.node, static_cast<int64_t>(s.size()), &b, &e);
    int64_t* y = ctx.out[0]->data<int64_t>();
    for (int64_t i = b; i < e; ++i) y[i - b] = s[i];
    return Status();
}

}  // namespace pare
