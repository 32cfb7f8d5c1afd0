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
            F a0 = vsplat<V>(bias ? bias[m] : 0.0f), a1 = a0, a2 = a0, a3 = a0;
            F b0 = F{}, b1 = F{}, b2 = F{}, b3 = F{};
            const int32_t* cj = col + row_ptr[m];
            const float* vj = val + row_ptr[m];
            const int64_t nz = row_ptr[m + 1] - row_ptr[m];
            int64_t j = 0;
            for (; j + 2 <= nz; j += 2) {
                const F w = vsplat<V>(vj[j]), u = vsplat<V>(vj[j + 1]);
                const float* xr = xp + xoff[cj[j]];
                const float* xs = xp + xoff[cj[j + 1]];
                F x0, x1, x2, x3, y0, y1, y2, y3;
                std::memcpy(&x0, xr, sizeof(F));
                std::memcpy(&x1, xr + V, sizeof(F));
                std::memcpy(&x2, xr + 2 * V, sizeof(F));
                std::memcpy(&x3, xr + 3 * V, sizeof(F));
                std::memcpy(&y0, xs, sizeof(F));
                std::memcpy(&y1, xs + V, sizeof(F));
                std::memcpy(&y2, xs + 2 * V, sizeof(F));
                std::memcpy(&y3, xs + 3 * V, sizeof(F));
                a0 += w * x0;
                a1 += w * x1;
                a2 += w * x2;
                a3 += w * x3;
                b0 += u * y0;
                b1 += u * y1;
                b2 += u * y2;
                b3 += u * y3;
            }
            if (j < nz) {
                const F w = vsplat<V>(vj[j]);
                const float* xr = xp + xoff[cj[j]];
                F x0, x1, x2, x3;
                std::memcpy(&x0, xr, sizeof(F));
                std::memcpy(&x1, xr + V, sizeof(F));
                std::memcpy(&x2, xr + 2 * V, sizeof(F));
                std::memcpy(&x3, xr + 3 * V, sizeof(F));
                a0 += w * x0;
                a1 += w * x1;
                a2 += w * x2;
                a3 += w * x3;
            }
            finish(a0 + b0, m, p);
            finish(a1 + b1, m, p + V);
            finish(a2 + b2, m, p + 2 * V);
            finish(a3 + b3, m, p + 3 * V);
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
