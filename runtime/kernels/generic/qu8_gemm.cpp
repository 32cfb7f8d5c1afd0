// qu8_gemm: MatMulInteger, QLinearMatMul and QGemm of uint8 activations and a
// constant int8 weight with zero points 0, on the table's int8 convolution tile
// (the same tile qu8_conv runs, so the same exact integer arithmetic).
// At prepare: the weight as rows of output columns, W[m][k] (B transposed unless
// QGemm's transB), packed per block of kQu8TileRows columns as the tile wants
// (runtime/cpu/cpu.h), each column's weight sum, and the requantization multipliers.
// Per run: a (rows x K, row-major) transposed once into K rows of positions, then
// (panel of kQu8TileCols rows of a, run of column blocks) tasks, each packing its
// panel and running the tile over its blocks into a small buffer that is stored
// transposed into y: uint8 through the tile's requantization (QLinearMatMul, QGemm
// with y_scale), int32 (MatMulInteger) or int32 times the scale (QGemm without
// y_scale: float32). corr = C - za * sum_k w, so the tile multiplies raw bytes; a
// zero point that is not constant (dynamic quantization's) is read at each run.
// Every output is computed by one task with the same arithmetic, for any thread count.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

constexpr int kR = kQu8TileRows;
constexpr int kP = kQu8TileCols;

// kActivated: uint8 through a session's fused float activation (QGemm with the
// attribute pare_activation): the int32 tile, then qu8_store_activated (activated_row
// and QuantizeLinear, runtime/ops/requantize.h).
enum class GemmOut { kInt32, kUint8, kFloat, kActivated };

bool scalar_of(const Tensor* t, DType type) { return t && t->dtype() == type && t->numel() == 1; }

bool positive_finite(const Tensor* t) {
    for (int64_t i = 0; i < t->numel(); ++i)
        if (!(t->data<float>()[i] > 0) || !std::isfinite(t->data<float>()[i])) return false;
    return true;
}

bool all_zero(const Tensor* t) {
    if (!t) return true;
    if (t->dtype() != DType::kInt8) return false;
    for (int64_t i = 0; i < t->numel(); ++i)
        if (t->data<int8_t>()[i] != 0) return false;
    return true;
}

class Qu8Gemm : public PreparedKernel {
  public:
    // w: the weight as stored, Mo x K when by_rows (QGemm's transB) else K x Mo.
    Qu8Gemm(const Tensor& w, bool by_rows, GemmOut out, const KernelTable& kt)
        : kt_(kt), out_(out) {
        K_ = by_rows ? w.shape()[1] : w.shape()[0];
        Mo_ = by_rows ? w.shape()[0] : w.shape()[1];
        const int8_t* wd = w.data<int8_t>();
        auto at = [&](int64_t m, int64_t k) { return by_rows ? wd[m * K_ + k] : wd[k * Mo_ + m]; };
        // Weights in [-64, 64] take the table's 7-bit tile where it has one.
        int wmax = 0;
        for (int64_t i = 0; i < w.numel(); ++i) wmax = std::max(wmax, std::abs(int{wd[i]}));
        if (wmax <= 64 && kt_.qu8_conv_tile_7bit) {
            pack_ = kt_.qu8_pack_panel_7bit;
            tile_ = kt_.qu8_conv_tile_7bit;
            tile_name_ = kt_.qu8_conv_name_7bit;
        }
        const int kg = tile_ == kt_.qu8_conv_tile_7bit ? 4 : kt_.qu8_k_per_group;
        groups_ = (K_ + kg - 1) / kg;
        blocks_ = (Mo_ + kR - 1) / kR;
        packed_.assign(static_cast<size_t>(blocks_ * groups_ * kR), 0);
        uint8_t* bytes = reinterpret_cast<uint8_t*>(packed_.data());
        wsum_.assign(static_cast<size_t>(blocks_ * kR), 0);
        for (int64_t m = 0; m < Mo_; ++m) {
            const int64_t b = m / kR, r = m % kR;
            for (int64_t k = 0; k < K_; ++k) {
                const int8_t v = at(m, k);
                wsum_[m] += v;
                const int64_t i = ((b * groups_ + k / kg) * kR + r) * kg + k % kg;
                if (kg == 4) {
                    bytes[i] = static_cast<uint8_t>(v);
                } else {
                    reinterpret_cast<int16_t*>(bytes)[i] = v;
                }
            }
        }
        bias_.assign(wsum_.size(), 0);
        scale_.assign(wsum_.size(), 0.0f);
        fbias_.assign(wsum_.size(), 0.0f);
    }

