// If nodes in the executor: each branch graph is prepared once as a Session of its
// own (its default passes run, enclosing constants become its initializers), and
// the kernel runs the branch the condition picks, so the other costs nothing.
#pragma once

#include <memory>
#include <vector>

#include "runtime/exec/session.h"
#include "runtime/kernels/fast_ops.h"

namespace pare {

// The prepared If: constants[i] is input i's value when known at prepare time,
// infos[i] what is known of its type (or null). Outputs the kernel receives
// unallocated (dynamic runs) are assigned; allocated ones are filled and must have
// the branch output's shape.
Result<std::unique_ptr<PreparedKernel>> prepare_if(const Node& node,
                                                   const std::vector<const Tensor*>& constants,
                                                   const std::vector<const ValueInfo*>& infos,
                                                   const SessionOptions& options);

}  // namespace pare
