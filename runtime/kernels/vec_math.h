// Vector math shared by the per-ISA kernel files (each compiles its own copy with
// its own flags; internal linkage): float vectors of V lanes through GCC/Clang
// vector extensions (an xmm or NEON register for V = 4, a ymm for V = 8, a zmm for V = 16), the
// exponential and the activations applied in place.
//
// vexp: exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 (ln 2 split in
// two for exactness), exp(r) by a degree-5 polynomial with constant term 1 (exact
// exp(0)), fitted here for the least maximum relative error on |r| <= ln2/2
// (9.2e-8; one multiply-add fewer than the degree-6 Taylor polynomial used
// before): relative error below 2e-7 over [-87, 88] in float arithmetic; inputs
// are clamped to that range. AVX-512 rounds and scales by 2^n in one instruction
// each.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE__)
#include <immintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "runtime/cpu/cpu.h"

namespace pare {
namespace {

template <int V>
struct FloatVec;
template <>
struct FloatVec<4> {
    typedef float type __attribute__((vector_size(16)));
    typedef int32_t itype __attribute__((vector_size(16)));
};
template <>
struct FloatVec<8> {
    typedef float type __attribute__((vector_size(32)));
    typedef int32_t itype __attribute__((vector_size(32)));
};
template <>
struct FloatVec<16> {
    typedef float type __attribute__((vector_size(64)));
    typedef int32_t itype __attribute__((vector_size(64)));
};

// A vector of V copies of x: one broadcast (`vec{} + x` would add a zero first, a
// lane loop becomes per-lane inserts).
template <int V>
inline typename FloatVec<V>::type vsplat(float x) {
    return typename FloatVec<V>::type{} + x;
}
#if defined(__AVX512F__)
template <>
inline FloatVec<16>::type vsplat<16>(float x) {
    return (FloatVec<16>::type)_mm512_set1_ps(x);
}
#endif
#if defined(__AVX__)
template <>
inline FloatVec<8>::type vsplat<8>(float x) {
    return (FloatVec<8>::type)_mm256_set1_ps(x);
}
#endif
#if defined(__SSE__)
template <>
inline FloatVec<4>::type vsplat<4>(float x) {
    return (FloatVec<4>::type)_mm_set1_ps(x);
}
#elif defined(__ARM_NEON)
template <>
inline FloatVec<4>::type vsplat<4>(float x) {
    return (FloatVec<4>::type)vdupq_n_f32(x);
}
#endif

template <int V>
inline typename FloatVec<V>::type vexp_poly(typename FloatVec<V>::type r) {
    using vec = typename FloatVec<V>::type;
    vec p = vsplat<V>(8.2902910614e-3f);
    p = p * r + 4.1897900447e-2f;
    p = p * r + 1.6667636286e-1f;
    p = p * r + 4.9999149748e-1f;
    p = p * r + 9.9999970724e-1f;
    return p * r + 1.0f;
}

template <int V>
inline typename FloatVec<V>::type vexp(typename FloatVec<V>::type x) {
    using vec = typename FloatVec<V>::type;
    using ivec = typename FloatVec<V>::itype;
    const vec zero = {};
    const vec lo = zero - 87.0f, hi = zero + 88.0f;
    x = x < lo ? lo : x;
    x = x > hi ? hi : x;
    // Round to nearest: add and subtract 1.5 * 2^23.
    const vec magic = zero + 12582912.0f;
    const vec n = (x * 1.44269504088896341f + magic) - magic;
    const vec r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    const vec p = vexp_poly<V>(r);
    const ivec e = (__builtin_convertvector(n, ivec) + 127) << 23;
    vec scale;
    std::memcpy(&scale, &e, sizeof scale);
    return p * scale;
}
#if defined(__AVX512F__)
template <>
inline FloatVec<16>::type vexp<16>(FloatVec<16>::type x) {
    // (The zero-masked forms with a full mask: GCC 12 warns that the unmasked
    // ones' undefined pass-through may be used uninitialized.)
    using vec = FloatVec<16>::type;
    x = (vec)_mm512_maskz_max_ps(0xffff, (__m512)x, _mm512_set1_ps(-87.0f));
    x = (vec)_mm512_maskz_min_ps(0xffff, (__m512)x, _mm512_set1_ps(88.0f));
    const vec n = (vec)_mm512_maskz_roundscale_ps(0xffff, (__m512)(x * 1.44269504088896341f),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const vec r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    return (vec)_mm512_maskz_scalef_ps(0xffff, (__m512)vexp_poly<16>(r), (__m512)n);
}
#endif
#if defined(__AVX2__)
template <>
inline FloatVec<8>::type vexp<8>(FloatVec<8>::type x) {
    using vec = FloatVec<8>::type;
    using ivec = FloatVec<8>::itype;
    x = (vec)_mm256_max_ps((__m256)x, _mm256_set1_ps(-87.0f));
    x = (vec)_mm256_min_ps((__m256)x, _mm256_set1_ps(88.0f));
    const vec n = (vec)_mm256_round_ps((__m256)(x * 1.44269504088896341f),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const vec r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    const ivec e = (__builtin_convertvector(n, ivec) + 127) << 23;
    vec scale;
    std::memcpy(&scale, &e, sizeof scale);
    return vexp_poly<8>(r) * scale;
}
#endif

// 1 / d. With AVX-512 or AVX the hardware estimate (14 or 12 bits) and Newton steps
// r + r * (1 - d * r) (relative error near 1e-7, well within the activations'
// 1e-6; exact 1 for d = 1 with fused multiply-adds): a vector
// division is several times slower, and sigmoid and SiLU spend most of their time
// in it.
template <int V>
inline typename FloatVec<V>::type vrecip(typename FloatVec<V>::type d) {
    return 1.0f / d;
}
#if defined(__AVX512F__)
template <>
inline FloatVec<16>::type vrecip<16>(FloatVec<16>::type d) {
    FloatVec<16>::type r = (FloatVec<16>::type)_mm512_maskz_rcp14_ps(0xffff, (__m512)d);
    return r + r * (1.0f - d * r);
}
#endif
#if defined(__AVX__)
template <>
inline FloatVec<8>::type vrecip<8>(FloatVec<8>::type d) {
    FloatVec<8>::type r = (FloatVec<8>::type)_mm256_rcp_ps((__m256)d);
    r = r + r * (1.0f - d * r);
    return r + r * (1.0f - d * r);
}
#endif

// One stage of an in-register V x V transpose (rows r[0..V)): swaps the
// off-diagonal H x H blocks of every 2H x 2H block.
template <int V, int H>
inline void transpose_stage(typename FloatVec<V>::type* r) {
    using vec = typename FloatVec<V>::type;
    typename FloatVec<V>::itype lo, hi;
    for (int j = 0; j < V; ++j) {
        lo[j] = (j & H) ? V + j - H : j;
        hi[j] = (j & H) ? V + j : j + H;
    }
#pragma GCC unroll 16
    for (int i = 0; i < V; ++i) {
        if (i & H) continue;
        const vec a = r[i], b = r[i + H];
#if defined(__clang__)  // no two-vector __builtin_shuffle (the sanitizer builds use clang)
        vec x, y;
        for (int j = 0; j < V; ++j) {
            x[j] = lo[j] < V ? a[lo[j]] : b[lo[j] - V];
            y[j] = hi[j] < V ? a[hi[j]] : b[hi[j] - V];
        }
        r[i] = x;
        r[i + H] = y;
#else
        r[i] = __builtin_shuffle(a, b, lo);
        r[i + H] = __builtin_shuffle(a, b, hi);
#endif
    }
}

template <int V>
inline void transpose_block(typename FloatVec<V>::type* r) {
    if constexpr (V >= 16) transpose_stage<V, 8>(r);
    if constexpr (V >= 8) transpose_stage<V, 4>(r);
    transpose_stage<V, 2>(r);
    transpose_stage<V, 1>(r);
}

// x = act(x) for one vector.
template <int V>
inline typename FloatVec<V>::type vactivate(const Activation& act, typename FloatVec<V>::type x) {
    using vec = typename FloatVec<V>::type;
    const vec zero = {};
    switch (act.kind) {
        case Activation::kNone:
            return x;
        case Activation::kRelu:
            return x > zero ? x : zero;
        case Activation::kClip: {
            const vec lo = zero + act.lo, hi = zero + act.hi;
            x = x < lo ? lo : x;
            return x > hi ? hi : x;
        }
        case Activation::kHardSwish: {
            vec t = x + 3.0f;
            t = t < zero ? zero : t;
            t = t > zero + 6.0f ? zero + 6.0f : t;
            return x * t * (1.0f / 6.0f);
        }
        case Activation::kSigmoid:
            return vrecip<V>(1.0f + vexp<V>(zero - x));
        case Activation::kSiLU:
            return x * vrecip<V>(1.0f + vexp<V>(zero - x));
        case Activation::kHardSigmoid: {
            vec t = x * act.alpha + act.beta;
            t = t < zero ? zero : t;
            return t > zero + 1.0f ? zero + 1.0f : t;
        }
        case Activation::kExp:
            return vexp<V>(x);
    }
    return x;
}

// x[0:n] = f(x[0:n]) for a vector function f: whole vectors, then a padded tail.
template <int V, class F>
inline void map_span(float* x, int64_t n, F f) {
    using vec = typename FloatVec<V>::type;
    int64_t i = 0;
    for (; i + V <= n; i += V) {
        vec v;
        std::memcpy(&v, x + i, sizeof v);
        v = f(v);
        std::memcpy(x + i, &v, sizeof v);
    }
    if (i < n) {
        float tmp[V] = {};
        for (int64_t j = 0; j < n - i; ++j) tmp[j] = x[i + j];
        vec v;
        std::memcpy(&v, tmp, sizeof v);
        v = f(v);
        std::memcpy(tmp, &v, sizeof v);
        for (int64_t j = 0; j < n - i; ++j) x[i + j] = tmp[j];
    }
}

// x[0:n] = act(x[0:n]); the switch on the kind is taken once, outside the loop.
template <int V>
inline void activate_span(const Activation& act, float* x, int64_t n) {
    using vec = typename FloatVec<V>::type;
    const vec zero = {};
    switch (act.kind) {
        case Activation::kNone:
            return;
        case Activation::kRelu:
            map_span<V>(x, n, [&](vec v) { return v > zero ? v : zero; });
            return;
        case Activation::kClip: {
            const vec lo = zero + act.lo, hi = zero + act.hi;
            map_span<V>(x, n, [&](vec v) {
                v = v < lo ? lo : v;
                return v > hi ? hi : v;
            });
            return;
        }
        case Activation::kSigmoid:
            map_span<V>(x, n, [&](vec v) { return vrecip<V>(1.0f + vexp<V>(zero - v)); });
            return;
        case Activation::kSiLU:
            map_span<V>(x, n, [&](vec v) { return v * vrecip<V>(1.0f + vexp<V>(zero - v)); });
            return;
        case Activation::kExp:
            map_span<V>(x, n, [&](vec v) { return vexp<V>(v); });
            return;
        default:
            map_span<V>(x, n, [&](vec v) { return vactivate<V>(act, v); });
            return;
    }
}

}  // namespace
}  // namespace pare
