// prepare_kernel: which optimized kernel a node gets (runtime/kernels/fast_ops.h).
#include "runtime/kernels/fast_ops.h"

namespace pare {

std::unique_ptr<PreparedKernel> prepare_kernel(const Node& node,
                                               const std::vector<const Tensor*>& constants,
                                               const Activation& act) {
    switch (node.op) {
        case OpKind::kConv:
            if (auto k = prepare_f32_dwconv(node, constants, act)) return k;
            return prepare_f32_conv_gemm(node, constants, act);
        case OpKind::kGemm:
        case OpKind::kMatMul:
            return prepare_f32_dense(node, constants, act);
        case OpKind::kMaxPool:
        case OpKind::kGlobalAveragePool:
            return prepare_f32_pool(node, constants, act);
        default:
            return prepare_f32_elementwise(node, constants, act);
    }
}

}  // namespace pare
