// Resize (opset 11-17 form: X, roi, scales, sizes; the importer maps opset 10's
// X, scales). Modes nearest and linear (n-linear, applied one axis at a time as
// the ONNX reference does); every coordinate_transformation_mode; nearest_mode
// rounding variants. Cubic is not supported. f32.
#include <cmath>
#include <cstring>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

struct ResizePlan {
    Shape out;
    std::vector<double> scale;  // per axis
    bool from_scales = false;   // align_corners then uses the unrounded length in * scale
};

Status resize_plan(const InferContext& ctx, const Shape& in, ResizePlan* p, bool* known) {
    *known = true;
    const int64_t rank = static_cast<int64_t>(in.size());
    const ValueMeta* scales = ctx.has(2) ? &ctx.in[2] : nullptr;
    const ValueMeta* sizes = ctx.has(3) ? &ctx.in[3] : nullptr;
    if (scales && scales->shape_known() && scales->shape.size() == 1 && scales->shape[0] == 0) {
        scales = nullptr;  // an empty tensor stands for "absent"
    }
    if (sizes && sizes->shape_known() && sizes->shape.size() == 1 && sizes->shape[0] == 0)
        sizes = nullptr;
    if (!scales == !sizes) return invalid_argument("exactly one of scales and sizes must be given");
    if ((scales && !scales->data) || (sizes && !sizes->data)) {
        *known = false;
        return Status();
    }
    p->out.assign(rank, -1);
    p->scale.assign(rank, 1.0);
    if (sizes) {
        if (sizes->dtype != DType::kInt64) return invalid_argument("sizes must be int64");
        std::vector<int64_t> s = to_int64s(*sizes->data);
        if (static_cast<int64_t>(s.size()) != rank)
            return invalid_argument("sizes length differs from rank");
        for (int64_t i = 0; i < rank; ++i) {
            if (s[i] < 0 || s[i] > (int64_t{1} << 32))
                return invalid_argument("invalid size in sizes");
            p->out[i] = s[i];
            p->scale[i] = in[i] > 0 ? static_cast<double>(s[i]) / static_cast<double>(in[i]) : 1.0;
        }
    } else {
        if (scales->dtype != DType::kFloat32) return invalid_argument("scales must be float32");
        const Tensor& t = *scales->data;
        if (t.numel() != rank) return invalid_argument("scales length differs from rank");
        p->from_scales = true;
        for (int64_t i = 0; i < rank; ++i) {
            const double s = t.data<float>()[i];
            if (!(s > 0) || s > 1e6) return invalid_argument("scales must be positive");
            p->scale[i] = s;
            p->out[i] = in[i] < 0 ? -1 : static_cast<int64_t>(std::floor(in[i] * s));
        }
    }
    for (int64_t i = 0; i < rank; ++i) {
        if (in[i] == 0 && p->out[i] > 0) {
            return invalid_argument("cannot resize an empty axis " + std::to_string(i) +
                                    " to size " + std::to_string(p->out[i]));
        }
    }
    return Status();
}

// Source coordinate of output index x along one axis.
double source_coord(const std::string& mode, double x, int64_t in, int64_t out, double out_len,
                    double scale, double roi_start, double roi_end) {
    if (mode == "half_pixel") return (x + 0.5) / scale - 0.5;
    if (mode == "pytorch_half_pixel") return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    if (mode == "align_corners") {
        return out == 1 ? 0.0 : x * static_cast<double>(in - 1) / (out_len - 1);
    }
    if (mode == "asymmetric") return x / scale;
    if (mode == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
    // tf_crop_and_resize
    if (out > 1) {
        return roi_start * (in - 1) +
               x * (roi_end - roi_start) * (in - 1) / static_cast<double>(out - 1);
    }
    return 0.5 * (roi_start + roi_end) * (in - 1);
}

int64_t nearest_index(const std::string& nm, double x) {
    if (nm == "floor") return static_cast<int64_t>(std::floor(x));
    if (nm == "ceil") return static_cast<int64_t>(std::ceil(x));
    const double f = std::floor(x);
    if (x - f == 0.5) return static_cast<int64_t>(nm == "round_prefer_ceil" ? f + 1 : f);
    return static_cast<int64_t>(std::round(x));
}

}  // namespace

Status infer_resize(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    const std::string mode = ctx.node.attrs.get_string("mode", "nearest");
    if (mode != "nearest" && mode != "linear") {
        return unsupported("Resize mode \"" + mode + "\" (supported: nearest, linear)");
    }
    const std::string ct =
        ctx.node.attrs.get_string("coordinate_transformation_mode", "half_pixel");
    if (ct != "half_pixel" && ct != "pytorch_half_pixel" && ct != "align_corners" &&
        ct != "asymmetric" && ct != "tf_half_pixel_for_nn" && ct != "tf_crop_and_resize") {
        return unsupported("coordinate_transformation_mode \"" + ct + "\"");
    }
    const std::string nm = ctx.node.attrs.get_string("nearest_mode", "round_prefer_floor");
    if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil") {
        return unsupported("nearest_mode \"" + nm + "\"");
    }
    if (ctx.node.attrs.has("antialias") || ctx.node.attrs.has("axes")) {
        return unsupported("Resize antialias/axes (opset 18)");
    }
    const ValueMeta& x = ctx.in[0];
    if (!x.has_shape) {
        ctx.out[0] = meta_rank_unknown(DType::kFloat32);
        return Status();
    }
    ResizePlan p;
    bool known;
    PARE_RETURN_IF_ERROR(resize_plan(ctx, x.shape, &p, &known));
    ctx.out[0] = meta(DType::kFloat32, known ? p.out : Shape(x.shape.size(), -1));
    return Status();
}

