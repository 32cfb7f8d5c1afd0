// f32_gemm_12x32_avx512: GEMM with a 12x32 register tile (24 zmm accumulators, two
// zmm of B and one broadcast of A per row and step), AVX-512F. Shapes and layout
// as F32GemmFn (runtime/cpu/cpu.h). Reads packed panels only: no over-read of A,
// B or C; no alignment requirement.
#include <immintrin.h>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/gemm_driver.h"
#include "runtime/kernels/gemv_impl.h"

namespace pare {

namespace {

constexpr int kNR = 32;

// MR x 32 tile: MR = 12 (the table's height) or 8 (its alternative, for 64 or 32
// rows, which 12 would pad by an eighth or more).
template <int kMR>
void micro_mx32(int64_t kc, const float* a, const float* b, int64_t ldb, float* acc) {
    __m512 c0[kMR], c1[kMR];
#pragma GCC unroll 12
    for (int i = 0; i < kMR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_loadu_ps(b + k * ldb), b1 = _mm512_loadu_ps(b + k * ldb + 16);
        const float* ak = a + k * kMR;
#pragma GCC unroll 12
        for (int i = 0; i < kMR; ++i) {
            const __m512 x = _mm512_set1_ps(ak[i]);
            c0[i] = _mm512_fmadd_ps(x, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(x, b1, c1[i]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < kMR; ++i) {
        _mm512_store_ps(acc + i * kNR, c0[i]);
        _mm512_store_ps(acc + i * kNR + 16, c1[i]);
    }
}

}  // namespace

void f32_gemm_12x32_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                           const float* B, int64_t ldb, float* C, int64_t ldc, const float* bias) {
    gemm_unpacked_driver<12, kNR, 16>(M, N, K, A, lda, B, ldb, C, ldc, bias, micro_mx32<12>);
}

void f32_gemm_packed_12x32_avx512(const F32PackedA& a, int64_t m0, int64_t m1, int64_t N,
                                  const F32BSource& B, float* C, int64_t ldc, const float* bias,
                                  const float* R, const Activation& act) {
    if (a.mr == 8) {
        gemm_packed_driver<8, kNR, 16>(a, m0, m1, N, B, C, ldc, bias, R, act, micro_mx32<8>);
    } else {
        gemm_packed_driver<12, kNR, 16>(a, m0, m1, N, B, C, ldc, bias, R, act, micro_mx32<12>);
    }
}

void f32_gemv_avx512(const float* x, int64_t K, const float* W, int64_t ldw, int64_t n, float* y) {
    gemv_rows<16>(x, K, W, ldw, n, y);
}

void f32_gemv_nm_avx512(const float* x, int64_t groups, int keep, const float* val,
                        const uint8_t* idx, int64_t blocks, float* y) {
    gemv_nm<16>(x, groups, keep, val, idx, blocks, y);
}

}  // namespace pare
