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

}  // namespace
}  // namespace pare
