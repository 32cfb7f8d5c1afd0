// Pad (opset 11+ form: pads and constant_value as inputs; the importer converts
// opset < 11 attributes). Modes constant, reflect, edge; negative pads crop.
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

Status infer_pad(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    const ValueMeta& x = ctx.in[0];
    const std::string mode = ctx.node.attrs.get_string("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge") {
        return unsupported("Pad mode \"" + mode + "\"");
    }
    if (ctx.has(3)) return unsupported("Pad axes input (opset 18)");
    if (ctx.in[1].dtype != DType::kInt64) return invalid_argument("pads must be int64");
    if (x.dtype == DType::kFloat16) return unsupported("float16 Pad");
    if (!x.has_shape || !ctx.in[1].data) {
        ctx.out[0] =
            x.has_shape ? meta(x.dtype, Shape(x.shape.size(), -1)) : meta_rank_unknown(x.dtype);
        return Status();
    }
    std::vector<int64_t> pads = to_int64s(*ctx.in[1].data);
    const size_t r = x.shape.size();
    if (pads.size() != 2 * r) return invalid_argument("pads must have 2*rank values");
    Shape out(r);
    for (size_t i = 0; i < r; ++i) {
        if (pads[i] < -(1 << 30) || pads[i] > (1 << 30) || pads[i + r] < -(1 << 30) ||
            pads[i + r] > (1 << 30)) {
            return invalid_argument("pads value out of range");
        }
        out[i] = x.shape[i] < 0 ? -1 : x.shape[i] + pads[i] + pads[i + r];
        if (out[i] < -1) return invalid_argument("pads remove more than the dimension");
        if (mode != "constant" && x.shape[i] == 0 && out[i] > 0) {
            return invalid_argument("cannot " + mode + "-pad an empty dimension");
        }
    }
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

Status compute_pad(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    Tensor& Y = *ctx.out[0];
    const std::vector<int64_t> pads = to_int64s(*ctx.in[1]);
    const std::string mode = ctx.node.attrs.get_string("mode", "constant");
    const int64_t r = X.rank();
    const size_t es = dtype_size(X.dtype());
    std::vector<uint8_t> cval(es, 0);
    if (ctx.in.size() > 2 && ctx.in[2] && ctx.in[2]->numel() > 0) {
        if (ctx.in[2]->dtype() != X.dtype())
            return invalid_argument("constant_value dtype differs");
        std::memcpy(cval.data(), ctx.in[2]->raw(), es);
    }
    const std::vector<int64_t> xst = strides_of(X.shape());
    const uint8_t* x = static_cast<const uint8_t*>(X.raw());
    uint8_t* y = static_cast<uint8_t*>(Y.raw());
    std::vector<int64_t> idx(r, 0);
    for (int64_t o = 0; o < Y.numel(); ++o) {
        int64_t src = 0;
        bool is_pad = false;
        for (int64_t d = 0; d < r; ++d) {
            int64_t i = idx[d] - pads[d];
            const int64_t n = X.shape()[d];
            if (i < 0 || i >= n) {
                if (mode == "constant") {
                    is_pad = true;
                    break;
                } else if (mode == "edge") {
                    i = i < 0 ? 0 : n - 1;
                } else {  // reflect
                    if (n == 1) {
                        i = 0;
                    } else {
                        const int64_t period = 2 * (n - 1);
                        i = ((i % period) + period) % period;
                        if (i >= n) i = period - i;
                    }
                }
            }
            src += i * xst[d];
        }
        std::memcpy(y + o * es, is_pad ? cval.data() : x + src * es, es);
        for (int64_t d = r - 1; d >= 0; --d) {
            if (++idx[d] < Y.shape()[d]) break;
            idx[d] = 0;
        }
    }
    return Status();
}

}  // namespace pare
