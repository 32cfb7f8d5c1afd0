// f32_conv_direct: 2-D convolutions of one group computed directly, with no im2col
// matrix and no packing of the input. x (N, C, H, W), w (M, C, KH, KW), b (M).
// The dispatched tile (runtime/kernels/conv_tile_impl.h) keeps OC output channels
// (the table's f32_conv_tile_oc, across the vector lanes) by up to 6 output
// positions in registers and steps over k = (input channel, kernel row, kernel
// column): OC weights times one broadcast input per position.
// At prepare: the weights repacked as [channel block][k][OC], the last block
// narrower when OC does not divide M (the remaining channels rounded up to whole
// vectors, the padding zero).
// Per image: the input copied into a zero-padded buffer when the convolution pads
// (every tap then reads memory, with no bounds tests); the offset of every k and
// every output position in it; then (channel block, position block) tasks of at
// most kBlockFloats / OC positions, with K in chunks whose weights (kChunkFloats)
// stay in L1 across the block's tiles, accumulated in a per-thread tile buffer and
// stored as channel rows of y with the bias, a fused residual and the activation.
// Every output element is computed by one task with the same arithmetic for any
// thread count.
// Layers of at most 8 output channels with unit horizontal stride and dilation,
// whose output rows fill at least three quarters of their vectors, take the row
// tile instead (f32_conv_rows: positions across the lanes, 8 channels in
// registers; weights [k][8]): the channel tile would leave half the lanes idle.
// The input is then always copied, with a vector of slack for the rows'
// over-read.
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

constexpr int64_t kChunkFloats = 8192;  // weights per K chunk: 32 KB
constexpr int64_t kBlockFloats = 3072;  // a position block's tiles: 12 KB
constexpr int kTileMax = 6;             // positions per tile

class F32ConvDirect : public PreparedKernel {
  public:
    F32ConvDirect(const Node& node, const Tensor& w, const Tensor* b, const Activation& act,
                  bool residual, const Shape& input_shape)
        : attrs_(node.attrs), act_(act), kt_(kernels()), residual_(residual) {
        M_ = w.shape()[0];
        C_ = w.shape()[1];
        KH_ = w.shape()[2];
        KW_ = w.shape()[3];
        K_ = C_ * KH_ * KW_;
        oc_ = kt_.f32_conv_tile_oc;
        full_ = M_ / oc_;
        rem_oc_ = remainder_channels(M_, kt_);
        blocks_ = full_ + (rem_oc_ > 0 ? 1 : 0);
        packed_.assign(static_cast<size_t>((full_ * oc_ + rem_oc_) * K_), 0.0f);
        const float* wd = w.data<float>();
        for (int64_t m = 0; m < M_; ++m) {
            const int64_t b = m / oc_, ocb = b < full_ ? oc_ : rem_oc_;
            float* dst = packed_.data() + b * K_ * oc_ + m % oc_;
            for (int64_t k = 0; k < K_; ++k) dst[k * ocb] = wd[m * K_ + k];
        }
        if (b) bias_.assign(b->data<float>(), b->data<float>() + M_);
        if (kt_.f32_conv_rows && M_ <= kRowsOc) {
            rows_w_.assign(static_cast<size_t>(K_ * kRowsOc), 0.0f);
            for (int64_t m = 0; m < M_; ++m)
                for (int64_t k = 0; k < K_; ++k) rows_w_[k * kRowsOc + m] = wd[m * K_ + k];
            Window win;
            planned_rows_ =
                window_forward(attrs_, Shape(input_shape.begin() + 2, input_shape.end()),
                               {KH_, KW_}, false, &win)
                    .ok() &&
                rows_fit(win);
        }
    }

