// prepare_kernel: which optimized kernel a node gets (runtime/kernels/fast_ops.h).
#include <limits>

#include "runtime/kernels/fast_ops.h"

namespace pare {

bool activation_of(const Node& node, const std::vector<const Tensor*>& constants, Activation* act) {
    switch (node.op) {
        case OpKind::kRelu:
            act->kind = Activation::kRelu;
            return true;
        case OpKind::kHardSwish:
            act->kind = Activation::kHardSwish;
            return true;
        case OpKind::kSigmoid:
            act->kind = Activation::kSigmoid;
            return true;
        case OpKind::kHardSigmoid:
            act->kind = Activation::kHardSigmoid;
            act->alpha = node.attrs.get_float("alpha", 0.2f);
            act->beta = node.attrs.get_float("beta", 0.5f);
            return true;
        case OpKind::kClip:
            act->kind = Activation::kClip;
            act->lo = -std::numeric_limits<float>::infinity();
            act->hi = std::numeric_limits<float>::infinity();
            for (size_t i = 1; i < 3 && i < node.inputs.size(); ++i) {
                if (node.inputs[i].empty()) continue;
                const Tensor* t = i < constants.size() ? constants[i] : nullptr;
                if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
                (i == 1 ? act->lo : act->hi) = t->data<float>()[0];
            }
            return true;
        default:
            return false;
    }
}

std::unique_ptr<PreparedKernel> prepare_kernel(const Node& node,
                                               const std::vector<const Tensor*>& constants,
                                               const Activation& act, bool residual,
                                               const Shape* input_shape, DType input_dtype) {
    if (residual) {
        if (node.op != OpKind::kConv) return nullptr;
        if (auto k = prepare_f32_conv_sparse(node, constants, act, true)) return k;
        if (auto k = prepare_f32_conv_winograd(node, constants, act, true, input_shape)) return k;
        if (auto k = prepare_f32_conv_direct(node, constants, act, true, input_shape)) return k;
        return prepare_f32_conv_gemm(node, constants, act, true);
    }
    switch (node.op) {
        case OpKind::kConv:
            if (auto k = prepare_f32_dwconv(node, constants, act)) return k;
            if (auto k = prepare_f32_conv_sparse(node, constants, act, false)) return k;
            if (auto k = prepare_f32_conv_winograd(node, constants, act, false, input_shape))
                return k;
            if (auto k = prepare_f32_conv_direct(node, constants, act, false, input_shape))
                return k;
            return prepare_f32_conv_gemm(node, constants, act);
        case OpKind::kQLinearConv:
            if (auto k = prepare_qu8_dwconv(node, constants, act)) return k;
            return prepare_qu8_conv(node, constants, act, input_shape);
        case OpKind::kMatMulInteger:
        case OpKind::kQLinearMatMul:
        case OpKind::kQGemm:
        case OpKind::kMatMulIntegerToFloat:
            return prepare_qu8_gemm(node, constants, act, input_dtype);
        case OpKind::kQuantizeLinear:
        case OpKind::kDequantizeLinear:
        case OpKind::kQLinearAdd:
        case OpKind::kQLinearMul:
            return prepare_q8_elementwise(node, constants, act);
        case OpKind::kConvTranspose:
            return prepare_f32_conv_transpose(node, constants, act);
        case OpKind::kResize:
            return prepare_f32_resize(node, constants, act);
        case OpKind::kGemm:
        case OpKind::kMatMul:
            return prepare_f32_dense(node, constants, act);
        case OpKind::kMaxPool:
            if (input_dtype == DType::kUint8)
                return act.kind == Activation::kNone ? prepare_qu8_maxpool(node) : nullptr;
            return prepare_f32_pool(node, constants, act);
        case OpKind::kGlobalAveragePool:
            return prepare_f32_pool(node, constants, act);
        case OpKind::kTreeEnsembleClassifier:
        case OpKind::kTreeEnsembleRegressor:
            return act.kind == Activation::kNone ? prepare_ml_tree(node) : nullptr;
        default:
            return prepare_f32_elementwise(node, constants, act);
    }
}

}  // namespace pare
