// Window geometry shared by Conv, ConvTranspose and the pooling ops: parses
// kernel_shape, strides, dilations, pads and auto_pad, and derives output sizes.
// Spatial ranks 1 to 3 are supported; kernels treat missing leading dims as 1.
#pragma once

#include "runtime/ops/op_util.h"

namespace pare {

struct Window {
    int64_t rank = 0;  // spatial rank
    Shape kernel, strides, dilations;
    Shape pad_begin, pad_end;
    Shape in, out;  // spatial sizes (may be unknown, < 0, statically)
};

// Fills w from the node's attributes for a spatial input `in` (size = rank).
// `kernel` is the kernel's spatial shape (from the weight for Conv, attribute for pools).
// ceil_mode applies to pools only.
Status window_forward(const Attributes& a, const Shape& in, const Shape& kernel, bool ceil_mode,
                      Window* w);

// ConvTranspose geometry from the node's attributes, input shape xs and weight shape
// ws: o = i * stride + k * dilation - pad_begin, for o in [0, out).
struct TWindow {
    Shape in, out, kernel, strides, dilations, pad_begin;
};
Status transpose_window(const Node& node, const Shape& xs, const Shape& ws, TWindow* t);

// Pads a spatial shape to 3 dims (leading 1s), for the 3-D loops of the kernels.
inline Shape to3(const Shape& s, int64_t fill) {
    Shape r(3 - s.size(), fill);
    r.insert(r.end(), s.begin(), s.end());
    return r;
}

}  // namespace pare
