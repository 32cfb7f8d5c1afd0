// ReduceMax/Mean/Min/Sum over axes (attribute; ReduceSum takes axes as input 1
// from opset 13, the form the importer normalizes to). keepdims default 1; empty
// axes reduce everything unless noop_with_empty_axes=1. f32, int32, int64.
#include <cmath>
#include <limits>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

// Returns the reduced axes as a mask over rank dims; *noop when nothing is reduced.
Status reduce_axes(const Node& node, const ValueMeta* axes_in, int64_t rank,
                   std::vector<bool>* mask, bool* known) {
    std::vector<int64_t> axes = node.attrs.get_ints("axes");
    *known = true;
    if (axes_in && axes_in->present()) {
        if (!axes_in->data) {
            *known = false;
            return Status();
        }
        axes = to_int64s(*axes_in->data);
    }
    mask->assign(rank, false);
    if (axes.empty()) {
        if (node.attrs.get_int("noop_with_empty_axes", 0) == 0) mask->assign(rank, true);
        return Status();
    }
    for (int64_t a : axes) {
        int64_t n;
        PARE_RETURN_IF_ERROR(normalize_axis(a, rank, &n));
        (*mask)[n] = true;
    }
    return Status();
}

}  // namespace

Status infer_reduce(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    if (x.dtype != DType::kFloat32 && x.dtype != DType::kInt32 && x.dtype != DType::kInt64) {
        return unsupported(std::string("dtype ") + dtype_name(x.dtype));
    }
    if (!x.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    std::vector<bool> mask;
    bool known;
    PARE_RETURN_IF_ERROR(
        reduce_axes(ctx.node, ctx.has(1) ? &ctx.in[1] : nullptr, rank, &mask, &known));
    const bool keep = ctx.node.attrs.get_int("keepdims", 1) != 0;
    if (!known) {
        ctx.out[0] = keep ? meta(x.dtype, Shape(rank, -1)) : meta_rank_unknown(x.dtype);
        return Status();
    }
    Shape out;
    for (int64_t i = 0; i < rank; ++i) {
        if (!mask[i]) {
            out.push_back(x.shape[i]);
        } else if (keep) {
            out.push_back(1);
        }
    }
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

Status compute_reduce(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    const int64_t rank = X.rank();
    ValueMeta axes_meta;
    if (ctx.in.size() > 1 && ctx.in[1]) axes_meta = ValueMeta::of(*ctx.in[1]);
    std::vector<bool> mask;
    bool known;
    PARE_RETURN_IF_ERROR(reduce_axes(ctx.node, &axes_meta, rank, &mask, &known));
    // Output strides laid out over the input's rank (0 on reduced dims).
    Shape kept(rank);
    for (int64_t i = 0; i < rank; ++i) kept[i] = mask[i] ? 1 : X.shape()[i];
    std::vector<int64_t> ost = broadcast_strides(kept, X.shape());
    std::vector<int64_t> st[2] = {strides_of(X.shape()), ost};
    const int64_t count = Y.numel() ? X.numel() / Y.numel() : 0;
    const OpKind op = ctx.node.op;
    return dispatch_numeric(X.dtype(), [&](auto tag) {
        using T = decltype(tag);
        using Acc = typename std::conditional<std::is_floating_point<T>::value, double, T>::type;
        std::vector<Acc> acc(static_cast<size_t>(Y.numel()));
        const Acc init = op == OpKind::kReduceMax   ? std::numeric_limits<T>::lowest()
                         : op == OpKind::kReduceMin ? std::numeric_limits<T>::max()
                                                    : Acc(0);
        if (std::is_floating_point<T>::value && op == OpKind::kReduceMax) {
            std::fill(acc.begin(), acc.end(), -std::numeric_limits<double>::infinity());
        } else if (std::is_floating_point<T>::value && op == OpKind::kReduceMin) {
            std::fill(acc.begin(), acc.end(), std::numeric_limits<double>::infinity());
        } else {
            std::fill(acc.begin(), acc.end(), init);
        }
        const T* x = X.template data<T>();
        for_each_broadcast<2>(X.shape(), st, [&](int64_t, const int64_t* off) {
            const Acc v = static_cast<Acc>(x[off[0]]);
            Acc& a = acc[off[1]];
            if (op == OpKind::kReduceMax) {
                a = (v > a || v != v) ? v : a;
            } else if (op == OpKind::kReduceMin) {
                a = (v < a || v != v) ? v : a;
            } else {
                a += v;
            }
        });
        T* y = Y.template data<T>();
        for (int64_t i = 0; i < Y.numel(); ++i) {
            Acc v = acc[i];
            if (op == OpKind::kReduceMean)
                v = count ? static_cast<Acc>(v / static_cast<Acc>(count)) : v;
            y[i] = static_cast<T>(v);
        }
    });
}

}  // namespace pare
