// Sparse weights times dense inputs (F32SpmmFn in runtime/cpu/cpu.h), compiled by
// each ISA's plane-kernel file with its own vector width V. Blocks of 4V positions
// (4 vectors of accumulators in registers), and in each block every row: for each
// nonzero weight of the row, its value broadcast and multiplied into the 4V inputs
// its column points at. The work is proportional to the nonzeros; a block's inputs
// stay in L1 across the rows.
#pragma once

#include "runtime/kernels/vec_math.h"

namespace pare {
namespace {

// a[0..3] += w * x[0 .. 4V).
template <int V>
inline void fma4(typename FloatVec<V>::type w, const float* x, typename FloatVec<V>::type* a) {
    using F = typename FloatVec<V>::type;
    for (int q = 0; q < 4; ++q) {
        F v;
        std::memcpy(&v, x + q * V, sizeof(F));
        a[q] += w * v;
    }
}

template <int V>
inline void spmm_rows(const int32_t* row_ptr, const int32_t* col, const float* val, int64_t rows,
                      const float* x, const int64_t* xoff, int64_t np, const float* bias,
                      const float* r, float* y, int64_t ldy, const Activation& act) {
    using F = typename FloatVec<V>::type;
    constexpr int64_t kB = 4 * V;
    const auto finish = [&](F a, int64_t m, int64_t p) {
        if (r) {
            F t;
            std::memcpy(&t, r + m * ldy + p, sizeof(F));
            a += t;
        }
        a = vactivate<V>(act, a);
        std::memcpy(y + m * ldy + p, &a, sizeof(F));
    };
    int64_t p = 0;
    for (; p + kB <= np; p += kB) {
        const float* xp = x + p;
        for (int64_t m = 0; m < rows; ++m) {
            // Two sets of accumulators, even and odd nonzeros: 8 independent FMA
            // chains (4 would wait on the FMA latency).
            const F b = vsplat<V>(bias ? bias[m] : 0.0f);
            F a[4] = {b, b, b, b}, c[4] = {F{}, F{}, F{}, F{}};
            const int32_t* cj = col + row_ptr[m];
            const float* vj = val + row_ptr[m];
            const int64_t nz = row_ptr[m + 1] - row_ptr[m];
            int64_t j = 0;
            for (; j + 2 <= nz; j += 2) {
                fma4<V>(vsplat<V>(vj[j]), xp + xoff[cj[j]], a);
                fma4<V>(vsplat<V>(vj[j + 1]), xp + xoff[cj[j + 1]], c);
            }
            if (j < nz) fma4<V>(vsplat<V>(vj[j]), xp + xoff[cj[j]], a);
            for (int q = 0; q < 4; ++q) finish(a[q] + c[q], m, p + q * V);
        }
    }
    for (; p + V <= np; p += V) {
        for (int64_t m = 0; m < rows; ++m) {
            F a = vsplat<V>(bias ? bias[m] : 0.0f);
            for (int32_t j = row_ptr[m]; j < row_ptr[m + 1]; ++j) {
                F xv;
                std::memcpy(&xv, x + xoff[col[j]] + p, sizeof(F));
                a += vsplat<V>(val[j]) * xv;
            }
            finish(a, m, p);
        }
    }
    for (; p < np; ++p) {
        for (int64_t m = 0; m < rows; ++m) {
            float a = bias ? bias[m] : 0.0f;
            for (int32_t j = row_ptr[m]; j < row_ptr[m + 1]; ++j) a += val[j] * x[xoff[col[j]] + p];
            if (r) a += r[m * ldy + p];
            y[m * ldy + p] = apply_activation(act, a);
        }
    }
}

}  // namespace
}  // namespace pare
