// The dispatch table and op names, generated from ops.def.
#include <cstring>

#include "runtime/ops/op.h"

namespace pare {

namespace {
const OpDef kOpTable[] = {
#define PARE_OP(name, family) {#name, infer_##family, compute_##family},
#include "runtime/ops/ops.def"
#undef PARE_OP
};
}  // namespace

const OpDef& op_def(OpKind op) { return kOpTable[static_cast<int>(op)]; }

const char* op_name(OpKind op) {
    if (op == OpKind::kUnknown) return "Unknown";
    return kOpTable[static_cast<int>(op)].name;
}

bool is_microsoft_op(OpKind op) { return op == OpKind::kQLinearAdd; }

OpKind op_from_name(const std::string& op_type, const std::string& domain) {
    const bool microsoft = domain == kMicrosoftDomain;
    if (!microsoft && !domain.empty() && domain != "ai.onnx") return OpKind::kUnknown;
    for (int i = 0; i < kOpCount; ++i) {
        if (op_type == kOpTable[i].name) {
            const OpKind op = static_cast<OpKind>(i);
            return is_microsoft_op(op) == microsoft ? op : OpKind::kUnknown;
        }
    }
    return OpKind::kUnknown;
}

bool ValueMeta::shape_known() const {
    if (!has_shape) return false;
    for (int64_t d : shape) {
        if (d < 0) return false;
    }
    return true;
}

}  // namespace pare