    std::string name() const override {
        return with_activation(
            std::string(planned_rows_ ? kt_.f32_conv_rows_name : kt_.f32_conv_tile_name) +
                (residual_ ? "+add" : ""),
            act_);
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() != 4 || X.shape()[1] != C_)
            return internal_error("direct conv weights do not match the input");
        Window win;
        PARE_RETURN_IF_ERROR(window_forward(attrs_, Shape(X.shape().begin() + 2, X.shape().end()),
                                            {KH_, KW_}, false, &win));
        const int64_t N = X.shape()[0], H = win.in[0], W = win.in[1];
        const int64_t OH = win.out[0], OW = win.out[1], P = OH * OW;
        if (N == 0 || P <= 0) return Status();
        const int64_t sh = win.strides[0], sw = win.strides[1];
        const int64_t dh = win.dilations[0], dw = win.dilations[1];
        const int64_t pt = win.pad_begin[0], pl = win.pad_begin[1];
        // The rows and columns the taps read, from the top-left padding on.
        const int64_t Hp = (OH - 1) * sh + (KH_ - 1) * dh + 1;
        const int64_t Wp = (OW - 1) * sw + (KW_ - 1) * dw + 1;
        const bool rows = !rows_w_.empty() && rows_fit(win);
        const bool copy = rows || pt != 0 || pl != 0 || Hp > H || Wp > W;
        const int64_t ldh = copy ? Hp : H, ldw = copy ? Wp : W;  // plane geometry read
        // The fused Add's other operand (the last input), or null.
        PARE_ASSIGN_OR_RETURN(const float* res, fused_residual(ctx, residual_, Y));
        // Offsets: koff[k] of tap k from a position's origin, pos[p] of output p.
        int64_t* koff =
            reinterpret_cast<int64_t*>(scratch_floats(2, static_cast<size_t>(2 * (K_ + P))));
        int64_t* pos = koff + K_;
        tap_offsets(C_, KH_, KW_, ldh * ldw, ldw, dh, dw, koff);
        for (int64_t oh = 0, p = 0; oh < OH && !rows; ++oh)  // the channel tile's positions
            for (int64_t ow = 0; ow < OW; ++ow) pos[p++] = oh * sh * ldw + ow * sw;
        // Position blocks: whole groups of 16 (whole vectors for the store) up to
        // kBlockFloats / oc positions, near-equal; K chunks likewise.
        const int64_t max_block = std::max<int64_t>(16, kBlockFloats / oc_ / 16 * 16);
        int64_t nblk = (P + max_block - 1) / max_block;
        // With few channel blocks, smaller position blocks: about 4 tasks per thread
        // (handed out one at a time, they even out).
        const int64_t T = ctx.pool ? ctx.pool->size() : 1;
        if (T > 1 && blocks_ * nblk < 4 * T)
            nblk = std::max(nblk, std::min((4 * T + blocks_ - 1) / blocks_, (P + 15) / 16));
        const int64_t bs = nblk == 1 ? P : ((P + nblk - 1) / nblk + 15) / 16 * 16;
        nblk = (P + bs - 1) / bs;
        const int64_t nchunk = (K_ * oc_ + kChunkFloats - 1) / kChunkFloats;
        const int64_t kc = (K_ + nchunk - 1) / nchunk;
        const int64_t V = kt_.f32_conv_tile_lanes;
        float* padded = copy ? scratch_floats(3, static_cast<size_t>(C_ * Hp * Wp + V)) : nullptr;
        // The row tile's vectors: output row by output row, V positions each.
        const int64_t per_row = (OW + V - 1) / V, S = rows ? OH * per_row : 0;
        int64_t* xoff =
            rows ? reinterpret_cast<int64_t*>(scratch_floats(6, static_cast<size_t>(6 * S)))
                 : nullptr;
        int64_t* yoff = xoff + S;
        int* valid = reinterpret_cast<int*>(yoff + S);
        for (int64_t i = 0; i < S; ++i) {
            const int64_t oh = i / per_row, ow = i % per_row * V;
            xoff[i] = oh * sh * ldw + ow;
            yoff[i] = oh * OW + ow;
            valid[i] = static_cast<int>(std::min(V, OW - ow));
        }
        // The channel tile's split over threads (see below): bands of positions, or
        // channel blocks.
        const bool bands = !rows && T > 1 && P >= 32 * T && (P % 16 == 0 || blocks_ < 3 * T);
        int64_t band_align = 1;
        if (bands) {
            int64_t b0, b1;
            split_range(P, T, 16, 0, &b0, &b1);
            band_align = 10 * (b1 - b0) * T <= 11 * P ? 16 : 1;
        }
        const int64_t groups = (S + kRowsNv - 1) / kRowsNv;
        const int64_t row_tasks = std::min<int64_t>(groups, 4 * (ctx.pool ? ctx.pool->size() : 1));
        for (int64_t n = 0; n < N; ++n) {
            const float* xn = X.data<float>() + n * C_ * H * W;
            float* yn = Y.data<float>() + n * M_ * P;
            const float* rn = res ? res + n * M_ * P : nullptr;
            if (copy) {
                // Padded rows [h0, h1) of channel c.
                auto copy_rows = [&](int64_t c, int64_t h0, int64_t h1) {
                    float* d = padded + (c * Hp + h0) * Wp;
                    const int64_t w0 = std::min(Wp, pl), w1 = std::min(Wp, pl + W);
                    for (int64_t h = h0; h < h1; ++h, d += Wp) {
                        if (h < pt || h >= pt + H) {
                            std::memset(d, 0, static_cast<size_t>(Wp) * sizeof(float));
                            continue;
                        }
                        std::memset(d, 0, static_cast<size_t>(w0) * sizeof(float));
                        std::memcpy(d + w0, xn + (c * H + h - pt) * W + (w0 - pl),
                                    static_cast<size_t>(w1 - w0) * sizeof(float));
                        std::memset(d + w1, 0, static_cast<size_t>(Wp - w1) * sizeof(float));
                    }
                };
                if (bands) {
                    // Each thread copies the rows its band starts at, up to the next
                    // band's (the halo below comes from that band's thread): the
                    // threads then read what they mostly wrote (2 threads, medians
                    // of 5 alternating runs: a 3->32 stem 3x3 stride 2 at 224x224
                    // 0.113 -> 0.105 ms, 64->128 at 56x56 0.325 -> 0.318).
                    parallel_ranges(ctx.pool, P, band_align, [&](int64_t q0, int64_t q1) {
                        const int64_t h0 = q0 == 0 ? 0 : q0 / OW * sh;
                        const int64_t h1 = q1 == P ? Hp : q1 / OW * sh;
                        for (int64_t c = 0; c < C_; ++c) copy_rows(c, h0, h1);
                    });
                } else {
                    parallel_runs(ctx.pool, C_, [&](int64_t c) { copy_rows(c, 0, Hp); });
                }
                xn = padded;
            }
            if (rows) {
                auto row_task = [&](int64_t t) {
                    for (int64_t g = t * groups / row_tasks; g < (t + 1) * groups / row_tasks;
                         ++g) {
                        const int64_t i = g * kRowsNv;
                        kt_.f32_conv_rows(rows_w_.data(), koff, K_, xn, xoff + i, yoff + i,
                                          valid + i, static_cast<int>(std::min(kRowsNv, S - i)), M_,
                                          yn, P, bias_.empty() ? nullptr : bias_.data(), rn, act_);
                    }
                };
                if (ctx.pool && row_tasks > 1) {
                    ctx.pool->parallel_for(row_tasks, row_task);
                } else {
                    for (int64_t t = 0; t < row_tasks; ++t) row_task(t);
                }
                continue;
            }
            // Task (channel block b, position block blk).
            auto task = [&](int64_t b, int64_t p0, int64_t p1) {
                // Whole groups of 16 positions for the store; the rows past the block zero.
                const int64_t np = p1 - p0, nt = (np + kTileMax - 1) / kTileMax;
                const int64_t rows = (np + 15) / 16 * 16;
                const int64_t ocb = b < full_ ? oc_ : rem_oc_;  // this block's channels
                float* acc = scratch_floats(4, static_cast<size_t>(rows * ocb));
                std::memset(acc + np * ocb, 0,
                            static_cast<size_t>((rows - np) * ocb) * sizeof(float));
                const float* wb = packed_.data() + b * K_ * oc_;
                // Tiles of near-equal size (5 or 6 positions do the same work per load).
                for (int64_t k0 = 0; k0 < K_; k0 += kc) {
                    const int64_t kn = std::min(kc, K_ - k0);
                    for (int64_t t = 0; t < nt; ++t) {
                        const int64_t q0 = t * np / nt, q1 = (t + 1) * np / nt;
                        kt_.f32_conv_tile(wb + k0 * ocb, koff + k0, kn, xn, pos + p0 + q0,
                                          static_cast<int>(ocb), static_cast<int>(q1 - q0),
                                          acc + q0 * ocb, k0 > 0);
                    }
                }
                const int64_t m0 = b * oc_, m = std::min<int64_t>(oc_, M_ - m0);
                kt_.f32_conv_tile_store(acc, static_cast<int>(ocb), np, m, yn + m0 * P + p0, P,
                                        bias_.empty() ? nullptr : bias_.data() + m0,
                                        rn ? rn + m0 * P + p0 : nullptr, act_);
            };
            // Each thread a band of output positions (the rows of the output it
            // computes), channel block by channel block within it, in position blocks
            // of at most max_block: a thread's share of the plane stays the same from
            // layer to layer, so it reads what it wrote (on this machine's two vCPUs a
            // cache line written by the other one reads 3x slower). Bands start at
            // whole groups of 16 positions unless that would unbalance them by more
            // than a tenth. Planes of fewer than 32 positions per thread split by
            // channel blocks instead, and so do planes that are not whole cache
            // lines (16 floats) when there are channel blocks enough to balance: a
            // 14x14 plane's last line holds the next plane's first positions, which
            // the other thread writes (64->384 channels at 14x14, 2 threads: 0.073
            // ms by bands, 0.044 by channel blocks; one thread 0.076).
            if (bands) {
                parallel_ranges(ctx.pool, P, band_align, [&](int64_t q0, int64_t q1) {
                    const int64_t nb = (q1 - q0 + max_block - 1) / max_block;
                    const int64_t len = ((q1 - q0 + nb - 1) / nb + 15) / 16 * 16;
                    for (int64_t b = 0; b < blocks_; ++b)
                        for (int64_t p0 = q0; p0 < q1; p0 += len)
                            task(b, p0, std::min(q1, p0 + len));
                });
            } else {
                parallel_runs(ctx.pool, blocks_ * nblk, [&](int64_t i) {
                    const int64_t p0 = i % nblk * bs;
                    task(i / nblk, p0, std::min(P, p0 + bs));
                });
            }
        }
        return Status();
    }

    // The channels of the last, narrower tile (whole vectors; 0 if the widest tiles
    // hold all M).
    static int64_t remainder_channels(int64_t M, const KernelTable& kt) {
        const int64_t rem = M % kt.f32_conv_tile_oc, lanes = kt.f32_conv_tile_lanes;
        return (rem + lanes - 1) / lanes * lanes;
    }

  private:
    static constexpr int64_t kRowsOc = 8, kRowsNv = 3;  // the row tile's channels, vectors

    // Whether the row tile computes this window: unit horizontal stride and
    // dilation, and rows that fill at least three quarters of their vectors.
    bool rows_fit(const Window& win) const {
        const int64_t V = kt_.f32_conv_tile_lanes, OW = win.out[1];
        return win.strides[1] == 1 && win.dilations[1] == 1 && OW > 0 &&
               4 * OW >= 3 * ((OW + V - 1) / V * V);
    }

    Attributes attrs_;
    Activation act_;
    const KernelTable& kt_;
    bool residual_ = false;
    int64_t M_ = 0, C_ = 0, KH_ = 0, KW_ = 0, K_ = 0;
    int64_t oc_ = 1, full_ = 0, rem_oc_ = 0, blocks_ = 0;  // tiles: full_ of oc_, one of rem_oc_
    std::vector<float> packed_, bias_;
    std::vector<float> rows_w_;  // the row tile's weights, [k][8] (empty: not eligible)
    bool planned_rows_ = false;  // the row tile at the prepared input shape
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_conv_direct(const Node& node,
                                                        const std::vector<const Tensor*>& constants,
                                                        const Activation& act, bool residual,
                                                        const Shape* input_shape) {
    if (!kernels().f32_conv_tile || !input_shape || input_shape->size() != 4 ||
        constants.size() < 2 || !constants[1])
        return nullptr;
    const Tensor& w = *constants[1];
    const Tensor* b = constants.size() > 2 ? constants[2] : nullptr;
    if (w.dtype() != DType::kFloat32 || w.rank() != 4 || w.shape()[0] <= 0) return nullptr;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !b) return nullptr;
    if (b && (b->dtype() != DType::kFloat32 || b->numel() != w.shape()[0])) return nullptr;
    if (node.attrs.get_int("group", 1) != 1 || w.shape()[1] != (*input_shape)[1]) return nullptr;
    // Pointwise convolutions only on planes of at most 14x14, where the GEMM's
    // 32-column tiles are worst filled (measured, 1 thread: efficientnet_b0 7%,
    // mobilenet_v2 5% faster; no gain from 28x28 on).
    if (w.shape()[2] * w.shape()[3] == 1 && (*input_shape)[2] * (*input_shape)[3] > 196)
        return nullptr;
    // Channels padded to whole vectors: at most an eighth more -- except layers of
    // at most one tile (pruned ones: 8, 24, 40 channels), where im2col costs more
    // than the idle lanes (measured: 8 channels at 28x28, 3x3, 1.5x slower on the
    // GEMM path; 24 channels at 14x14 2.0x slower).
    const int64_t M = w.shape()[0], oc = kernels().f32_conv_tile_oc;
    if (M > oc && (M / oc * oc + F32ConvDirect::remainder_channels(M, kernels())) * 8 > M * 9)
        return nullptr;
    return std::make_unique<F32ConvDirect>(node, w, b, act, residual, *input_shape);
}

}  // namespace pare
