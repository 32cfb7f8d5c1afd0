// int8 kernels for AVX2 without VNNI, exact: the convolution tile (uint8 x int8
// widened to int16 pairs for vpmaddwd, whose pair sums of at most 2 * 255 * 128 fit
// int32: no saturation anywhere, unlike vpmaddubsw; the activations are widened
// once, as the panel is packed, and the weights at prepare), its packing, and
// the elementwise QuantizeLinear, DequantizeLinear, QLinearAdd and requantization,
// 8 values per step. Signatures and results as the AVX-512 ones (runtime/cpu/cpu.h):
// the same float operations as the reference, lane by lane.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/x86/qu8_pack_impl.h"
#include "runtime/ops/requantize.h"

namespace pare {

namespace {

constexpr int kRows = kQu8TileRows;
constexpr int kCols = kQu8TileCols;

// round(v) + z for v already clamped, 8 values as bytes in the low 8 of 16.
inline __m128i to_u8(__m256 v, __m256i z) {
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);  // MXCSR: ties to even
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    return _mm_packus_epi16(w, w);
}

// max(v, lo) with NaN to lo (maxps returns its second operand then), then min(., hi).
inline __m256 clamp(__m256 v, __m256 lo, __m256 hi) {
    return _mm256_min_ps(_mm256_max_ps(v, lo), hi);
}

inline __m256i load_u8x8(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

}  // namespace

// Groups of 2 rows: per 16 positions, the two rows' bytes interleaved and widened
// to int16, so each int32 holds (row 2g, row 2g + 1) of one position.
void qu8_pack_panel_avx2(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                         int32_t* panel) {
    alignas(64) static const uint8_t zeros[kCols] = {};
    alignas(16) uint8_t tail[2][16];
    const int64_t groups = (K + 1) / 2, full = np / 16 * 16;
    for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* r0 = x + koff[2 * g];
        const uint8_t* r1 = 2 * g + 1 < K ? x + koff[2 * g + 1] : zeros;
        int32_t* out = panel + g * kCols;
        for (int64_t p = 0; p < np; p += 16) {
            const uint8_t *a = r0 + p, *b = r1 + p;
            if (p >= full) {  // the last positions, copied into zeroed rows (no over-read)
                std::memset(tail, 0, sizeof tail);
                std::memcpy(tail[0], a, static_cast<size_t>(np - p));
                std::memcpy(tail[1], b, static_cast<size_t>(np - p));
                a = tail[0];
                b = tail[1];
            }
            const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
            const __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
            __m256i* o = reinterpret_cast<__m256i*>(out + p);
            _mm256_storeu_si256(o, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(va, vb)));
            _mm256_storeu_si256(o + 1, _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(va, vb)));
        }
    }
}

namespace {

// The two AVX2 tiles, 6 rows x 16 positions at a time, differ only in the product
// of a panel entry with a row's weights (one int32 holding the group's k):
// - int16 pairs (G = 2): vpmaddwd sums the pair's two products;
// - 4 bytes (G = 4, weights in [-64, 64]): vpmaddubsw multiplies the 4 activation
//   bytes by the 4 weights and adds neighbours into int16 (at most 2 * 255 * 64 =
//   32640: no saturation), vpmaddwd by ones adds the two int16 into int32.
template <bool kBytes>
void tile_avx2(const int32_t* a, const int32_t* panel, int64_t groups, int rows, int64_t np,
               const int32_t* corr, const float* mult, int32_t zy, int32_t lo, int32_t hi,
               uint8_t* y, int64_t ldy) {
    const __m256 flo = _mm256_set1_ps(static_cast<float>(lo - zy));
    const __m256 fhi = _mm256_set1_ps(static_cast<float>(hi - zy));
    const __m256i z = _mm256_set1_epi32(zy), ones = _mm256_set1_epi16(1);
    auto product = [&](__m256i x, __m256i w) {
        return kBytes ? _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones)
                      : _mm256_madd_epi16(x, w);
    };
    for (int64_t p0 = 0; p0 < np; p0 += 16) {
        __m256i acc[kRows][2];
        for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        const int32_t* pc = panel + p0;
        for (int64_t g = 0; g < groups; ++g) {
            const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pc + g * kCols));
            const __m256i x1 =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pc + g * kCols + 8));
            const int32_t* ag = a + g * kRows;
