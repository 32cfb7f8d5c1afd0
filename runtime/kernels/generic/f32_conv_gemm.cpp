// f32_conv_gemm: Conv as im2col + the dispatched packed f32 GEMM, with the bias
// and a following activation applied as the GEMM stores its results.
// x (N, C, spatial) f32, w (M, C/g, k...), b (M) -> y (N, M, out spatial).
// At prepare: each group's weights W_g (Mg x Cg*k) are packed once for the GEMM.
// Per image and group: Y_g = act(W_g * col + b_g), where col[(c, kd, kh, kw),
// (od, oh, ow)] holds the inputs each output position needs (zeros for padding).
// col is never stored: the GEMM generates the rows of each block as it packs them
// (F32BSource::rows). 1x1 convolutions with stride 1 and no padding use the input
// as col directly.
// Depthwise convolutions (one input and one output channel per group) would make
// 1-row GEMMs; they are not handled here.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

void f32_gemm_parallel(const KernelTable& kt, const F32PackedA& a, int64_t N, const F32BSource& B,
                       float* C, int64_t ldc, const float* bias, const float* R,
                       const Activation& act, ThreadPool* pool) {
    const int64_t T = pool ? pool->size() : 1;
    if (T <= 1) {
        kt.f32_gemm_packed(a, 0, a.M, N, B, C, ldc, bias, R, act);
        return;
    }
    // Columns (each thread packs only its B panels) unless rows balance the work
    // clearly better over whole micro-tiles and A has rows enough that packing all
    // of B on every thread costs little; rows too when columns are too few.
    const int64_t nu = (N + kt.f32_gemm_nr - 1) / kt.f32_gemm_nr;
    const int64_t mu = (a.M + a.mr - 1) / a.mr;
    const double eff_cols = static_cast<double>(nu) / static_cast<double>(T * ((nu + T - 1) / T));
    const double eff_rows = static_cast<double>(mu) / static_cast<double>(T * ((mu + T - 1) / T));
    bool by_cols = nu >= 2 * T || mu < T;
    if (by_cols && mu >= 8 * T && eff_rows > eff_cols + 0.05) by_cols = false;
    pool->parallel_for(T, [&](int64_t t) {
        int64_t b, e;
        if (by_cols) {
            split_range(N, T, kt.f32_gemm_nr, t, &b, &e);
            if (e > b)
                kt.f32_gemm_packed(a, 0, a.M, e - b, B.from_column(b), C + b, ldc, bias,
                                   R ? R + b : nullptr, act);
        } else {
            split_range(a.M, T, a.mr, t, &b, &e);
            if (e > b) kt.f32_gemm_packed(a, b, e, N, B, C, ldc, bias, R, act);
        }
    });
}

namespace {

// The im2col matrix of one image and group, generated a row segment at a time:
// row (c, kd, kh, kw), column (od, oh, ow) holds x[c, od*s - p + kd*d, ...], zero
// in the padding.
struct Im2col {
    const float* x;
    Shape in, out, k, st, dl, pb;
    int64_t in_sz, ksz;
    // For small outputs (short rows, where the per-segment work would dominate):
    // per kernel offset t and output position j, the input offset within a
    // channel, or -1 in the padding; else null.
    const int32_t* gather = nullptr;

    // Fills the gather table (ksz x P entries) for this geometry.
    void fill_gather(int32_t* g) const {
        const int64_t P = out[0] * out[1] * out[2];
        for (int64_t t = 0; t < ksz; ++t) {
            const int64_t kd = t / (k[1] * k[2]), kh = t / k[2] % k[1], kw = t % k[2];
            for (int64_t j = 0; j < P; ++j) {
                const int64_t od = j / (out[1] * out[2]), oh = j / out[2] % out[1], ow = j % out[2];
                const int64_t id = od * st[0] - pb[0] + kd * dl[0];
                const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
                const int64_t iw = ow * st[2] - pb[2] + kw * dl[2];
                const bool inside =
                    id >= 0 && id < in[0] && ih >= 0 && ih < in[1] && iw >= 0 && iw < in[2];
                g[t * P + j] = inside ? static_cast<int32_t>((id * in[1] + ih) * in[2] + iw) : -1;
            }
        }
    }

