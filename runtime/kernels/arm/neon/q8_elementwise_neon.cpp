// The elementwise int8 kernels on NEON, 8 values per step: QuantizeLinear to
// uint8, DequantizeLinear of uint8, QLinearAdd and the requantization of float
// accumulators holding integers (the depthwise int8 convolution's, exact in
// float). Signatures and results as the x86 ones (runtime/cpu/cpu.h): the
// reference's float operations lane by lane (division, not a reciprocal; the
// add's first product fused), rounded half to even (vcvtnq), saturated.
#include <arm_neon.h>

#include <cmath>

#include "runtime/cpu/cpu.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

// 8 floats already clamped to [lo - z, hi - z]: round half to even, add z, as bytes.
inline uint8x8_t to_u8(float32x4_t a, float32x4_t b, int32x4_t z) {
    const int32x4_t qa = vaddq_s32(vcvtnq_s32_f32(a), z), qb = vaddq_s32(vcvtnq_s32_f32(b), z);
    return vqmovun_s16(vcombine_s16(vqmovn_s32(qa), vqmovn_s32(qb)));
}

// max(v, lo) with NaN to lo (as the reference's v > lo ? v : lo), then min(., hi).
inline float32x4_t clamp(float32x4_t v, float32x4_t lo, float32x4_t hi) {
    const float32x4_t m = vbslq_f32(vcgtq_f32(v, lo), v, lo);
    return vminq_f32(m, hi);
}

// 8 bytes minus z as two int32x4 converted to float.
inline void widen(const uint8_t* p, int32x4_t z, float32x4_t* a, float32x4_t* b) {
    const uint16x8_t w = vmovl_u8(vld1_u8(p));
    *a = vcvtq_f32_s32(vsubq_s32(vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w))), z));
    *b = vcvtq_f32_s32(vsubq_s32(vreinterpretq_s32_u32(vmovl_high_u16(w)), z));
}

}  // namespace

void qu8_quantize_neon(const float* x, int64_t n, float scale, int32_t zp, uint8_t* y) {
    const float32x4_t s = vdupq_n_f32(scale);
    const float32x4_t lo = vdupq_n_f32(static_cast<float>(-zp));
    const float32x4_t hi = vdupq_n_f32(static_cast<float>(255 - zp));
    const int32x4_t z = vdupq_n_s32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t a = vdivq_f32(vld1q_f32(x + i), s);
        const float32x4_t b = vdivq_f32(vld1q_f32(x + i + 4), s);
        vst1_u8(y + i, to_u8(clamp(a, lo, hi), clamp(b, lo, hi), z));
    }
    for (; i < n; ++i) y[i] = static_cast<uint8_t>(clamp_round(x[i] / scale, zp, 0, 255));
}

void qu8_dequantize_neon(const uint8_t* x, int64_t n, float scale, int32_t zp, float* y) {
    const float32x4_t s = vdupq_n_f32(scale);
    const int32x4_t z = vdupq_n_s32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a, b;
        widen(x + i, z, &a, &b);
        vst1q_f32(y + i, vmulq_f32(a, s));
        vst1q_f32(y + i + 4, vmulq_f32(b, s));
    }
    for (; i < n; ++i) y[i] = static_cast<float>(x[i] - zp) * scale;
}

void qu8_add_neon(const uint8_t* a, const uint8_t* b, int64_t n, float ka, float kb, int32_t za,
                  int32_t zb, int32_t zc, int32_t lo, int32_t hi, uint8_t* y) {
    const float32x4_t va = vdupq_n_f32(ka), vb = vdupq_n_f32(kb);
    const int32x4_t vza = vdupq_n_s32(za), vzb = vdupq_n_s32(zb), vzc = vdupq_n_s32(zc);
    const float32x4_t flo = vdupq_n_f32(static_cast<float>(lo - zc));
    const float32x4_t fhi = vdupq_n_f32(static_cast<float>(hi - zc));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a0, a1, b0, b1;
        widen(a + i, vza, &a0, &a1);
        widen(b + i, vzb, &b0, &b1);
        // fma(a, ka, b * kb): one rounding for the first product, as std::fma.
        const float32x4_t v0 = vfmaq_f32(vmulq_f32(b0, vb), a0, va);
        const float32x4_t v1 = vfmaq_f32(vmulq_f32(b1, vb), a1, va);
        vst1_u8(y + i, to_u8(clamp(v0, flo, fhi), clamp(v1, flo, fhi), vzc));
    }
    for (; i < n; ++i) {
        const float v =
            std::fma(static_cast<float>(a[i] - za), ka, static_cast<float>(b[i] - zb) * kb);
        y[i] = static_cast<uint8_t>(clamp_round(v, zc, lo, hi));
    }
}

void qu8_requantize_neon(const float* acc, int64_t n, int32_t corr, float mult, int32_t zy,
                         int32_t lo, int32_t hi, uint8_t* y) {
    const int32x4_t c = vdupq_n_s32(corr), z = vdupq_n_s32(zy);
    const float32x4_t m = vdupq_n_f32(mult);
    const float32x4_t flo = vdupq_n_f32(static_cast<float>(lo - zy));
    const float32x4_t fhi = vdupq_n_f32(static_cast<float>(hi - zy));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        // The accumulators are integers: truncation converts them exactly.
        const int32x4_t a = vaddq_s32(vcvtq_s32_f32(vld1q_f32(acc + i)), c);
        const int32x4_t b = vaddq_s32(vcvtq_s32_f32(vld1q_f32(acc + i + 4)), c);
        const float32x4_t fa = vmulq_f32(vcvtq_f32_s32(a), m);
        const float32x4_t fb = vmulq_f32(vcvtq_f32_s32(b), m);
        vst1_u8(y + i, to_u8(clamp(fa, flo, fhi), clamp(fb, flo, fhi), z));
    }
    for (; i < n; ++i) {
        const float v = static_cast<float>(static_cast<int32_t>(acc[i]) + corr) * mult;
        y[i] = static_cast<uint8_t>(clamp_round(v, zy, lo, hi));
    }
}

}  // namespace pare
