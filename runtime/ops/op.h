// The interface every op implements: infer (dtype and shape of outputs from
// what is known of the inputs) and compute (the scalar reference kernel).
//
// infer runs both statically (shapes may hold unknown dims < 0, data may be
// absent) and at run time (every input has data); it is the only place an op's
// output shape is derived. compute receives outputs already allocated with the
// shapes infer produced from the actual inputs.
#pragma once

#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/tensor.h"
#include "runtime/core/thread_pool.h"
#include "runtime/ir/graph.h"

namespace pare {

struct ValueMeta {
    DType dtype = DType::kUndefined;
    bool has_shape = false;        // rank known
    Shape shape;                   // dims < 0 unknown
    const Tensor* data = nullptr;  // contents, when known

    bool present() const { return dtype != DType::kUndefined; }
    bool shape_known() const;  // rank and every dim known
    static ValueMeta of(const Tensor& t) { return {t.dtype(), true, t.shape(), &t}; }
};

struct InferContext {
    const Node& node;
    std::vector<ValueMeta> in;   // one per node input; absent optional inputs are !present()
    std::vector<ValueMeta> out;  // one per node output, filled by infer

    bool has(size_t i) const { return i < in.size() && in[i].present(); }
    // Error naming this node; infer/compute messages need not repeat it (the executor adds it).
    Status fail(const std::string& msg) const { return invalid_argument(msg); }
};

struct ComputeContext {
    const Node& node;
    std::vector<const Tensor*> in;  // nullptr for absent optional inputs
    std::vector<Tensor*> out;
    ThreadPool* pool = nullptr;  // optimized kernels may split work over it
};

using InferFn = Status (*)(InferContext&);
using ComputeFn = Status (*)(ComputeContext&);

struct OpDef {
    const char* name;
    InferFn infer;
    ComputeFn compute;
};

const OpDef& op_def(OpKind op);

#define PARE_OP_FAMILY(family)                \
    Status infer_##family(InferContext& ctx); \
    Status compute_##family(ComputeContext& ctx);
#define PARE_OP(name, family) PARE_OP_FAMILY(family)
#include "runtime/ops/ops.def"
#undef PARE_OP
#undef PARE_OP_FAMILY

}  // namespace pare
