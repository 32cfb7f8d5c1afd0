// qu8_conv: QLinearConv of uint8 activations and int8 weights (symmetric: weight
// zero points 0), one group, 2-D, on the table's int8 tile (qu8_conv_tile).
// At prepare: the weights packed per block of kQu8TileRows output channels as
// [group of k][channel] int32: 4 int8 (k = 4g..4g+3), or 2 int16 for tables whose
// tile widens to int16 (qu8_k_per_group 2); past K and past M zero;
// per channel the constant part of the accumulator, corr = B - zx * sum_k w (so
// the tile multiplies the raw uint8 activations), and the requantization
// multiplier x_scale * w_scale / y_scale.
// Per image: the input split into phase planes (one per stride offset, padded
// with zx, the quantized 0), over which every convolution reads like a stride-1
// one (see run()); no im2col matrix. Then (panel of kQu8TileCols
// positions, run of channel blocks) tasks, each packing its panel and running the
// tile over its blocks. Every output byte is computed by one task with the same
// integer arithmetic and the same requantization, for any thread count; the
// results equal the reference kernel's (runtime/ops/qlinear.cpp).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

constexpr int kR = kQu8TileRows;
constexpr int kP = kQu8TileCols;

// A phase plane of one channel: out[y][x] = plane[y * sh + dy][x * sw + dx], zx
// outside. A function of its own so that its bounds stay in registers (byte stores
// may alias a lambda's captures).
void phase_plane(const uint8_t* plane, int64_t H, int64_t W, int64_t sh, int64_t sw, int64_t dy,
                 int64_t dx, uint8_t zx, uint8_t* out, int64_t Hq, int64_t Wq) {
    // Columns x0..x1 read inside the row: 0 <= x * sw + dx < W.
    const int64_t x0 = std::min(Wq, dx >= 0 ? 0 : (-dx + sw - 1) / sw);
    const int64_t x1 = std::max(x0, std::min(Wq, W - dx <= 0 ? 0 : (W - dx + sw - 1) / sw));
    for (int64_t y = 0; y < Hq; ++y, out += Wq) {
        const int64_t iy = y * sh + dy;
        if (iy < 0 || iy >= H) {
            std::memset(out, zx, static_cast<size_t>(Wq));
            continue;
        }
        const uint8_t* src = plane + iy * W + dx;
        std::memset(out, zx, static_cast<size_t>(x0));
        if (sw == 1) {
            std::memcpy(out + x0, src + x0, static_cast<size_t>(x1 - x0));
        } else {
            for (int64_t x = x0; x < x1; ++x) out[x] = src[x * sw];
        }
        std::memset(out + x1, zx, static_cast<size_t>(Wq - x1));
    }
}

class Qu8Conv : public PreparedKernel {
  public:
    Qu8Conv(const Node& node, const std::vector<const Tensor*>& c)
        : attrs_(node.attrs), kt_(kernels()) {
        const Tensor& w = *c[3];
        M_ = w.shape()[0];
        C_ = w.shape()[1];
        KH_ = w.shape()[2];
        KW_ = w.shape()[3];
        K_ = C_ * KH_ * KW_;
        // Weights in [-64, 64] take the table's 7-bit tile where it has one.
        int wmax = 0;
        for (int64_t i = 0; i < w.numel(); ++i)
            wmax = std::max(wmax, std::abs(int{w.data<int8_t>()[i]}));
        if (wmax <= 64 && kt_.qu8_conv_tile_7bit) {
            pack_ = kt_.qu8_pack_panel_7bit;
            tile_ = kt_.qu8_conv_tile_7bit;
            name_ = kt_.qu8_conv_name_7bit;
        }
        const int kg = tile_ == kt_.qu8_conv_tile_7bit ? 4 : kt_.qu8_k_per_group;  // per int32
        groups_ = (K_ + kg - 1) / kg;
        blocks_ = (M_ + kR - 1) / kR;
        zx_ = c[2]->data<uint8_t>()[0];
        zy_ = c[7]->data<uint8_t>()[0];
        packed_.assign(static_cast<size_t>(blocks_ * groups_ * kR), 0);
        uint8_t* bytes = reinterpret_cast<uint8_t*>(packed_.data());
        const int8_t* wd = w.data<int8_t>();
        corr_.assign(static_cast<size_t>(blocks_ * kR), 0);
        mult_.assign(static_cast<size_t>(blocks_ * kR), 0.0f);
        const float sx = c[1]->data<float>()[0], sy = c[6]->data<float>()[0];
        const Tensor& sw = *c[4];
        for (int64_t m = 0; m < M_; ++m) {
            const int64_t b = m / kR, r = m % kR;
            int32_t sum = 0;
            for (int64_t k = 0; k < K_; ++k) {
                const int8_t v = wd[m * K_ + k];
                sum += v;
                const int64_t at = ((b * groups_ + k / kg) * kR + r) * kg + k % kg;
                if (kg == 4) {
                    bytes[at] = static_cast<uint8_t>(v);
                } else {
                    reinterpret_cast<int16_t*>(bytes)[at] = v;
                }
            }
            const int32_t bias = c.size() > 8 && c[8] ? c[8]->data<int32_t>()[m] : 0;
            corr_[m] = bias - zx_ * sum;
            mult_[m] = requant_multiplier(sx, sw.data<float>()[sw.numel() == 1 ? 0 : m], sy);
        }
    }

