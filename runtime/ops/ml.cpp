// The classical ops of the ai.onnx.ml domain besides tree ensembles (reference
// kernels, ONNX Runtime's semantics): LinearClassifier, LinearRegressor, Scaler,
// Normalizer, ArrayFeatureExtractor. Features are float32 [N, F] (or [F], one row).
#include <cmath>
#include <cstring>

#include "runtime/ops/op_util.h"
#include "runtime/ops/tree_ensemble.h"

namespace pare {

namespace {

// Rows and features of a [N, F] or [F] input.
Status rows_features(const Shape& s, int64_t* rows, int64_t* features) {
    if (s.size() != 1 && s.size() != 2)
        return invalid_argument("X " + shape_str(s) + " must be [N, F] or [F]");
    *rows = s.size() == 2 ? s[0] : 1;
    *features = s.back();
    return Status();
}

struct Linear {
    std::vector<float> coef, intercepts;
    int64_t outputs = 0;  // classes or targets
    TreeEnsemble::Post post = TreeEnsemble::Post::kNone;
    std::vector<int64_t> labels;
};

Status parse_linear(const Node& node, Linear* l) {
    const bool classifier = node.op == OpKind::kLinearClassifier;
    l->coef = node.attrs.get_floats("coefficients");
    l->intercepts = node.attrs.get_floats("intercepts");
    const std::string post = node.attrs.get_string("post_transform", "NONE");
    PARE_RETURN_IF_ERROR(parse_post_transform(post, &l->post));
    if (classifier) {
        if (node.attrs.has("classlabels_strings"))
            return unsupported(
                "string class labels (classlabels_strings) are not supported; "
                "use classlabels_ints");
        l->labels = node.attrs.get_ints("classlabels_ints");
        if (l->labels.empty()) return invalid_argument("classlabels_ints is missing");
        l->outputs = static_cast<int64_t>(l->labels.size());
        if (l->outputs == 2 && !l->coef.empty() && l->intercepts.size() == 1)
            return unsupported(
                "a binary classifier with one score column is not supported; "
                "give both classes' coefficients");
    } else {
        l->outputs = node.attrs.get_int("targets", 1);
        if (l->outputs < 1 || l->outputs > (1 << 24))
            return invalid_argument("targets " + std::to_string(l->outputs) + " is out of range");
        if (l->post != TreeEnsemble::Post::kNone)
            return unsupported("post_transform " + post + " is not supported");
    }
    if (l->coef.empty() || l->coef.size() % static_cast<size_t>(l->outputs) != 0)
        return invalid_argument("coefficients has " + std::to_string(l->coef.size()) +
                                " entries, not a multiple of " + std::to_string(l->outputs) +
                                (classifier ? " classes" : " targets"));
    if (!l->intercepts.empty() && static_cast<int64_t>(l->intercepts.size()) != l->outputs)
        return invalid_argument("intercepts has " + std::to_string(l->intercepts.size()) +
                                " entries for " + std::to_string(l->outputs) +
                                (classifier ? " classes" : " targets"));
    return Status();
}

}  // namespace

Status infer_linear(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    Linear l;
    PARE_RETURN_IF_ERROR(parse_linear(ctx.node, &l));
    int64_t rows = -1;
    if (ctx.in[0].has_shape) {
        int64_t f;
        PARE_RETURN_IF_ERROR(rows_features(ctx.in[0].shape, &rows, &f));
        if (f >= 0 && static_cast<int64_t>(l.coef.size()) != l.outputs * f)
            return invalid_argument("X " + shape_str(ctx.in[0].shape) + " has " +
                                    std::to_string(f) + " features; the coefficients expect " +
                                    std::to_string(l.coef.size() / l.outputs));
    }
    return classical_outputs(ctx, ctx.node.op == OpKind::kLinearClassifier, rows, l.outputs);
}

Status compute_linear(ComputeContext& ctx) {
    Linear l;
    PARE_RETURN_IF_ERROR(parse_linear(ctx.node, &l));
    const Tensor& X = *ctx.in[0];
    int64_t rows, F;
    PARE_RETURN_IF_ERROR(rows_features(X.shape(), &rows, &F));
    const bool classifier = ctx.node.op == OpKind::kLinearClassifier;
    const int64_t C = l.outputs;
    float* z = (classifier ? ctx.out[1] : ctx.out[0])->data<float>();
    const float* x = X.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
        float* zr = z + r * C;
        for (int64_t c = 0; c < C; ++c) {
            double acc = l.intercepts.empty() ? 0.0 : l.intercepts[static_cast<size_t>(c)];
            for (int64_t f = 0; f < F; ++f)
                acc += static_cast<double>(x[r * F + f]) * l.coef[static_cast<size_t>(c * F + f)];
            zr[c] = static_cast<float>(acc);
        }
        if (classifier) {
            int64_t best = 0;
            for (int64_t c = 1; c < C; ++c) {
                if (zr[c] > zr[best]) best = c;
            }
            ctx.out[0]->data<int64_t>()[r] = l.labels[static_cast<size_t>(best)];
            apply_post_transform(l.post, zr, C);
        }
    }
    return Status();
}