    // C (QGemm, one value per column or one for all), y's multipliers or scales, and
    // a constant zero point of a (absent: read at each run).
    void set_bias(const Tensor* c) {
        for (int64_t m = 0; c && m < Mo_; ++m)
            bias_[m] = c->data<int32_t>()[c->numel() == 1 ? 0 : m];
    }
    // MatMulIntegerToFloat's float bias, added after the scale (float out).
    void set_float_bias(const Tensor* b) {
        for (int64_t m = 0; b && m < Mo_; ++m)
            fbias_[m] = b->data<float>()[b->numel() == 1 ? 0 : m];
    }
    // Per column: the requantization multiplier (uint8 out) or scale (float out).
    void set_scale(int64_t m, float s) { scale_[m] = s; }
    // MatMulIntegerToFloat with a's scale computed at run time (dynamic
    // quantization's): the float scale of column m is a_scale * b_scale[m] per run.
    void set_dynamic_a_scale(int input, const Tensor& b_scale) {
        sa_input_ = input;
        sb_.resize(static_cast<size_t>(Mo_));
        for (int64_t m = 0; m < Mo_; ++m)
            sb_[m] = b_scale.data<float>()[b_scale.numel() == 1 ? 0 : m];
    }
    // a's zero point known at prepare (za) or read from input za_input at each run.
    void set_zero_points(bool za_known, int32_t za, int za_input, int32_t zy) {
        za_const_ = za_known;
        za_input_ = za_input;
        zy_ = zy;
        if (za_const_) correction(za, &corr_);
    }
    int64_t K() const { return K_; }
    int64_t columns() const { return Mo_; }