    static void rows(const void* ctx, int64_t row, int64_t j, int64_t n, float* r) {
        const Im2col& m = *static_cast<const Im2col*>(ctx);
        const int64_t c = row / m.ksz, t = row % m.ksz;
        if (m.gather) {
            const float* xc = m.x + c * m.in_sz;
            const int32_t* g = m.gather + t * (m.out[0] * m.out[1] * m.out[2]) + j;
            for (int64_t q = 0; q < n; ++q) r[q] = g[q] >= 0 ? xc[g[q]] : 0.0f;
            return;
        }
        const int64_t kd = t / (m.k[1] * m.k[2]), kh = t / m.k[2] % m.k[1], kw = t % m.k[2];
        const float* xc = m.x + c * m.in_sz;
        const int64_t plane = m.out[1] * m.out[2];
        int64_t od = j / plane, oh = j % plane / m.out[2], ow = j % m.out[2];
        while (n > 0) {
            const int64_t run = std::min(n, m.out[2] - ow);
            m.segment(xc, od, oh, ow, run, kd, kh, kw, r);
            r += run;
            n -= run;
            ow = 0;
            if (++oh == m.out[1]) oh = 0, ++od;
        }
    }

    // Outputs (od, oh, ow .. ow + run) of kernel offset (kd, kh, kw) into r.
    void segment(const float* xc, int64_t od, int64_t oh, int64_t ow, int64_t run, int64_t kd,
                 int64_t kh, int64_t kw, float* r) const {
        const int64_t id = od * st[0] - pb[0] + kd * dl[0];
        const int64_t ih = oh * st[1] - pb[1] + kh * dl[1];
        if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1]) {
            std::memset(r, 0, static_cast<size_t>(run) * sizeof(float));
            return;
        }
        const float* xr = xc + (id * in[1] + ih) * in[2];
        const int64_t off = kw * dl[2] - pb[2], s = st[2];
        // Valid outputs: 0 <= (ow + q) * s + off < in[2], for q in [lo, hi).
        int64_t lo = 0, hi = run;
        while (lo < run && (ow + lo) * s + off < 0) ++lo;
        while (hi > lo && (ow + hi - 1) * s + off >= in[2]) --hi;
        for (int64_t q = 0; q < lo; ++q) r[q] = 0.0f;
        const float* src = xr + (ow + lo) * s + off;
        if (s == 1) {
            std::memcpy(r + lo, src, static_cast<size_t>(hi - lo) * sizeof(float));
        } else if (s == 2) {
            for (int64_t q = 0; q < hi - lo; ++q) r[lo + q] = src[2 * q];
        } else {
            for (int64_t q = 0; q < hi - lo; ++q) r[lo + q] = src[s * q];
        }
        for (int64_t q = hi; q < run; ++q) r[q] = 0.0f;
    }
};

class F32ConvGemm : public PreparedKernel {
  public:
    F32ConvGemm(const Node& node, const Tensor& w, const Tensor* b, const Activation& act,
                bool residual)
        : attrs_(node.attrs), act_(act), kt_(kernels()), residual_(residual) {
        group_ = node.attrs.get_int("group", 1);
        M_ = w.shape()[0];
        Mg_ = M_ / group_;
        kshape_.assign(w.shape().begin() + 2, w.shape().end());
        Kdim_ = w.numel() / M_;
        mr_ = f32_gemm_pick_mr(kt_, Mg_);
        const int64_t per = f32_packed_a_size(Mg_, Kdim_, mr_);
        packed_.resize(static_cast<size_t>(per * group_));
        for (int64_t g = 0; g < group_; ++g) {
            f32_pack_a(Mg_, Kdim_, w.data<float>() + g * Mg_ * Kdim_, Kdim_, mr_,
                       packed_.data() + g * per);
        }
        if (b) bias_.assign(b->data<float>(), b->data<float>() + M_);
    }

