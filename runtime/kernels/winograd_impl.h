// The transforms of Winograd's F(4x4, 3x3) convolution (runtime/kernels/generic/
// f32_conv_winograd.cpp), shared by the per-ISA kernel files (each compiles its own
// copy with its own flags; internal linkage), vectorized across V tiles of a tile
// row.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/vec_math.h"

namespace pare {
namespace {

// F(4x4, 3x3) (Lavin and Gray's points 0, +-1, +-2, infinity): 6x6 input tiles, 36
// elements. The 6x6 patch of tile tw starts at input column 4*tw - pl; with each
// input row split into four column phases (phase q holds columns 4u + q - pl), patch
// column j of V consecutive tiles is the contiguous vector phase[j % 4][tw + j / 4].
// V_e = (B^T d B)_e with
// B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
//        0 4 0 -5 0 1].
template <int V>
inline void winograd_bt(const typename FloatVec<V>::type* d, typename FloatVec<V>::type* o) {
    o[0] = (d[4] - d[2]) + 4.0f * (d[0] - d[2]);
    o[1] = (d[3] + d[4]) - 4.0f * (d[1] + d[2]);
    o[2] = (d[4] - d[3]) + 4.0f * (d[1] - d[2]);
    o[3] = (d[4] - d[2]) + 2.0f * (d[3] - d[1]);
    o[4] = (d[4] - d[2]) - 2.0f * (d[3] - d[1]);
    o[5] = (d[5] - d[3]) + 4.0f * (d[1] - d[3]);
}

// Tile row th of one channel plane x (H x W) into v: element e of tile tw at
// v[e * ldv + tw], for TW tiles. Zero outside the plane (pads pt, pl). Whole
// vectors are stored: up to V - 1 floats past tile TW - 1 of each element are
// overwritten (the caller leaves room).
template <int V>
void winograd_input_row(const float* x, int64_t H, int64_t W, int64_t th, int64_t TW, int64_t pt,
                        int64_t pl, float* v, int64_t ldv) {
    using vec = typename FloatVec<V>::type;
    const int64_t L = TW + 1 + V;  // phase length with room for a whole last vector
    float* ph = scratch_floats(3, static_cast<size_t>(24 * L));
    // Phase indices u whose four columns 4u - pl .. 4u + 3 - pl all lie in the row.
    int64_t lo = (pl + 3) / 4, hi = W + pl >= 4 ? (W + pl - 4) / 4 + 1 : 0;
    lo = lo > L ? L : lo;
    hi = hi < lo ? lo : (hi > L ? L : hi);
    for (int i = 0; i < 6; ++i) {
        float* q0 = ph + 4 * i * L;  // phase q at q0 + q * L
        const int64_t ih = 4 * th - pt + i;
        if (ih < 0 || ih >= H) {
            for (int64_t u = 0; u < 4 * L; ++u) q0[u] = 0.0f;
            continue;
        }
        const float* xr = x + ih * W;
        auto edge = [&](int64_t u) {
            for (int q = 0; q < 4; ++q) {
                const int64_t c = 4 * u + q - pl;
                q0[q * L + u] = (c >= 0 && c < W) ? xr[c] : 0.0f;
            }
        };
        for (int64_t u = 0; u < lo; ++u) edge(u);
        const float* src = xr + 4 * lo - pl;
        for (int64_t u = 0; u < hi - lo; ++u) {
            q0[lo + u] = src[4 * u];
            q0[L + lo + u] = src[4 * u + 1];
            q0[2 * L + lo + u] = src[4 * u + 2];
            q0[3 * L + lo + u] = src[4 * u + 3];
        }
        for (int64_t u = hi; u < L; ++u) edge(u);
    }
    for (int64_t tw = 0; tw < TW; tw += V) {
        vec s[6][6];  // s[k][j] = (B^T d)[k][j]
        for (int j = 0; j < 6; ++j) {
            vec d[6];
            for (int i = 0; i < 6; ++i)
                std::memcpy(&d[i], ph + (4 * i + j % 4) * L + tw + j / 4, sizeof(vec));
            vec o[6];
            winograd_bt<V>(d, o);
            for (int k = 0; k < 6; ++k) s[k][j] = o[k];
        }
        for (int k = 0; k < 6; ++k) {
            vec r[6];
            winograd_bt<V>(s[k], r);
            for (int l = 0; l < 6; ++l) std::memcpy(v + (k * 6 + l) * ldv + tw, &r[l], sizeof(vec));
        }
    }
}

// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
template <int V>
inline void winograd_at(const typename FloatVec<V>::type* m, typename FloatVec<V>::type* o) {
    const auto a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    o[0] = m[0] + a + c;
    o[1] = b + 2.0f * d;
    o[2] = a + 4.0f * c;
    o[3] = (b + 8.0f * d) + m[5];
}

// Tile row th of one output channel: element e of tile tw at m[e * ldm + tw] (read
// in whole vectors: up to V - 1 floats past tile TW - 1, results discarded); writes
// output rows 4*th .. 4*th + 3 (those inside OH) of y (OH x OW), adding bias and,
// when r is not null, the residual r (same layout as y), then the activation.
template <int V>
void winograd_output_row(const float* m, int64_t ldm, int64_t th, int64_t TW, float* y, int64_t OH,
                         int64_t OW, float bias, const float* r, const Activation& act) {
    using vec = typename FloatVec<V>::type;
    float* row0 = y + 4 * th * OW;
    const int64_t rows = OH - 4 * th < 4 ? OH - 4 * th : 4;
    for (int64_t tw = 0; tw < TW; tw += V) {
        const int64_t n = TW - tw < V ? TW - tw : V;
        vec s[4][6];  // s[i][j] = (A^T m)[i][j]
        for (int j = 0; j < 6; ++j) {
            vec q[6];
            for (int k = 0; k < 6; ++k) std::memcpy(&q[k], m + (k * 6 + j) * ldm + tw, sizeof(vec));
            vec o[4];
            winograd_at<V>(q, o);
            for (int i = 0; i < 4; ++i) s[i][j] = o[i];
        }
        for (int i = 0; i < rows; ++i) {
            vec o[4];
            winograd_at<V>(s[i], o);
            float a[4][V];
            for (int l = 0; l < 4; ++l) {
                o[l] += bias;
                std::memcpy(a[l], &o[l], sizeof(vec));
            }
            float* yr = row0 + i * OW;
            const int64_t c0 = 4 * tw;
            if (c0 + 4 * n <= OW) {
                for (int64_t k = 0; k < n; ++k)
                    for (int l = 0; l < 4; ++l) yr[c0 + 4 * k + l] = a[l][k];
            } else {
                for (int64_t k = 0; k < n; ++k)
                    for (int l = 0; l < 4; ++l)
                        if (c0 + 4 * k + l < OW) yr[c0 + 4 * k + l] = a[l][k];
            }
        }
    }
    const int64_t len = rows * OW;
    if (r) {
        const float* rr = r + 4 * th * OW;
        for (int64_t k = 0; k < len; ++k) row0[k] += rr[k];
    }
    activate_span<V>(act, row0, len);
}

}  // namespace
}  // namespace pare
