// OpKind: the enum generated from ops.def, and name lookup.
#pragma once

#include <string>

namespace pare {

enum class OpKind : int {
#define PARE_OP(name, family) k##name,
#include "runtime/ops/ops.def"
#undef PARE_OP
    kUnknown,
};

constexpr int kOpCount = static_cast<int>(OpKind::kUnknown);

// ONNX Runtime's contrib domain: the few of its ops pare runs (QLinearAdd,
// QLinearMul, QLinearConcat, QLinearGlobalAveragePool, QGemm, MatMulIntegerToFloat), which its
// fuse_qdq pass writes and ONNX Runtime also executes.
constexpr const char* kMicrosoftDomain = "com.microsoft";
// The classical machine-learning domain (tree ensembles, linear models, scalers).
constexpr const char* kMlDomain = "ai.onnx.ml";
// The ai.onnx.ml opset pare writes (TreeEnsemble*, Linear* as defined since version 1).
constexpr int kMlOpset = 3;

const char* op_name(OpKind op);
// The domain an op belongs to: "" (the default one), kMicrosoftDomain or kMlDomain.
const char* op_domain(OpKind op);
// kUnknown when op_type is not in ops.def or domain is not the op's ("ai.onnx" is
// the default one).
OpKind op_from_name(const std::string& op_type, const std::string& domain);

}  // namespace pare
