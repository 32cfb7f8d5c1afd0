// f32_gemm_6x16_avx2: GEMM with a 6x16 register tile (12 ymm accumulators, two
// ymm of B and one broadcast of A per step), AVX2 + FMA. Shapes and layout as
// F32GemmFn (runtime/cpu/cpu.h). Reads packed panels only: no over-read of A, B or
// C; no alignment requirement (unaligned loads and stores).
#include <immintrin.h>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/gemm_driver.h"
#include "runtime/kernels/gemv_impl.h"

namespace pare {

namespace {

void micro_6x16(int64_t kc, const float* a, const float* b, int64_t ldb, float* acc) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
           c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(),
           c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(),
           c51 = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 b0 = _mm256_loadu_ps(b + k * ldb), b1 = _mm256_loadu_ps(b + k * ldb + 8);
        const float* ak = a + k * 6;
        __m256 x = _mm256_broadcast_ss(ak + 0);
        c00 = _mm256_fmadd_ps(x, b0, c00);
        c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(ak + 1);
        c10 = _mm256_fmadd_ps(x, b0, c10);
        c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(ak + 2);
        c20 = _mm256_fmadd_ps(x, b0, c20);
        c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(ak + 3);
        c30 = _mm256_fmadd_ps(x, b0, c30);
        c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(ak + 4);
        c40 = _mm256_fmadd_ps(x, b0, c40);
        c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(ak + 5);
        c50 = _mm256_fmadd_ps(x, b0, c50);
        c51 = _mm256_fmadd_ps(x, b1, c51);
    }
    _mm256_store_ps(acc + 0, c00);
    _mm256_store_ps(acc + 8, c01);
    _mm256_store_ps(acc + 16, c10);
    _mm256_store_ps(acc + 24, c11);
    _mm256_store_ps(acc + 32, c20);
    _mm256_store_ps(acc + 40, c21);
    _mm256_store_ps(acc + 48, c30);
    _mm256_store_ps(acc + 56, c31);
    _mm256_store_ps(acc + 64, c40);
    _mm256_store_ps(acc + 72, c41);
    _mm256_store_ps(acc + 80, c50);
    _mm256_store_ps(acc + 88, c51);
}

}  // namespace

void f32_gemm_6x16_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                        const float* B, int64_t ldb, float* C, int64_t ldc, const float* bias) {
    gemm_unpacked_driver<6, 16, 8>(M, N, K, A, lda, B, ldb, C, ldc, bias, micro_6x16);
}

void f32_gemm_packed_6x16_avx2(const F32PackedA& a, int64_t m0, int64_t m1, int64_t N,
                               const F32BSource& B, float* C, int64_t ldc, const float* bias,
                               const float* R, const Activation& act) {
    gemm_packed_driver<6, 16, 8>(a, m0, m1, N, B, C, ldc, bias, R, act, micro_6x16);
}

void f32_gemv_avx2(const float* x, int64_t K, const float* W, int64_t ldw, int64_t n, float* y) {
    gemv_rows<8>(x, K, W, ldw, n, y);
}

void f32_gemv_nm_avx2(const float* x, int64_t groups, int keep, const float* val,
                      const uint8_t* idx, int64_t blocks, float* y) {
    gemv_nm<8>(x, groups, keep, val, idx, blocks, y);
}

}  // namespace pare
