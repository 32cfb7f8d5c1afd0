// The blocked, packed GEMM driver shared by every f32 GEMM microkernel.
//
// C[M,N] = A[M,K] * B[K,N] (+ bias[m]), row-major. Blocks: KC along K, MC rows of
// A, NC columns of B; A is packed into MR-row panels (kc x MR, row-padded with
// zeros), B into NR-column panels (kc x NR, column-padded with zeros), so the
// microkernel reads both contiguously and never reads past a panel. A kernel file
// includes this header and instantiates gemm_driver with its microkernel; the code
// is compiled with that file's ISA flags.
//
// Microkernel contract: micro(kc, a_panel, b_panel, acc) computes the full MR x NR
// tile of products into acc (row-major, NR floats per row); the driver adds it to
// C (or stores it, plus bias, on the first K block), clipping partial tiles.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace pare {

template <int MR, int NR, class Micro>
void gemm_driver(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                 int64_t ldb, float* C, int64_t ldc, const float* bias, Micro micro) {
    constexpr int64_t KC = 256, MC = MR * 24, NC = NR * 32;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t m = 0; m < M; ++m) {
            for (int64_t n = 0; n < N; ++n) C[m * ldc + n] = bias ? bias[m] : 0.0f;
        }
        return;
    }
    thread_local std::vector<float> pa, pb;
    pa.resize(static_cast<size_t>(((MC + MR - 1) / MR) * MR * KC));
    pb.resize(static_cast<size_t>(((NC + NR - 1) / NR) * NR * KC));
    alignas(64) float acc[MR * NR];
    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = std::min(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            // Pack B[pc:pc+kc, jc:jc+nc] into NR-wide panels.
            for (int64_t jr = 0; jr < nc; jr += NR) {
                float* dst = pb.data() + (jr / NR) * NR * kc;
                const int64_t nr = std::min<int64_t>(NR, nc - jr);
                for (int64_t k = 0; k < kc; ++k) {
                    const float* src = B + (pc + k) * ldb + jc + jr;
                    float* d = dst + k * NR;
                    if (nr == NR) {
                        std::memcpy(d, src, NR * sizeof(float));
                    } else {
                        for (int64_t j = 0; j < NR; ++j) d[j] = j < nr ? src[j] : 0.0f;
                    }
                }
            }
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = std::min(MC, M - ic);
                // Pack A[ic:ic+mc, pc:pc+kc] into MR-tall panels, k-major.
                for (int64_t ir = 0; ir < mc; ir += MR) {
                    float* dst = pa.data() + (ir / MR) * MR * kc;
                    const int64_t mr = std::min<int64_t>(MR, mc - ir);
                    for (int64_t k = 0; k < kc; ++k) {
                        for (int64_t i = 0; i < MR; ++i) {
                            dst[k * MR + i] = i < mr ? A[(ic + ir + i) * lda + pc + k] : 0.0f;
                        }
                    }
                }
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int64_t nr = std::min<int64_t>(NR, nc - jr);
                    const float* bp = pb.data() + (jr / NR) * NR * kc;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int64_t mr = std::min<int64_t>(MR, mc - ir);
                        micro(kc, pa.data() + (ir / MR) * MR * kc, bp, acc);
                        for (int64_t i = 0; i < mr; ++i) {
                            float* c = C + (ic + ir + i) * ldc + jc + jr;
                            const float* a = acc + i * NR;
                            if (pc == 0) {
                                const float b0 = bias ? bias[ic + ir + i] : 0.0f;
                                for (int64_t j = 0; j < nr; ++j) c[j] = a[j] + b0;
                            } else {
                                for (int64_t j = 0; j < nr; ++j) c[j] += a[j];
                            }
                        }
                    }
                }
            }
        }
    }
}

}  // namespace pare