    std::string name() const override {
        return with_activation(std::string("f32_conv_im2col+") + f32_gemm_name_for(kt_, mr_) +
                                   (residual_ ? "+add" : ""),
                               act_);
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        const int64_t N = X.shape()[0], C = X.shape()[1], Cg = C / group_;
        Window w;
        Shape in_sp(X.shape().begin() + 2, X.shape().end());
        PARE_RETURN_IF_ERROR(window_forward(attrs_, in_sp, kshape_, false, &w));
        const Shape in = to3(w.in, 1), out = to3(w.out, 1), k = to3(w.kernel, 1);
        const Shape st = to3(w.strides, 1), dl = to3(w.dilations, 1), pb = to3(w.pad_begin, 0);
        const int64_t in_sz = in[0] * in[1] * in[2], P = out[0] * out[1] * out[2];
        const int64_t ksz = k[0] * k[1] * k[2];
        if (Cg * ksz != Kdim_) return internal_error("conv weights do not match the input");
        bool pointwise = ksz == 1;
        for (int d = 0; d < 3; ++d)
            pointwise = pointwise && st[d] == 1 && pb[d] == 0 && out[d] == in[d];
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        // The fused Add's other operand (the last input), or null.
        PARE_ASSIGN_OR_RETURN(const float* res, fused_residual(ctx, residual_, Y));
        const int64_t per = f32_packed_a_size(Mg_, Kdim_, mr_);
        Im2col im{nullptr, in, out, k, st, dl, pb, in_sz, ksz};
        // Rows of at most 8 outputs: a gather table (at most 1024 positions, so
        // it stays small), built once per run.
        if (!pointwise && out[2] <= 8 && P <= 1024 && in_sz < (int64_t{1} << 31)) {
            int32_t* g =
                reinterpret_cast<int32_t*>(scratch_floats(2, static_cast<size_t>(ksz * P)));
            im.fill_gather(g);
            im.gather = g;
        }
        for (int64_t n = 0; n < N; ++n) {
            for (int64_t g = 0; g < group_; ++g) {
                const float* xg = x + (n * C + g * Cg) * in_sz;
                im.x = xg;
                const F32BSource B = pointwise ? F32BSource(xg, P) : F32BSource(&Im2col::rows, &im);
                F32PackedA a{packed_.data() + g * per, Mg_, Kdim_, mr_};
                f32_gemm_parallel(kt_, a, P, B, y + (n * M_ + g * Mg_) * P, P,
                                  bias_.empty() ? nullptr : bias_.data() + g * Mg_,
                                  res ? res + (n * M_ + g * Mg_) * P : nullptr, act_, ctx.pool);
            }
        }
        return Status();
    }

  private:
    Attributes attrs_;
    Activation act_;
    const KernelTable& kt_;
    bool residual_ = false;
    int mr_ = 1;  // micro-tile height the weights are packed for
    int64_t group_ = 1, M_ = 0, Mg_ = 0, Kdim_ = 0;
    Shape kshape_;
    std::vector<float> packed_, bias_;
};

// A 2-D stride-1 convolution of one group whose weights are mostly zero (pruned):
// the weights as CSR rows (one per output channel) over k = (c, kh, kw), nonzeros
// only, so the work is proportional to them. No im2col: the input is copied into
// a zero-padded plane (Hp x Wp per channel) and the output computed over Wp-wide
// rows, where tap (c, kh, kw) of output position q = oh * Wp + ow reads the padded
// input at q + c*Hp*Wp + kh*dh*Wp + kw*dw -- one contiguous run for every tap; the
// Wp - OW columns past each row are dropped as the rows are stored. Pointwise
// convolutions without padding read the input itself.
class F32ConvSparse : public PreparedKernel {
  public:
    F32ConvSparse(const Node& node, const Tensor& w, const Tensor* b, const Activation& act,
                  bool residual)
        : attrs_(node.attrs), act_(act), kt_(kernels()), residual_(residual) {
        M_ = w.shape()[0];
        K_ = w.numel() / M_;
        kshape_.assign(w.shape().begin() + 2, w.shape().end());
        csr_ = F32Csr(w.data<float>(), M_, K_, K_, 1);
        if (b) bias_.assign(b->data<float>(), b->data<float>() + M_);
    }