    std::string name() const override { return name_; }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() != 4 || X.shape()[1] != C_ || X.dtype() != DType::kUint8)
            return internal_error("int8 conv weights do not match the input");
        Window win;
        PARE_RETURN_IF_ERROR(window_forward(attrs_, Shape(X.shape().begin() + 2, X.shape().end()),
                                            {KH_, KW_}, false, &win));
        const int64_t N = X.shape()[0], H = win.in[0], W = win.in[1];
        const int64_t OH = win.out[0], OW = win.out[1], P = OH * OW;
        if (N == 0 || P <= 0) return Status();
        const int64_t sh = win.strides[0], sw = win.strides[1];
        const int64_t dh = win.dilations[0], dw = win.dilations[1];
        const int64_t pt = win.pad_begin[0], pl = win.pad_begin[1];
        // The K rows of positions the panels read (row k at rows + koff[k], position
        // p at p) come from phase planes: for strides sh x sw, plane (c, a, b) holds
        // the input at rows y * sh + a - pt and columns x * sw + b - pl (zx outside),
        // Hq x Wq of them. Tap (i, j) of an output (oh, ow) then reads plane (c, i*dh
        // % sh, j*dw % sw) at (oh + i*dh / sh, ow + j*dw / sw): a stride-1 pattern, so
        // a row of positions is contiguous once positions run over the plane's width
        // Wq (columns past OW computed and dropped as the tiles are copied out). With
        // stride 1 and no padding the input is its own single plane (no copy).
        const int64_t Hq = OH + (KH_ - 1) * dh / sh, Wq = OW + (KW_ - 1) * dw / sw;
        const bool copy = sh != 1 || sw != 1 || pt != 0 || pl != 0 || Hq != H || Wq != W;
        const int64_t grid = (OH - 1) * Wq + OW;  // positions computed
        int64_t* koff = reinterpret_cast<int64_t*>(scratch_floats(2, static_cast<size_t>(2 * K_)));
        for (int64_t c = 0, k = 0; c < C_; ++c)
            for (int64_t i = 0; i < KH_; ++i)
                for (int64_t j = 0; j < KW_; ++j, ++k) {
                    const int64_t plane = (c * sh + i * dh % sh) * sw + j * dw % sw;
                    koff[k] = (plane * Hq + i * dh / sh) * Wq + j * dw / sw;
                }
        uint8_t* buf = copy ? reinterpret_cast<uint8_t*>(scratch_floats(
                                  3, static_cast<size_t>((C_ * sh * sw * Hq * Wq + 3) / 4)))
                            : nullptr;
        // Only the phases some tap reads are copied: row offset a and column offset b
        // each hit by some kernel row or column.
        auto hit = [](int64_t taps, int64_t d, int64_t s, int64_t offset) {
            for (int64_t i = 0; i < taps; ++i)
                if (i * d % s == offset) return true;
            return false;
        };
        // Tasks: panels x runs of channel blocks, at least about 4 per thread.
        const int64_t panels = (grid + kP - 1) / kP;
        const int64_t T = ctx.pool ? ctx.pool->size() : 1;
        int64_t runs = 1;
        if (T > 1 && panels < 4 * T) runs = std::min(blocks_, (4 * T + panels - 1) / panels);
        const int64_t per_run = (blocks_ + runs - 1) / runs;
        runs = (blocks_ + per_run - 1) / per_run;
        const bool scatter = Wq != OW;
        const int64_t ldw = Wq;
        for (int64_t n = 0; n < N; ++n) {
            const uint8_t* xn = X.data<uint8_t>() + n * C_ * H * W;
            uint8_t* yn = Y.data<uint8_t>() + n * M_ * P;
            if (copy) {
                parallel_runs(ctx.pool, C_ * sh * sw, [&](int64_t q) {
                    const int64_t c = q / (sh * sw), a = q / sw % sh, b = q % sw;
                    if (hit(KH_, dh, sh, a) && hit(KW_, dw, sw, b))
                        phase_plane(xn + c * H * W, H, W, sh, sw, a - pt, b - pl,
                                    static_cast<uint8_t>(zx_), buf + q * Hq * Wq, Hq, Wq);
                });
            }
            const uint8_t* rows = buf ? buf : xn;
            auto task = [&](int64_t t) {
                const int64_t panel = t / runs, run = t % runs;
                const int64_t p0 = panel * kP, np = std::min<int64_t>(kP, grid - p0);
                int32_t* pk = reinterpret_cast<int32_t*>(
                    scratch_floats(5, static_cast<size_t>(groups_ * kP + kR * kP / 4)));
                uint8_t* tmp = reinterpret_cast<uint8_t*>(pk + groups_ * kP);
                pack_(rows + p0, koff, K_, np, pk);
                const int64_t b1 = std::min(blocks_, (run + 1) * per_run);
                for (int64_t b = run * per_run; b < b1; ++b) {
                    const int64_t m0 = b * kR, mr = std::min<int64_t>(kR, M_ - m0);
                    tile_(packed_.data() + b * groups_ * kR, pk, groups_, static_cast<int>(mr), np,
                          corr_.data() + m0, mult_.data() + m0, zy_, 0, 255,
                          scatter ? tmp : yn + m0 * P + p0, scatter ? kP : P);
                    if (!scatter) continue;
                    // Positions p0.. of the wide grid back to (oh, ow < OW).
                    for (int64_t q = 0; q < np;) {
                        const int64_t gp = p0 + q, oh = gp / ldw, ow = gp % ldw;
                        const int64_t len = std::min(np - q, ldw - ow);
                        if (ow < OW) {
                            const int64_t keep = std::min(len, OW - ow);
                            for (int64_t r = 0; r < mr; ++r)
                                std::memcpy(yn + (m0 + r) * P + oh * OW + ow, tmp + r * kP + q,
                                            static_cast<size_t>(keep));
                        }
                        q += len;
                    }
                }
            };
            if (ctx.pool) {
                ctx.pool->parallel_for(panels * runs, task);
            } else {
                for (int64_t t = 0; t < panels * runs; ++t) task(t);
            }
        }
        return Status();
    }

  private:
    Attributes attrs_;
    const KernelTable& kt_;
    Qu8PackPanelFn pack_ = kt_.qu8_pack_panel;
    Qu8ConvTileFn tile_ = kt_.qu8_conv_tile;
    std::string name_ = kt_.qu8_conv_name;
    int64_t M_ = 0, C_ = 0, KH_ = 0, KW_ = 0, K_ = 0, groups_ = 0, blocks_ = 0;
    int32_t zx_ = 0, zy_ = 0;
    std::vector<int32_t> packed_, corr_;
    std::vector<float> mult_;
};