Status infer_scaler(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    const size_t no = ctx.node.attrs.get_floats("offset").size();
    const size_t ns = ctx.node.attrs.get_floats("scale").size();
    const ValueMeta& x = ctx.in[0];
    const int64_t c = x.has_shape && !x.shape.empty() ? x.shape.back() : -1;
    for (size_t k : {no, ns}) {
        if (k > 1 && c >= 0 && static_cast<int64_t>(k) != c)
            return invalid_argument("offset/scale have " + std::to_string(k) + " entries for X " +
                                    shape_str(x.shape));
    }
    if (no != ns)  // as ONNX Runtime requires
        return invalid_argument("offset has " + std::to_string(no) + " entries, scale " +
                                std::to_string(ns) + " (they must match)");
    ctx.out[0] = {DType::kFloat32, x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_scaler(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const std::vector<float> off = ctx.node.attrs.get_floats("offset");
    const std::vector<float> sc = ctx.node.attrs.get_floats("scale");
    const int64_t C = X.rank() == 0 ? 1 : X.shape().back();
    for (const auto* v : {&off, &sc}) {
        if (v->size() > 1 && static_cast<int64_t>(v->size()) != C)
            return invalid_argument("offset/scale do not match X " + shape_str(X.shape()));
    }
    const float* x = X.data<float>();
    float* y = ctx.out[0]->data<float>();
    for (int64_t i = 0; i < X.numel(); ++i) {
        const size_t c = C > 0 ? static_cast<size_t>(i % C) : 0;
        const float o = off.empty() ? 0.0f : off[off.size() == 1 ? 0 : c];
        const float s = sc.empty() ? 1.0f : sc[sc.size() == 1 ? 0 : c];
        y[i] = (x[i] - o) * s;
    }
    return Status();
}

Status infer_normalizer(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 1));
    PARE_RETURN_IF_ERROR(require_float(ctx, 0));
    const std::string norm = ctx.node.attrs.get_string("norm", "MAX");
    if (norm != "MAX" && norm != "L1" && norm != "L2")
        return invalid_argument("norm \"" + norm + "\" is not MAX, L1 or L2");
    const ValueMeta& x = ctx.in[0];
    if (x.has_shape) {
        int64_t r, f;
        PARE_RETURN_IF_ERROR(rows_features(x.shape, &r, &f));
    }
    ctx.out[0] = {DType::kFloat32, x.has_shape, x.shape, nullptr};
    return Status();
}

Status compute_normalizer(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    int64_t rows, F;
    PARE_RETURN_IF_ERROR(rows_features(X.shape(), &rows, &F));
    const std::string norm = ctx.node.attrs.get_string("norm", "MAX");
    const float* x = X.data<float>();
    float* y = ctx.out[0]->data<float>();
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * F;
        float* yr = y + r * F;
        double d = 0;
        if (norm == "MAX") {
            d = -INFINITY;
            for (int64_t f = 0; f < F; ++f) d = std::fmax(d, xr[f]);
        } else if (norm == "L1") {
            for (int64_t f = 0; f < F; ++f) d += std::fabs(xr[f]);
        } else {
            for (int64_t f = 0; f < F; ++f) d += static_cast<double>(xr[f]) * xr[f];
            d = std::sqrt(d);
        }
        for (int64_t f = 0; f < F; ++f)
            yr[f] = d != 0 && F > 0 ? static_cast<float>(xr[f] / d) : xr[f];
    }
    return Status();
}

Status infer_array_feature_extractor(InferContext& ctx) {
    PARE_RETURN_IF_ERROR(require_inputs(ctx, 2));
    const ValueMeta& x = ctx.in[0];
    const ValueMeta& idx = ctx.in[1];
    if (idx.dtype != DType::kInt64) return invalid_argument("Y (the indices) must be int64");
    int64_t k = -1;
    if (idx.has_shape) {
        k = 1;
        for (int64_t d : idx.shape) k = d < 0 || k < 0 ? -1 : k * d;
    }
    if (!x.has_shape) {
        ctx.out[0] = meta_rank_unknown(x.dtype);
        return Status();
    }
    if (x.shape.empty()) return invalid_argument("X must have at least one dimension");
    Shape out = x.shape;
    if (out.size() == 1) out.insert(out.begin(), 1);
    out.back() = k;
    if (idx.data) {
        for (int64_t i : to_int64s(*idx.data)) {
            if (i < 0 || (x.shape.back() >= 0 && i >= x.shape.back()))
                return invalid_argument("index " + std::to_string(i) +
                                        " is outside X's last axis " + shape_str(x.shape));
        }
    }
    ctx.out[0] = meta(x.dtype, out);
    return Status();
}

Status compute_array_feature_extractor(ComputeContext& ctx) {
    const Tensor& X = *ctx.in[0];
    const std::vector<int64_t> idx = to_int64s(*ctx.in[1]);
    const int64_t C = X.shape().back();
    for (int64_t i : idx) {
        if (i < 0 || i >= C)
            return invalid_argument("index " + std::to_string(i) + " is outside X's last axis " +
                                    shape_str(X.shape()));
    }
    const size_t es = dtype_size(X.dtype());
    const int64_t rows = C > 0 ? X.numel() / C : 0;
    const uint8_t* x = static_cast<const uint8_t*>(X.raw());
    uint8_t* y = static_cast<uint8_t*>(ctx.out[0]->raw());
    const int64_t K = static_cast<int64_t>(idx.size());
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < K; ++k)
            std::memcpy(y + (r * K + k) * es, x + (r * C + idx[static_cast<size_t>(k)]) * es, es);
    }
    return Status();
}

}  // namespace pare
