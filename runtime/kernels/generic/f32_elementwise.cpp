// f32_elementwise: float32 Add, Sub, Mul and Div where one operand has the
// output's shape and the other is equal, a single value, or broadcast along one
// contiguous block of dims (a per-channel [1,C,1,1] scale, a bias along the last
// dim), with a fused activation; and the activations Relu, Clip, HardSwish and
// Sigmoid on their own. Arithmetic in vectors of 4 lanes (vec_math.h), the
// activations in the ISA's (the table's f32_activate). Other shapes go to the
// reference kernel. The output may be the full-shape operand itself (in place).
#include <cmath>
#include <cstring>

#include "runtime/kernels/fast_ops.h"
#include "runtime/kernels/vec_math.h"

namespace pare {

namespace {

constexpr int V = 4;
using vec = FloatVec<V>::type;

// The activation is applied per chunk of kChunk results while they are in the L1
// cache, by f32_activate (its switch on the kind taken once per chunk).
constexpr int64_t kChunk = 2048;

template <class F>
void span_op(const float* a, float b, float* y, int64_t n, const Activation& act, F f) {
    const vec bv = vec{} + b;
    for (int64_t c = 0; c < n; c += kChunk) {
        const int64_t e = n - c < kChunk ? n : c + kChunk;
        int64_t i = c;
        for (; i + V <= e; i += V) {
            vec x;
            std::memcpy(&x, a + i, sizeof x);
            x = f(x, bv);
            std::memcpy(y + i, &x, sizeof x);
        }
        for (; i < e; ++i) y[i] = f(a[i], b);
        kernels().f32_activate(act, y + c, e - c);
    }
}

template <class F>
void span_op2(const float* a, const float* b, float* y, int64_t n, const Activation& act, F f) {
    for (int64_t c = 0; c < n; c += kChunk) {
        const int64_t e = n - c < kChunk ? n : c + kChunk;
        int64_t i = c;
        for (; i + V <= e; i += V) {
            vec x, z;
            std::memcpy(&x, a + i, sizeof x);
            std::memcpy(&z, b + i, sizeof z);
            x = f(x, z);
            std::memcpy(y + i, &x, sizeof x);
        }
        for (; i < e; ++i) y[i] = f(a[i], b[i]);
        kernels().f32_activate(act, y + c, e - c);
    }
}

// fn(b, e) over [0, n) split in one contiguous range per thread (boundaries on
// multiples of kChunk, so each element is computed the same way for any count).
void for_ranges(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    parallel_ranges(pool, n, kChunk, fn);
}

// How `small` broadcasts to `full`: as [outer, mid, inner] with small indexed by mid.
bool block_broadcast(const Shape& small, const Shape& full, int64_t* outer, int64_t* mid,
                     int64_t* inner) {
    if (small.size() > full.size()) return false;
    Shape s(full.size() - small.size(), 1);
    s.insert(s.end(), small.begin(), small.end());
    int64_t first = -1, last = -1;
    for (size_t d = 0; d < full.size(); ++d) {
        if (s[d] == full[d] && full[d] != 1) {
            if (first < 0) first = static_cast<int64_t>(d);
            if (last >= 0 && last != static_cast<int64_t>(d) - 1) return false;
            last = static_cast<int64_t>(d);
        } else if (s[d] != 1) {
            return false;
        }
    }
    *outer = *mid = *inner = 1;
    for (size_t d = 0; d < full.size(); ++d) {
        const int64_t k = static_cast<int64_t>(d);
        if (first < 0 || k < first) {
            *outer *= full[d];
        } else if (k <= last) {
            *mid *= full[d];
        } else {
            *inner *= full[d];
        }
    }
    return true;
}

class F32Binary : public PreparedKernel {
  public:
    F32Binary(OpKind op, const Activation& act) : op_(op), act_(act) {}
    std::string name() const override { return with_activation("f32_elementwise", act_); }

    Status run(ComputeContext& ctx) const override {
        const Tensor& A = *ctx.in[0];
        const Tensor& B = *ctx.in[1];
        if (A.dtype() != DType::kFloat32 || B.dtype() != DType::kFloat32) return fallback(ctx);
        switch (op_) {
            case OpKind::kAdd:
                return apply(ctx, [](auto x, auto y) { return x + y; });
            case OpKind::kSub:
                return apply(ctx, [](auto x, auto y) { return x - y; });
            case OpKind::kMul:
                return apply(ctx, [](auto x, auto y) { return x * y; });
            default:
                return apply(ctx, [](auto x, auto y) { return x / y; });
        }
    }

  private:
    Status fallback(ComputeContext& ctx) const {
        PARE_RETURN_IF_ERROR(compute_binary(ctx));
        kernels().f32_activate(act_, ctx.out[0]->data<float>(), ctx.out[0]->numel());
        return Status();
    }

