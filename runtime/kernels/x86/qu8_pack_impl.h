// The int8 convolution's panel packing (Qu8PackPanelFn, runtime/cpu/cpu.h) with
// SSE2 byte interleaves, included by each x86 kernel file that offers the int8
// tile (each compiles it with its own flags; internal linkage).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "runtime/cpu/cpu.h"

namespace pare {
namespace {

// Rows r0..r3 at 16 positions interleaved byte by byte: 16 int32 (4 bytes each).
inline void interleave16(const uint8_t* r0, const uint8_t* r1, const uint8_t* r2, const uint8_t* r3,
                         int32_t* out) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r0));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r1));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r2));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r3));
    const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
    const __m128i cd_lo = _mm_unpacklo_epi8(c, d), cd_hi = _mm_unpackhi_epi8(c, d);
    __m128i* o = reinterpret_cast<__m128i*>(out);
    _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab_lo, cd_lo));
    _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab_hi, cd_hi));
    _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab_hi, cd_hi));
}

inline void qu8_pack_panel_sse2(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                                int32_t* panel) {
    alignas(64) static const uint8_t zeros[kQu8TileCols] = {};
    alignas(64) uint8_t tail[4][16];
    const int64_t groups = (K + 3) / 4;
    const int64_t full = np / 16 * 16;
    for (int64_t g = 0; g < groups; ++g) {
        const uint8_t* r[4];
        for (int j = 0; j < 4; ++j) r[j] = 4 * g + j < K ? x + koff[4 * g + j] : zeros;
        int32_t* out = panel + g * kQu8TileCols;
        for (int64_t p = 0; p < full; p += 16)
            interleave16(r[0] + p, r[1] + p, r[2] + p, r[3] + p, out + p);
        if (np > full) {
            // The last positions: copied into zeroed rows first (no read past np).
            for (int j = 0; j < 4; ++j) {
                std::memset(tail[j], 0, 16);
                std::memcpy(tail[j], r[j] + full, static_cast<size_t>(np - full));
            }
            interleave16(tail[0], tail[1], tail[2], tail[3], out + full);
        }
    }
}

}  // namespace
}  // namespace pare