    std::string name() const override {
        return std::string("qu8_gemm+") + tile_name_ +
               (out_ == GemmOut::kActivated ? std::string("+") + activation_name(act_.act) : "");
    }
    // kActivated: the activation and y's scale.
    void set_activation(const FusedActivation& act, float sy) {
        act_ = act;
        sy_ = sy;
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& A = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (A.dtype() != DType::kUint8 || A.rank() < 1 || A.shape().back() != K_)
            return internal_error("int8 gemm weights do not match the input");
        const int64_t N = A.numel() / K_;
        if (Y.numel() != N * Mo_) return internal_error("int8 gemm output does not match");
        if (N == 0) return Status();
        const int32_t* corr = corr_.data();
        if (!za_const_) {
            const Tensor* za =
                za_input_ < static_cast<int>(ctx.in.size()) ? ctx.in[za_input_] : nullptr;
            if (za && (za->dtype() != DType::kUint8 || za->numel() != 1))
                return invalid_argument("a_zero_point must be a uint8 scalar");
            correction(za ? za->data<uint8_t>()[0] : 0, &dyn_corr_);
            corr = dyn_corr_.data();
        }
        // a transposed: row k holds a[., k] over the N rows (positions).
        uint8_t* at =
            reinterpret_cast<uint8_t*>(scratch_floats(3, static_cast<size_t>((K_ * N + 3) / 4)));
        const uint8_t* a = A.data<uint8_t>();
        for (int64_t n0 = 0; n0 < N; n0 += 16) {
            const int64_t n1 = std::min(N, n0 + 16);
            for (int64_t k = 0; k < K_; ++k)
                for (int64_t n = n0; n < n1; ++n) at[k * N + n] = a[n * K_ + k];
        }
        if (koff_n_ != N) {  // row k of the transposed a at k * N (kept for the next run)
            koff_.resize(static_cast<size_t>(K_));
            for (int64_t k = 0; k < K_; ++k) koff_[k] = k * N;
            koff_n_ = N;
        }
        const int64_t panels = (N + kP - 1) / kP;
        int64_t per_run;
        const int64_t runs = qu8_block_runs(panels, blocks_, ctx.pool, &per_run);
        const float* mult = out_ == GemmOut::kUint8 ? scale_.data() : nullptr;
        const float* scale = scale_.data();
        if (sa_input_ >= 0) {
            const Tensor* sa =
                sa_input_ < static_cast<int>(ctx.in.size()) ? ctx.in[sa_input_] : nullptr;
            if (!sa || sa->dtype() != DType::kFloat32 || sa->numel() != 1)
                return invalid_argument("a_scale must be a float32 scalar");
            dyn_scale_.resize(scale_.size());
            for (int64_t m = 0; m < Mo_; ++m) dyn_scale_[m] = sa->data<float>()[0] * sb_[m];
            scale = dyn_scale_.data();
        }
        auto task = [&](int64_t t) {
            const int64_t p0 = t / runs * kP, np = std::min<int64_t>(kP, N - p0), run = t % runs;
            int32_t* pk = reinterpret_cast<int32_t*>(
                scratch_floats(5, static_cast<size_t>(groups_ * kP + kR * kP)));
            int32_t* tmp = pk + groups_ * kP;  // kR x kP int32, or bytes
            pack_(at + p0, koff_.data(), K_, np, pk);
            const int64_t b1 = std::min(blocks_, (run + 1) * per_run);
            for (int64_t b = run * per_run; b < b1; ++b) {
                const int64_t m0 = b * kR;
                const int mr = static_cast<int>(std::min<int64_t>(kR, Mo_ - m0));
                tile_(packed_.data() + b * groups_ * kR, pk, groups_, mr, np, corr + m0,
                      mult ? mult + m0 : nullptr, zy_, 0, 255, reinterpret_cast<uint8_t*>(tmp), kP);
                store(tmp, mr, np, m0, p0, scale, Y);
            }
        };
        if (ctx.pool) {
            ctx.pool->parallel_for(panels * runs, task);
        } else {
            for (int64_t t = 0; t < panels * runs; ++t) task(t);
        }
        return Status();
    }

  private:
    // corr = bias - za * sum_k w per column, into *c (sized once: no allocation per run).
    void correction(int32_t za, std::vector<int32_t>* c) const {
        c->resize(wsum_.size());
        for (size_t m = 0; m < c->size(); ++m) (*c)[m] = bias_[m] - za * wsum_[m];
    }

    // The tile's mr x np results (row r = column m0 + r) into y's rows p0...
    void store(const int32_t* tmp, int mr, int64_t np, int64_t m0, int64_t p0, const float* scale,
               Tensor& Y) const {
        if (out_ == GemmOut::kActivated) {
            uint8_t q[kP];
            for (int r = 0; r < mr; ++r) {
                qu8_store_activated(tmp + r * kP, np, scale[m0 + r], act_, sy_, zy_, q);
                uint8_t* y = Y.data<uint8_t>() + p0 * Mo_ + m0 + r;
                for (int64_t p = 0; p < np; ++p) y[p * Mo_] = q[p];
            }
            return;
        }
        for (int64_t p = 0; p < np; ++p) {
            const int64_t o = (p0 + p) * Mo_ + m0;
            switch (out_) {
                case GemmOut::kUint8: {
                    const uint8_t* t8 = reinterpret_cast<const uint8_t*>(tmp);
                    uint8_t* y = Y.data<uint8_t>() + o;
                    for (int r = 0; r < mr; ++r) y[r] = t8[r * kP + p];
                    break;
                }
                case GemmOut::kInt32: {
                    int32_t* y = Y.data<int32_t>() + o;
                    for (int r = 0; r < mr; ++r) y[r] = tmp[r * kP + p];
                    break;
                }
                case GemmOut::kActivated:
                    break;
                case GemmOut::kFloat: {
                    float* y = Y.data<float>() + o;
                    for (int r = 0; r < mr; ++r)
                        y[r] = static_cast<float>(tmp[r * kP + p]) * scale[m0 + r] + fbias_[m0 + r];
                    break;
                }
            }
        }
    }

