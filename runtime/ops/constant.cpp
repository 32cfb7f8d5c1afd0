// Constant (value tensor or value_float(s)/value_int(s)) and ConstantOfShape
// (a tensor of the given shape filled with the one-element `value`, default
// float 0). The importer turns Constant nodes into initializers; the op stays for
// graphs built in code and for the conformance suite.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

Status constant_value(const Node& node, Tensor* out) {
    const Attributes& a = node.attrs;
    if (const Tensor* t = a.get_tensor("value")) {
        *out = *t;
    } else if (a.has("value_float")) {
        *out = Tensor::from_vector<float>({a.get_float("value_float", 0)}, {});
    } else if (a.has("value_floats")) {
        auto v = a.get_floats("value_floats");
        *out = Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())});
    } else if (a.has("value_int")) {
        *out = Tensor::from_vector<int64_t>({a.get_int("value_int", 0)}, {});
    } else if (a.has("value_ints")) {
        auto v = a.get_ints("value_ints");
        *out = Tensor::from_vector<int64_t>(v, {static_cast<int64_t>(v.size())});
    } else {
        return unsupported("Constant without a supported value attribute");
    }
    return Status();
}

}  // namespace

Status infer_constant(InferContext& ctx) {
    if (ctx.node.op == OpKind::kConstant) {
        Tensor t;
        PARE_RETURN_IF_ERROR(constant_value(ctx.node, &t));
        ctx.out[0] = meta(t.dtype(), t.shape());
        return Status();
    }
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const ValueMeta& s = ctx.in[0];
    if (s.dtype != DType::kInt64) return invalid_argument("shape input must be int64");
    const Tensor* v = ctx.node.attrs.get_tensor("value");
    if (v && v->numel() != 1) return invalid_argument("value must have exactly one element");
    const DType t = v ? v->dtype() : DType::kFloat32;
    int64_t rank;
    PARE_RETURN_IF_ERROR(shape_input_length(s, "shape input", &rank));
    if (!s.data) {
        ctx.out[0] = rank >= 0 ? meta(t, Shape(rank, -1)) : meta_rank_unknown(t);
        return Status();
    }
    Shape out = to_int64s(*s.data);
    for (int64_t d : out) {
        if (d < 0) return invalid_argument("negative dimension in shape " + shape_str(out));
    }
    ctx.out[0] = meta(t, out);
    return Status();
}

Status compute_constant(ComputeContext& ctx) {
    Tensor& Y = *ctx.out[0];
    if (ctx.node.op == OpKind::kConstant) {
        Tensor t;
        PARE_RETURN_IF_ERROR(constant_value(ctx.node, &t));
        if (t.nbytes()) std::memcpy(Y.raw(), t.raw(), t.nbytes());
        return Status();
    }
    const Tensor* v = ctx.node.attrs.get_tensor("value");
    if (!v) return Status();  // zero-filled float already
    const size_t es = dtype_size(Y.dtype());
    uint8_t* y = static_cast<uint8_t*>(Y.raw());
    for (int64_t i = 0; i < Y.numel(); ++i) std::memcpy(y + i * es, v->raw(), es);
    return Status();
}

}  // namespace pare
