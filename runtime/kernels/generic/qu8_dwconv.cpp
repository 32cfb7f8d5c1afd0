// qu8_dwconv: depthwise QLinearConv (one input and one output channel per group),
// uint8 activations, int8 weights, 2-D, strides 1 or 2, dilation 1, computed
// exactly in float on the float depthwise kernels: the inputs as x - zx, the
// weights as w - zw, both integers of at most 255 in magnitude, so every product
// and every partial sum of a window of up to 258 taps is an integer below 2^24 and
// exact in float, in any order (checked at prepare). The float accumulator then
// converts exactly to int32 and is requantized as the reference does
// (qu8_requantize). Padding reads 0 = zx - zx. Per task V channels (the table's
// f32_dwconv_lanes, vectorized across channels, for planes of at most 28 output
// columns) or one plane, converted in and out through per-thread buffers.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

class Qu8DwConv : public PreparedKernel {
  public:
    Qu8DwConv(const Node& node, const std::vector<const Tensor*>& c)
        : attrs_(node.attrs), kt_(kernels()), act_(fused_activation(node.attrs)) {
        const Tensor& w = *c[3];
        C_ = w.shape()[0];
        kshape_.assign(w.shape().begin() + 2, w.shape().end());
        const int64_t taps = w.numel() / C_;
        zx_ = c[2]->data<uint8_t>()[0];
        zy_ = c[7]->data<uint8_t>()[0];
        const float sx = c[1]->data<float>()[0], sy = c[6]->data<float>()[0];
        w_.resize(static_cast<size_t>(w.numel()));
        corr_.resize(static_cast<size_t>(C_));
        mult_.resize(static_cast<size_t>(C_));
        acc_scale_.resize(static_cast<size_t>(C_));
        for (int64_t ch = 0; ch < C_; ++ch) {
            const int32_t zw = c[5]->data<int8_t>()[c[5]->numel() == 1 ? 0 : ch];
            for (int64_t t = 0; t < taps; ++t)
                w_[ch * taps + t] = static_cast<float>(w.data<int8_t>()[ch * taps + t] - zw);
            corr_[ch] = c.size() > 8 && c[8] ? c[8]->data<int32_t>()[ch] : 0;
            const float swc = c[4]->data<float>()[c[4]->numel() == 1 ? 0 : ch];
            mult_[ch] = requant_multiplier(sx, swc, sy);
            acc_scale_[ch] = sx * swc;
        }
        sy_ = sy;
        // Each whole group of V channels: its taps' weights, V per tap (transposed).
        const int64_t V = kt_.f32_dwconv_lanes;
        wg_.resize(static_cast<size_t>(C_ / V * V * taps));
        for (int64_t g = 0; g < C_ / V; ++g)
            for (int64_t t = 0; t < taps; ++t)
                for (int64_t v = 0; v < V; ++v)
                    wg_[(g * taps + t) * V + v] = w_[(g * V + v) * taps + t];
        zeros_.assign(static_cast<size_t>(std::max<int64_t>(V, 1)), 0.0f);
    }

    std::string name() const override {
        return std::string("qu8_dwconv+") + kt_.f32_dwconv_name +
               (act_.act.kind == Activation::kNone ? ""
                                                   : std::string("+") + activation_name(act_.act)) +
               (act_.scale != 1.0f || act_.bias != 0.0f ? "+affine" : "");
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() != 4 || X.shape()[1] != C_ || X.dtype() != DType::kUint8)
            return internal_error("int8 depthwise conv weights do not match the input");
        Window w;
        PARE_RETURN_IF_ERROR(window_forward(attrs_, Shape(X.shape().begin() + 2, X.shape().end()),
                                            kshape_, false, &w));
        const int64_t N = X.shape()[0], H = w.in[0], W = w.in[1], OH = w.out[0], OW = w.out[1];
        const int64_t KH = kshape_[0], KW = kshape_[1];
        if (N == 0 || OH <= 0 || OW <= 0) return Status();
        const int64_t V = kt_.f32_dwconv_lanes;
        const int64_t G = OW <= 28 ? C_ / V : 0, rest = C_ - G * V, per = G + rest;
        const uint8_t* x = X.data<uint8_t>();
        uint8_t* y = Y.data<uint8_t>();
        auto task = [&](int64_t i) {
            const int64_t n = i / per, j = i % per;
            const bool group = j < G;
            const int64_t c0 = group ? j * V : G * V + (j - G), nc = group ? V : 1;
            float* xf = scratch_floats(4, static_cast<size_t>(nc * (H * W + OH * OW)));
            float* yf = xf + nc * H * W;
            kt_.qu8_dequantize(x + (n * C_ + c0) * H * W, nc * H * W, 1.0f, zx_, xf);
            if (group) {
                kt_.f32_dwconv_group(xf, H, W, H * W, wg_.data() + j * KH * KW * V, zeros_.data(),
                                     KH, KW, w.strides[0], w.strides[1], w.pad_begin[0],
                                     w.pad_begin[1], yf, OH, OW, OH * OW, Activation{});
            } else {
                kt_.f32_dwconv(xf, H, W, w_.data() + c0 * KH * KW, KH, KW, w.strides[0],
                               w.strides[1], w.pad_begin[0], w.pad_begin[1], 0.0f, yf, OH, OW,
                               Activation{});
            }
            for (int64_t v = 0; v < nc; ++v) {
                uint8_t* yc = y + (n * C_ + c0 + v) * OH * OW;
                if (act_.act.kind == Activation::kNone) {
                    kt_.qu8_requantize(yf + v * OH * OW, OH * OW, corr_[c0 + v], mult_[c0 + v], zy_,
                                       0, 255, yc);
                    continue;
                }
                // The fused float activation (the accumulators are exact integers), 64
                // values at a time.
                int32_t acc[64];
                for (int64_t i0 = 0; i0 < OH * OW; i0 += 64) {
                    const int64_t m = std::min<int64_t>(64, OH * OW - i0);
                    for (int64_t i = 0; i < m; ++i)
                        acc[i] = static_cast<int32_t>(yf[v * OH * OW + i0 + i]) + corr_[c0 + v];
                    qu8_store_activated(acc, m, acc_scale_[c0 + v], act_, sy_, zy_, yc + i0);
                }
            }
        };
        parallel_runs(ctx.pool, N * per, task);
        return Status();
    }

  private:
    Attributes attrs_;
    const KernelTable& kt_;
    int64_t C_ = 0;
    Shape kshape_;
    FusedActivation act_;  // fused_activation: kNone, or applied as the outputs are stored
    int32_t zx_ = 0, zy_ = 0;
    float sy_ = 1;
    std::vector<float> w_, wg_, mult_, acc_scale_, zeros_;
    std::vector<int32_t> corr_;
};

