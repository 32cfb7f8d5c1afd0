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

#include "runtime/cpu/cpu.h"
#include "runtime/ir/graph.h"

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

// QLinearMul's product of two inputs: (a - za) * (b - zb) in int32 (exact), then
// requantized as above with multiplier = a_scale * b_scale / c_scale.
inline int32_t requantize_mul(int32_t a, int32_t b, float multiplier, int32_t zc, int32_t lo,
                              int32_t hi) {
    return requantize(a * b, multiplier, zc, lo, hi);
}

// A float activation between the accumulator and the 8-bit output, and a scalar
// affine after it (PP-LCNetV3's learnable affine block: act(v) * scale + bias): the
// session's fusion of DequantizeLinear -> Conv -> activation [-> Mul -> Add] ->
// QuantizeLinear (fuse_qdq's session-only form, runtime/ir/passes/passes.h) into
// QLinearConv.
struct FusedActivation {
    Activation act;
    float scale = 1.0f, bias = 0.0f;
};

// In two steps, the second QuantizeLinear's (so that the kernels quantize with the
// table's qu8_quantize): v = f(acc) = act(acc * acc_scale) * scale + bias, the
// accumulator as a real value (acc_scale = x_scale * w_scale evaluated in float),
// the activation's scalar definition (activate), the affine (scale 1 and bias 0
// leave v as it is); then y = clamp_round(v / y_scale, zp, lo, hi).
template <Activation::Kind K>
inline void activated_row_of(const int32_t* acc, int64_t n, float acc_scale,
                             const FusedActivation& f, float* v) {
    for (int64_t i = 0; i < n; ++i) {
        const float a = activate<K>(f.act, static_cast<float>(acc[i]) * acc_scale);
        v[i] = a * f.scale + f.bias;
    }
}
inline void activated_row(const int32_t* acc, int64_t n, float acc_scale, const FusedActivation& f,
                          float* v) {
    with_activation_kind(
        f.act.kind, [&](auto k) { activated_row_of<decltype(k)::value>(acc, n, acc_scale, f, v); });
}
// The second step, as QuantizeLinear computes it (x / scale, rounded half to even).
inline int32_t quantize_value(float v, float y_scale, int32_t zp, int32_t lo, int32_t hi) {
    return clamp_round(v / y_scale, zp, lo, hi);
}

// What a QLinearConv carries in that fusion: the attribute "pare_activation" (kind,
// lo, hi, alpha, beta, scale, bias as floats), which only a session's own graph
// holds (it is not ONNX and never written to a file); kind kNone without it.
constexpr const char* kFusedActivationAttr = "pare_activation";
inline FusedActivation fused_activation(const Attributes& attrs) {
    FusedActivation f;
    if (!attrs.has(kFusedActivationAttr)) return f;
    const std::vector<float> v = attrs.get_floats(kFusedActivationAttr);
    if (v.size() != 7 || !(v[0] > Activation::kNone && v[0] < Activation::kExp)) return f;
    f.act.kind = static_cast<Activation::Kind>(static_cast<int>(v[0]));
    f.act.lo = v[1];
    f.act.hi = v[2];
    f.act.alpha = v[3];
    f.act.beta = v[4];
    f.scale = v[5];
    f.bias = v[6];
    return f;
}
inline void set_fused_activation(Attributes* attrs, const FusedActivation& f) {
    const Activation& a = f.act;
    attrs->set(kFusedActivationAttr, Attribute::make_floats({static_cast<float>(a.kind), a.lo, a.hi,
                                                             a.alpha, a.beta, f.scale, f.bias}));
}

}  // namespace pare