    std::string name() const override {
        return with_activation(std::string("f32_conv_sparse+") + kt_.f32_spmm_name +
                                   csr_.density_tag(M_, K_) + (residual_ ? "+add" : ""),
                               act_);
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() != 4) return internal_error("sparse conv: the input is not 2-D");
        const int64_t N = X.shape()[0], C = X.shape()[1], H = X.shape()[2], W = X.shape()[3];
        Window w;
        PARE_RETURN_IF_ERROR(window_forward(attrs_, Shape{H, W}, kshape_, false, &w));
        const int64_t OH = w.out[0], OW = w.out[1], KH = w.kernel[0], KW = w.kernel[1];
        if (C * KH * KW != K_ || w.strides[0] != 1 || w.strides[1] != 1)
            return internal_error("sparse conv: weights or strides do not match");
        const int64_t pt = w.pad_begin[0], pl = w.pad_begin[1];
        const int64_t Hp = std::max(H + pt, OH + (KH - 1) * w.dilations[0]);
        const int64_t Wp = std::max(W + pl, OW + (KW - 1) * w.dilations[1]);
        const bool direct = Hp == H && Wp == W && pt == 0 && pl == 0;  // no padding to add
        // Offsets of every k in the (padded) input, for this geometry: computed when
        // it changes (once, for a fixed input shape), with no division per k (those
        // cost a small layer more than its multiply-adds).
        std::vector<int64_t>& xoff = xoff_;
        if (xoff_hp_ != Hp || xoff_wp_ != Wp || static_cast<int64_t>(xoff.size()) != K_) {
            xoff.resize(static_cast<size_t>(K_));
            tap_offsets(C, KH, KW, Hp * Wp, Wp, w.dilations[0], w.dilations[1], xoff.data());
            xoff_hp_ = Hp;
            xoff_wp_ = Wp;
        }
        PARE_ASSIGN_OR_RETURN(const float* res, fused_residual(ctx, residual_, Y));
        const int64_t P = OH * OW, Q = (OH - 1) * Wp + OW;  // outputs; positions computed
        const float* bias = bias_.empty() ? nullptr : bias_.data();
        const int64_t T = ctx.pool ? ctx.pool->size() : 1, bc = kt_.f32_spmm_cols;
        for (int64_t n = 0; n < N; ++n) {
            const float* x = X.data<float>() + n * C * H * W;
            float* y = Y.data<float>() + n * M_ * P;
            const float* r = res ? res + n * M_ * P : nullptr;
            if (direct && Wp == OW) {  // outputs are the computed positions
                parallel_runs(ctx.pool, T, [&](int64_t t) {
                    int64_t b, e;
                    split_range(Q, T, bc, t, &b, &e);
                    if (e > b)
                        kt_.f32_spmm(csr_.row_ptr.data(), csr_.col.data(), csr_.val.data(), M_,
                                     x + b, xoff.data(), e - b, bias, r ? r + b : nullptr, y + b, P,
                                     act_);
                });
                continue;
            }
            // Past the last output the blocks run on to a whole 4V (a slack of zeros
            // behind the padded input and the row buffer; those results are dropped):
            // small planes (7x7) would otherwise spend most of their time in the tail.
            const int64_t slack = 4 * bc;
            float* xp = const_cast<float*>(x);
            if (!direct) {
                xp = scratch_floats(6, static_cast<size_t>(C * Hp * Wp + slack));
                std::memset(xp, 0, static_cast<size_t>(C * Hp * Wp + slack) * sizeof(float));
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t h = 0; h < H; ++h)
                        std::memcpy(xp + (c * Hp + h + pt) * Wp + pl, x + (c * H + h) * W,
                                    static_cast<size_t>(W) * sizeof(float));
            }
            const int64_t Qr = direct ? Q : (Q + bc - 1) / bc * bc;
            const int64_t ldt = std::max(OH * Wp, Qr);  // a row's slack stays in the row
            float* yt = scratch_floats(5, static_cast<size_t>(M_ * ldt + slack));
            parallel_runs(ctx.pool, T, [&](int64_t t) {
                int64_t b, e;
                split_range(Qr, T, bc, t, &b, &e);
                if (e > b)
                    kt_.f32_spmm(csr_.row_ptr.data(), csr_.col.data(), csr_.val.data(), M_, xp + b,
                                 xoff.data(), e - b, bias, nullptr, yt + b, ldt, Activation{});
            });
            // Rows of OW outputs out of the Wp-wide ones, with the residual and activation.
            parallel_runs(ctx.pool, M_, [&](int64_t m) {
                for (int64_t oh = 0; oh < OH; ++oh) {
                    float* dst = y + m * P + oh * OW;
                    const float* src = yt + m * ldt + oh * Wp;
                    if (r) {
                        const float* rr = r + m * P + oh * OW;
                        for (int64_t i = 0; i < OW; ++i) dst[i] = src[i] + rr[i];
                    } else {
                        std::memcpy(dst, src, static_cast<size_t>(OW) * sizeof(float));
                    }
                }
                if (act_.kind != Activation::kNone) kt_.f32_activate(act_, y + m * P, P);
            });
        }
        return Status();
    }

  private:
    Attributes attrs_;
    Activation act_;
    const KernelTable& kt_;
    bool residual_ = false;
    int64_t M_ = 0, K_ = 0;
    Shape kshape_;
    F32Csr csr_;
    std::vector<float> bias_;
    mutable std::vector<int64_t> xoff_;  // for the padded geometry xoff_hp_ x xoff_wp_
    mutable int64_t xoff_hp_ = -1, xoff_wp_ = -1;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_conv_gemm(const Node& node,
                                                      const std::vector<const Tensor*>& constants,
                                                      const Activation& act, bool residual) {
    if (constants.size() < 2 || !constants[1]) return nullptr;
    const Tensor& w = *constants[1];
    const Tensor* b = constants.size() > 2 ? constants[2] : nullptr;
    if (w.dtype() != DType::kFloat32 || w.rank() < 3 || w.rank() > 5 || w.shape()[0] <= 0)
        return nullptr;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !b) return nullptr;  // runtime bias
    if (b && (b->dtype() != DType::kFloat32 || b->numel() != w.shape()[0])) return nullptr;
    const int64_t group = node.attrs.get_int("group", 1);
    if (group <= 0 || w.shape()[0] % group != 0) return nullptr;
    if (w.shape()[1] == 1 && w.shape()[0] == group) return nullptr;  // depthwise
    return std::make_unique<F32ConvGemm>(node, w, b, act, residual);
}

