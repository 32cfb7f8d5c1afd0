// qu8_conv_6x8_sdot: the int8 convolution tile on aarch64 CPUs with the dot-product
// extension (FEAT_DotProd, hwcap ASIMDDP), exact. sdot multiplies signed bytes, so
// the panel holds x - 128 (the uint8 activation with its top bit flipped) in quads of
// K (Qu8PackPanelFn with G = 4, runtime/cpu/cpu.h), and the tile adds back
// 128 * (the row's weight sum): sum w x = sum w (x - 128) + 128 sum w, every term an
// int32 with no saturation (4 products of at most 128 * 128 per sdot lane). 6 rows x
// 8 positions at a time; requantized lane by lane with the reference's float
// operations (runtime/ops/requantize.h), as the widening NEON tile does.
#include <arm_neon.h>

#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/arm/qu8_requant_neon.h"

namespace pare {

namespace {

constexpr int kRows = kQu8TileRows;
constexpr int kCols = kQu8TileCols;

}  // namespace

void qu8_pack_panel_sdot(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                         int32_t* panel) {
    static const uint8_t zeros[kCols] = {};
    uint8_t tail[4][16];
    const uint8x16_t flip = vdupq_n_u8(0x80);
    const int64_t groups = (K + 3) / 4, full = np / 16 * 16;
    for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* row[4];
        for (int j = 0; j < 4; ++j) row[j] = 4 * g + j < K ? x + koff[4 * g + j] : zeros;
        uint8_t* out = reinterpret_cast<uint8_t*>(panel + g * kCols);
        for (int64_t p = 0; p < np; p += 16) {
            const uint8_t* r[4] = {row[0] + p, row[1] + p, row[2] + p, row[3] + p};
            if (p >= full) {  // the last positions, copied into zeroed rows (no over-read)
                std::memset(tail, 0, sizeof tail);
                for (int j = 0; j < 4; ++j) {
                    std::memcpy(tail[j], r[j], static_cast<size_t>(np - p));
                    r[j] = tail[j];
                }
            }
            // Rows past K read zeros: their weights are zero, so their x - 128 adds 0.
            const uint8x16_t a = vld1q_u8(r[0]), b = vld1q_u8(r[1]), c = vld1q_u8(r[2]),
                             d = vld1q_u8(r[3]);
            const uint8x16_t ab0 = vzip1q_u8(a, b), ab1 = vzip2q_u8(a, b);
            const uint8x16_t cd0 = vzip1q_u8(c, d), cd1 = vzip2q_u8(c, d);
            // (a, b, c, d) of each position: 16-bit pairs zipped.
            const uint16x8_t q0 = vzip1q_u16(vreinterpretq_u16_u8(ab0), vreinterpretq_u16_u8(cd0));
            const uint16x8_t q1 = vzip2q_u16(vreinterpretq_u16_u8(ab0), vreinterpretq_u16_u8(cd0));
            const uint16x8_t q2 = vzip1q_u16(vreinterpretq_u16_u8(ab1), vreinterpretq_u16_u8(cd1));
            const uint16x8_t q3 = vzip2q_u16(vreinterpretq_u16_u8(ab1), vreinterpretq_u16_u8(cd1));
            uint8_t* o = out + 4 * p;
            vst1q_u8(o, veorq_u8(vreinterpretq_u8_u16(q0), flip));
            vst1q_u8(o + 16, veorq_u8(vreinterpretq_u8_u16(q1), flip));
            vst1q_u8(o + 32, veorq_u8(vreinterpretq_u8_u16(q2), flip));
            vst1q_u8(o + 48, veorq_u8(vreinterpretq_u8_u16(q3), flip));
        }
    }
}

void qu8_conv_tile_sdot(const int32_t* a, const int32_t* panel, int64_t groups, int rows,
                        int64_t np, const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
                        int32_t hi, uint8_t* y, int64_t ldy) {
    const RequantNeon rq(zy, lo, hi);
    // 128 * each row's weight sum (the panel's x - 128 back to x).
    int32x4_t sum03 = vdupq_n_s32(0);
    int32x2_t sum45 = vdup_n_s32(0);
    const int8x16_t ones = vdupq_n_s8(1);
    for (int64_t g = 0; g < groups; ++g) {
        const int8_t* wg = reinterpret_cast<const int8_t*>(a + g * kRows);
        sum03 = vdotq_s32(sum03, vld1q_s8(wg), ones);
        sum45 = vdot_s32(sum45, vld1_s8(wg + 16), vget_low_s8(ones));
    }
    int32_t back[kRows];
    vst1q_s32(back, vshlq_n_s32(sum03, 7));
    vst1_s32(back + 4, vshl_n_s32(sum45, 7));
    for (int64_t p0 = 0; p0 < np; p0 += 8) {
        int32x4_t acc[kRows][2];
        for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = vdupq_n_s32(0);
        for (int64_t g = 0; g < groups; ++g) {
            const int8_t* xg = reinterpret_cast<const int8_t*>(panel + g * kCols + p0);
            const int8x16_t x0 = vld1q_s8(xg), x1 = vld1q_s8(xg + 16);  // positions 0-3, 4-7
            const int8_t* wg = reinterpret_cast<const int8_t*>(a + g * kRows);
            const int8x16_t w03 = vld1q_s8(wg);  // rows 0-3, 4 weights each
            const int8x8_t w45 = vld1_s8(wg + 16);
            acc[0][0] = vdotq_laneq_s32(acc[0][0], x0, w03, 0);
            acc[0][1] = vdotq_laneq_s32(acc[0][1], x1, w03, 0);
            acc[1][0] = vdotq_laneq_s32(acc[1][0], x0, w03, 1);
            acc[1][1] = vdotq_laneq_s32(acc[1][1], x1, w03, 1);
            acc[2][0] = vdotq_laneq_s32(acc[2][0], x0, w03, 2);
            acc[2][1] = vdotq_laneq_s32(acc[2][1], x1, w03, 2);
            acc[3][0] = vdotq_laneq_s32(acc[3][0], x0, w03, 3);
            acc[3][1] = vdotq_laneq_s32(acc[3][1], x1, w03, 3);
            acc[4][0] = vdotq_lane_s32(acc[4][0], x0, w45, 0);
            acc[4][1] = vdotq_lane_s32(acc[4][1], x1, w45, 0);
            acc[5][0] = vdotq_lane_s32(acc[5][0], x0, w45, 1);
            acc[5][1] = vdotq_lane_s32(acc[5][1], x1, w45, 1);
        }
        const int64_t n = np - p0 < 8 ? np - p0 : 8;
        for (int r = 0; r < rows; ++r)
            rq.store_row(acc[r], corr[r] + back[r], mult, r, y, ldy, p0, n);
    }
}

}  // namespace pare
