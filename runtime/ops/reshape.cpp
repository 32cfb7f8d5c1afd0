// Ops that change only the shape, not the bytes: Reshape (shape input, 0 copies a
// dim unless allowzero, -1 inferred), Flatten (axis), Squeeze / Unsqueeze (axes
// input, the opset-13 form), Identity and Dropout (inference: identity; the
// optional mask output is all true). Any dtype.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

Status reshape_shape(const Node& node, const Shape& in, const std::vector<int64_t>& spec,
                     Shape* out) {
    const bool allowzero = node.attrs.get_int("allowzero", 0) != 0;
    *out = spec;
    int64_t infer_at = -1, known = 1;
    for (size_t i = 0; i < spec.size(); ++i) {
        if (spec[i] == 0 && !allowzero) {
            if (i >= in.size())
                return invalid_argument("shape has 0 at position beyond the input rank");
            (*out)[i] = in[i];
        } else if (spec[i] == -1) {
            if (infer_at >= 0) return invalid_argument("shape has more than one -1");
            infer_at = static_cast<int64_t>(i);
            continue;
        } else if (spec[i] < -1) {
            return invalid_argument("shape has invalid dimension " + std::to_string(spec[i]));
        }
        if ((*out)[i] < 0) {
            known = -1;
        } else if (known >= 0) {
            if ((*out)[i] != 0 && known > INT64_MAX / (*out)[i])
                return out_of_range("shape overflows");
            known *= (*out)[i];
        }
    }
    int64_t total = 1;
    for (int64_t d : in) {
        if (d < 0) {
            total = -1;
            break;
        }
        if (d != 0 && total > INT64_MAX / d) return out_of_range("shape overflows");
        total *= d;
    }
    if (infer_at >= 0) {
        if (total < 0 || known < 0) {
            (*out)[infer_at] = -1;
        } else {
            if (known == 0 || total % known != 0) {
                return invalid_argument("cannot reshape " + shape_str(in) + " to " +
                                        shape_str(spec));
            }
            (*out)[infer_at] = total / known;
        }
    } else if (total >= 0 && known >= 0 && total != known) {
        return invalid_argument("cannot reshape " + shape_str(in) + " (" + std::to_string(total) +
                                " elements) to " + shape_str(spec));
    }
    return Status();
}

Status axes_of(const InferContext& ctx, std::vector<int64_t>* axes, bool* known) {
    *axes = ctx.node.attrs.get_ints("axes");
    *known = true;
    if (ctx.has(1)) {
        if (!ctx.in[1].data) {
            *known = false;
            return Status();
        }
        *axes = to_int64s(*ctx.in[1].data);
    }
    return Status();
}

}  // namespace

