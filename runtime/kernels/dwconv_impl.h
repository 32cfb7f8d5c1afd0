// The depthwise convolution (or max pooling) of one channel plane, shared by the per-ISA kernel
// files (each compiles its own copy with its own flags; internal linkage).
//
// y[oh, ow] = act(bias + sum_{kh,kw} w[kh, kw] * x[oh*sh - pt + kh, ow*sw - pl + kw]),
// zero outside x. The input is first copied into a zero-padded plane split into sw
// column phases (phase q holds padded columns q, q+sw, q+2sw, ...), so that for
// every kernel tap the inputs of consecutive outputs are consecutive floats: the
// inner loop is a contiguous multiply-add over V outputs that the compiler
// vectorizes for the file's ISA. Strides 1 and 2 in each direction.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/vec_math.h"

namespace pare {
namespace {

// Local min/max: a std:: instantiation would be shared with other files compiled
// for other ISAs.
inline float dw_clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// kMax: max pooling instead (w and bias unused, padding is -infinity).
template <int V, bool kMax = false>
void dwconv_plane(const float* x, int64_t H, int64_t W, const float* w, int64_t KH, int64_t KW,
                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, float bias, float* y, int64_t OH,
                  int64_t OW, const Activation& act) {
    const int64_t Hp = (OH - 1) * sh + KH, Wp = (OW - 1) * sw + KW;
    // Phase width, with spare columns so a full step (2V floats) may read past the end.
    const int64_t Wq = (Wp + sw - 1) / sw + 2 * V;
    float* pad = scratch_floats(3, static_cast<size_t>(sw * Hp * Wq));
    const float fill = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (int64_t r = 0; r < Hp; ++r) {
        const int64_t ih = r - pt;
        for (int64_t q = 0; q < sw; ++q) {
            float* dst = pad + (q * Hp + r) * Wq;
            if (ih < 0 || ih >= H) {
                for (int64_t c = 0; c < Wq; ++c) dst[c] = fill;
                continue;
            }
            // Phase column cc holds input column q + cc*sw - pl: valid for cc in [lo, hi).
            const float* xr = x + ih * W;
            const int64_t first = pl - q, lo = first <= 0 ? 0 : (first + sw - 1) / sw;
            int64_t hi = (W + pl - q + sw - 1) / sw;
            hi = hi < lo ? lo : (hi > Wq ? Wq : hi);
            for (int64_t c = 0; c < lo; ++c) dst[c] = fill;
            if (sw == 1) {
                std::memcpy(dst + lo, xr + lo - pl, static_cast<size_t>(hi - lo) * sizeof(float));
            } else {
                const float* src = xr + q + lo * sw - pl;
                for (int64_t c = lo; c < hi; ++c, src += sw) dst[c] = *src;
            }
            for (int64_t c = hi; c < Wq; ++c) dst[c] = fill;
        }
    }
    // U vectors of V lanes per step (GCC/Clang vector extensions: one ymm for V = 8
    // with AVX2, an xmm or NEON register for V = 4).
    using vec = typename FloatVec<V>::type;
    constexpr int U = 2, B = U * V;
    const vec zero = {};
    for (int64_t oh = 0; oh < OH; ++oh) {
        float* yr = y + oh * OW;
        for (int64_t ow = 0; ow < OW; ow += B) {
            vec acc[U];
            for (int u = 0; u < U; ++u) acc[u] = zero + (kMax ? fill : bias);
            for (int64_t kh = 0; kh < KH; ++kh) {
                const int64_t r = oh * sh + kh;
                for (int64_t kw = 0; kw < KW; ++kw) {
                    const float* p = pad + ((kw % sw) * Hp + r) * Wq + ow + kw / sw;
                    const float wv = kMax ? 0.0f : w[kh * KW + kw];
                    for (int u = 0; u < U; ++u) {
                        vec v;
                        std::memcpy(&v, p + u * V, sizeof v);
                        if (kMax) {
                            acc[u] = acc[u] < v ? v : acc[u];
                        } else {
                            acc[u] += wv * v;
                        }
                    }
                }
            }
            for (int u = 0; u < U; ++u) acc[u] = vactivate<V>(act, acc[u]);
            const int64_t n = OW - ow < B ? OW - ow : B;
            if (n == B) {
                std::memcpy(yr + ow, acc, sizeof acc);
            } else {
                float tmp[B];
                std::memcpy(tmp, acc, sizeof acc);
                for (int64_t j = 0; j < n; ++j) yr[ow + j] = tmp[j];
            }
        }
    }
}

}  // namespace
}  // namespace pare
