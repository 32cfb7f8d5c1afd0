#include "runtime/ops/conv_util.h"

namespace pare {

Status window_forward(const Attributes& a, const Shape& in, const Shape& kernel, bool ceil_mode,
                      Window* w) {
    const int64_t r = static_cast<int64_t>(in.size());
    if (r < 1 || r > 3) {
        return unsupported("spatial rank " + std::to_string(r) + " (supported: 1 to 3)");
    }
    if (static_cast<int64_t>(kernel.size()) != r) {
        return invalid_argument("kernel_shape " + shape_str(kernel) +
                                " does not match spatial rank " + std::to_string(r));
    }
    w->rank = r;
    w->in = in;
    w->kernel = kernel;
    w->strides = a.get_ints("strides");
    w->dilations = a.get_ints("dilations");
    if (w->strides.empty()) w->strides.assign(r, 1);
    if (w->dilations.empty()) w->dilations.assign(r, 1);
    if (static_cast<int64_t>(w->strides.size()) != r ||
        static_cast<int64_t>(w->dilations.size()) != r) {
        return invalid_argument("strides/dilations length does not match spatial rank");
    }
    for (int64_t i = 0; i < r; ++i) {
        if (w->strides[i] < 1 || w->strides[i] > (1 << 20))
            return invalid_argument("stride must be >= 1");
        if (w->dilations[i] < 1 || w->dilations[i] > (1 << 20))
            return invalid_argument("dilation must be >= 1");
        if (kernel[i] < 1 || kernel[i] > (1 << 20))
            return invalid_argument("kernel size must be >= 1");
    }
    std::string auto_pad = a.get_string("auto_pad", "NOTSET");
    Shape pads = a.get_ints("pads");
    if (pads.empty()) pads.assign(2 * r, 0);
    if (static_cast<int64_t>(pads.size()) != 2 * r) {
        return invalid_argument("pads has " + std::to_string(pads.size()) + " values, expected " +
                                std::to_string(2 * r));
    }
    w->pad_begin.assign(pads.begin(), pads.begin() + r);
    w->pad_end.assign(pads.begin() + r, pads.end());
    w->out.assign(r, -1);
    for (int64_t i = 0; i < r; ++i) {
        if (w->pad_begin[i] < 0 || w->pad_end[i] < 0 || w->pad_begin[i] > (1 << 20) ||
            w->pad_end[i] > (1 << 20)) {
            return invalid_argument("pads must be in [0, 2^20]");
        }
        const int64_t eff = (kernel[i] - 1) * w->dilations[i] + 1;
        const int64_t s = w->strides[i];
        if (in[i] < 0) continue;
        if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
            int64_t out = (in[i] + s - 1) / s;
            int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in[i]);
            int64_t small = total / 2, big = total - small;
            w->pad_begin[i] = auto_pad == "SAME_UPPER" ? small : big;
            w->pad_end[i] = auto_pad == "SAME_UPPER" ? big : small;
            w->out[i] = out;
        } else if (auto_pad == "VALID") {
            w->pad_begin[i] = w->pad_end[i] = 0;
            if (in[i] < eff) return invalid_argument("input smaller than the kernel");
            w->out[i] = (in[i] - eff) / s + 1;
        } else if (auto_pad == "NOTSET") {
            int64_t span = in[i] + w->pad_begin[i] + w->pad_end[i] - eff;
            if (span < 0) {
                return invalid_argument(
                    "kernel (" + std::to_string(eff) + ") larger than padded input (" +
                    std::to_string(in[i] + w->pad_begin[i] + w->pad_end[i]) + ")");
            }
            int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
            // A window may not start in the end padding (ceil_mode).
            if (ceil_mode && (out - 1) * s >= in[i] + w->pad_begin[i]) --out;
            w->out[i] = out;
        } else {
            return invalid_argument("unknown auto_pad \"" + auto_pad + "\"");
        }
    }
    return Status();
}

}  // namespace pare
