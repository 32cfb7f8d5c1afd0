// f32_gemm_8x8_neon: GEMM with an 8x8 register tile (16 q-register accumulators;
// per k step two q loads of B, two of A, and 16 lane-indexed FMAs), NEON on
// aarch64. Shapes and layout as F32GemmFn / F32GemmPackedFn (runtime/cpu/cpu.h).
// Reads packed panels only.
#include <arm_neon.h>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/gemm_driver.h"
#include "runtime/kernels/gemv_impl.h"

namespace pare {

namespace {

void micro_8x8(int64_t kc, const float* a, const float* b, int64_t ldb, float* acc) {
    float32x4_t c[8][2];
    for (int i = 0; i < 8; ++i) c[i][0] = c[i][1] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < kc; ++k) {
        const float32x4_t b0 = vld1q_f32(b + k * ldb), b1 = vld1q_f32(b + k * ldb + 4);
        const float32x4_t a0 = vld1q_f32(a + k * 8), a1 = vld1q_f32(a + k * 8 + 4);
        c[0][0] = vfmaq_laneq_f32(c[0][0], b0, a0, 0);
        c[0][1] = vfmaq_laneq_f32(c[0][1], b1, a0, 0);
        c[1][0] = vfmaq_laneq_f32(c[1][0], b0, a0, 1);
        c[1][1] = vfmaq_laneq_f32(c[1][1], b1, a0, 1);
        c[2][0] = vfmaq_laneq_f32(c[2][0], b0, a0, 2);
        c[2][1] = vfmaq_laneq_f32(c[2][1], b1, a0, 2);
        c[3][0] = vfmaq_laneq_f32(c[3][0], b0, a0, 3);
        c[3][1] = vfmaq_laneq_f32(c[3][1], b1, a0, 3);
        c[4][0] = vfmaq_laneq_f32(c[4][0], b0, a1, 0);
        c[4][1] = vfmaq_laneq_f32(c[4][1], b1, a1, 0);
        c[5][0] = vfmaq_laneq_f32(c[5][0], b0, a1, 1);
        c[5][1] = vfmaq_laneq_f32(c[5][1], b1, a1, 1);
        c[6][0] = vfmaq_laneq_f32(c[6][0], b0, a1, 2);
        c[6][1] = vfmaq_laneq_f32(c[6][1], b1, a1, 2);
        c[7][0] = vfmaq_laneq_f32(c[7][0], b0, a1, 3);
        c[7][1] = vfmaq_laneq_f32(c[7][1], b1, a1, 3);
    }
    for (int i = 0; i < 8; ++i) {
        vst1q_f32(acc + i * 8, c[i][0]);
        vst1q_f32(acc + i * 8 + 4, c[i][1]);
    }
}

}  // namespace

void f32_gemm_8x8_neon(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                       int64_t ldb, float* C, int64_t ldc, const float* bias) {
    gemm_unpacked_driver<8, 8, 4>(M, N, K, A, lda, B, ldb, C, ldc, bias, micro_8x8);
}

void f32_gemm_packed_8x8_neon(const F32PackedA& a, int64_t m0, int64_t m1, int64_t N,
                              const F32BSource& B, float* C, int64_t ldc, const float* bias,
                              const float* R, const Activation& act) {
    gemm_packed_driver<8, 8, 4>(a, m0, m1, N, B, C, ldc, bias, R, act, micro_8x8);
}

void f32_gemv_neon(const float* x, int64_t K, const float* W, int64_t ldw, int64_t n, float* y) {
    gemv_rows<4>(x, K, W, ldw, n, y);
}

void f32_gemv_nm_neon(const float* x, int64_t groups, int keep, const float* val,
                      const uint8_t* idx, int64_t blocks, float* y) {
    gemv_nm<4>(x, groups, keep, val, idx, blocks, y);
}

}  // namespace pare
