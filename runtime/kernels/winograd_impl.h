// The transforms of Winograd's F(2x2, 3x3) convolution (runtime/kernels/generic/
// f32_conv_winograd.cpp), shared by the per-ISA kernel files (each compiles its own
// copy with its own flags; internal linkage), vectorized across V tiles of a tile
// row.
//
// Input: the 4x4 patch of tile tw starts at input column 2*tw - pl; with each input
// row split into even and odd columns (phase arrays), the patches' columns 0..3 of
// V consecutive tiles are four contiguous vectors: even[tw], odd[tw], even[tw+1],
// odd[tw+1]. V_e = (B^T d B)_e, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
// Output: y = A^T m A, A^T = [1 1 1 0; 0 1 -1 -1], then bias, residual, activation.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/vec_math.h"

namespace pare {
namespace {

// Tile row th of one channel plane x (H x W) into v: element e of tile tw at
// v[e * ldv + tw], for TW tiles. Zero outside the plane (pads pt, pl). Whole
// vectors are stored: up to V - 1 floats past tile TW - 1 of each element are
// overwritten (the caller leaves room).
template <int V>
void winograd_input_row(const float* x, int64_t H, int64_t W, int64_t th, int64_t TW, int64_t pt,
                        int64_t pl, float* v, int64_t ldv) {
    using vec = typename FloatVec<V>::type;
    const int64_t L = TW + 1 + V;  // phase length with room for a whole last vector
    float* ph = scratch_floats(3, static_cast<size_t>(8 * L));
    for (int i = 0; i < 4; ++i) {
        float* ev = ph + (2 * i) * L;
        float* od = ph + (2 * i + 1) * L;
        const int64_t ih = 2 * th - pt + i;
        if (ih < 0 || ih >= H) {
            for (int64_t u = 0; u < L; ++u) ev[u] = od[u] = 0.0f;
            continue;
        }
        const float* xr = x + ih * W;
        // Both columns inside the row for u in [lo, hi): a plain de-interleave there
        // (vectorized), bounds checks only at the edges.
        int64_t lo = (pl + 1) / 2, hi = (W - 2 + pl) / 2 + 1;
        lo = lo > L ? L : lo;
        hi = hi < lo ? lo : (hi > L ? L : hi);
        for (int64_t u = 0; u < lo; ++u) {
            const int64_t c0 = 2 * u - pl, c1 = c0 + 1;
            ev[u] = (c0 >= 0 && c0 < W) ? xr[c0] : 0.0f;
            od[u] = (c1 >= 0 && c1 < W) ? xr[c1] : 0.0f;
        }
        const float* src = xr + 2 * lo - pl;
        for (int64_t u = 0; u < hi - lo; ++u) {
            ev[lo + u] = src[2 * u];
            od[lo + u] = src[2 * u + 1];
        }
        for (int64_t u = hi; u < L; ++u) {
            const int64_t c0 = 2 * u - pl, c1 = c0 + 1;
            ev[u] = (c0 >= 0 && c0 < W) ? xr[c0] : 0.0f;
            od[u] = (c1 >= 0 && c1 < W) ? xr[c1] : 0.0f;
        }
    }
    for (int64_t tw = 0; tw < TW; tw += V) {
        vec d[4][4];
        for (int i = 0; i < 4; ++i) {
            const float* ev = ph + (2 * i) * L + tw;
            const float* od = ph + (2 * i + 1) * L + tw;
            std::memcpy(&d[i][0], ev, sizeof(vec));
            std::memcpy(&d[i][1], od, sizeof(vec));
            std::memcpy(&d[i][2], ev + 1, sizeof(vec));
            std::memcpy(&d[i][3], od + 1, sizeof(vec));
        }
        vec s[4][4];
        for (int j = 0; j < 4; ++j) {
            s[0][j] = d[0][j] - d[2][j];
            s[1][j] = d[1][j] + d[2][j];
            s[2][j] = d[2][j] - d[1][j];
            s[3][j] = d[1][j] - d[3][j];
        }
        for (int i = 0; i < 4; ++i) {
            const vec r[4] = {s[i][0] - s[i][2], s[i][1] + s[i][2], s[i][2] - s[i][1],
                              s[i][1] - s[i][3]};
            for (int j = 0; j < 4; ++j) std::memcpy(v + (i * 4 + j) * ldv + tw, &r[j], sizeof(vec));
        }
    }
}

// Tile row th of one output channel: element e of tile tw at m[e * ldm + tw] (read
// in whole vectors: up to V - 1 floats past tile TW - 1, results discarded); writes
// output rows 2*th and 2*th + 1 (those inside OH) of y (OH x OW), adding bias and,
// when r is not null, the residual r (same layout as y), then the activation.
template <int V>
void winograd_output_row(const float* m, int64_t ldm, int64_t th, int64_t TW, float* y, int64_t OH,
                         int64_t OW, float bias, const float* r, const Activation& act) {
    using vec = typename FloatVec<V>::type;
    float* row0 = y + 2 * th * OW;
    const bool two = 2 * th + 1 < OH;
    for (int64_t tw = 0; tw < TW; tw += V) {
        vec q[16];
        const int64_t n = TW - tw < V ? TW - tw : V;
        for (int e = 0; e < 16; ++e) std::memcpy(&q[e], m + e * ldm + tw, sizeof(vec));
        vec s[2][4];
        for (int j = 0; j < 4; ++j) {
            s[0][j] = q[j] + q[4 + j] + q[8 + j];
            s[1][j] = q[4 + j] - q[8 + j] - q[12 + j];
        }
        for (int i = 0; i < (two ? 2 : 1); ++i) {
            const vec o0 = s[i][0] + s[i][1] + s[i][2] + bias;
            const vec o1 = s[i][1] - s[i][2] - s[i][3] + bias;
            float a0[V], a1[V];
            std::memcpy(a0, &o0, sizeof(vec));
            std::memcpy(a1, &o1, sizeof(vec));
            float* yr = row0 + i * OW;
            for (int64_t k = 0; k < n; ++k) {
                const int64_t c = 2 * (tw + k);
                yr[c] = a0[k];
                if (c + 1 < OW) yr[c + 1] = a1[k];
            }
        }
    }
    const int64_t len = (two ? 2 : 1) * OW;
    if (r) {
        const float* rr = r + 2 * th * OW;
        for (int64_t k = 0; k < len; ++k) row0[k] += rr[k];
    }
    activate_span<V>(act, row0, len);
}

}  // namespace
}  // namespace pare
