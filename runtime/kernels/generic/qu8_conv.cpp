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
constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// A phase plane of one channel: out[y][x] = plane[y * sh + dy][x * sw + dx], zx
// outside. A function of its own so that its bounds stay in registers (byte stores
// may alias a lambda's captures).
void phase_plane(const uint8_t* plane, int64_t H, int64_t W, int64_t sh, int64_t sw, int64_t dy,
                 int64_t dx, uint8_t zx, uint8_t* out, int64_t Hq, int64_t Wq) {
    // Columns x0..x1 read inside the row: 0 <= x * sw + dx < W; rows y0..y1 likewise.
    const int64_t x0 = std::min(Wq, dx >= 0 ? 0 : (-dx + sw - 1) / sw);
    const int64_t x1 = std::max(x0, std::min(Wq, W - dx <= 0 ? 0 : (W - dx + sw - 1) / sw));
    const int64_t y0 = std::min(Hq, dy >= 0 ? 0 : (-dy + sh - 1) / sh);
    const int64_t y1 = std::max(y0, std::min(Hq, H - dy <= 0 ? 0 : (H - dy + sh - 1) / sh));
    // The border in one fill (small planes: one call rather than three per row).
    if (x0 > 0 || x1 < Wq || y0 > 0 || y1 < Hq) std::memset(out, zx, static_cast<size_t>(Hq * Wq));
    for (int64_t y = y0; y < y1; ++y) {
        const uint8_t* src = plane + (y * sh + dy) * W + dx;
        uint8_t* o = out + y * Wq;
        if (sw == 1) {
            std::memcpy(o + x0, src + x0, static_cast<size_t>(x1 - x0));
        } else if (sw == 2 && x1 > x0 && kLittleEndian) {
            // Every other byte as the low byte of 16-bit loads (vectorized); the
            // last column alone (its pair may end past the row).
            for (int64_t x = x0; x < x1 - 1; ++x) {
                uint16_t v;
                std::memcpy(&v, src + 2 * x, 2);
                o[x] = static_cast<uint8_t>(v);  // the even byte
            }
            o[x1 - 1] = src[2 * (x1 - 1)];
        } else {
            for (int64_t x = x0; x < x1; ++x) o[x] = src[x * sw];
        }
    }
}

class Qu8Conv : public PreparedKernel {
  public:
    Qu8Conv(const Node& node, const std::vector<const Tensor*>& c)
        : attrs_(node.attrs), kt_(kernels()), act_(fused_activation(node.attrs)) {
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
        // In place (the table's direct tile): K ordered tap by tap, each tap's channels
        // in quads (C padded to a multiple of 4 with zero weights). The input is
        // interleaved once instead of a panel packed per tile, which saves the
        // packing of the taps' shifted copies (about 2/3 of a 24-product group per
        // block per group, the packed tile's cost being 3 such units per block) and
        // pays for the padding. Not for 1x1 kernels: there the interleaving costs what
        // the packing did, and packed panels stay in L1 while their tiles run.
        const int64_t taps = KH_ * KW_, quads = (C_ + 3) / 4;
        // A fused float activation takes the packed tile's int32 output (requantized
        // by qu8_store_activated as the tasks copy it out).
        if (act_.act.kind == Activation::kNone && kt_.qu8_conv_tile_direct &&
            tile_ == kt_.qu8_conv_tile && kg == 4 && taps > 1 &&
            taps * quads * blocks_ * 3 <= groups_ * (blocks_ * 3 + 2)) {
            direct_ = true;
            quads_ = quads;
            groups_ = taps * quads;
            name_ += "_direct";
        }
        zx_ = c[2]->data<uint8_t>()[0];
        zy_ = c[7]->data<uint8_t>()[0];
        packed_.assign(static_cast<size_t>(blocks_ * groups_ * kR), 0);
        uint8_t* bytes = reinterpret_cast<uint8_t*>(packed_.data());
        const int8_t* wd = w.data<int8_t>();
        // Per channel, zero past M_ up to whole blocks of either tile (the transposed
        // one reads kQu8LaneChannels at a time).
        const int64_t padded = std::max(
            blocks_ * kR, (M_ + kQu8LaneChannels - 1) / kQu8LaneChannels * kQu8LaneChannels);
        corr_.assign(static_cast<size_t>(padded), 0);
        mult_.assign(static_cast<size_t>(padded), 0.0f);
        acc_scale_.assign(static_cast<size_t>(padded), 0.0f);
        const float sx = c[1]->data<float>()[0], sy = c[6]->data<float>()[0];
        const Tensor& sw = *c[4];
        for (int64_t m = 0; m < M_; ++m) {
            const int64_t b = m / kR, r = m % kR;
            int32_t sum = 0;
            for (int64_t k = 0; k < K_; ++k) {
                const int8_t v = wd[m * K_ + k];
                sum += v;
                // k = channel * taps + tap; in place: group tap * quads + channel / 4.
                const int64_t gk = direct_ ? k % taps * quads + k / taps / 4 : k / kg;
                const int64_t jk = direct_ ? k / taps % 4 : k % kg;
                const int64_t at = ((b * groups_ + gk) * kR + r) * kg + jk;
                if (kg == 4) {
                    bytes[at] = static_cast<uint8_t>(v);
                } else {
                    reinterpret_cast<int16_t*>(bytes)[at] = v;
                }
            }
            const int32_t bias = c.size() > 8 && c[8] ? c[8]->data<int32_t>()[m] : 0;
            corr_[m] = bias - zx_ * sum;
            mult_[m] = requant_multiplier(sx, sw.data<float>()[sw.numel() == 1 ? 0 : m], sy);
            acc_scale_[m] = sx * sw.data<float>()[sw.numel() == 1 ? 0 : m];
        }
        sy_ = sy;
    }

