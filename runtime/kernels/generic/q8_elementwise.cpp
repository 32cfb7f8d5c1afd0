// q8_elementwise: QuantizeLinear to uint8, DequantizeLinear of uint8 and QLinearAdd
// of two uint8 tensors of one shape, with per-tensor constant parameters, on the
// table's vector kernels (qu8_quantize, qu8_dequantize, qu8_add), split over the
// threads in chunks of kChunk values (each value computed alike for any count);
// QLinearMul of two uint8 tensors of one shape, or of B holding one value per block
// of A (B's dimensions A's up to some axis, 1 after it: a squeeze-excitation's gate
// per channel), by requantize_mul in blocks. Other layouts (per-axis parameters,
// other broadcasting) run the reference.
#include <algorithm>
#include <cmath>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/requantize.h"

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
    Qu8Elementwise(OpKind op, float ka, float kb, int32_t za, int32_t zb, int32_t zc)
        : op_(op), ka_(ka), kb_(kb), za_(za), zb_(zb), z_(zc) {}

    std::string name() const override {
        return op_ == OpKind::kQuantizeLinear     ? "qu8_quantize"
               : op_ == OpKind::kDequantizeLinear ? "qu8_dequantize"
               : op_ == OpKind::kQLinearMul       ? "qu8_mul"
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
        if (op_ == OpKind::kQLinearMul) return run_mul(ctx, X, B, Y);
        if (X.shape() != Y.shape() || B.shape() != Y.shape() || Y.dtype() != DType::kUint8)
            return op_def(op_).compute(ctx);  // broadcasting: the reference
        chunks(ctx.pool, n, [&](int64_t b, int64_t e) {
            kt.qu8_add(X.data<uint8_t>() + b, B.data<uint8_t>() + b, e - b, ka_, kb_, za_, zb_, z_,
                       0, 255, Y.data<uint8_t>() + b);
        });
        return Status();
    }

  private:
    // QLinearMul: y = requantize_mul(x - za, b - zb, ka_ (the multiplier), zc), B of
    // Y's shape or one value per block of `inner` consecutive values.
    Status run_mul(ComputeContext& ctx, const Tensor& X, const Tensor& B, Tensor& Y) const {
        int64_t inner = 1;
        size_t d = Y.shape().size();
        bool blocks = B.rank() == Y.rank();
        while (blocks && d > 0 && B.shape()[d - 1] == 1) inner *= Y.shape()[--d];
        for (size_t k = 0; blocks && k < d; ++k) blocks = B.shape()[k] == Y.shape()[k];
        if (X.shape() != Y.shape() || !blocks || Y.dtype() != DType::kUint8 || inner <= 0)
            return op_def(op_).compute(ctx);  // other broadcasting: the reference
        const uint8_t* x = X.data<uint8_t>();
        const uint8_t* b = B.data<uint8_t>();
        uint8_t* y = Y.data<uint8_t>();
        const int64_t per = std::max<int64_t>(1, kChunk / inner);  // blocks per task
        parallel_runs(ctx.pool, (B.numel() + per - 1) / per, [&](int64_t t) {
            for (int64_t j = t * per; j < std::min(B.numel(), (t + 1) * per); ++j) {
                const int32_t g = b[j] - zb_;
                for (int64_t i = j * inner; i < (j + 1) * inner; ++i)
                    y[i] = static_cast<uint8_t>(requantize_mul(x[i] - za_, g, ka_, z_, 0, 255));
            }
        });
        return Status();
    }

    OpKind op_;
    float s_ = 1, ka_ = 1, kb_ = 1;
    int32_t za_ = 0, zb_ = 0, z_ = 0;
};

}  // namespace

void qu8_store_activated(const int32_t* acc, int64_t n, float acc_scale, const FusedActivation& f,
                         float y_scale, int32_t zy, uint8_t* y) {
    const KernelTable& kt = kernels();
    float v[64];
    for (int64_t i0 = 0; i0 < n; i0 += 64) {
        const int64_t m = std::min<int64_t>(64, n - i0);
        activated_row(acc + i0, m, acc_scale, f, v);
        if (kt.qu8_quantize) {
            kt.qu8_quantize(v, m, y_scale, zy, y + i0);
            continue;
        }
        for (int64_t i = 0; i < m; ++i)
            y[i0 + i] = static_cast<uint8_t>(quantize_value(v[i], y_scale, zy, 0, 255));
    }
}

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
            return std::make_unique<Qu8Elementwise>(node.op, sa / sc, sb / sc, za, zb, zc);
        case OpKind::kQLinearMul:
            if (!scale_of(at(1), &sa) || !u8_of(at(2), &za) || !scale_of(at(4), &sb) ||
                !u8_of(at(5), &zb) || !scale_of(at(6), &sc) || !u8_of(at(7), &zc))
                return nullptr;
            // As the reference: the multiplier A_scale * B_scale / C_scale.
            return std::make_unique<Qu8Elementwise>(node.op, sa * sb / sc, 0.0f, za, zb, zc);
        default:
            return nullptr;
    }
}

}  // namespace pare
