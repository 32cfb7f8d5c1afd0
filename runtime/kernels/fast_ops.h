// Optimized compute functions, an addition to the reference kernels of
// runtime/ops/ (never a replacement): same inputs, outputs and shape inference,
// chosen by the executor unless reference kernels are requested. Tested against
// the reference kernels (tests/unit/kernels_test.cpp).
#pragma once

#include "runtime/ops/op.h"

namespace pare {

// The optimized compute function for op, or nullptr when there is none.
ComputeFn fast_compute(OpKind op);

Status f32_conv_gemm(ComputeContext& ctx);

}  // namespace pare
