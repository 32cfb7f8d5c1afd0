// q8_elementwise: QuantizeLinear to uint8, DequantizeLinear of uint8 and QLinearAdd
// of two uint8 tensors of one shape, with per-tensor constant parameters, on the
// table's vector kernels (qu8_quantize, qu8_dequantize, qu8_add), split over the
// threads in chunks of kChunk values (each value computed alike for any count).
// Other layouts (per-axis parameters, broadcasting Adds) run the reference.
#include <algorithm>
#include <cmath>

#include "runtime/kernels/fast_ops.h"

namespace pare {

namespace {

constexpr int64_t kChunk = 16384;

void chunks(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    const int64_t k = (n + kChunk - 1) / kChunk;
    parallel_runs(pool, k, [&](int64_t c) { fn(c * kChunk, std::min(n, (c + 1) * kChunk)); });
}

bool scale_of(const Tensor* t, float* s) {
    if (!t || t->dtype() != DType::kFloat32 || t->numel() != 1) return false;
    *s = t->data<float>()[0];
    return *s > 0 && std::isfinite(*s);
}

bool u8_of(const Tensor* t, int32_t* z) {
    if (!t || t->dtype() != DType::kUint8 || t->numel() != 1) return false;
    *z = t->data<uint8_t>()[0];
    return true;
}

class Qu8Elementwise : public PreparedKernel {
  public:
    Qu8Elementwise(OpKind op, float s, int32_t z) : op_(op), s_(s), z_(z) {}
    Qu8Elementwise(float ka, float kb, int32_t za, int32_t zb, int32_t zc)
        : op_(OpKind::kQLinearAdd), ka_(ka), kb_(kb), za_(za), zb_(zb), z_(zc) {}

    std::string name() const override {
        return op_ == OpKind::kQuantizeLinear     ? "qu8_quantize"
               : op_ == OpKind::kDequantizeLinear ? "qu8_dequantize"
                                                  : "qu8_add";
    }

    Status run(ComputeContext& ctx) const override {
        const KernelTable& kt = kernels();
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        const int64_t n = Y.numel();
        if (op_ == OpKind::kQuantizeLinear) {
            if (X.dtype() != DType::kFloat32 || Y.dtype() != DType::kUint8)
                return internal_error("quantize kernel types");
            chunks(ctx.pool, n, [&](int64_t b, int64_t e) {
                kt.qu8_quantize(X.data<float>() + b, e - b, s_, z_, Y.data<uint8_t>() + b);
            });
            return Status();
        }
        if (op_ == OpKind::kDequantizeLinear) {
            if (X.dtype() != DType::kUint8) return internal_error("dequantize kernel types");
            chunks(ctx.pool, n, [&](int64_t b, int64_t e) {
                kt.qu8_dequantize(X.data<uint8_t>() + b, e - b, s_, z_, Y.data<float>() + b);
            });
            return Status();
        }
        const Tensor& B = *ctx.in[3];
        if (X.shape() != Y.shape() || B.shape() != Y.shape() || Y.dtype() != DType::kUint8)
            return op_def(op_).compute(ctx);  // broadcasting: the reference
        chunks(ctx.pool, n, [&](int64_t b, int64_t e) {
            kt.qu8_add(X.data<uint8_t>() + b, B.data<uint8_t>() + b, e - b, ka_, kb_, za_, zb_, z_,
                       0, 255, Y.data<uint8_t>() + b);
        });
        return Status();
    }

  private:
    OpKind op_;
    float s_ = 1, ka_ = 1, kb_ = 1;
    int32_t za_ = 0, zb_ = 0, z_ = 0;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_q8_elementwise(const Node& node,
                                                       const std::vector<const Tensor*>& c,
                                                       const Activation& act) {
    const KernelTable& kt = kernels();
    if (act.kind != Activation::kNone) return nullptr;
    auto at = [&](size_t i) { return i < c.size() ? c[i] : nullptr; };
    float s, sa, sb, sc;
    int32_t z, za, zb, zc;
    switch (node.op) {
        case OpKind::kQuantizeLinear:
        case OpKind::kDequantizeLinear: {
            const bool q = node.op == OpKind::kQuantizeLinear;
            if (q ? !kt.qu8_quantize : !kt.qu8_dequantize) return nullptr;
            if (!scale_of(at(1), &s) || !u8_of(at(2), &z)) return nullptr;
            return std::make_unique<Qu8Elementwise>(node.op, s, z);
        }
        case OpKind::kQLinearAdd:
            if (!kt.qu8_add || !scale_of(at(1), &sa) || !u8_of(at(2), &za) ||
                !scale_of(at(4), &sb) || !u8_of(at(5), &zb) || !scale_of(at(6), &sc) ||
                !u8_of(at(7), &zc))
                return nullptr;
            // As the reference: ka = A_scale / C_scale, kb = B_scale / C_scale.
            return std::make_unique<Qu8Elementwise>(sa / sc, sb / sc, za, zb, zc);
        default:
            return nullptr;
    }
}

}  // namespace pare