Status resize_nearest_indices(const ComputeContext& ctx, std::vector<std::vector<int64_t>>* idx) {
    const Tensor& X = *ctx.in[0];
    const Attributes& a = ctx.node.attrs;
    const std::string ct = a.get_string("coordinate_transformation_mode", "half_pixel");
    if (a.get_string("mode", "nearest") != "nearest" || ct == "tf_crop_and_resize")
        return unsupported("only nearest Resize without tf_crop_and_resize has index tables");
    InferContext ictx{ctx.node, {}, {}};
    for (const Tensor* t : ctx.in) ictx.in.push_back(t ? ValueMeta::of(*t) : ValueMeta());
    ResizePlan p;
    bool known;
    PARE_RETURN_IF_ERROR(resize_plan(ictx, X.shape(), &p, &known));
    if (!known) return invalid_argument("Resize scales or sizes are not known");
    const std::string nm = a.get_string("nearest_mode", "round_prefer_floor");
    idx->assign(static_cast<size_t>(X.rank()), {});
    for (int64_t d = 0; d < X.rank(); ++d) {
        const int64_t in = X.shape()[d], out = p.out[d];
        std::vector<int64_t>& v = (*idx)[d];
        v.resize(static_cast<size_t>(out));
        // The same index for every output when the axis keeps its size and scale 1,
        // as compute_resize skips such axes.
        const bool same = in == out && p.scale[d] == 1.0;
        for (int64_t o = 0; o < out; ++o) {
            const double out_len = p.from_scales ? in * p.scale[d] : static_cast<double>(out);
            const double x =
                source_coord(ct, static_cast<double>(o), in, out, out_len, p.scale[d], 0, 1);
            v[o] = same ? o : std::min<int64_t>(std::max<int64_t>(nearest_index(nm, x), 0), in - 1);
        }
    }
    return Status();
}

Status compute_resize(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    InferContext ictx{ctx.node, {}, {}};
    for (const Tensor* t : ctx.in) ictx.in.push_back(t ? ValueMeta::of(*t) : ValueMeta());
    ResizePlan p;
    bool known;
    PARE_RETURN_IF_ERROR(resize_plan(ictx, X.shape(), &p, &known));
    const Attributes& a = ctx.node.attrs;
    const bool linear = a.get_string("mode", "nearest") == "linear";
    const std::string ct = a.get_string("coordinate_transformation_mode", "half_pixel");
    const std::string nm = a.get_string("nearest_mode", "round_prefer_floor");
    const float extrapolation = a.get_float("extrapolation_value", 0.0f);
    const int64_t rank = X.rank();
    std::vector<double> roi;
    if (ct == "tf_crop_and_resize") {
        if (ctx.in.size() < 2 || !ctx.in[1] || ctx.in[1]->numel() != 2 * rank) {
            return invalid_argument("tf_crop_and_resize needs roi of length 2*rank");
        }
        for (int64_t i = 0; i < 2 * rank; ++i) roi.push_back(ctx.in[1]->at_double(i));
    }
    Tensor cur = X;
    for (int64_t d = 0; d < rank; ++d) {
        const int64_t in = cur.shape()[d], out = p.out[d];
        if (in == out && p.scale[d] == 1.0 && roi.empty()) continue;
        Shape ns = cur.shape();
        ns[d] = out;
        Tensor next;
        PARE_ASSIGN_OR_RETURN(next, Tensor::create(DType::kFloat32, ns));
        // Per output index: two source indices and weights, or "outside" (extrapolate).
        std::vector<int64_t> i0(out), i1(out);
        std::vector<float> w1(out);
        std::vector<bool> outside(out, false);
        for (int64_t o = 0; o < out; ++o) {
            const double out_len = p.from_scales ? in * p.scale[d] : static_cast<double>(out);
            double x = source_coord(ct, static_cast<double>(o), in, out, out_len, p.scale[d],
                                    roi.empty() ? 0 : roi[d], roi.empty() ? 1 : roi[d + rank]);
            if (ct == "tf_crop_and_resize" && (x < 0 || x > in - 1)) outside[o] = true;
            if (linear) {
                double f = std::floor(x);
                w1[o] = static_cast<float>(x - f);
                i0[o] = std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(f), 0), in - 1);
                i1[o] =
                    std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(f) + 1, 0), in - 1);
            } else {
                i0[o] = i1[o] =
                    std::min<int64_t>(std::max<int64_t>(nearest_index(nm, x), 0), in - 1);
                w1[o] = 0;
            }
        }
        int64_t outer = 1, inner = 1;
        for (int64_t i = 0; i < d; ++i) outer *= ns[i];
        for (int64_t i = d + 1; i < rank; ++i) inner *= ns[i];
        const float* src = cur.data<float>();
        float* dst = next.data<float>();
        for (int64_t u = 0; u < outer; ++u) {
            for (int64_t o = 0; o < out; ++o) {
                float* yr = dst + (u * out + o) * inner;
                if (outside[o]) {
                    for (int64_t v = 0; v < inner; ++v) yr[v] = extrapolation;
                    continue;
                }
                const float* r0 = src + (u * in + i0[o]) * inner;
                const float* r1 = src + (u * in + i1[o]) * inner;
                const float b = w1[o];
                for (int64_t v = 0; v < inner; ++v)
                    yr[v] = b == 0 ? r0[v] : r0[v] * (1 - b) + r1[v] * b;
            }
        }
        cur = next;
    }
    if (cur.nbytes()) std::memcpy(ctx.out[0]->raw(), cur.raw(), cur.nbytes());
    return Status();
}

}  // namespace pare
