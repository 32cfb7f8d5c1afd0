// f32_dense: Gemm (transA = 0) and MatMul whose second operand is a constant
// matrix: Y[M,N] = act(alpha * X[M,K] * W[K,N] + bias[N]). W (transposed back when
// transB = 1) is kept K-major and scaled by alpha at prepare time; the bias is
// beta * C when C is a scalar or one row. One row of X (the usual classifier at
// batch 1) is a weight-streaming vector product split over threads by column
// ranges; more rows go through the dispatched GEMM with X packed as its A operand,
// or, when the weights are pruned (at most kSparseDensity nonzero), through the
// sparse kernel once they fill its vectors. N:M-pruned weights (at most 2 of
// every group of 4 consecutive k per output: pare prune --method nm) of at
// least kNmMinBytes run the batch-1 product on f32_gemv_nm: the kept weights
// packed per block of V outputs with their positions, about half the bytes to
// stream.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "runtime/kernels/fast_ops.h"

namespace pare {

namespace {

// The weight size from which the N:M product beats the dense one at batch 1 on
// this machine (below it the weights stay in cache and streaming them is cheap:
// docs/design.md, "Sparse kernels").
constexpr int64_t kNmMinBytes = int64_t{1} << 20;

class F32Dense : public PreparedKernel {
  public:
    F32Dense(std::vector<float> wt, int64_t K, int64_t N, std::vector<float> bias,
             const Activation& act)
        : wt_(std::move(wt)), bias_(std::move(bias)), K_(K), N_(N), act_(act), kt_(kernels()) {
        // Row n of the CSR form: output n's nonzero weights, W[k, n] for k < K.
        if (sparse_enough(wt_.data(), K_ * N_)) csr_ = F32Csr(wt_.data(), N_, K_, 1, N_);
        if (K_ * N_ * static_cast<int64_t>(sizeof(float)) >= nm_min_bytes()) pack_nm();
    }

    // The threshold, PARE_NM_MIN_BYTES overriding it (for measuring the crossover).
    static int64_t nm_min_bytes() {
        const char* e = std::getenv("PARE_NM_MIN_BYTES");
        return e && *e ? std::atoll(e) : kNmMinBytes;
    }

    std::string name() const override {
        std::string sparse;
        if (!csr_.empty())
            sparse = std::string(", sparse from ") + std::to_string(kt_.f32_spmm_cols) +
                     " rows: " + kt_.f32_spmm_name + csr_.density_tag(N_, K_);
        if (nm_keep_ > 0)
            sparse += std::string(", batch 1: ") + kt_.f32_gemv_nm_name + " (" +
                      std::to_string(nm_keep_) + ":4)";
        return with_activation(std::string("f32_dense+") + kt_.f32_gemm_name + sparse, act_);
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() < 1 || X.shape().back() != K_ || Y.numel() % N_ != 0)
            return internal_error("dense kernel: input does not match the weights");
        const int64_t M = X.numel() / K_;
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        const int64_t T = ctx.pool ? ctx.pool->size() : 1;
        if (!csr_.empty() && M >= kt_.f32_spmm_cols) {
            sparse_product(x, M, y, ctx.pool);
            return Status();
        }
        if (M == 1 && nm_keep_ > 0) {
            nm_product(x, y, ctx.pool);
            return Status();
        }
        if (M == 1) {
            auto cols = [&](int64_t t) {
                int64_t b, e;
                split_range(N_, T, 16, t, &b, &e);
                if (e > b) vector_product(x, b, e, y);
            };
            if (T > 1 && N_ >= 64) {
                ctx.pool->parallel_for(T, cols);
            } else {
                vector_product(x, 0, N_, y);
            }
            return Status();
        }
        float* pa =
            scratch_floats(1, static_cast<size_t>(f32_packed_a_size(M, K_, kt_.f32_gemm_mr)));
        f32_pack_a(M, K_, x, K_, kt_.f32_gemm_mr, pa);
        const F32PackedA a{pa, M, K_, kt_.f32_gemm_mr};
        f32_gemm_parallel(kt_, a, N_, {wt_.data(), N_}, y, N_, nullptr, nullptr, Activation{},
                          ctx.pool);
        for (int64_t m = 0; m < M; ++m) {
            float* row = y + m * N_;
            if (!bias_.empty())
                for (int64_t n = 0; n < N_; ++n) row[n] += bias_[n];
            kt_.f32_activate(act_, row, N_);
        }
        return Status();
    }

