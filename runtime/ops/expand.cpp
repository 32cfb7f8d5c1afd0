// Expand: broadcast the input to a shape given as an int64 input (numpy rules,
// so the result may be larger than the requested shape). Any dtype.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

Status infer_expand(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& s = ctx.in[1];
    if (s.dtype != DType::kInt64) return invalid_argument("shape input must be int64");
    int64_t rank;
    PARE_RETURN_IF_ERROR(shape_input_length(s, "shape input", &rank));
    if (!s.data || !x.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    Shape want = to_int64s(*s.data), out;
    for (int64_t d : want) {
        if (d < 0) return invalid_argument("negative dimension in shape " + shape_str(want));
    }
    PARE_RETURN_IF_ERROR(broadcast_shapes(x.shape, want, &out));
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

Status compute_expand(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    std::vector<int64_t> st[1] = {broadcast_strides(X.shape(), Y.shape())};
    const size_t es = dtype_size(X.dtype());
    const uint8_t* x = static_cast<const uint8_t*>(X.raw());
    uint8_t* y = static_cast<uint8_t*>(Y.raw());
    for_each_broadcast<1>(Y.shape(), st, [&](int64_t o, const int64_t* off) {
        std::memcpy(y + o * es, x + off[0] * es, es);
    });
    return Status();
}

}  // namespace pare
