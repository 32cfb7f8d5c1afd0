// The direct convolution's register tile, shared by the per-ISA kernel files (each
// compiles its own copy with its own flags; internal linkage).
//
// Output channels run across the vector lanes and output positions across
// registers: for np <= NP positions and OB * V channels,
//   acc[p * OB*V + o] (+)= sum_{k < K} w[k * OB*V + o] * x[pos[p] + koff[k]],
// where k enumerates (input channel, kernel row, kernel column) and koff gives each
// one's offset in the (padded) input. Each step loads OB weight vectors and
// broadcasts one input per position: OB * np multiply-adds for OB + np loads, and
// no im2col matrix, no packing of the input. The geometry (strides, dilations, the
// channel stride) lives entirely in koff and pos.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/vec_math.h"

namespace pare {
namespace {

template <int V, int OB, int NP>
void conv_tile_np(const float* w, const int64_t* koff, int64_t K, const float* x,
                  const int64_t* pos, float* acc, bool accumulate) {
    using vec = typename FloatVec<V>::type;
    constexpr int C = OB * V;
    vec c[NP][OB];
    const float* xp[NP];
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
        xp[p] = x + pos[p];
#pragma GCC unroll 4
        for (int j = 0; j < OB; ++j) {
            if (accumulate) {
                std::memcpy(&c[p][j], acc + p * C + j * V, sizeof(vec));
            } else {
                c[p][j] = vec{};
            }
        }
    }
    for (int64_t k = 0; k < K; ++k) {
        vec wv[OB];
#pragma GCC unroll 4
        for (int j = 0; j < OB; ++j) std::memcpy(&wv[j], w + k * C + j * V, sizeof(vec));
        const int64_t o = koff[k];
#pragma GCC unroll 8
        for (int p = 0; p < NP; ++p) {
            const vec b = vsplat<V>(xp[p][o]);
#pragma GCC unroll 4
            for (int j = 0; j < OB; ++j) c[p][j] += wv[j] * b;
        }
    }
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p)
#pragma GCC unroll 4
        for (int j = 0; j < OB; ++j) std::memcpy(acc + p * C + j * V, &c[p][j], sizeof(vec));
}

template <int V, int OB>
void conv_tile_ob(const float* w, const int64_t* koff, int64_t K, const float* x,
                  const int64_t* pos, int np, float* acc, bool accumulate) {
    switch (np) {
        case 1:
            return conv_tile_np<V, OB, 1>(w, koff, K, x, pos, acc, accumulate);
        case 2:
            return conv_tile_np<V, OB, 2>(w, koff, K, x, pos, acc, accumulate);
        case 3:
            return conv_tile_np<V, OB, 3>(w, koff, K, x, pos, acc, accumulate);
        case 4:
            return conv_tile_np<V, OB, 4>(w, koff, K, x, pos, acc, accumulate);
        case 5:
            return conv_tile_np<V, OB, 5>(w, koff, K, x, pos, acc, accumulate);
        default:
            return conv_tile_np<V, OB, 6>(w, koff, K, x, pos, acc, accumulate);
    }
}

// The entry point: oc (V .. 4V channels, whole vectors) and np (1..6) pick the
// instantiation.
template <int V>
void conv_tile(const float* w, const int64_t* koff, int64_t K, const float* x, const int64_t* pos,
               int oc, int np, float* acc, bool accumulate) {
    switch (oc / V) {
        case 1:
            return conv_tile_ob<V, 1>(w, koff, K, x, pos, np, acc, accumulate);
        case 2:
            return conv_tile_ob<V, 2>(w, koff, K, x, pos, np, acc, accumulate);
        case 3:
            return conv_tile_ob<V, 3>(w, koff, K, x, pos, np, acc, accumulate);
        default:
            return conv_tile_ob<V, 4>(w, koff, K, x, pos, np, acc, accumulate);
    }
}

// The epilogue of both tiles: row[l] = act(v[l] + r[l]) for l < n <= V (r may be
// null); a short vector goes through a buffer so nothing past n is read or
// written.
template <int V>
inline void store_outputs(typename FloatVec<V>::type v, float* row, const float* r, int64_t n,
                          const Activation& act) {
    using vec = typename FloatVec<V>::type;
    if (n == V) {
        if (r) {
            vec rv;
            std::memcpy(&rv, r, sizeof(vec));
            v += rv;
        }
        v = vactivate<V>(act, v);
        std::memcpy(row, &v, sizeof(vec));
        return;
    }
    float tmp[V] = {};
    if (r) std::memcpy(tmp, r, static_cast<size_t>(n) * sizeof(float));
    vec rv;
    std::memcpy(&rv, tmp, sizeof(vec));
    v = vactivate<V>(act, v + rv);
    std::memcpy(tmp, &v, sizeof(vec));
    std::memcpy(row, tmp, static_cast<size_t>(n) * sizeof(float));
}

