// Transpose by perm (default: reverse the dims). Any dtype.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

Status get_perm(const Node& node, int64_t rank, std::vector<int64_t>* perm) {
    *perm = node.attrs.get_ints("perm");
    if (perm->empty()) {
        for (int64_t i = rank - 1; i >= 0; --i) perm->push_back(i);
    }
    if (static_cast<int64_t>(perm->size()) != rank) {
        return invalid_argument("perm has " + std::to_string(perm->size()) + " entries for rank " +
                                std::to_string(rank));
    }
    std::vector<bool> seen(rank, false);
    for (int64_t p : *perm) {
        if (p < 0 || p >= rank || seen[p]) return invalid_argument("perm is not a permutation");
        seen[p] = true;
    }
    return Status();
}

}  // namespace

Status infer_transpose(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    if (!x.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    std::vector<int64_t> perm;
    PARE_RETURN_IF_ERROR(get_perm(ctx.node, static_cast<int64_t>(x.shape.size()), &perm));
    Shape out;
    for (int64_t p : perm) out.push_back(x.shape[p]);
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

Status compute_transpose(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    std::vector<int64_t> perm;
    PARE_RETURN_IF_ERROR(get_perm(ctx.node, X.rank(), &perm));
    const std::vector<int64_t> xst = strides_of(X.shape());
    std::vector<int64_t> st[1] = {std::vector<int64_t>(perm.size())};
    for (size_t i = 0; i < perm.size(); ++i) st[0][i] = xst[perm[i]];
    const size_t es = dtype_size(X.dtype());
    const uint8_t* x = static_cast<const uint8_t*>(X.raw());
    uint8_t* y = static_cast<uint8_t*>(Y.raw());
    if (es == 4) {
        for_each_broadcast<1>(Y.shape(), st, [&](int64_t o, const int64_t* off) {
            reinterpret_cast<uint32_t*>(y)[o] = reinterpret_cast<const uint32_t*>(x)[off[0]];
        });
    } else {
        for_each_broadcast<1>(Y.shape(), st, [&](int64_t o, const int64_t* off) {
            std::memcpy(y + o * es, x + off[0] * es, es);
        });
    }
    return Status();
}

}  // namespace pare
