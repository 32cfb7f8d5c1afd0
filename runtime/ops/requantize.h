// Requantization: the one definition of how an integer kernel turns its int32
// accumulator into an 8-bit output, shared by the reference kernels (runtime/ops/)
// and the optimized ones (runtime/kernels/), which must produce the same bytes.
//
//   q = saturate(round_half_to_even(float(acc) * multiplier) + zero_point)
//
// with multiplier = x_scale * w_scale / y_scale evaluated in float, left to right
// (as ONNX Runtime does). The clamp to [lo, hi] (the output type's range, or a
// fused activation's narrower one) is applied to the scaled value before
// rounding, which gives the same result as after it because lo - zero_point and
// hi - zero_point are integers, and keeps the conversion to int32 in range.
#pragma once

#include <cmath>
#include <cstdint>

namespace pare {

inline float requant_multiplier(float x_scale, float w_scale, float y_scale) {
    return x_scale * w_scale / y_scale;
}

// v, in output steps relative to the zero point, clamped to [lo - zp, hi - zp] (a
// NaN to the lower end), rounded half to even and offset by zp: the last step of
// every requantization below, and what the vector kernels' scalar tails compute.
inline int32_t clamp_round(float v, int32_t zp, int32_t lo, int32_t hi) {
    const float flo = static_cast<float>(lo - zp), fhi = static_cast<float>(hi - zp);
    v = v > flo ? v : flo;
    v = v < fhi ? v : fhi;
    return static_cast<int32_t>(std::nearbyint(v)) + zp;
}

inline int32_t requantize(int32_t acc, float multiplier, int32_t zero_point, int32_t lo,
                          int32_t hi) {
    return clamp_round(static_cast<float>(acc) * multiplier, zero_point, lo, hi);
}

// QLinearAdd's sum of two dequantized inputs in output steps: (a - za) * ka +
// (b - zb) * kb with ka = a_scale / c_scale, kb = b_scale / c_scale, the first
// product fused (one rounding), then requantized as above with multiplier 1.
inline int32_t requantize_add(int32_t a, int32_t b, float ka, float kb, int32_t zc, int32_t lo,
                              int32_t hi) {
    return clamp_round(std::fma(static_cast<float>(a), ka, static_cast<float>(b) * kb), zc, lo, hi);
}

}  // namespace pare