// y[o * ldy + p] = act(acc[p * oc + o] + bias[o] + r[o * ldy + p]) for o < m, p < n:
// the tiles' position-major block transposed into channel rows, V x V at a time.
// acc holds whole groups of 16 positions (those past n are read, their results
// dropped); oc is a multiple of V.
template <int V>
void conv_tile_store(const float* acc, int oc, int64_t n, int64_t m, float* y, int64_t ldy,
                     const float* bias, const float* r, const Activation& act) {
    using vec = typename FloatVec<V>::type;
    for (int64_t o0 = 0; o0 < m; o0 += V) {
        const int64_t mo = m - o0 < V ? m - o0 : V;  // no std:: (see dwconv_impl.h)
        for (int64_t p0 = 0; p0 < n; p0 += V) {
            const int64_t np = n - p0 < V ? n - p0 : V;
            vec t[V];
#pragma GCC unroll 16
            for (int q = 0; q < V; ++q) std::memcpy(&t[q], acc + (p0 + q) * oc + o0, sizeof(vec));
            transpose_block<V>(t);
            for (int64_t c = 0; c < mo; ++c) {
                vec v = t[c];
                if (bias) v += bias[o0 + c];
                store_outputs<V>(v, y + (o0 + c) * ldy + p0, r ? r + (o0 + c) * ldy + p0 : nullptr,
                                 np, act);
            }
        }
    }
}

// The direct convolution's row tile, for layers of at most 8 output channels
// (pruned ones), where channels across the lanes would leave half of them idle:
// output positions across the lanes instead (V consecutive ones of an output row,
// stride 1), 8 channels by nv <= 3 such vectors in registers. Per k, nv input
// loads and 8 weight broadcasts feed 8 * nv multiply-adds. Vector i reads
// x[xoff[i] + koff[k] + lane] (an over-read past the row: lanes >= valid[i] are
// dropped, so x needs V - 1 readable floats of slack) and stores
// y[o * ldy + yoff[i] + lane] = act(sum + bias[o] + r[o * ldy + yoff[i] + lane])
// for o < m, lane < valid[i]. w: [k][8], channels past m zero.
template <int V, int NV>
void conv_rows_nv(const float* w, const int64_t* koff, int64_t K, const float* x,
                  const int64_t* xoff, const int64_t* yoff, const int* valid, int64_t m, float* y,
                  int64_t ldy, const float* bias, const float* r, const Activation& act) {
    using vec = typename FloatVec<V>::type;
    constexpr int OC = 8;
    vec c[OC][NV];
#pragma GCC unroll 8
    for (int j = 0; j < OC; ++j)
#pragma GCC unroll 3
        for (int i = 0; i < NV; ++i) c[j][i] = vec{};
    const float* xp[NV];
#pragma GCC unroll 3
    for (int i = 0; i < NV; ++i) xp[i] = x + xoff[i];
    for (int64_t k = 0; k < K; ++k) {
        const int64_t o = koff[k];
        vec xv[NV];
#pragma GCC unroll 3
        for (int i = 0; i < NV; ++i) std::memcpy(&xv[i], xp[i] + o, sizeof(vec));
        const float* wk = w + k * OC;
#pragma GCC unroll 8
        for (int j = 0; j < OC; ++j) {
            const vec b = vsplat<V>(wk[j]);
#pragma GCC unroll 3
            for (int i = 0; i < NV; ++i) c[j][i] += xv[i] * b;
        }
    }
    for (int64_t j = 0; j < m; ++j) {
        for (int i = 0; i < NV; ++i) {
            vec v = c[j][i];
            if (bias) v += bias[j];
            store_outputs<V>(v, y + j * ldy + yoff[i], r ? r + j * ldy + yoff[i] : nullptr,
                             valid[i], act);
        }
    }
}

template <int V>
void conv_rows(const float* w, const int64_t* koff, int64_t K, const float* x, const int64_t* xoff,
               const int64_t* yoff, const int* valid, int nv, int64_t m, float* y, int64_t ldy,
               const float* bias, const float* r, const Activation& act) {
    switch (nv) {
        case 1:
            return conv_rows_nv<V, 1>(w, koff, K, x, xoff, yoff, valid, m, y, ldy, bias, r, act);
        case 2:
            return conv_rows_nv<V, 2>(w, koff, K, x, xoff, yoff, valid, m, y, ldy, bias, r, act);
        default:
            return conv_rows_nv<V, 3>(w, koff, K, x, xoff, yoff, valid, m, y, ldy, bias, r, act);
    }
}

}  // namespace
}  // namespace pare