Status infer_reshape(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& x = ctx.in[0];
    switch (ctx.node.op) {
        case OpKind::kIdentity:
        case OpKind::kDropout:
            ctx.out[0] = {x.dtype, x.has_shape, x.shape, nullptr};
            if (ctx.node.op == OpKind::kDropout) {
                if (ctx.has(2) && ctx.in[2].data && ctx.in[2].data->numel() > 0 &&
                    ctx.in[2].data->at_int64(0) != 0) {
                    return unsupported("Dropout in training mode");
                }
                if (ctx.out.size() > 1) ctx.out[1] = {DType::kBool, x.has_shape, x.shape, nullptr};
            }
            return Status();
        case OpKind::kReshape: {
            PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
            const ValueMeta& s = ctx.in[1];
            if (s.dtype != DType::kInt64) return invalid_argument("shape input must be int64");
            int64_t rank;
            PARE_RETURN_IF_ERROR(shape_input_length(s, "shape input", &rank));
            if (!s.data) {
                ctx.out[0] =
                    rank >= 0 ? meta(x.dtype, Shape(rank, -1)) : meta_rank_unknown(x.dtype);
                return Status();
            }
            if (!x.has_shape) {
                Shape spec = to_int64s(*s.data), out;
                for (int64_t d : spec) out.push_back(d > 0 ? d : -1);
                ctx.out[0] = meta(x.dtype, out);
                return Status();
            }
            Shape out;
            PARE_RETURN_IF_ERROR(reshape_shape(ctx.node, x.shape, to_int64s(*s.data), &out));
            ctx.out[0] = meta(x.dtype, out);
            return Status();
        }
        case OpKind::kFlatten: {
            if (!x.has_shape) {
                ctx.out[0] = meta(x.dtype, {-1, -1});
                return Status();
            }
            const int64_t rank = static_cast<int64_t>(x.shape.size());
            int64_t axis = ctx.node.attrs.get_int("axis", 1);
            if (axis < 0) axis += rank;
            if (axis < 0 || axis > rank) return invalid_argument("Flatten axis out of range");
            int64_t a = 1, b = 1;
            for (int64_t i = 0; i < rank; ++i) {
                int64_t& p = i < axis ? a : b;
                if (p > 0 && x.shape[i] > 0 && p > INT64_MAX / x.shape[i])
                    return invalid_argument("Flatten of " + shape_str(x.shape) +
                                            ": the dimensions' product overflows");
                p = (p < 0 || x.shape[i] < 0) ? -1 : p * x.shape[i];
            }
            ctx.out[0] = meta(x.dtype, {a, b});
            return Status();
        }
        case OpKind::kSqueeze:
        case OpKind::kUnsqueeze: {
            std::vector<int64_t> axes;
            bool known;
            PARE_RETURN_IF_ERROR(axes_of(ctx, &axes, &known));
            const bool squeeze = ctx.node.op == OpKind::kSqueeze;
            int64_t n_axes = static_cast<int64_t>(axes.size());
            if (ctx.has(1))
                PARE_RETURN_IF_ERROR(shape_input_length(ctx.in[1], "axes input", &n_axes));
            if (n_axes > kMaxRank) return unsupported("more than 32 axes");
            if (!x.has_shape || !known) {
                ctx.out[0] = (!squeeze && x.has_shape && n_axes >= 0)
                                 ? meta(x.dtype, Shape(x.shape.size() + n_axes, -1))
                                 : meta_rank_unknown(x.dtype);
                return Status();
            }
            const int64_t rank = static_cast<int64_t>(x.shape.size());
            if (squeeze) {
                std::vector<bool> drop(rank, false);
                if (axes.empty()) {
                    for (int64_t i = 0; i < rank; ++i) {
                        if (x.shape[i] < 0) {
                            ctx.out[0] = meta_rank_unknown(x.dtype);
                            return Status();
                        }
                        drop[i] = x.shape[i] == 1;
                    }
                }
                for (int64_t a : axes) {
                    int64_t n;
                    PARE_RETURN_IF_ERROR(normalize_axis(a, rank, &n));
                    if (x.shape[n] >= 0 && x.shape[n] != 1) {
                        return invalid_argument("cannot squeeze axis " + std::to_string(a) +
                                                " of size " + std::to_string(x.shape[n]));
                    }
                    drop[n] = true;
                }
                Shape out;
                for (int64_t i = 0; i < rank; ++i) {
                    if (!drop[i]) out.push_back(x.shape[i]);
                }
                ctx.out[0] = meta(x.dtype, out);
            } else {
                const int64_t r = rank + static_cast<int64_t>(axes.size());
                std::vector<bool> ins(r, false);
                for (int64_t a : axes) {
                    int64_t n;
                    PARE_RETURN_IF_ERROR(normalize_axis(a, r, &n));
                    if (ins[n]) return invalid_argument("repeated axis in Unsqueeze");
                    ins[n] = true;
                }
                Shape out;
                size_t j = 0;
                for (int64_t i = 0; i < r; ++i) out.push_back(ins[i] ? 1 : x.shape[j++]);
                ctx.out[0] = meta(x.dtype, out);
            }
            return Status();
        }
        default:
            return internal_error("infer_reshape called for another op");
    }
}

Status compute_reshape(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    if (X.nbytes() != Y.nbytes()) return internal_error("reshape size mismatch");
    // The executor may place Y over X's bytes (a view); then there is nothing to copy.
    if (Y.nbytes() && Y.raw() != X.raw()) std::memcpy(Y.raw(), X.raw(), Y.nbytes());
    if (ctx.out.size() > 1 && ctx.out[1]) {
        std::memset(ctx.out[1]->raw(), 1, ctx.out[1]->nbytes());
    }
    return Status();
}

}  // namespace pare
