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
#include <memory>

#include "runtime/cpu/cpu.h"
#include "runtime/kernels/vec_math.h"

namespace pare {
namespace {

// Local min/max: a std:: instantiation would be shared with other files compiled
// for other ISAs.
inline float dw_clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// The output loop over the padded, phase-split plane (see dwconv_plane). CKH, CKW:
// the kernel size when known at compile time (taps unrolled, weights kept in
// registers), or 0 to use KH, KW. Tap offsets are computed once, not per output
// (an integer division per tap and step costs more than the multiply-adds).
template <int V, bool kMax, int U, int CKH, int CKW>
void dwconv_rows(const float* pad, int64_t Hp, int64_t Wq, const float* w, int64_t KH, int64_t KW,
                 int64_t sh, int64_t sw, float bias, float fill, float* y, int64_t OH, int64_t OW) {
    // U vectors of V lanes per step (GCC/Clang vector extensions: a zmm for V = 16
    // with AVX-512, a ymm for V = 8 with AVX2, an xmm or NEON register for V = 4).
    using vec = typename FloatVec<V>::type;
    constexpr int B = U * V;
    constexpr int kFixed = CKH * CKW;
    if (CKH > 0) KH = CKH, KW = CKW;
    const int64_t taps = KH * KW;
    // Offset of tap (kh, kw) from the start of output row 0's inputs, and its weight.
    constexpr int64_t kMaxTaps = 64;
    int64_t off_buf[kFixed > 0 ? kFixed : kMaxTaps];
    float wt_buf[kFixed > 0 ? kFixed : kMaxTaps];
    std::unique_ptr<int64_t[]> off_heap;
    std::unique_ptr<float[]> wt_heap;
    int64_t* off = off_buf;
    float* wt = wt_buf;
    if (kFixed == 0 && taps > kMaxTaps) {  // large kernels: rare, allocate
        off_heap.reset(new int64_t[taps]);
        wt_heap.reset(new float[taps]);
        off = off_heap.get();
        wt = wt_heap.get();
    }
    for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
            // sw is 1 or 2: phase kw & (sw - 1), column kw >> (sw - 1), no division.
            off[kh * KW + kw] = ((kw & (sw - 1)) * Hp + kh) * Wq + (kw >> (sw - 1));
            wt[kh * KW + kw] = kMax ? 0.0f : w[kh * KW + kw];
        }
    const vec zero = {};
    for (int64_t oh = 0; oh < OH; ++oh) {
        float* yr = y + oh * OW;
        const float* base = pad + oh * sh * Wq;
        for (int64_t ow = 0; ow < OW; ow += B) {
            // kChains independent partial results per vector (taps taken round-robin),
            // so consecutive multiply-adds do not wait on each other's latency.
            constexpr int kChains = 3;
            vec part[kChains][U];
            for (int c = 0; c < kChains; ++c)
                for (int u = 0; u < U; ++u) part[c][u] = zero + (kMax ? fill : 0.0f);
            const float* p0 = base + ow;
            const int64_t ntaps = kFixed > 0 ? kFixed : taps;
            for (int64_t t0 = 0; t0 < ntaps; t0 += kChains) {
                for (int c = 0; c < kChains; ++c) {
                    const int64_t t = t0 + c;
                    if (t >= ntaps) break;
                    const float* p = p0 + off[t];
                    for (int u = 0; u < U; ++u) {
                        vec v;
                        std::memcpy(&v, p + u * V, sizeof v);
                        if (kMax) {
                            part[c][u] = part[c][u] < v ? v : part[c][u];
                        } else {
                            part[c][u] += wt[t] * v;
                        }
                    }
                }
            }
            vec acc[U];
            for (int u = 0; u < U; ++u) {
                if (kMax) {
                    acc[u] = part[0][u];
                    for (int c = 1; c < kChains; ++c)
                        acc[u] = acc[u] < part[c][u] ? part[c][u] : acc[u];
                } else {
                    acc[u] = ((part[0][u] + part[1][u]) + part[2][u]) + bias;
                }
            }
            // A whole step is stored when it stays inside the plane: lanes past the
            // row's end land on later rows, which are written after this one.
            if ((oh * OW + ow) + B <= OH * OW) {
                std::memcpy(yr + ow, acc, sizeof acc);
            } else {
                float tmp[B];
                std::memcpy(tmp, acc, sizeof acc);
                const int64_t n = OW - ow < B ? OW - ow : B;
                for (int64_t j = 0; j < n; ++j) yr[ow + j] = tmp[j];
            }
        }
    }
}

// kMax: max pooling instead (w and bias unused, padding is -infinity). U vectors of
// V lanes per step. The plane is done in bands of output rows whose padded inputs
// stay in the L1 cache (about 16 KiB).
template <int V, bool kMax = false, int U = 2>
void dwconv_plane(const float* x, int64_t H, int64_t W, const float* w, int64_t KH, int64_t KW,
                  int64_t sh, int64_t sw, int64_t pt, int64_t pl, float bias, float* y, int64_t OH,
                  int64_t OW, const Activation& act) {
    using vec = typename FloatVec<V>::type;
    const int64_t Wp = (OW - 1) * sw + KW;
    // Phase width. Rows follow each other with no spare columns: a step's lanes past
    // the row's outputs read the next row (results discarded); the band ends with
    // zeroed spare floats for the last row's steps.
    const int64_t Wq = (Wp + sw - 1) / sw, spare = U * V + KW + V;
    int64_t band = 4096 / (sw * Wq) - KH;
    band = band < 1 ? 1 : (band > OH ? OH : band);
    const int64_t band_rows = (band - 1) * sh + KH;
    float* pad = scratch_floats(3, static_cast<size_t>(sw * band_rows * Wq + spare));
    const float fill = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
    const vec fillv = vec{} + fill;
    // Phase q's column cc holds input column q + cc*sw - pl: valid for cc in
    // [lo[q], hi[q]) (the same for every row: computed once, divisions are slow).
    int64_t lo[2], hi[2];
    for (int64_t q = 0; q < sw; ++q) {
        const int64_t first = pl - q;
        lo[q] = first <= 0 ? 0 : (first + sw - 1) / sw;
        int64_t h = (W + pl - q + sw - 1) / sw;
        hi[q] = h < lo[q] ? lo[q] : (h > Wq ? Wq : h);
    }
    const float* const x_end = x + H * W;
    for (int64_t oh0 = 0; oh0 < OH; oh0 += band) {
        const int64_t bh = OH - oh0 < band ? OH - oh0 : band;
        const int64_t Hb = (bh - 1) * sh + KH, body = sw * Hb * Wq;
        // Copy padded rows oh0*sh .. + Hb, phase by phase, row by row (the order they
        // lie in memory), whole vectors only (no library call per short row): writes
        // may run past a row's end into the next row, written after it, or into the
        // spare floats, zeroed after.
        for (int64_t q = 0; q < sw; ++q) {
            for (int64_t r = 0; r < Hb; ++r) {
                const int64_t ih = oh0 * sh + r - pt;
                float* dst = pad + (q * Hb + r) * Wq;
                if (ih < 0 || ih >= H) {
                    for (int64_t c = 0; c < Wq; c += V) std::memcpy(dst + c, &fillv, sizeof fillv);
                    continue;
                }
                const float* xr = x + ih * W;
                const int64_t l = lo[q], h = hi[q];
                for (int64_t c = 0; c < l; c += V) std::memcpy(dst + c, &fillv, sizeof fillv);
                if (sw == 1) {
                    const float* src = xr + l - pl;
                    const int64_t n = h - l;
                    int64_t c = 0;
                    for (; c + V <= n; c += V) std::memcpy(dst + l + c, src + c, sizeof(vec));
                    if (c < n) {
                        if (src + c + V <= x_end) {
                            std::memcpy(dst + l + c, src + c, sizeof(vec));
                        } else {
                            for (; c < n; ++c) dst[l + c] = src[c];
                        }
                    }
                } else {
                    // sw == 2, a constant stride: vectorized as a de-interleave.
                    const float* src = xr + q + l * 2 - pl;
                    float* d = dst + l;
                    for (int64_t c = 0; c < h - l; ++c) d[c] = src[2 * c];
                }
                for (int64_t c = h; c < Wq; c += V) std::memcpy(dst + c, &fillv, sizeof fillv);
            }
        }
        for (int64_t c = body; c < body + spare; ++c) pad[c] = 0.0f;
        float* yb = y + oh0 * OW;
        if (KH == 3 && KW == 3) {
            dwconv_rows<V, kMax, U, 3, 3>(pad, Hb, Wq, w, KH, KW, sh, sw, bias, fill, yb, bh, OW);
        } else if (KH == 5 && KW == 5) {
            dwconv_rows<V, kMax, U, 5, 5>(pad, Hb, Wq, w, KH, KW, sh, sw, bias, fill, yb, bh, OW);
        } else {
            dwconv_rows<V, kMax, U, 0, 0>(pad, Hb, Wq, w, KH, KW, sh, sw, bias, fill, yb, bh, OW);
        }
        // The activation once per band, while its rows are in the L1 cache (its
        // switch stays out of the inner loops; a step that ran past the band's last
        // row wrote the next band's rows, which that band rewrites).
        activate_span<V>(act, yb, bh * OW);
    }
}

// The depthwise convolution of V channels at once, vectorized across channels:
// for small planes (56x56 .. 7x7) where a plane's rows fill few vectors. The V
// input planes (x, ldx floats apart) are transposed (V x V blocks in registers)
// into a zero-padded [Hp][Wp][V] block, every output position is a vector
// multiply-add per tap with the tap's V weights (wt: taps x V, transposed at
// prepare), and the results are transposed back into the V output planes (ldy
// apart). Any stride and kernel
// size; the activation last.
// The multiply-adds of dwconv_group over the transposed block t into o. CKH, CKW:
// the kernel size when known at compile time (taps unrolled, weights in
// registers), or 0 to use KH, KW.
template <int V, bool kMax, int CKH, int CKW>
void dwconv_group_taps(const float* t, int64_t Wp, const float* wt, const float* bias, int64_t KH,
                       int64_t KW, int64_t sh, int64_t sw, float* o, int64_t OH, int64_t OW) {
    using vec = typename FloatVec<V>::type;
    if (CKH > 0) KH = CKH, KW = CKW;
    constexpr int kTaps = CKH * CKW > 0 ? CKH * CKW : 1;
    vec wr[kTaps];
    if (CKH > 0 && !kMax) {
        for (int k = 0; k < kTaps; ++k) std::memcpy(&wr[k], wt + k * V, sizeof(vec));
    }
    vec bv = vec{} - std::numeric_limits<float>::infinity();
    if (!kMax) std::memcpy(&bv, bias, sizeof bv);
    for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
            vec acc = bv;
            const float* base = t + (oh * sh * Wp + ow * sw) * V;
            for (int64_t kh = 0; kh < KH; ++kh) {
                for (int64_t kw = 0; kw < KW; ++kw) {
                    vec v, wv;
                    std::memcpy(&v, base + (kh * Wp + kw) * V, sizeof v);
                    if (kMax) {
                        acc = acc < v ? v : acc;
                        continue;
                    }
                    if (CKH > 0) {
                        wv = wr[kh * KW + kw];
                    } else {
                        std::memcpy(&wv, wt + (kh * KW + kw) * V, sizeof wv);
                    }
                    acc += wv * v;
                }
            }
            std::memcpy(o + (oh * OW + ow) * V, &acc, sizeof acc);
        }
    }
}

