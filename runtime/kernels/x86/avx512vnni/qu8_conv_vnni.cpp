// qu8_conv_6x64_vnni: the int8 convolution tiles for AVX-512 VNNI (vpdpbusd: four
// uint8 x int8 products summed into each int32 lane, exact, no saturation): 6
// output channels x 64 positions on packed panels or in place, its transpose (64
// channels x 6 positions), the panel packing and the masked scatter. Shapes and
// layout as Qu8PackPanelFn, Qu8ConvTileFn, Qu8ConvTileDirectFn,
// Qu8ConvTileLanesFn and Qu8ScatterFn (runtime/cpu/cpu.h); the requantization is requantize()'s
// (runtime/ops/requantize.h), lane by lane with the same float operations. (The
// maskz forms with a full mask: GCC 12 warns on the plain ones' undefined inputs.)
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/x86/qu8_pack_impl.h"

namespace pare {

namespace {

constexpr int kRows = kQu8TileRows;  // 6 output channels
constexpr int kCols = kQu8TileCols;  // 64 positions: 4 zmm

// f(std::integral_constant<int, K>) for K = n clamped to [1, N]: a run-time count
// (rows, vectors) to a template argument.
template <int N, int K = 1, typename F>
void with_count(int n, F&& f) {
    if constexpr (K == N) {
        f(std::integral_constant<int, K>{});
    } else if (n <= K) {
        f(std::integral_constant<int, K>{});
    } else {
        with_count<N, K + 1>(n, f);
    }
}

// requantize() of int32 sums, 16 lanes at a time, and 4 such packed into 64 bytes.
struct Requant {
    Requant(int32_t zy, int32_t lo, int32_t hi)
        : flo(_mm512_set1_ps(static_cast<float>(lo - zy))),
          fhi(_mm512_set1_ps(static_cast<float>(hi - zy))),
          z(_mm512_set1_epi32(zy)),
          full_range(lo == 0 && hi == 255) {}

    __m512i lanes(__m512i sum, __m512i corr, __m512 mult) const {
        __m512 f =
            _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xffff, _mm512_add_epi32(sum, corr)), mult);
        // The upper clamp keeps the conversion in range; with the full uint8 range
        // the lower one is the saturation of packus (a value below -2^31 converts to
        // INT_MIN, which saturates to 0 as well).
        f = _mm512_maskz_min_ps(0xffff, f, fhi);
        if (!full_range) f = _mm512_maskz_max_ps(0xffff, f, flo);
        return _mm512_add_epi32(_mm512_maskz_cvt_roundps_epi32(
                                    0xffff, f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                z);
    }

    // Bytes 16v..16v+15 from q[v].
    __m512i bytes(const __m512i q[4]) const {
        // After packs/packus, dword 4L + j holds part j's lanes 4L..4L+3.
        const __m512i order =
            _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
        return _mm512_maskz_permutexvar_epi32(
            0xffff, order,
            _mm512_packus_epi16(_mm512_packs_epi32(q[0], q[1]), _mm512_packs_epi32(q[2], q[3])));
    }

    __m512 flo, fhi;
    __m512i z;
    bool full_range;
};

// The products of R rows (the block's output channels, R <= kRows: a last,
// partial block computes only its own) with NV zmm of 16 positions, summed over
// the groups into sums[r][0, 16 NV). Group g's positions at panel + g * kCols, or
// (kDirect) at panel + goff[g]. A function of its own, and kDirect a template
// parameter: with the requantization (or a branch) in the same function GCC 12
// keeps some accumulators in memory throughout the loop (up to twice as slow).
template <int NV, int R, bool kDirect>
__attribute__((noinline)) void products(const int32_t* a, const int32_t* panel, const int64_t* goff,
                                        int64_t groups, int32_t* sums) {
    __m512i acc[R][NV];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; ++g) {
        const int32_t* pg = kDirect ? panel + goff[g] : panel + g * kCols;
        __m512i b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_si512(pg + 16 * v);
        const int32_t* ag = a + g * kRows;
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m512i w = _mm512_set1_epi32(ag[r]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], b[v], w);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) _mm512_store_si512(sums + (r * 4 + v) * 16, acc[r][v]);
}

template <int NV, int R, bool kDirect>
void tile(const int32_t* a, const int32_t* panel, const int64_t* goff, int64_t groups, int64_t np,
          const int32_t* corr, const float* mult, int32_t zy, int32_t lo, int32_t hi, uint8_t* y,
          int64_t ldy) {
    alignas(64) int32_t sums[kRows * 64];
    products<NV, R, kDirect>(a, panel, goff, groups, sums);
    if (!mult) {  // int32 out (Qu8ConvTileFn)
        for (int r = 0; r < R; ++r) {
            const __m512i c = _mm512_set1_epi32(corr[r]);
            int32_t* yr = reinterpret_cast<int32_t*>(y) + r * ldy;
            for (int v = 0; v < NV; ++v) {
                const int64_t left = np - 16 * v;
                const __mmask16 m16 =
                    left >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << left) - 1);
                _mm512_mask_storeu_epi32(
                    yr + 16 * v, m16,
                    _mm512_add_epi32(_mm512_load_si512(sums + (r * 4 + v) * 16), c));
            }
        }
        return;
    }
    const Requant rq(zy, lo, hi);
    const __mmask64 mask = np >= 64 ? ~__mmask64{0} : ((__mmask64{1} << np) - 1);
    for (int r = 0; r < R; ++r) {
        const __m512i c = _mm512_set1_epi32(corr[r]);
        const __m512 m = _mm512_set1_ps(mult[r]);
        __m512i q[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v)
            q[v] = v < NV ? rq.lanes(_mm512_load_si512(sums + (r * 4 + v) * 16), c, m)
                          : _mm512_setzero_si512();
        _mm512_mask_storeu_epi8(y + r * ldy, mask, rq.bytes(q));
    }
}