    // A static input size's geometry at prepare (run() works it out otherwise).
    void prepare_geometry(int64_t H, int64_t W) { (void)set_geometry(H, W); }

    // With a geometry that takes the transposed tile: "..._lanes".
    std::string name() const override {
        const std::string act =
            act_.act.kind == Activation::kNone
                ? std::string()
                : std::string("+") + activation_name(act_.act) +
                      (act_.scale != 1.0f || act_.bias != 0.0f ? "+affine" : "");
        return (geo_.lanes ? std::string(kt_.qu8_conv_name) + "_lanes" : name_) + act;
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() != 4 || X.shape()[1] != C_ || X.dtype() != DType::kUint8)
            return internal_error("int8 conv weights do not match the input");
        // The geometry (window, phase planes, row offsets) depends on the input's
        // spatial size only: worked out at the first run of each size.
        if (X.shape()[2] != geo_.H || X.shape()[3] != geo_.W)
            PARE_RETURN_IF_ERROR(set_geometry(X.shape()[2], X.shape()[3]));
        const Geometry& g = geo_;
        const int64_t N = X.shape()[0], H = g.H, W = g.W;
        const int64_t OH = g.OH, OW = g.OW, P = OH * OW;
        if (N == 0 || P <= 0) return Status();
        const int64_t sh = g.sh, sw = g.sw, dh = g.dh, dw = g.dw, pt = g.pt, pl = g.pl;
        const int64_t Hq = g.Hq, Wq = g.Wq;
        const bool copy = g.copy;
        const int64_t grid = (OH - 1) * Wq + OW;  // positions computed
        const int64_t* koff = g.koff.data();
        uint8_t* buf = copy ? reinterpret_cast<uint8_t*>(scratch_floats(
                                  3, static_cast<size_t>((C_ * sh * sw * Hq * Wq + 3) / 4)))
                            : nullptr;
        // In place: the planes interleaved by channel quads, each plane's int32 padded
        // to a multiple of 16 (the pack writes whole vectors), and kP to spare after
        // the last (the tile reads whole panels).
        const int64_t qstride = (Hq * Wq + 15) / 16 * 16;
        int32_t* xq = direct_ ? reinterpret_cast<int32_t*>(scratch_floats(
                                    4, static_cast<size_t>(quads_ * sh * sw * qstride + kP)))
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
        int64_t per_run;
        const int64_t runs = qu8_block_runs(panels, blocks_, ctx.pool, &per_run);
        const bool scatter = Wq != OW;
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
            if (direct_) {
                // Plane (quad, a, b) from the 4 channels' planes (a, b), 64 positions at
                // a time by the pack (rows past C zero).
                const int64_t ps = Hq * Wq, cs = copy ? sh * sw * ps : ps;
                parallel_runs(ctx.pool, quads_ * sh * sw, [&](int64_t q) {
                    const int64_t cq = q / (sh * sw), a = q / sw % sh, b = q % sw;
                    if (!hit(KH_, dh, sh, a) || !hit(KW_, dw, sw, b)) return;
                    const uint8_t* src = rows + cq * 4 * cs + (a * sw + b) * ps;
                    const int64_t off[4] = {0, cs, 2 * cs, 3 * cs};
                    const int64_t nk = std::min<int64_t>(4, C_ - 4 * cq);
                    for (int64_t p = 0; p < ps; p += kP)
                        pack_(src + p, off, nk, std::min<int64_t>(kP, ps - p),
                              xq + q * qstride + p);
                });
            }
            if (g.lanes) {
                run_lanes(ctx, xq, yn);
                continue;
            }
            auto task = [&](int64_t t) {
                const int64_t panel = t / runs, run = t % runs;
                const int64_t p0 = panel * kP, np = std::min<int64_t>(kP, grid - p0);
                const int64_t pgroups = direct_ ? 0 : groups_;
                // After the panel: the tile's bytes to scatter, or its int32 (a fused
                // activation).
                int32_t* pk = reinterpret_cast<int32_t*>(
                    scratch_floats(5, static_cast<size_t>(pgroups * kP + kR * kP)));
                uint8_t* tmp = reinterpret_cast<uint8_t*>(pk + pgroups * kP);
                if (!direct_) pack_(rows + p0, koff, K_, np, pk);
                // Positions p0.. of the wide grid that are outputs (ow < OW).
                Qu8Segment seg[kP];
                int nseg = 0;
                if (scatter) {
                    int64_t oh = p0 / Wq, ow = p0 % Wq;
                    for (int64_t q = 0; q < np; q += Wq - ow, ++oh, ow = 0)
                        if (ow < OW)
                            seg[nseg++] = {static_cast<int32_t>(q),
                                           static_cast<int32_t>(std::min(np - q, OW - ow)),
                                           oh * OW + ow};
                }
                const int64_t b1 = std::min(blocks_, (run + 1) * per_run);
                for (int64_t b = run * per_run; b < b1; ++b) {
                    const int64_t m0 = b * kR, mr = std::min<int64_t>(kR, M_ - m0);
                    if (act_.act.kind != Activation::kNone) {
                        int32_t* acc = pk + pgroups * kP;
                        tile_(packed_.data() + b * groups_ * kR, pk, groups_, static_cast<int>(mr),
                              np, corr_.data() + m0, nullptr, 0, 0, 0,
                              reinterpret_cast<uint8_t*>(acc), kP);
                        store_activated(acc, m0, mr, scatter ? seg : nullptr, nseg, np,
                                        yn + m0 * P + p0, yn + m0 * P, P);
                        continue;
                    }
                    uint8_t* out = scatter ? tmp : yn + m0 * P + p0;
                    const int64_t ldo = scatter ? kP : P;
                    if (direct_) {
                        kt_.qu8_conv_tile_direct(packed_.data() + b * groups_ * kR, xq + p0,
                                                 g.goff.data(), groups_, static_cast<int>(mr), np,
                                                 corr_.data() + m0, mult_.data() + m0, zy_, 0, 255,
                                                 out, ldo);
                    } else {
                        tile_(packed_.data() + b * groups_ * kR, pk, groups_, static_cast<int>(mr),
                              np, corr_.data() + m0, mult_.data() + m0, zy_, 0, 255, out, ldo);
                    }
                    if (!scatter) continue;
                    if (kt_.qu8_scatter) {
                        kt_.qu8_scatter(tmp, static_cast<int>(mr), seg, nseg, yn + m0 * P, P);
                        continue;
                    }
                    for (int s = 0; s < nseg; ++s)
                        for (int64_t r = 0; r < mr; ++r)
                            std::memcpy(yn + (m0 + r) * P + seg[s].dst, tmp + r * kP + seg[s].q,
                                        static_cast<size_t>(seg[s].len));
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
    // The tile's int32 accumulators (rows of kP) through the fused activation into
    // the output: positions 0..np-1 of each row to y + r * P, or the segments'
    // positions to row + r * P + dst.
    void store_activated(const int32_t* acc, int64_t m0, int64_t mr, const Qu8Segment* seg,
                         int nseg, int64_t np, uint8_t* y, uint8_t* row, int64_t P) const {
        for (int64_t r = 0; r < mr; ++r) {
            const float as = acc_scale_[static_cast<size_t>(m0 + r)];
            const int32_t* a = acc + r * kP;
            if (!seg) {
                qu8_store_activated(a, np, as, act_, sy_, zy_, y + r * P);
                continue;
            }
            for (int s = 0; s < nseg; ++s)
                qu8_store_activated(a + seg[s].q, seg[s].len, as, act_, sy_, zy_,
                                    row + r * P + seg[s].dst);
        }
    }

    struct Geometry {
        int64_t H = -1, W = -1;  // the input's spatial size
        int64_t OH = 0, OW = 0, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, Hq = 0, Wq = 0;
        bool copy = false;
        bool lanes = false;         // the transposed tile (direct_ only)
        std::vector<int64_t> koff;  // K_ entries: row k of the panels at rows + koff[k]
        std::vector<int64_t> goff;  // in place: group (tap, quad) at xq + goff[g]
    };

    Status set_geometry(int64_t H, int64_t W) const {
        Window win;
        PARE_RETURN_IF_ERROR(window_forward(attrs_, Shape{H, W}, {KH_, KW_}, false, &win));
        Geometry g;
        g.H = H;
        g.W = W;
        g.OH = win.out[0];
        g.OW = win.out[1];
        g.sh = win.strides[0];
        g.sw = win.strides[1];
        g.dh = win.dilations[0];
        g.dw = win.dilations[1];
        g.pt = win.pad_begin[0];
        g.pl = win.pad_begin[1];
        // The K rows of positions the panels read (row k at rows + koff[k], position
        // p at p) come from phase planes: for strides sh x sw, plane (c, a, b) holds
        // the input at rows y * sh + a - pt and columns x * sw + b - pl (zx outside),
        // Hq x Wq of them. Tap (i, j) of an output (oh, ow) then reads plane (c, i*dh
        // % sh, j*dw % sw) at (oh + i*dh / sh, ow + j*dw / sw): a stride-1 pattern, so
        // a row of positions is contiguous once positions run over the plane's width
        // Wq (columns past OW computed and dropped as the tiles are copied out). With
        // stride 1 and no padding the input is its own single plane (no copy).
        g.Hq = g.OH + (KH_ - 1) * g.dh / g.sh;
        g.Wq = g.OW + (KW_ - 1) * g.dw / g.sw;
        g.copy = g.sh != 1 || g.sw != 1 || g.pt != 0 || g.pl != 0 || g.Hq != H || g.Wq != W;
        // Interleaved by quads (direct_), plane (q, a, b) starts at a multiple of
        // qstride int32 instead of Hq * Wq bytes.
        const int64_t ps = direct_ ? (g.Hq * g.Wq + 15) / 16 * 16 : g.Hq * g.Wq;
        std::vector<int64_t>& offs = direct_ ? g.goff : g.koff;
        offs.resize(static_cast<size_t>(direct_ ? groups_ : K_));
        const int64_t taps = KH_ * KW_, nc = direct_ ? quads_ : C_;
        for (int64_t c = 0; c < nc; ++c)
            for (int64_t i = 0; i < KH_; ++i)
                for (int64_t j = 0; j < KW_; ++j) {
                    const int64_t plane = (c * g.sh + i * g.dh % g.sh) * g.sw + j * g.dw % g.sw;
                    const int64_t k = direct_ ? (i * KW_ + j) * nc + c : c * taps + i * KW_ + j;
                    offs[static_cast<size_t>(k)] =
                        plane * ps + i * g.dh / g.sh * g.Wq + j * g.dw / g.sw;
                }
        // Channels in the lanes where the direct tile would compute many positions
        // that are dropped or padding (small outputs: the wide grid's extra columns
        // and the last panel) and the channels fill the lanes: the products each
        // computes, with a tenth spared for the transposed tile's byte stores.
        if (direct_ && kt_.qu8_conv_tile_lanes) {
            const int64_t P = g.OH * g.OW, grid = (g.OH - 1) * g.Wq + g.OW;
            constexpr int64_t L = kQu8LaneChannels, LR = kQu8LaneRows;
            const int64_t by_panels = (grid + kP - 1) / kP * kP * blocks_ * kR;
            const int64_t by_lanes = (P + LR - 1) / LR * LR * ((M_ + L - 1) / L * L);
            g.lanes = P > 0 && by_lanes * 10 < by_panels * 9;
        }
        if (g.lanes && lanes_w_.empty()) {
            // From the direct layout: [block of 64 channels][group][channel] int32.
            constexpr int64_t L = kQu8LaneChannels;
            const int64_t lb = (M_ + L - 1) / L;
            lanes_w_.assign(static_cast<size_t>(lb * groups_ * L), 0);
            for (int64_t m = 0; m < M_; ++m) {
                const int64_t b = m / kR, r = m % kR;
                for (int64_t k = 0; k < groups_; ++k)
                    lanes_w_[static_cast<size_t>((m / L * groups_ + k) * L + m % L)] =
                        packed_[static_cast<size_t>((b * groups_ + k) * kR + r)];
            }
        }
        geo_ = std::move(g);
        return Status();
    }

    // The transposed tile over the interleaved input xq: tasks of 8 tiles of 6
    // consecutive output positions by blocks of 64 channels.
    void run_lanes(ComputeContext& ctx, const int32_t* xq, uint8_t* yn) const {
        const Geometry& g = geo_;
        constexpr int64_t L = kQu8LaneChannels, LR = kQu8LaneRows, per_task = 8 * LR;
        const int64_t P = g.OH * g.OW, lb = (M_ + L - 1) / L;
        const int64_t chunks = (P + per_task - 1) / per_task;
        // Consecutive tasks share a block of weights (the operand streamed from the
        // cache: a deep layer's are larger than its input).
        auto task = [&](int64_t t) {
            const int64_t cb = t / chunks, p1 = std::min(P, (t % chunks + 1) * per_task);
            const int nch = static_cast<int>(std::min(L, M_ - cb * L));
            for (int64_t p0 = t % chunks * per_task; p0 < p1; p0 += LR) {
                const int rows = static_cast<int>(std::min(LR, p1 - p0));
                int64_t pos[LR];
                for (int r = 0; r < rows; ++r) pos[r] = (p0 + r) / g.OW * g.Wq + (p0 + r) % g.OW;
                kt_.qu8_conv_tile_lanes(lanes_w_.data() + cb * groups_ * L, xq, g.goff.data(),
                                        groups_, pos, rows, nch, corr_.data() + cb * L,
                                        mult_.data() + cb * L, zy_, 0, 255, yn + cb * L * P + p0,
                                        P);
            }
        };
        if (ctx.pool) {
            ctx.pool->parallel_for(chunks * lb, task);
        } else {
            for (int64_t t = 0; t < chunks * lb; ++t) task(t);
        }
    }

    Attributes attrs_;
    const KernelTable& kt_;
    Qu8PackPanelFn pack_ = kt_.qu8_pack_panel;
    Qu8ConvTileFn tile_ = kt_.qu8_conv_tile;
    std::string name_ = kt_.qu8_conv_name;
    int64_t M_ = 0, C_ = 0, KH_ = 0, KW_ = 0, K_ = 0, groups_ = 0, blocks_ = 0;
    bool direct_ = false;  // the table's direct tile on the interleaved input
    int64_t quads_ = 0;
    int32_t zx_ = 0, zy_ = 0;
    FusedActivation act_;  // fused_activation: kNone, or applied by store_activated
    std::vector<int32_t> packed_, corr_;
    std::vector<float> mult_, acc_scale_;
    float sy_ = 1;
    mutable Geometry geo_;  // of the last input size (run() is not called concurrently)
    // The transposed tile's weights, padded to blocks of kQu8LaneChannels (made at
    // the first geometry that takes it).
    mutable std::vector<int32_t> lanes_w_;
};

bool scalar_of(const Tensor* t, DType type) { return t && t->dtype() == type && t->numel() == 1; }

}  // namespace

std::unique_ptr<PreparedKernel> prepare_qu8_conv(const Node& node,
                                                 const std::vector<const Tensor*>& c,
                                                 const Activation& act, const Shape* input_shape) {
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
    auto k = std::make_unique<Qu8Conv>(node, c);
    if (input_shape && input_shape->size() == 4 && (*input_shape)[2] > 0 && (*input_shape)[3] > 0)
        k->prepare_geometry((*input_shape)[2], (*input_shape)[3]);
    return k;
}

}  // namespace pare