    template <class F>
    Status apply(ComputeContext& ctx, F f) const {
        const Tensor& A = *ctx.in[0];
        const Tensor& B = *ctx.in[1];
        Tensor& Y = *ctx.out[0];
        const Shape& ys = Y.shape();
        const bool a_full = A.shape() == ys, b_full = B.shape() == ys;
        const float* a = A.data<float>();
        const float* b = B.data<float>();
        float* y = Y.data<float>();
        const int64_t n = Y.numel();
        if (a_full && b_full) {
            for_ranges(ctx.pool, n, [&](int64_t s, int64_t e) {
                span_op2(a + s, b + s, y + s, e - s, act_, f);
            });
            return Status();
        }
        // The full operand streams; the other gives one value per block.
        const bool swap = !a_full;
        if (!a_full && !b_full) return fallback(ctx);
        const float* full = swap ? b : a;
        const float* small = swap ? a : b;
        if ((swap ? A : B).numel() == 1) {
            auto g = [&](auto x, auto s) { return swap ? f(s, x) : f(x, s); };
            for_ranges(ctx.pool, n, [&](int64_t s, int64_t e) {
                span_op(full + s, small[0], y + s, e - s, act_, g);
            });
            return Status();
        }
        int64_t outer, mid, inner;
        if (!block_broadcast(swap ? A.shape() : B.shape(), ys, &outer, &mid, &inner))
            return fallback(ctx);
        auto g = [&](auto x, auto s) { return swap ? f(s, x) : f(x, s); };
        auto block = [&](int64_t i) {
            const int64_t off = i * inner;
            span_op(full + off, small[i % mid], y + off, inner, act_, g);
        };
        if (inner >= kChunk) {
            parallel_runs(ctx.pool, outer * mid, block);
        } else {
            for (int64_t i = 0; i < outer * mid; ++i) block(i);
        }
        return Status();
    }

    OpKind op_;
    Activation act_;
};

class F32Activation : public PreparedKernel {
  public:
    explicit F32Activation(const Activation& act) : act_(act) {}
    std::string name() const override {
        return std::string("f32_elementwise_") + activation_name(act_);
    }
    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.dtype() != DType::kFloat32) return op_def(ctx.node.op).compute(ctx);
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        for_ranges(ctx.pool, Y.numel(), [&](int64_t s, int64_t e) {
            if (y != x) std::memcpy(y + s, x + s, static_cast<size_t>(e - s) * sizeof(float));
            kernels().f32_activate(act_, y + s, e - s);
        });
        return Status();
    }

  private:
    Activation act_;
};

}  // namespace

// Softmax along the last axis, rows of D values: the row's maximum subtracted, the
// exponentials by the table's vector exp (f32_activate, relative error below 2e-7),
// their sum in double, then each multiplied by its reciprocal (the reference sums
// and divides in double: within a few float roundings of it). Rows split over the
// pool's threads, each computed the same way for any thread count.
class F32Softmax : public PreparedKernel {
  public:
    std::string name() const override { return "f32_softmax"; }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.dtype() != DType::kFloat32 || X.rank() < 1 || Y.numel() != X.numel())
            return internal_error("softmax input does not match");
        const int64_t D = X.shape().back();
        if (D <= 0) return Status();
        const int64_t rows = X.numel() / D;
        const KernelTable& kt = kernels();
        Activation exp_act;
        exp_act.kind = Activation::kExp;
        parallel_runs(ctx.pool, rows, [&](int64_t r) {
            const float* x = X.data<float>() + r * D;
            float* y = Y.data<float>() + r * D;
            // The maximum ignoring NaN (as fmax; a NaN still makes the row NaN below),
            // in 8 independent lanes the compiler vectorizes.
            float m8[8];
            for (float& m : m8) m = -INFINITY;
            int64_t d = 0;
            for (; d + 8 <= D; d += 8)
                for (int j = 0; j < 8; ++j) m8[j] = x[d + j] > m8[j] ? x[d + j] : m8[j];
            float mx = -INFINITY;
            for (; d < D; ++d) mx = x[d] > mx ? x[d] : mx;
            for (float m : m8) mx = m > mx ? m : mx;
            for (d = 0; d < D; ++d) y[d] = x[d] - mx;
            kt.f32_activate(exp_act, y, D);
            // The sum in double over 4 independent accumulators (a fixed order).
            double s4[4] = {0, 0, 0, 0};
            for (d = 0; d + 4 <= D; d += 4)
                for (int j = 0; j < 4; ++j) s4[j] += y[d + j];
            double sum = (s4[0] + s4[1]) + (s4[2] + s4[3]);
            for (; d < D; ++d) sum += y[d];
            const float inv = static_cast<float>(1.0 / sum);
            for (int64_t d = 0; d < D; ++d) y[d] *= inv;
        });
        return Status();
    }
};

std::unique_ptr<PreparedKernel> prepare_f32_elementwise(const Node& node,
                                                        const std::vector<const Tensor*>& constants,
                                                        const Activation& act) {
    switch (node.op) {
        case OpKind::kAdd:
        case OpKind::kSub:
        case OpKind::kMul:
        case OpKind::kDiv:
            if (node.inputs.size() != 2) return nullptr;
            return std::make_unique<F32Binary>(node.op, act);
        case OpKind::kRelu:
        case OpKind::kSigmoid:
        case OpKind::kHardSigmoid:
        case OpKind::kHardSwish:
        case OpKind::kClip: {
            Activation own;
            if (act.kind != Activation::kNone || !activation_of(node, constants, &own))
                return nullptr;
            return std::make_unique<F32Activation>(own);
        }
        case OpKind::kSoftmax:
            // The last axis only (opset 13's default, -1); another axis runs the reference.
            if (act.kind != Activation::kNone || node.attrs.get_int("axis", -1) != -1)
                return nullptr;
            return std::make_unique<F32Softmax>();
        default:
            return nullptr;
    }
}

}  // namespace pare
