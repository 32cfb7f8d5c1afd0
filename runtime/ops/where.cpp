// Where: y = cond ? a : b with three-way numpy broadcasting; cond is bool.
#include "runtime/ops/op_util.h"

namespace pare {

Status infer_where(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 3));
    if (ctx.in[0].dtype != DType::kBool) return invalid_argument("condition must be bool");
    if (ctx.in[1].dtype != ctx.in[2].dtype) return invalid_argument("X and Y dtypes differ");
    if (ctx.in[1].dtype == DType::kFloat16) return unsupported("float16 Where");
    if (!ctx.in[0].has_shape || !ctx.in[1].has_shape || !ctx.in[2].has_shape) {
        ctx.out[0] = meta_rank_unknown(ctx.in[1].dtype);
        return Status();
    }
    Shape s;
    PARE_RETURN_IF_ERROR(broadcast_shapes(ctx.in[0].shape, ctx.in[1].shape, &s));
    PARE_RETURN_IF_ERROR(broadcast_shapes(s, ctx.in[2].shape, &s));
    ctx.out[0] = meta(ctx.in[1].dtype, s);
    return Status();
}

Status compute_where(ComputeContext& ctx) {
    Tensor& Y = *ctx.out[0];
    std::vector<int64_t> st[3] = {broadcast_strides(ctx.in[0]->shape(), Y.shape()),
                                  broadcast_strides(ctx.in[1]->shape(), Y.shape()),
                                  broadcast_strides(ctx.in[2]->shape(), Y.shape())};
    const uint8_t* c = ctx.in[0]->data<uint8_t>();
    return dispatch_numeric(Y.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* a = ctx.in[1]->template data<T>();
        const T* b = ctx.in[2]->template data<T>();
        T* y = Y.template data<T>();
        for_each_broadcast<3>(Y.shape(), st, [&](int64_t o, const int64_t* off) {
            y[o] = c[off[0]] ? a[off[1]] : b[off[2]];
        });
    });
}

}  // namespace pare
