// The vector-matrix product y[0:n] += sum_k x[k] * W[k, 0:n] (W row-major, leading
// dimension ldw), shared by the per-ISA kernel files (each compiles its own copy
// with its own flags; internal linkage). Streams W once, four rows at a time, with
// y in V-lane vectors: the batch-1 classifier layer, bound by memory bandwidth,
// where wide loads matter.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/kernels/vec_math.h"

namespace pare {
namespace {

// x's lanes picked by the lane indices i (GCC's __builtin_shuffle: vpermps, tbl);
// clang has no run-time-index form, so lane by lane there (the fuzz build).
template <typename Vec, typename IVec>
inline Vec permute(Vec x, IVec i) {
#if defined(__clang__)
    Vec r = x;
    for (int l = 0; l < static_cast<int>(sizeof(Vec) / sizeof(float)); ++l) r[l] = x[i[l]];
    return r;
#else
    return __builtin_shuffle(x, i);
#endif
}

template <int V>
void gemv_rows(const float* x, int64_t K, const float* W, int64_t ldw, int64_t n, float* y) {
    using vec = typename FloatVec<V>::type;
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        const float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
        const float* w0 = W + k * ldw;
        const float *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        int64_t j = 0;
        for (; j + V <= n; j += V) {
            vec a, b0, b1, b2, b3;
            std::memcpy(&a, y + j, sizeof a);
            std::memcpy(&b0, w0 + j, sizeof b0);
            std::memcpy(&b1, w1 + j, sizeof b1);
            std::memcpy(&b2, w2 + j, sizeof b2);
            std::memcpy(&b3, w3 + j, sizeof b3);
            a += (x0 * b0 + x1 * b1) + (x2 * b2 + x3 * b3);
            std::memcpy(y + j, &a, sizeof a);
        }
        for (; j < n; ++j) y[j] += (x0 * w0[j] + x1 * w1[j]) + (x2 * w2[j] + x3 * w3[j]);
    }
    for (; k < K; ++k) {
        const float xk = x[k];
        const float* w = W + k * ldw;
        for (int64_t j = 0; j < n; ++j) y[j] += xk * w[j];
    }
}

// The product for N:M-pruned weights (F32GemvNmFn, runtime/cpu/cpu.h; groups of 4
// k, at most 2 kept): V outputs across the lanes, each with its own kept weights.
// Per V-float window of x (V/4 groups), per group and kept slot: one vector of
// values (lane l: output l's weight) and V 2-bit positions in the group (one
// 32-, 16- or 8-bit word), widened by a per-lane shift, and the inputs gathered
// from the window by a register permute (vpermps, tbl) and multiplied in. It
// streams 8.5 bytes per 4 k and 16 outputs at 2:4 against the dense product's 16:
// the batch-1 classifier, bound by memory bandwidth.
template <int V, int KEEP>
void gemv_nm_blocks(const float* x, int64_t groups, int keep, const float* val, const uint8_t* idx,
                    int64_t blocks, float* y) {
    using vec = typename FloatVec<V>::type;
    using ivec = typename FloatVec<V>::itype;
    constexpr int kWordBytes = V / 4;  // V 2-bit positions
    const int kp = KEEP > 0 ? KEEP : keep;
    ivec shift;
    for (int l = 0; l < V; ++l) shift[l] = 2 * l;
    constexpr int64_t gpw = V / 4;  // groups per window of x
    for (int64_t b = 0; b < blocks; ++b) {
        const float* vp = val + b * groups * kp * V;
        const uint8_t* ip = idx + b * groups * kp * kWordBytes;
        vec acc[4] = {vec{}, vec{}, vec{}, vec{}};
        int64_t g = 0;
        for (int64_t k0 = 0; g < groups; k0 += V) {
            vec xv;
            std::memcpy(&xv, x + k0, sizeof xv);
            const int64_t gend = groups - g < gpw ? groups : g + gpw;
            for (int32_t off = 0; g < gend; ++g, off += 4) {
#pragma GCC unroll 2
                for (int j = 0; j < kp; ++j) {
                    vec w;
                    uint32_t word = 0;
                    // Ahead of use: one stream of cache lines, which the hardware
                    // prefetcher alone follows too slowly from L3 and memory.
                    __builtin_prefetch(vp + 32 * V);
                    std::memcpy(&w, vp, sizeof w);
                    std::memcpy(&word, ip, kWordBytes);
                    vp += V;
                    ip += kWordBytes;
                    const ivec iv = (((ivec{} + static_cast<int32_t>(word)) >> shift) & 3) + off;
                    acc[(g & 1) * 2 + (j & 1)] += w * permute(xv, iv);
                }
            }
        }
        const vec sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        std::memcpy(y + b * V, &sum, sizeof sum);
    }
}

template <int V>
void gemv_nm(const float* x, int64_t groups, int keep, const float* val, const uint8_t* idx,
             int64_t blocks, float* y) {
    if (keep == 2) return gemv_nm_blocks<V, 2>(x, groups, keep, val, idx, blocks, y);
    gemv_nm_blocks<V, 0>(x, groups, keep, val, idx, blocks, y);
}

}  // namespace
}  // namespace pare