// The transposed products: R positions x 64 channels, sums[r * 64 + c].
template <int R>
__attribute__((noinline)) void lane_products(const int32_t* w, const int32_t* x,
                                             const int64_t* goff, int64_t groups,
                                             const int64_t* pos, int32_t* sums) {
    __m512i acc[R][4];
    int64_t at[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        at[r] = pos[r];
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_setzero_si512();
    }
    for (int64_t g = 0; g < groups; ++g) {
        const int32_t* xg = x + goff[g];
        const int32_t* wg = w + g * 64;
        __m512i b[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) b[v] = _mm512_loadu_si512(wg + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m512i a = _mm512_set1_epi32(xg[at[r]]);
#pragma GCC unroll 4
            for (int v = 0; v < 4; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], a, b[v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) _mm512_store_si512(sums + r * 64 + 16 * v, acc[r][v]);
}

template <bool kDirect>
void tile_any(const int32_t* a, const int32_t* x, const int64_t* goff, int64_t groups, int rows,
              int64_t np, const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
              int32_t hi, uint8_t* y, int64_t ldy) {
    static_assert(kRows == 6, "rows 1..6");
    with_count<4>(static_cast<int>((np + 15) / 16), [&](auto nv) {
        with_count<kRows>(rows, [&](auto r) {
            tile<decltype(nv)::value, decltype(r)::value, kDirect>(a, x, goff, groups, np, corr,
                                                                   mult, zy, lo, hi, y, ldy);
        });
    });
}

}  // namespace

void qu8_pack_panel_vnni(const uint8_t* x, const int64_t* koff, int64_t K, int64_t np,
                         int32_t* panel) {
    qu8_pack_panel_sse2(x, koff, K, np, panel);
}

void qu8_conv_tile_direct_vnni(const int32_t* a, const int32_t* x, const int64_t* goff,
                               int64_t groups, int rows, int64_t np, const int32_t* corr,
                               const float* mult, int32_t zy, int32_t lo, int32_t hi, uint8_t* y,
                               int64_t ldy) {
    tile_any<true>(a, x, goff, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
}

void qu8_conv_tile_vnni(const int32_t* a, const int32_t* panel, int64_t groups, int rows,
                        int64_t np, const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
                        int32_t hi, uint8_t* y, int64_t ldy) {
    tile_any<false>(a, panel, nullptr, groups, rows, np, corr, mult, zy, lo, hi, y, ldy);
}

void qu8_conv_tile_lanes_vnni(const int32_t* w, const int32_t* x, const int64_t* goff,
                              int64_t groups, const int64_t* pos, int rows, int nch,
                              const int32_t* corr, const float* mult, int32_t zy, int32_t lo,
                              int32_t hi, uint8_t* y, int64_t ldy) {
    alignas(64) int32_t sums[kQu8LaneRows * 64];
    with_count<kQu8LaneRows>(
        rows, [&](auto r) { lane_products<decltype(r)::value>(w, x, goff, groups, pos, sums); });
    const Requant rq(zy, lo, hi);
    // Row r's 64 channels as bytes, then written channel by channel.
    alignas(64) uint8_t t[kQu8LaneRows][64];
    for (int r = 0; r < rows; ++r) {
        __m512i q[4];
        for (int v = 0; v < 4; ++v)
            q[v] = rq.lanes(_mm512_load_si512(sums + r * 64 + 16 * v),
                            _mm512_loadu_si512(corr + 16 * v), _mm512_loadu_ps(mult + 16 * v));
        _mm512_store_si512(t[r], rq.bytes(q));
    }
    for (int c = 0; c < nch; ++c)
        for (int r = 0; r < rows; ++r) y[c * ldy + r] = t[r][c];
}

// Masked byte stores (AVX-512BW): each segment one store per row, addressed so
// that tile position q lands on s.dst + (q - s.q); the bytes outside the segment
// are masked off (neither written nor faulted on).
void qu8_scatter_avx512bw(const uint8_t* tile, int rows, const Qu8Segment* seg, int nseg,
                          uint8_t* y, int64_t ldy) {
    for (int s = 0; s < nseg; ++s) {
        const __mmask64 m = (seg[s].len >= 64 ? ~__mmask64{0} : ((__mmask64{1} << seg[s].len) - 1))
                            << seg[s].q;
        uint8_t* ys = y + (seg[s].dst - seg[s].q);
        for (int r = 0; r < rows; ++r)
            _mm512_mask_storeu_epi8(ys + r * ldy, m, _mm512_loadu_si512(tile + r * kCols));
    }
}

}  // namespace pare
