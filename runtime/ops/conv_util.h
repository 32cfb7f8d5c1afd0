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

// The offset of every tap k = (c, kh, kw) of a 2-D kernel from an output
// position's origin in an input whose planes are `plane` floats apart and rows
// `row` floats apart, dilations dh, dw: off[k] = c * plane + kh * dh * row + kw * dw
// (no division per tap: these tables are built at run time).
inline void tap_offsets(int64_t C, int64_t KH, int64_t KW, int64_t plane, int64_t row, int64_t dh,
                        int64_t dw, int64_t* off) {
    for (int64_t c = 0, k = 0; c < C; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) off[k++] = c * plane + kh * dh * row + kw * dw;
}

// Pads a spatial shape to 3 dims (leading 1s), for the 3-D loops of the kernels.
inline Shape to3(const Shape& s, int64_t fill) {
    Shape r(3 - s.size(), fill);
    r.insert(r.end(), s.begin(), s.end());
    return r;
}

}  // namespace pare