  private:
    // Pruned weights, rows enough to fill f32_spmm's vectors: the rows of X are its
    // positions (X transposed to K x M, Y^T computed and transposed back). Fewer
    // rows (batch 1 above all) stay on the dense paths, measured faster there.
    void sparse_product(const float* x, int64_t M, float* y, ThreadPool* pool) const {
        std::vector<int64_t>& xoff = xoff_;
        xoff.resize(static_cast<size_t>(K_));
        for (int64_t k = 0; k < K_; ++k) xoff[static_cast<size_t>(k)] = k * M;
        float* xt = scratch_floats(6, static_cast<size_t>(K_ * M + N_ * M));
        for (int64_t m = 0; m < M; ++m)
            for (int64_t k = 0; k < K_; ++k) xt[k * M + m] = x[m * K_ + k];
        float* yt = xt + K_ * M;
        const int64_t T = pool && N_ >= 64 ? pool->size() : 1;
        const float* bias = bias_.empty() ? nullptr : bias_.data();
        parallel_runs(T > 1 ? pool : nullptr, T, [&](int64_t t) {
            int64_t b, e;
            split_range(N_, T, 1, t, &b, &e);
            if (e > b)
                kt_.f32_spmm(csr_.row_ptr.data() + b, csr_.col.data(), csr_.val.data(), e - b, xt,
                             xoff.data(), M, bias ? bias + b : nullptr, nullptr, yt + b * M, M,
                             act_);
        });
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N_; ++n) y[m * N_ + n] = yt[n * M + m];
    }

    // The N:M form, when every aligned group of 4 k of every output holds at most 2
    // nonzero weights (2:4, 1:4; 4:8 weights that happen to): per block of V
    // outputs, group and kept slot, V values and a word of V 2-bit positions (slots
    // past a lane's nonzeros hold a zero weight).
    void pack_nm() {
        const int64_t V = kt_.f32_gemv_nm_lanes;
        if (!kt_.f32_gemv_nm || K_ % 4 != 0) return;
        int most = 0;
        for (int64_t n = 0; n < N_ && most <= 2; ++n)
            for (int64_t k0 = 0; k0 < K_; k0 += 4) {
                int c = 0;
                for (int i = 0; i < 4; ++i) c += wt_[(k0 + i) * N_ + n] != 0.0f;
                most = std::max(most, c);
            }
        if (most == 0 || most > 2) return;
        nm_keep_ = most;
        const int64_t groups = K_ / 4, blocks = (N_ + V - 1) / V, word = V / 4;
        nm_val_.assign(static_cast<size_t>(blocks * groups * nm_keep_ * V), 0.0f);
        nm_idx_.assign(static_cast<size_t>(blocks * groups * nm_keep_ * word), 0);
        for (int64_t n = 0; n < N_; ++n) {
            const int64_t b = n / V, l = n % V;
            for (int64_t g = 0; g < groups; ++g) {
                int64_t j = 0;
                for (int i = 0; i < 4; ++i) {
                    const float w = wt_[(g * 4 + i) * N_ + n];
                    if (w == 0.0f) continue;
                    const int64_t slot = (b * groups + g) * nm_keep_ + j++;
                    nm_val_[static_cast<size_t>(slot * V + l)] = w;
                    nm_idx_[static_cast<size_t>(slot * word + l / 4)] |=
                        static_cast<uint8_t>(i << (2 * (l % 4)));
                }
            }
        }
    }

