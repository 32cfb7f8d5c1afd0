// The int8 convolution tiles' requantization on aarch64 (the vmlal and sdot tiles
// include it, each compiled with its own flags; internal linkage): a row's 8 int32
// sums plus corr, times mult, clamped, rounded half to even and offset by the
// output zero point, with the reference's float operations
// (runtime/ops/requantize.h); the first n bytes stored.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace pare {
namespace {

struct RequantNeon {
    float32x4_t lo, hi;  // the clamp, relative to the zero point
    int32x4_t zero;
    RequantNeon(int32_t zy, int32_t qlo, int32_t qhi)
        : lo(vdupq_n_f32(static_cast<float>(qlo - zy))),
          hi(vdupq_n_f32(static_cast<float>(qhi - zy))),
          zero(vdupq_n_s32(zy)) {}
    void store(const int32x4_t acc[2], int32_t corr, float mult, uint8_t* y, int64_t n) const {
        const int32x4_t c = vdupq_n_s32(corr);
        const float32x4_t m = vdupq_n_f32(mult);
        int16x4_t half[2];
        for (int v = 0; v < 2; ++v) {
            float32x4_t f = vmulq_f32(vcvtq_f32_s32(vaddq_s32(acc[v], c)), m);
            f = vminq_f32(vmaxq_f32(f, lo), hi);
            half[v] = vqmovn_s32(vaddq_s32(vcvtnq_s32_f32(f), zero));
        }
        uint8_t out[8];
        vst1_u8(out, vqmovun_s16(vcombine_s16(half[0], half[1])));
        std::memcpy(y, out, static_cast<size_t>(n));
    }
    // The tile's row with mult null (Qu8ConvTileFn): acc + corr as int32.
    static void store_int32(const int32x4_t acc[2], int32_t corr, int32_t* y, int64_t n) {
        int32_t out[8];
        const int32x4_t c = vdupq_n_s32(corr);
        vst1q_s32(out, vaddq_s32(acc[0], c));
        vst1q_s32(out + 4, vaddq_s32(acc[1], c));
        std::memcpy(y, out, static_cast<size_t>(n) * sizeof(int32_t));
    }
    // Row r of a tile: requantized bytes, or int32 when mult is null.
    void store_row(const int32x4_t acc[2], int32_t corr, const float* mult, int r, uint8_t* y,
                   int64_t ldy, int64_t p0, int64_t n) const {
        if (mult) {
            store(acc, corr, mult[r], y + r * ldy + p0, n);
        } else {
            store_int32(acc, corr, reinterpret_cast<int32_t*>(y) + r * ldy + p0, n);
        }
    }
};

}  // namespace
}  // namespace pare
