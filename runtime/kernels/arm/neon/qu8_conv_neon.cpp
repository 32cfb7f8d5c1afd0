// qu8_conv_6x8_neon: the int8 convolution tile on NEON (aarch64), exact: panels of
// 2 rows widened to int16 pairs (Qu8PackPanelFn with G = 2, runtime/cpu/cpu.h), the
// pairs split by vld2q and multiplied by lane-indexed int16 weights into int32
// (vmlal: products of at most 255 * 128, no saturation). 6 rows x 8 positions at a
// time; requantized lane by lane with the reference's float operations
// (runtime/ops/requantize.h: multiply, clamp, round half to even).
#include <arm_neon.h>

#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/arm/qu8_requant_neon.h"

namespace pare {

namespace {

constexpr int kRows = kQu8TileRows;
constexpr int kCols = kQu8TileCols;

template <int L>
inline void mac(int32x4_t* lo, int32x4_t* hi, int16x8_t x0, int16x8_t x1, int16x8_t w) {
    *lo = vmlal_laneq_s16(*lo, vget_low_s16(x0), w, 2 * L);
    *lo = vmlal_laneq_s16(*lo, vget_low_s16(x1), w, 2 * L + 1);
    *hi = vmlal_high_laneq_s16(*hi, x0, w, 2 * L);
    *hi = vmlal_high_laneq_s16(*hi, x1, w, 2 * L + 1);
}

}  // namespace

void qu8_pack_panel_neon(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                         int32_t* panel) {
    static const uint8_t zeros[kCols] = {};
    uint8_t tail[2][16];
    const int64_t groups = (K + 1) / 2, full = np / 16 * 16;
    for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* r0 = x + koff[2 * g];
        const uint8_t* r1 = 2 * g + 1 < K ? x + koff[2 * g + 1] : zeros;
        int16_t* out = reinterpret_cast<int16_t*>(panel + g * kCols);
        for (int64_t p = 0; p < np; p += 16) {
            const uint8_t *a = r0 + p, *b = r1 + p;
            if (p >= full) {  // the last positions, copied into zeroed rows (no over-read)
                std::memset(tail, 0, sizeof tail);
                std::memcpy(tail[0], a, static_cast<size_t>(np - p));
                std::memcpy(tail[1], b, static_cast<size_t>(np - p));
                a = tail[0];
                b = tail[1];
            }
            const uint8x16_t va = vld1q_u8(a), vb = vld1q_u8(b);
            const uint8x16_t lo = vzip1q_u8(va, vb), hi = vzip2q_u8(va, vb);
            int16_t* o = out + 2 * p;
            vst1q_s16(o, vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(lo))));
            vst1q_s16(o + 8, vreinterpretq_s16_u16(vmovl_high_u8(lo)));
            vst1q_s16(o + 16, vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(hi))));
            vst1q_s16(o + 24, vreinterpretq_s16_u16(vmovl_high_u8(hi)));
        }
    }
}

void qu8_conv_tile_neon(const int32_t* a, const int32_t* panel, int64_t groups, int rows,
                        int64_t np, const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
                        int32_t hi, uint8_t* y, int64_t ldy) {
    const RequantNeon rq(zy, lo, hi);
    for (int64_t p0 = 0; p0 < np; p0 += 8) {
        int32x4_t acc[kRows][2];
        for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = vdupq_n_s32(0);
        for (int64_t g = 0; g < groups; ++g) {
            // 8 positions' (k0, k1) pairs, split into a k0 and a k1 vector.
            const int16x8x2_t x =
                vld2q_s16(reinterpret_cast<const int16_t*>(panel + g * kCols + p0));
            const int16_t* wg = reinterpret_cast<const int16_t*>(a + g * kRows);
            const int16x8_t w03 = vld1q_s16(wg);  // rows 0-3: (w0, w1) each
            const int16x8_t w45 = vcombine_s16(vld1_s16(wg + 8), vdup_n_s16(0));  // rows 4-5
            mac<0>(&acc[0][0], &acc[0][1], x.val[0], x.val[1], w03);
            mac<1>(&acc[1][0], &acc[1][1], x.val[0], x.val[1], w03);
            mac<2>(&acc[2][0], &acc[2][1], x.val[0], x.val[1], w03);
            mac<3>(&acc[3][0], &acc[3][1], x.val[0], x.val[1], w03);
            mac<0>(&acc[4][0], &acc[4][1], x.val[0], x.val[1], w45);
            mac<1>(&acc[5][0], &acc[5][1], x.val[0], x.val[1], w45);
        }
        const int64_t n = np - p0 < 8 ? np - p0 : 8;
        for (int r = 0; r < rows; ++r) rq.store_row(acc[r], corr[r], mult, r, y, ldy, p0, n);
    }
}

}  // namespace pare