    // y = act(bias + x W) for one row on the N:M form, blocks of outputs split over
    // threads; x copied with V floats of zero slack (the last window's read).
    void nm_product(const float* x, float* y, ThreadPool* pool) const {
        const int64_t V = kt_.f32_gemv_nm_lanes, blocks = (N_ + V - 1) / V;
        const int64_t groups = K_ / 4, per = groups * nm_keep_;
        float* xs = scratch_floats(6, static_cast<size_t>(K_ + V + blocks * V));
        float* ys = xs + K_ + V;
        std::memcpy(xs, x, static_cast<size_t>(K_) * sizeof(float));
        std::memset(xs + K_, 0, static_cast<size_t>(V) * sizeof(float));
        const int64_t T = pool && blocks >= 4 ? pool->size() : 1;
        parallel_runs(T > 1 ? pool : nullptr, T, [&](int64_t t) {
            int64_t b0, b1;
            split_range(blocks, T, 1, t, &b0, &b1);
            if (b1 > b0)
                kt_.f32_gemv_nm(xs, groups, nm_keep_, nm_val_.data() + b0 * per * V,
                                nm_idx_.data() + b0 * per * (V / 4), b1 - b0, ys + b0 * V);
        });
        for (int64_t n = 0; n < N_; ++n) y[n] = ys[n] + (bias_.empty() ? 0.0f : bias_[n]);
        kt_.f32_activate(act_, y, N_);
    }

    // y[b:e] = act(bias + sum_k x[k] * W[k, b:e]), streaming rows of W.
    void vector_product(const float* x, int64_t b, int64_t e, float* y) const {
        float* acc = y + b;
        const int64_t n = e - b;
        for (int64_t j = 0; j < n; ++j) acc[j] = bias_.empty() ? 0.0f : bias_[b + j];
        kt_.f32_gemv(x, K_, wt_.data() + b, N_, n, acc);
        kt_.f32_activate(act_, acc, n);
    }

    std::vector<float> wt_, bias_;
    int64_t K_, N_;
    Activation act_;
    const KernelTable& kt_;
    F32Csr csr_;       // empty unless the weights are pruned
    int nm_keep_ = 0;  // the N:M form's kept weights per 4 (0: none)
    std::vector<float> nm_val_;
    std::vector<uint8_t> nm_idx_;
    mutable std::vector<int64_t> xoff_;  // per sparse run; sized at the first
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_dense(const Node& node,
                                                  const std::vector<const Tensor*>& constants,
                                                  const Activation& act) {
    if (constants.size() < 2 || !constants[1]) return nullptr;
    const Tensor& w = *constants[1];
    if (w.dtype() != DType::kFloat32 || w.rank() != 2 || w.numel() == 0) return nullptr;
    bool trans_b = false;
    float alpha = 1.0f, beta = 1.0f;
    const Tensor* c = nullptr;
    if (node.op == OpKind::kGemm) {
        if (node.attrs.get_int("transA", 0) != 0) return nullptr;
        trans_b = node.attrs.get_int("transB", 0) != 0;
        alpha = node.attrs.get_float("alpha", 1.0f);
        beta = node.attrs.get_float("beta", 1.0f);
        if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
            c = constants.size() > 2 ? constants[2] : nullptr;
            if (!c) return nullptr;  // C computed at run time
        }
    } else if (node.op != OpKind::kMatMul) {
        return nullptr;
    }
    const int64_t K = trans_b ? w.shape()[1] : w.shape()[0];
    const int64_t N = trans_b ? w.shape()[0] : w.shape()[1];
    std::vector<float> bias;
    if (c && beta != 0.0f) {
        if (c->dtype() != DType::kFloat32) return nullptr;
        // One value or one row broadcast over rows: [N], [1,N], [1] or a scalar.
        const bool row =
            c->numel() == N && (c->rank() == 1 || (c->rank() == 2 && c->shape()[0] == 1));
        if (!row && c->numel() != 1) return nullptr;
        bias.resize(static_cast<size_t>(N));
        for (int64_t n = 0; n < N; ++n) bias[n] = beta * c->data<float>()[row ? n : 0];
    }
    std::vector<float> wt(static_cast<size_t>(K * N));
    const float* src = w.data<float>();
    for (int64_t k = 0; k < K; ++k) {
        for (int64_t n = 0; n < N; ++n)
            wt[k * N + n] = alpha * (trans_b ? src[n * K + k] : src[k * N + n]);
    }
    return std::make_unique<F32Dense>(std::move(wt), K, N, std::move(bias), act);
}

}  // namespace pare
