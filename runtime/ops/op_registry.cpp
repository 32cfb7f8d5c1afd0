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

const char* op_domain(OpKind op) {
    switch (op) {
        case OpKind::kQLinearAdd:
        case OpKind::kQLinearMul:
        case OpKind::kQGemm:
        case OpKind::kQLinearConcat:
        case OpKind::kQLinearGlobalAveragePool:
        case OpKind::kMatMulIntegerToFloat:
            return kMicrosoftDomain;
        case OpKind::kTreeEnsembleClassifier:
        case OpKind::kTreeEnsembleRegressor:
        case OpKind::kLinearClassifier:
        case OpKind::kLinearRegressor:
        case OpKind::kScaler:
        case OpKind::kNormalizer:
        case OpKind::kArrayFeatureExtractor:
            return kMlDomain;
        default:
            return "";
    }
}

OpKind op_from_name(const std::string& op_type, const std::string& domain) {
    const std::string d = domain == "ai.onnx" ? "" : domain;
    for (int i = 0; i < kOpCount; ++i) {
        if (op_type == kOpTable[i].name) {
            const OpKind op = static_cast<OpKind>(i);
            return d == op_domain(op) ? op : OpKind::kUnknown;
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
