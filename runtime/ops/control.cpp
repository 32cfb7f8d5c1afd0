// If: the condition picks a branch graph (attributes then_branch, else_branch)
// that the executor runs (runtime/exec/control_flow.cpp); this file gives the
// node's output types, from the branches' declared outputs. Inputs after the
// condition are the values the branches read from the enclosing graph.
#include "runtime/ops/op_util.h"

namespace pare {

Status infer_control(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    const Graph* yes = ctx.node.attrs.get_graph("then_branch");
    const Graph* no = ctx.node.attrs.get_graph("else_branch");
    if (!yes || !no) return invalid_argument("If needs then_branch and else_branch graphs");
    if (yes->outputs.size() != ctx.out.size() || no->outputs.size() != ctx.out.size())
        return invalid_argument("the branches have " + std::to_string(yes->outputs.size()) +
                                " and " + std::to_string(no->outputs.size()) +
                                " outputs; the node has " + std::to_string(ctx.out.size()));
    if (yes->inputs.size() + 1 != ctx.in.size() || no->inputs.size() + 1 != ctx.in.size())
        return invalid_argument("the branches read " + std::to_string(yes->inputs.size()) +
                                " enclosing values; the node passes " +
                                std::to_string(ctx.in.size() - 1));
    const ValueMeta& c = ctx.in[0];
    if (c.dtype != DType::kBool) return invalid_argument("the condition must be bool");
    if (c.shape_known()) {
        int64_t n = 1;
        for (int64_t d : c.shape) n *= d;
        if (n != 1)
            return invalid_argument("the condition " + shape_str(c.shape) +
                                    " must hold one element");
    }
    for (size_t o = 0; o < ctx.out.size(); ++o) {
        const ValueInfo& a = yes->outputs[o];
        const ValueInfo& b = no->outputs[o];
        if (a.dtype == DType::kUndefined || a.dtype != b.dtype)
            return invalid_argument("output " + std::to_string(o) +
                                    ": the branches must declare one element type (" +
                                    dtype_name(a.dtype) + ", " + dtype_name(b.dtype) + ")");
        if (!a.has_shape || !b.has_shape || a.shape.size() != b.shape.size()) {
            ctx.out[o] = meta_rank_unknown(a.dtype);
            continue;
        }
        Shape s = a.shape;
        for (size_t d = 0; d < s.size(); ++d) {
            if (s[d] != b.shape[d]) s[d] = -1;
        }
        ctx.out[o] = meta(a.dtype, s);
    }
    return Status();
}

Status compute_control(ComputeContext& ctx) {
    (void)ctx;
    return unsupported("If runs only inside a Session (its branches are prepared there)");
}

}  // namespace pare