std::unique_ptr<PreparedKernel> prepare_f32_conv_sparse(const Node& node,
                                                        const std::vector<const Tensor*>& constants,
                                                        const Activation& act, bool residual) {
    if (constants.size() < 2 || !constants[1]) return nullptr;
    const Tensor& w = *constants[1];
    const Tensor* b = constants.size() > 2 ? constants[2] : nullptr;
    if (w.dtype() != DType::kFloat32 || w.rank() != 4 || w.shape()[0] <= 0) return nullptr;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !b) return nullptr;
    if (b && (b->dtype() != DType::kFloat32 || b->numel() != w.shape()[0])) return nullptr;
    if (node.attrs.get_int("group", 1) != 1) return nullptr;
    for (int64_t s : node.attrs.get_ints("strides"))
        if (s != 1) return nullptr;
    if (!sparse_enough(w.data<float>(), w.numel())) return nullptr;
    return std::make_unique<F32ConvSparse>(node, w, b, act, residual);
}

F32Csr::F32Csr(const float* w, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
    row_ptr.push_back(0);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < cols; ++k) {
            const float v = w[r * row_stride + k * col_stride];
            if (v == 0.0f) continue;
            col.push_back(static_cast<int32_t>(k));
            val.push_back(v);
        }
        row_ptr.push_back(static_cast<int32_t>(col.size()));
    }
}

std::string F32Csr::density_tag(int64_t rows, int64_t cols) const {
    char d[32];
    std::snprintf(d, sizeof d, "(density %.2f)",
                  static_cast<double>(val.size()) / static_cast<double>(rows * cols));
    return d;
}

bool sparse_enough(const float* w, int64_t n) {
    if (!kernels().f32_spmm || n <= 0 || n >= (int64_t{1} << 31)) return false;
    int64_t nz = 0;
    for (int64_t i = 0; i < n; ++i) nz += w[i] != 0.0f;
    return static_cast<double>(nz) <= kSparseDensity * static_cast<double>(n);
}

}  // namespace pare
