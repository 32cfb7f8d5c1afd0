// Elementwise int8 kernels on AVX-512F, 16 values per step: QuantizeLinear to
// uint8, DequantizeLinear of uint8 (per tensor) and QLinearAdd of two uint8 tensors
// of one shape. Each lane computes exactly what the reference computes for its
// value (runtime/ops/quantize.cpp, runtime/ops/requantize.h): the same float
// operations in the same order, rounding half to even; the clamp applied in
// float before the conversion (NaN to the low end, as the reference). Signatures
// as Qu8QuantizeFn, Qu8DequantizeFn and Qu8AddFn (runtime/cpu/cpu.h).
#include <immintrin.h>

#include <cmath>

#include "runtime/cpu/cpu.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

inline __m512i load_u8(const uint8_t* p) {
    return _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// round(v) + z for v already clamped to [lo - z, hi - z], as 16 bytes.
inline __m128i to_u8(__m512 v, __m512i z) {
    const __m512i q = _mm512_add_epi32(
        _mm512_maskz_cvt_roundps_epi32(0xffff, v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
        z);
    return _mm512_maskz_cvtepi32_epi8(0xffff, q);
}

// max(v, lo) with NaN to lo (the second operand is returned when either is NaN),
// then min(., hi).
inline __m512 clamp(__m512 v, __m512 lo, __m512 hi) {
    return _mm512_maskz_min_ps(0xffff, _mm512_maskz_max_ps(0xffff, v, lo), hi);
}

}  // namespace

void qu8_quantize_avx512(const float* x, int64_t n, float scale, int32_t zp, uint8_t* y) {
    const __m512 s = _mm512_set1_ps(scale);
    const __m512 lo = _mm512_set1_ps(static_cast<float>(-zp));
    const __m512 hi = _mm512_set1_ps(static_cast<float>(255 - zp));
    const __m512i z = _mm512_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_div_ps(_mm512_loadu_ps(x + i), s);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), to_u8(clamp(v, lo, hi), z));
    }
    for (; i < n; ++i) y[i] = static_cast<uint8_t>(clamp_round(x[i] / scale, zp, 0, 255));
}

void qu8_dequantize_avx512(const uint8_t* x, int64_t n, float scale, int32_t zp, float* y) {
    const __m512 s = _mm512_set1_ps(scale);
    const __m512i z = _mm512_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_maskz_cvtepi32_ps(0xffff, _mm512_sub_epi32(load_u8(x + i), z));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(v, s));
    }
    for (; i < n; ++i) y[i] = static_cast<float>(x[i] - zp) * scale;
}

void qu8_add_avx512(const uint8_t* a, const uint8_t* b, int64_t n, float ka, float kb, int32_t za,
                    int32_t zb, int32_t zc, int32_t lo, int32_t hi, uint8_t* y) {
    const __m512 va = _mm512_set1_ps(ka), vb = _mm512_set1_ps(kb);
    const __m512i vza = _mm512_set1_epi32(za), vzb = _mm512_set1_epi32(zb),
                  vzc = _mm512_set1_epi32(zc);
    const __m512 flo = _mm512_set1_ps(static_cast<float>(lo - zc));
    const __m512 fhi = _mm512_set1_ps(static_cast<float>(hi - zc));
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_maskz_cvtepi32_ps(0xffff, _mm512_sub_epi32(load_u8(a + i), vza));
        const __m512 z = _mm512_maskz_cvtepi32_ps(0xffff, _mm512_sub_epi32(load_u8(b + i), vzb));
        const __m512 v = _mm512_fmadd_ps(x, va, _mm512_mul_ps(z, vb));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), to_u8(clamp(v, flo, fhi), vzc));
    }
    for (; i < n; ++i) {
        const float v =
            std::fma(static_cast<float>(a[i] - za), ka, static_cast<float>(b[i] - zb) * kb);
        y[i] = static_cast<uint8_t>(clamp_round(v, zc, lo, hi));
    }
}

void qu8_requantize_avx512(const float* acc, int64_t n, int32_t corr, float mult, int32_t zy,
                           int32_t lo, int32_t hi, uint8_t* y) {
    const __m512i c = _mm512_set1_epi32(corr), z = _mm512_set1_epi32(zy);
    const __m512 m = _mm512_set1_ps(mult);
    const __m512 flo = _mm512_set1_ps(static_cast<float>(lo - zy));
    const __m512 fhi = _mm512_set1_ps(static_cast<float>(hi - zy));
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i a = _mm512_add_epi32(
            _mm512_maskz_cvtt_roundps_epi32(0xffff, _mm512_loadu_ps(acc + i), _MM_FROUND_NO_EXC),
            c);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xffff, a), m);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), to_u8(clamp(v, flo, fhi), z));
    }
    for (; i < n; ++i) {
        const float v = static_cast<float>(static_cast<int32_t>(acc[i]) + corr) * mult;
        y[i] = static_cast<uint8_t>(clamp_round(v, zy, lo, hi));
    }
}

}  // namespace pare