bool scalar_of(const Tensor* t, DType type) { return t && t->dtype() == type && t->numel() == 1; }

}  // namespace

std::unique_ptr<PreparedKernel> prepare_qu8_dwconv(const Node& node,
                                                   const std::vector<const Tensor*>& c,
                                                   const Activation& act) {
    const KernelTable& kt = kernels();
    if (!kt.qu8_requantize || !kt.qu8_dequantize || !kt.f32_dwconv || !kt.f32_dwconv_group ||
        act.kind != Activation::kNone || c.size() < 8)
        return nullptr;
    for (size_t i = 1; i < c.size(); ++i)
        if (!c[i] && !(i == 8 && node.input(8).empty())) return nullptr;
    const Tensor& w = *c[3];
    if (w.dtype() != DType::kInt8 || w.rank() != 4 || w.shape()[1] != 1 || w.shape()[0] <= 0)
        return nullptr;
    const int64_t C = w.shape()[0];
    if (node.attrs.get_int("group", 1) != C) return nullptr;
    if (!scalar_of(c[1], DType::kFloat32) || !scalar_of(c[2], DType::kUint8) ||
        !scalar_of(c[6], DType::kFloat32) || !scalar_of(c[7], DType::kUint8))
        return nullptr;
    for (size_t i : {1, 6})
        if (!(c[i]->data<float>()[0] > 0) || !std::isfinite(c[i]->data<float>()[0])) return nullptr;
    if (c[4]->dtype() != DType::kFloat32 || (c[4]->numel() != 1 && c[4]->numel() != C))
        return nullptr;
    for (int64_t i = 0; i < c[4]->numel(); ++i)
        if (!(c[4]->data<float>()[i] > 0) || !std::isfinite(c[4]->data<float>()[i])) return nullptr;
    if (c[5]->dtype() != DType::kInt8 || (c[5]->numel() != 1 && c[5]->numel() != C)) return nullptr;
    if (c.size() > 8 && c[8] && (c[8]->dtype() != DType::kInt32 || c[8]->numel() != C))
        return nullptr;
    for (int64_t d : node.attrs.get_ints("dilations"))
        if (d != 1) return nullptr;
    for (int64_t s : node.attrs.get_ints("strides"))
        if (s != 1 && s != 2) return nullptr;
    if (node.attrs.get_string("auto_pad", "NOTSET") != "NOTSET") return nullptr;
    // Exact in float: taps * max|x - zx| * max|w - zw| < 2^24.
    const int64_t taps = w.numel() / C;
    int64_t wmax = 0;
    for (int64_t ch = 0; ch < C; ++ch) {
        const int32_t zw = c[5]->data<int8_t>()[c[5]->numel() == 1 ? 0 : ch];
        for (int64_t t = 0; t < taps; ++t)
            wmax = std::max<int64_t>(wmax, std::abs(w.data<int8_t>()[ch * taps + t] - zw));
    }
    const int64_t zx = c[2]->data<uint8_t>()[0];
    if (taps * std::max(zx, 255 - zx) * wmax >= (int64_t{1} << 24)) return nullptr;
    return std::make_unique<Qu8DwConv>(node, c);
}

}  // namespace pare
