// f32_gemm_scalar: the portable GEMM (4x8 tiles, plain C++ the compiler may
// auto-vectorize for the baseline ISA). Used when no SIMD kernel is available or
// PARE_ISA=scalar. Shapes and layout as F32GemmFn (runtime/cpu/cpu.h).
#include "runtime/cpu/cpu.h"
#include "runtime/kernels/gemm_driver.h"
#include "runtime/kernels/gemv_impl.h"

namespace pare {

namespace {

// acc (4 x 8) = sum_k a[k*4 + i] * b[k*ldb + j]
void micro_4x8(int64_t kc, const float* a, const float* b, int64_t ldb, float* acc) {
    float c[4][8] = {};
    for (int64_t k = 0; k < kc; ++k) {
        for (int i = 0; i < 4; ++i) {
            const float ai = a[k * 4 + i];
            for (int j = 0; j < 8; ++j) c[i][j] += ai * b[k * ldb + j];
        }
    }
    std::memcpy(acc, c, sizeof c);
}

}  // namespace

void f32_gemm_scalar(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                     int64_t ldb, float* C, int64_t ldc, const float* bias) {
    gemm_unpacked_driver<4, 8, 4>(M, N, K, A, lda, B, ldb, C, ldc, bias, micro_4x8);
}

void f32_gemm_packed_scalar(const F32PackedA& a, int64_t m0, int64_t m1, int64_t N,
                            const F32BSource& B, float* C, int64_t ldc, const float* bias,
                            const float* R, const Activation& act) {
    gemm_packed_driver<4, 8, 4>(a, m0, m1, N, B, C, ldc, bias, R, act, micro_4x8);
}

void f32_gemv_scalar(const float* x, int64_t K, const float* W, int64_t ldw, int64_t n, float* y) {
    gemv_rows<4>(x, K, W, ldw, n, y);
}

void f32_gemv_nm_scalar(const float* x, int64_t groups, int keep, const float* val,
                        const uint8_t* idx, int64_t blocks, float* y) {
    gemv_nm<4>(x, groups, keep, val, idx, blocks, y);
}

}  // namespace pare
