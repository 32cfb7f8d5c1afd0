// The depthwise convolution of one channel plane, shared by the per-ISA kernel
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

#include "runtime/cpu/cpu.h"

namespace pare {
namespace {

// Local min/max: a std:: instantiation would be shared with other files compiled
// for other ISAs.
inline float dw_clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

template <int V>
void dwconv_plane(const float* x, int64_t H, int64_t W, const float* w, int64_t KH, int64_t KW,
                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, float bias, float* y, int64_t OH,
                  int64_t OW, const Activation& act) {
    const int64_t Hp = (OH - 1) * sh + KH, Wp = (OW - 1) * sw + KW;
    // Phase width, with V spare zero columns so a full vector may read past the end.
    const int64_t Wq = (Wp + sw - 1) / sw + V;
    float* pad = scratch_floats(3, static_cast<size_t>(sw * Hp * Wq));
    std::memset(pad, 0, static_cast<size_t>(sw * Hp * Wq) * sizeof(float));
    for (int64_t r = 0; r < Hp; ++r) {
        const int64_t ih = r - pt;
        if (ih < 0 || ih >= H) continue;
        const float* xr = x + ih * W;
        for (int64_t c = 0; c < Wp; ++c) {
            const int64_t iw = c - pl;
            if (iw >= 0 && iw < W) pad[((c % sw) * Hp + r) * Wq + c / sw] = xr[iw];
        }
    }
    for (int64_t oh = 0; oh < OH; ++oh) {
        float* yr = y + oh * OW;
        for (int64_t ow = 0; ow < OW; ow += V) {
            float acc[V];
            for (int j = 0; j < V; ++j) acc[j] = bias;
            for (int64_t kh = 0; kh < KH; ++kh) {
                const int64_t r = oh * sh + kh;
                for (int64_t kw = 0; kw < KW; ++kw) {
                    const float wv = w[kh * KW + kw];
                    const float* p = pad + ((kw % sw) * Hp + r) * Wq + ow + kw / sw;
                    for (int j = 0; j < V; ++j) acc[j] += wv * p[j];
                }
            }
            switch (act.kind) {
                case Activation::kNone:
                    break;
                case Activation::kRelu:
                    for (int j = 0; j < V; ++j) acc[j] = acc[j] > 0.0f ? acc[j] : 0.0f;
                    break;
                case Activation::kClip:
                    for (int j = 0; j < V; ++j) acc[j] = dw_clamp(acc[j], act.lo, act.hi);
                    break;
                default:
                    for (int j = 0; j < V; ++j) acc[j] = apply_activation(act, acc[j]);
                    break;
            }
            const int64_t n = OW - ow < V ? OW - ow : V;
            if (n == V) {
                std::memcpy(yr + ow, acc, sizeof acc);
            } else {
                for (int64_t j = 0; j < n; ++j) yr[ow + j] = acc[j];
            }
        }
    }
}

}  // namespace
}  // namespace pare
