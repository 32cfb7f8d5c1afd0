// qu8_conv_6x64_vnni: the int8 convolution tile for AVX-512 VNNI (vpdpbusd: four
// uint8 x int8 products summed into each int32 lane, exact, no saturation), and
// the panel packing it reads. Shapes and layout as Qu8PackPanelFn and
// Qu8ConvTileFn (runtime/cpu/cpu.h); the requantization is requantize()'s
// (runtime/ops/requantize.h), lane by lane with the same float operations. (The
// maskz forms with a full mask: GCC 12 warns on the plain ones' undefined inputs.)
#include <immintrin.h>

#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/x86/qu8_pack_impl.h"

namespace pare {

namespace {

constexpr int kRows = kQu8TileRows;  // 6 output channels
constexpr int kCols = kQu8TileCols;  // 64 positions: 4 zmm

template <int NV>
void tile(const int32_t* a, const int32_t* panel, int64_t groups, int rows, int64_t np,
          const int32_t* corr, const float* mult, int32_t zy, int32_t lo, int32_t hi, uint8_t* y,
          int64_t ldy) {
    __m512i acc[kRows][NV];
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; ++g) {
        const int32_t* pg = panel + g * kCols;
        __m512i b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_si512(pg + 16 * v);
        const int32_t* ag = a + g * kRows;
#pragma GCC unroll 6
        for (int r = 0; r < kRows; ++r) {
            const __m512i w = _mm512_set1_epi32(ag[r]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], b[v], w);
        }
    }
    const __m512 flo = _mm512_set1_ps(static_cast<float>(lo - zy));
    const __m512 fhi = _mm512_set1_ps(static_cast<float>(hi - zy));
    const __m512i z = _mm512_set1_epi32(zy);
    const bool full_range = lo == 0 && hi == 255;
    // After packs/packus, dword 4L + j holds row part j's positions 4L..4L+3.
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    const __mmask64 mask = np >= 64 ? ~__mmask64{0} : ((__mmask64{1} << np) - 1);
#pragma GCC unroll 6
    for (int r = 0; r < kRows; ++r) {
        if (r >= rows) break;
        const __m512i c = _mm512_set1_epi32(corr[r]);
        const __m512 m = _mm512_set1_ps(mult[r]);
        __m512i q[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) {
            if (v >= NV) {
                q[v] = _mm512_setzero_si512();
                continue;
            }
            __m512 f =
                _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xffff, _mm512_add_epi32(acc[r][v], c)), m);
            // The upper clamp keeps the conversion in range; with the full uint8
            // range the lower one is the saturation of packus (a value below
            // -2^31 converts to INT_MIN, which saturates to 0 as well).
            f = _mm512_maskz_min_ps(0xffff, f, fhi);
            if (!full_range) f = _mm512_maskz_max_ps(0xffff, f, flo);
            q[v] = _mm512_add_epi32(_mm512_maskz_cvt_roundps_epi32(
                                        0xffff, f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                    z);
        }
        const __m512i u = _mm512_maskz_permutexvar_epi32(
            0xffff, order,
            _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3])));
        _mm512_mask_storeu_epi8(y + r * ldy, mask, u);
    }
}

}  // namespace

void qu8_pack_panel_vnni(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                         int32_t* panel) {
    qu8_pack_panel_sse2(x, koff, K, np, panel);
}

void qu8_conv_tile_vnni(const int32_t* a, const int32_t* panel, int64_t groups, int rows,
                        int64_t np, const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
                        int32_t hi, uint8_t* y, int64_t ldy) {
    switch ((np + 15) / 16) {
        case 1:
            return tile<1>(a, panel, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
        case 2:
            return tile<2>(a, panel, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
        case 3:
            return tile<3>(a, panel, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
        default:
            return tile<4>(a, panel, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
    }
}

}  // namespace pare