// kMax: max pooling of V planes instead (wt, bias and act unused; the padding is
// -infinity).
template <int V, bool kMax = false>
void dwconv_group(const float* x, int64_t H, int64_t W, int64_t ldx, const float* wt,
                  const float* bias, int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t pt,
                  int64_t pl, float* y, int64_t OH, int64_t OW, int64_t ldy,
                  const Activation& act) {
    using vec = typename FloatVec<V>::type;
    const int64_t Hp = (OH - 1) * sh + KH, Wp = (OW - 1) * sw + KW;
    float* t = scratch_floats(3, static_cast<size_t>((Hp * Wp + OH * OW) * V));
    float* o = t + Hp * Wp * V;
    // Fill the padding (zero, or -infinity for the maximum), then transpose the
    // planes in, V positions (flattened, across rows) by V channels at a time in
    // registers.
    const float fill = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
    auto pad = [&](float* p, int64_t n) {
        for (int64_t i = 0; i < n; ++i) p[i] = fill;
    };
    for (int64_t r = 0; r < Hp; ++r) {
        float* row = t + r * Wp * V;
        if (r < pt || r >= pt + H) {
            pad(row, Wp * V);
            continue;
        }
        const int64_t l = pl < Wp ? pl : Wp, h = pl + W < Wp ? pl + W : Wp;
        pad(row, l * V);
        pad(row + h * V, (Wp - h) * V);
    }
    const int64_t HW = H * W, OP = OH * OW;
    int64_t ih = 0, iw = 0, p = 0;  // position p at row ih, column iw
    auto put = [&](const float* v) {
        const int64_t r = ih + pt, cp = iw + pl;
        if (r < Hp && cp < Wp) std::memcpy(t + (r * Wp + cp) * V, v, sizeof(vec));
        if (++iw == W) iw = 0, ++ih;
    };
    for (; p + V <= HW; p += V) {
        vec b[V];
        for (int c = 0; c < V; ++c) std::memcpy(&b[c], x + c * ldx + p, sizeof(vec));
        transpose_block<V>(b);
        for (int q = 0; q < V; ++q) put(reinterpret_cast<const float*>(&b[q]));
    }
    for (; p < HW; ++p) {
        float v[V];
        for (int c = 0; c < V; ++c) v[c] = x[c * ldx + p];
        put(v);
    }
    if (KH == 3 && KW == 3) {
        dwconv_group_taps<V, kMax, 3, 3>(t, Wp, wt, bias, KH, KW, sh, sw, o, OH, OW);
    } else if (KH == 5 && KW == 5) {
        dwconv_group_taps<V, kMax, 5, 5>(t, Wp, wt, bias, KH, KW, sh, sw, o, OH, OW);
    } else {
        dwconv_group_taps<V, kMax, 0, 0>(t, Wp, wt, bias, KH, KW, sh, sw, o, OH, OW);
    }
    if (!kMax) activate_span<V>(act, o, OP * V);
    for (p = 0; p + V <= OP; p += V) {
        vec b[V];
        for (int q = 0; q < V; ++q) std::memcpy(&b[q], o + (p + q) * V, sizeof(vec));
        transpose_block<V>(b);
        for (int c = 0; c < V; ++c) std::memcpy(y + c * ldy + p, &b[c], sizeof(vec));
    }
    for (; p < OP; ++p)
        for (int c = 0; c < V; ++c) y[c * ldy + p] = o[p * V + c];
}

}  // namespace
}  // namespace pare