#pragma GCC unroll 6
            for (int r = 0; r < kRows; ++r) {
                const __m256i w = _mm256_set1_epi32(ag[r]);
                acc[r][0] = _mm256_add_epi32(acc[r][0], product(x0, w));
                acc[r][1] = _mm256_add_epi32(acc[r][1], product(x1, w));
            }
        }
        const int64_t n = np - p0 < 16 ? np - p0 : 16;
        if (!mult) {  // int32 out (Qu8ConvTileFn)
            for (int r = 0; r < rows; ++r) {
                const __m256i c = _mm256_set1_epi32(corr[r]);
                alignas(32) int32_t out[16];
                _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm256_add_epi32(acc[r][0], c));
                _mm256_store_si256(reinterpret_cast<__m256i*>(out + 8),
                                   _mm256_add_epi32(acc[r][1], c));
                std::memcpy(reinterpret_cast<int32_t*>(y) + r * ldy + p0, out,
                            static_cast<size_t>(n) * sizeof(int32_t));
            }
            continue;
        }
        for (int r = 0; r < rows; ++r) {
            const __m256i c = _mm256_set1_epi32(corr[r]);
            const __m256 m = _mm256_set1_ps(mult[r]);
            alignas(16) uint8_t out[16];
            for (int v = 0; v < 2; ++v) {
                const __m256 f =
                    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc[r][v], c)), m);
                _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 8 * v),
                                 to_u8(clamp(f, flo, fhi), z));
            }
            std::memcpy(y + r * ldy + p0, out, static_cast<size_t>(n));
        }
    }
}

}  // namespace

void qu8_conv_tile_avx2(const int32_t* a, const int32_t* panel, int64_t groups, int rows,
                        int64_t np, const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
                        int32_t hi, uint8_t* y, int64_t ldy) {
    tile_avx2<false>(a, panel, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
}

void qu8_pack_panel_7bit_avx2(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                              int32_t* panel) {
    qu8_pack_panel_sse2(x, koff, K, np, panel);  // groups of 4 bytes
}

void qu8_conv_tile_7bit_avx2(const int32_t* a, const int32_t* panel, int64_t groups, int rows,
                             int64_t np, const int32_t* corr, const float* mult, int32_t zy,
                             int32_t lo, int32_t hi, uint8_t* y, int64_t ldy) {
    tile_avx2<true>(a, panel, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
}

void qu8_quantize_avx2(const float* x, int64_t n, float scale, int32_t zp, uint8_t* y) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256 lo = _mm256_set1_ps(static_cast<float>(-zp));
    const __m256 hi = _mm256_set1_ps(static_cast<float>(255 - zp));
    const __m256i z = _mm256_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), to_u8(clamp(v, lo, hi), z));
    }
    for (; i < n; ++i) y[i] = static_cast<uint8_t>(clamp_round(x[i] / scale, zp, 0, 255));
}

void qu8_dequantize_avx2(const uint8_t* x, int64_t n, float scale, int32_t zp, float* y) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i z = _mm256_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(
            y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(load_u8x8(x + i), z)), s));
    for (; i < n; ++i) y[i] = static_cast<float>(x[i] - zp) * scale;
}

void qu8_add_avx2(const uint8_t* a, const uint8_t* b, int64_t n, float ka, float kb, int32_t za,
                  int32_t zb, int32_t zc, int32_t lo, int32_t hi, uint8_t* y) {
    const __m256 va = _mm256_set1_ps(ka), vb = _mm256_set1_ps(kb);
    const __m256i vza = _mm256_set1_epi32(za), vzb = _mm256_set1_epi32(zb),
                  vzc = _mm256_set1_epi32(zc);
    const __m256 flo = _mm256_set1_ps(static_cast<float>(lo - zc));
    const __m256 fhi = _mm256_set1_ps(static_cast<float>(hi - zc));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_cvtepi32_ps(_mm256_sub_epi32(load_u8x8(a + i), vza));
        const __m256 w = _mm256_cvtepi32_ps(_mm256_sub_epi32(load_u8x8(b + i), vzb));
        const __m256 v = _mm256_fmadd_ps(x, va, _mm256_mul_ps(w, vb));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), to_u8(clamp(v, flo, fhi), vzc));
    }
    for (; i < n; ++i) {
        const float v =
            std::fma(static_cast<float>(a[i] - za), ka, static_cast<float>(b[i] - zb) * kb);
        y[i] = static_cast<uint8_t>(clamp_round(v, zc, lo, hi));
    }
}

void qu8_requantize_avx2(const float* acc, int64_t n, int32_t corr, float mult, int32_t zy,
                         int32_t lo, int32_t hi, uint8_t* y) {
    const __m256i c = _mm256_set1_epi32(corr), z = _mm256_set1_epi32(zy);
    const __m256 m = _mm256_set1_ps(mult);
    const __m256 flo = _mm256_set1_ps(static_cast<float>(lo - zy));
    const __m256 fhi = _mm256_set1_ps(static_cast<float>(hi - zy));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = _mm256_add_epi32(_mm256_cvttps_epi32(_mm256_loadu_ps(acc + i)), c);
        const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(v), m);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(y + i), to_u8(clamp(f, flo, fhi), z));
    }
    for (; i < n; ++i) {
        const float v = static_cast<float>(static_cast<int32_t>(acc[i]) + corr) * mult;
        y[i] = static_cast<uint8_t>(clamp_round(v, zy, lo, hi));
    }
}

}  // namespace pare
