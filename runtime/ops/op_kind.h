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

const char* op_name(OpKind op);
// kUnknown when op_type is not in ops.def or domain is not the default one.
OpKind op_from_name(const std::string& op_type, const std::string& domain);

}  // namespace pare