    const KernelTable& kt_;
    GemmOut out_;
    Qu8PackPanelFn pack_ = kt_.qu8_pack_panel;
    Qu8ConvTileFn tile_ = kt_.qu8_conv_tile;
    const char* tile_name_ = kt_.qu8_conv_name;
    int64_t K_ = 0, Mo_ = 0, groups_ = 0, blocks_ = 0;
    std::vector<int32_t> packed_, wsum_, bias_, corr_;
    std::vector<float> scale_, fbias_, sb_;
    int sa_input_ = -1;  // a's scale read at run time from this input (else in scale_)
    // Per-run state kept between runs (run() is not called concurrently, as for
    // qu8_conv's geometry): the transposed rows' offsets for the last row count, and
    // a dynamic zero point's corrections and a dynamic scale's products.
    mutable std::vector<int64_t> koff_;
    mutable int64_t koff_n_ = -1;
    mutable std::vector<int32_t> dyn_corr_;
    mutable std::vector<float> dyn_scale_;
    bool za_const_ = false;
    int za_input_ = 2;
    int32_t zy_ = 0;
    FusedActivation act_;  // kActivated
    float sy_ = 1;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_qu8_gemm(const Node& node,
                                                 const std::vector<const Tensor*>& c,
                                                 const Activation& act, DType input_dtype) {
    const KernelTable& kt = kernels();
    if (!kt.qu8_conv_tile || act.kind != Activation::kNone) return nullptr;
    // Where each op keeps w, a's scale and zero point, b's, y's and the bias
    // (kNone: the op has no such input).
    constexpr size_t kNone = ~size_t{0};
    struct Slots {
        size_t w, sa, za, sb, zb, sy, zy, bias;
    } at;
    switch (node.op) {
        case OpKind::kMatMulInteger:
            at = {1, kNone, 2, kNone, 3, kNone, kNone, kNone};
            break;
        case OpKind::kQLinearMatMul:
            at = {3, 1, 2, 4, 5, 6, 7, kNone};
            break;
        case OpKind::kQGemm:
            at = {3, 1, 2, 4, 5, 7, 8, 6};
            break;
        case OpKind::kMatMulIntegerToFloat:
            at = {1, 2, 4, 3, 5, kNone, kNone, 6};
            break;
        default:
            return nullptr;
    }
    auto given = [&](size_t i) { return i < node.inputs.size() && !node.inputs[i].empty(); };
    auto in = [&](size_t i) -> const Tensor* { return given(i) && i < c.size() ? c[i] : nullptr; };
    const Tensor* w = in(at.w);
    if (!w || w->dtype() != DType::kInt8 || w->rank() != 2 || w->numel() == 0) return nullptr;
    const bool qgemm = node.op == OpKind::kQGemm;
    if (qgemm &&
        (node.attrs.get_int("transA", 0) != 0 || node.attrs.get_float("alpha", 1.0f) != 1.0f))
        return nullptr;
    const bool by_rows = qgemm && node.attrs.get_int("transB", 0) != 0;
    const int64_t Mo = by_rows ? w->shape()[0] : w->shape()[1];
    // a uint8; its zero point a uint8 scalar, constant except for MatMulInteger's
    // (dynamic quantization computes it); b's zero points 0.
    if (input_dtype != DType::kUint8 &&
        (input_dtype != DType::kUndefined || !scalar_of(in(at.za), DType::kUint8)))
        return nullptr;
    if (given(at.za) && in(at.za) && !scalar_of(in(at.za), DType::kUint8)) return nullptr;
    // Dynamic quantization computes a's zero point (and scale) at run time.
    const bool dynamic_ok =
        node.op == OpKind::kMatMulInteger || node.op == OpKind::kMatMulIntegerToFloat;
    if (given(at.za) && !in(at.za) && !dynamic_ok) return nullptr;
    if (given(at.zb) &&
        (!all_zero(in(at.zb)) || (in(at.zb)->numel() != 1 && in(at.zb)->numel() != Mo)))
        return nullptr;
    // Scales: constant, finite, positive; a's and y's scalars, b's one or one per column.
    const bool sa_dynamic = at.sa != kNone && given(at.sa) && !in(at.sa) && dynamic_ok;
    if (at.sa != kNone && !sa_dynamic &&
        !(scalar_of(in(at.sa), DType::kFloat32) && positive_finite(in(at.sa))))
        return nullptr;
    const Tensor* sb = at.sb == kNone ? nullptr : in(at.sb);
    if (at.sb != kNone && (!sb || sb->dtype() != DType::kFloat32 ||
                           (sb->numel() != 1 && sb->numel() != Mo) || !positive_finite(sb)))
        return nullptr;
    const bool y_given = at.sy != kNone && given(at.sy);
    if (y_given && (!scalar_of(in(at.sy), DType::kFloat32) || !positive_finite(in(at.sy)) ||
                    !scalar_of(in(at.zy), DType::kUint8)))
        return nullptr;
    // The bias: QGemm's int32, MatMulIntegerToFloat's float; one value or one per column.
    const Tensor* bias = at.bias == kNone ? nullptr : in(at.bias);
    if (at.bias != kNone && given(at.bias)) {
        const DType bt = qgemm ? DType::kInt32 : DType::kFloat32;
        if (!bias || bias->dtype() != bt || (bias->numel() != 1 && bias->numel() != Mo) ||
            bias->rank() > 2 || (bias->rank() == 2 && bias->shape()[0] != 1))
            return nullptr;
    }
    const FusedActivation fused = fused_activation(node.attrs);
    const bool activated = y_given && fused.act.kind != Activation::kNone;
    const GemmOut out = node.op == OpKind::kMatMulInteger ? GemmOut::kInt32
                        : activated                       ? GemmOut::kActivated
                        : y_given                         ? GemmOut::kUint8
                                                          : GemmOut::kFloat;
    auto k = std::make_unique<Qu8Gemm>(*w, by_rows, out, kt);
    if (qgemm) k->set_bias(bias);
    if (node.op == OpKind::kMatMulIntegerToFloat) k->set_float_bias(bias);
    if (sa_dynamic) {
        k->set_dynamic_a_scale(static_cast<int>(at.sa), *sb);
    } else if (sb) {
        const float sa = in(at.sa)->data<float>()[0];
        for (int64_t m = 0; m < Mo; ++m) {
            const float s = sb->data<float>()[sb->numel() == 1 ? 0 : m];
            k->set_scale(m, y_given && !activated
                                ? requant_multiplier(sa, s, in(at.sy)->data<float>()[0])
                                : sa * s);
        }
    }
    if (activated) k->set_activation(fused, in(at.sy)->data<float>()[0]);
    const bool za_known = !given(at.za) || in(at.za);
    k->set_zero_points(za_known, in(at.za) ? in(at.za)->data<uint8_t>()[0] : 0,
                       static_cast<int>(at.za), y_given ? in(at.zy)->data<uint8_t>()[0] : 0);
    return k;
}

}  // namespace pare
