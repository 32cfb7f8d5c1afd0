// The blocked GEMM driver shared by every f32 GEMM microkernel.
//
// Rows [m0, m1) of C[M,N] = act(A[M,K] * B[K,N] + bias[m]), row-major, with A
// already packed (F32PackedA, runtime/cpu/cpu.h: packed once at prepare time for
// weights). Blocks: kF32GemmKC along K, MC rows of A, NC columns of B; B (a matrix
// or generated rows, F32BSource) is packed per block into NR-column panels (kc x
// NR, zero-padded), so the microkernel reads
// both operands contiguously and never past a panel. A kernel file includes this
// header and instantiates gemm_packed_driver with its microkernel; the code is
// compiled with that file's ISA flags.
//
// Microkernel contract: micro(kc, a_panel, b_panel, ldb, acc) computes the full MR x
// NR tile of products into acc (row-major, NR floats per row), reading row k of the B
// panel at b_panel + k * ldb (NR for a packed panel; B's own leading dimension when
// B is a plain matrix read in place: a single K block, whole panels); the driver stores it
// into C (plus bias) on the first K block, adds it on later ones, and applies the
// activation after the last, clipping partial tiles.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/vec_math.h"

namespace pare {
// Internal linkage: each kernel file compiles its own copy with its own ISA flags
// (a shared inline definition could let the linker pick an AVX2 body for the
// scalar path).
namespace {

// A whole MR x NR tile of a single K block into C: c[i][j] = act(acc[i][j] +
// bias[i] + r[i][j]) (bias, r may be null), in vectors of V lanes, the activation's
// kind resolved once per tile.
template <int MR, int NR, int V>
inline void store_full_tile(const float* acc, float* c, int64_t ldc, const float* bias,
                            const float* r, const Activation& act) {
    using vec = typename FloatVec<V>::type;
    with_activation_kind(act.kind, [&](auto kind) {
        Activation a = act;
        a.kind = decltype(kind)::value;
        for (int i = 0; i < MR; ++i) {
            const float b0 = bias ? bias[i] : 0.0f;
#pragma GCC unroll 4
            for (int j = 0; j < NR; j += V) {
                vec v;
                std::memcpy(&v, acc + i * NR + j, sizeof v);
                v += b0;
                if (r) {
                    vec rv;
                    std::memcpy(&rv, r + i * ldc + j, sizeof rv);
                    v += rv;
                }
                v = vactivate<V>(a, v);
                std::memcpy(c + i * ldc + j, &v, sizeof v);
            }
        }
    });
}

// V: vector lanes for the activation epilogue.
template <int MR, int NR, int V, class Micro>
void gemm_packed_driver(const F32PackedA& a, int64_t m0, int64_t m1, int64_t N, const F32BSource& B,
                        float* C, int64_t ldc, const float* bias, const float* R,
                        const Activation& act, Micro micro) {
    constexpr int64_t KC = kF32GemmKC, MC = MR * 24, NC = NR * 32;
    const int64_t K = a.K, Mpad = (a.M + MR - 1) / MR * MR;
    if (m1 <= m0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t m = m0; m < m1; ++m) {
            for (int64_t n = 0; n < N; ++n)
                C[m * ldc + n] = (bias ? bias[m] : 0.0f) + (R ? R[m * ldc + n] : 0.0f);
            activate_span<V>(act, C + m * ldc, N);
        }
        return;
    }
    // Panels are packed row by row across all panels of a block: a panel stride of a
    // whole number of 4 KiB pages would send those writes to one cache set, so
    // panels are spaced by one extra cache line.
    float* const pb = scratch_floats(0, static_cast<size_t>(NC / NR * (NR * KC + 16)));
    // A plain B with K in one block is read in place, whole panels of it (rows ld
    // apart: for the short K of pointwise convolutions packing cost as much as the
    // products; AVX-512, 1 thread: 32->16 channels at 112x112 0.077 against 0.102
    // ms packed, 144->24 at 56x56 0.112 against 0.147, never slower); only a last
    // partial panel is packed, zero-padded.
    const bool in_place = !B.rows && K <= KC;
    alignas(64) float acc[MR * NR];
    alignas(64) float row[NC];  // one generated row of B (F32BSource::rows)
    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = std::min(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            const bool first = pc == 0, last = pc + kc >= K;
            const int64_t pstride = NR * kc + 16;
            // Pack B[pc:pc+kc, jc:jc+nc] into NR-wide panels, row by row (in place:
            // only the partial panel).
            const int64_t pack_from = in_place ? nc / NR * NR : 0;
            for (int64_t k = 0; k < kc && pack_from < nc; ++k) {
                const float* src;
                if (B.rows) {
                    B.rows(B.ctx, pc + k, B.col0 + jc, nc, row);
                    src = row;
                } else {
                    src = B.data + (pc + k) * B.ld + jc;
                }
                for (int64_t jr = pack_from; jr < nc; jr += NR) {
                    float* d = pb + (jr / NR) * pstride + k * NR;
                    const int64_t nr = std::min<int64_t>(NR, nc - jr);
                    if (nr == NR) {
                        std::memcpy(d, src + jr, NR * sizeof(float));
                    } else {
                        for (int64_t j = 0; j < NR; ++j) d[j] = j < nr ? src[jr + j] : 0.0f;
                    }
                }
            }
            const float* ablock = a.data + pc * Mpad;
            for (int64_t ic = m0; ic < m1; ic += MC) {
                const int64_t mc = std::min(MC, m1 - ic);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    const int64_t nr = std::min<int64_t>(NR, nc - jr);
                    const bool direct = in_place && nr == NR;
                    const float* bp = direct ? B.data + jc + jr : pb + (jr / NR) * pstride;
                    const int64_t ldb = direct ? B.ld : NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int64_t mr = std::min<int64_t>(MR, mc - ir);
                        micro(kc, ablock + (ic + ir) * kc, bp, ldb, acc);
                        if (first && last && mr == MR && nr == NR) {
                            const int64_t r0 = ic + ir;
                            store_full_tile<MR, NR, V>(acc, C + r0 * ldc + jc + jr, ldc,
                                                       bias ? bias + r0 : nullptr,
                                                       R ? R + r0 * ldc + jc + jr : nullptr, act);
                            continue;
                        }
                        for (int64_t i = 0; i < mr; ++i) {
                            float* c = C + (ic + ir + i) * ldc + jc + jr;
                            const float* s = acc + i * NR;
                            if (first) {
                                const float b0 = bias ? bias[ic + ir + i] : 0.0f;
                                if (R) {
                                    const float* r = R + (ic + ir + i) * ldc + jc + jr;
                                    for (int64_t j = 0; j < nr; ++j) c[j] = (s[j] + b0) + r[j];
                                } else {
                                    for (int64_t j = 0; j < nr; ++j) c[j] = s[j] + b0;
                                }
                            } else {
                                for (int64_t j = 0; j < nr; ++j) c[j] += s[j];
                            }
                            if (last) activate_span<V>(act, c, nr);
                        }
                    }
                }
            }
        }
    }
}

// The unpacked entry (F32GemmFn): packs A into a per-thread scratch buffer first.
template <int MR, int NR, int V, class Micro>
void gemm_unpacked_driver(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                          const float* B, int64_t ldb, float* C, int64_t ldc, const float* bias,
                          Micro micro) {
    if (M <= 0) return;
    float* const pa = scratch_floats(1, static_cast<size_t>(f32_packed_a_size(M, K, MR)));
    f32_pack_a(M, K, A, lda, MR, pa);
    F32PackedA packed{pa, M, K, MR};
    gemm_packed_driver<MR, NR, V>(packed, 0, M, N, F32BSource(B, ldb), C, ldc, bias, nullptr,
                                  Activation{}, micro);
}

}  // namespace
}  // namespace pare