bool scalar_of(const Tensor* t, DType type) { return t && t->dtype() == type && t->numel() == 1; }

}  // namespace

std::unique_ptr<PreparedKernel> prepare_qu8_conv(const Node& node,
                                                 const std::vector<const Tensor*>& c,
                                                 const Activation& act) {
    const KernelTable& kt = kernels();
    if (!kt.qu8_conv_tile || act.kind != Activation::kNone || c.size() < 8) return nullptr;
    for (size_t i = 1; i < c.size(); ++i)
        if (!c[i] && !(i == 8 && node.input(8).empty())) return nullptr;
    const Tensor& w = *c[3];
    if (w.dtype() != DType::kInt8 || w.rank() != 4 || w.shape()[0] <= 0) return nullptr;
    if (node.attrs.get_int("group", 1) != 1) return nullptr;
    if (!scalar_of(c[1], DType::kFloat32) || !scalar_of(c[2], DType::kUint8) ||
        !scalar_of(c[6], DType::kFloat32) || !scalar_of(c[7], DType::kUint8))
        return nullptr;
    const int64_t M = w.shape()[0];
    if (c[4]->dtype() != DType::kFloat32 || (c[4]->numel() != 1 && c[4]->numel() != M))
        return nullptr;
    for (int64_t i = 0; i < c[4]->numel(); ++i)
        if (!(c[4]->data<float>()[i] > 0) || !std::isfinite(c[4]->data<float>()[i])) return nullptr;
    for (size_t i : {1, 6})
        if (!(c[i]->data<float>()[0] > 0) || !std::isfinite(c[i]->data<float>()[0])) return nullptr;
    if (c[5]->dtype() != DType::kInt8) return nullptr;
    for (int64_t i = 0; i < c[5]->numel(); ++i)
        if (c[5]->data<int8_t>()[i] != 0) return nullptr;
    if (c.size() > 8 && c[8] && (c[8]->dtype() != DType::kInt32 || c[8]->numel() != M))
        return nullptr;
    return std::make_unique<Qu8Conv>(node, c);
}

}  // namespace pare
