#include "toolkit/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/core/half.h"
#include "runtime/exec/session.h"
#include "runtime/ir/passes/passes.h"

namespace pare {

namespace {

constexpr int kBins = 2048;

bool is_quantizable_op(const Node& n) {
    return n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul";
}

// An Add of two computed tensors (a residual join): both inputs are quantized, so
// that the producers' outputs and the sum can stay in integers (the runtime's
// fuse_qdq pass turns DequantizeLinear -> Add -> QuantizeLinear into QLinearAdd).
bool is_quantizable_add(const Graph& g, const Node& n) {
    return n.op_type == "Add" && n.inputs.size() == 2 && !g.is_initializer(n.inputs[0]) &&
           !g.is_initializer(n.inputs[1]);
}

// A Mul of two computed tensors that is not an activation written out (x *
// Sigmoid(x), x * HardSigmoid(x), x * Clip(x + 3, 0, 6): neither input computed from
// the other within two nodes): a squeeze-excitation's scaling of x by its gate.
// Both inputs quantized (fuse_qdq: QLinearMul), so that the layers computing x and
// the gate, and the pool reading x, stay in integers.
bool is_quantizable_mul(const Graph& g, const Node& n) {
    if (n.op_type != "Mul" || n.inputs.size() != 2 || n.outputs.size() != 1) return false;
    for (int k = 0; k < 2; ++k) {
        const std::string &x = n.inputs[k], &other = n.inputs[1 - k];
        if (g.is_initializer(x)) return false;
        auto vi = g.value_info.find(x);
        if (vi == g.value_info.end() || vi->second.dtype != DType::kFloat32) return false;
        // other computed from x within two nodes?
        int p = g.producer_of(other);
        for (int depth = 0; depth < 2 && p >= 0; ++depth) {
            const Node& pn = g.nodes[p];
            if (std::find(pn.inputs.begin(), pn.inputs.end(), x) != pn.inputs.end()) return false;
            p = pn.inputs.empty() ? -1 : g.producer_of(pn.inputs[0]);
        }
    }
    return true;
}

// A MaxPool of a computed tensor: its input quantized and its output given the
// same parameters (a pool's output range lies inside its input's), so that it runs
// on the integers (fuse_qdq). A GlobalAveragePool's input quantized (its output
// stays float) when a Conv or an Add computes it, through a Relu, Clip or HardSwish
// at most (the session runs a Conv's HardSwish in its requantization):
// that layer, a network's last and often its largest, then has a quantized output
// and runs in integers too (after other producers, a SiLU's Mul, the rounding
// would buy nothing).
bool is_quantizable_pool(const Graph& g, const Node& n) {
    if (n.outputs.size() != 1 || n.inputs.empty() || g.is_initializer(n.inputs[0])) return false;
    if (n.op_type == "MaxPool") return true;
    if (n.op_type != "GlobalAveragePool") return false;
    int p = g.producer_of(n.inputs[0]);
    if (p >= 0 && (g.nodes[p].op_type == "Relu" || g.nodes[p].op_type == "Clip" ||
                   g.nodes[p].op_type == "HardSwish"))
        p = g.producer_of(g.nodes[p].inputs[0]);
    return p >= 0 && (g.nodes[p].op_type == "Conv" || g.nodes[p].op_type == "Add");
}

// A Concat of computed float tensors (a SqueezeNet fire module's two expand
// branches, a feature pyramid's levels): its inputs quantized with one shared
// scale and zero point, also its output's, so that the producers' outputs stay in
// integers and the integer Concat (fuse_qdq: QLinearConcat) copies bytes. Float
// inputs only (shape arithmetic concatenates int64 tensors): known from shape
// inference.
bool is_quantizable_concat(const Graph& g, const Node& n) {
    if (n.op_type != "Concat" || n.inputs.size() < 2 || n.outputs.size() != 1) return false;
    for (const std::string& x : n.inputs) {
        auto vi = g.value_info.find(x);
        if (g.is_initializer(x) || vi == g.value_info.end() || vi->second.dtype != DType::kFloat32)
            return false;
    }
    return true;
}

// The activations a quantized layer reads: input 0, both inputs of an Add or a Mul,
// every input of a Concat.
std::vector<std::string> quantized_inputs(const Node& n) {
    if (n.op_type == "Add" || n.op_type == "Mul") return {n.inputs[0], n.inputs[1]};
    if (n.op_type == "Concat") return n.inputs;
    return {n.inputs[0]};
}

// The end of a rewrite: names reserved as empty initializers dropped, the nodes
// ordered and resolved, the float weights no longer used removed (the dead-code
// pass), the graph verified.
Status finish_rewrite(Graph& g) {
    for (auto it = g.initializers.begin(); it != g.initializers.end();)
        it = it->second.dtype() == DType::kUndefined ? g.initializers.erase(it) : std::next(it);
    PARE_RETURN_IF_ERROR(g.topo_sort());
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(eliminate_dead_code(g).status());
    return verify(g);
}

// A layer's weight as int8: symmetric, one scale per output channel (Conv (M, C,
// ...) axis 0; Gemm B (K, N) axis 1, or 0 when transposed; MatMul (K, N) axis 1)
// or one per tensor; and its values dequantized.
int weight_qmax(const QuantOptions& o) { return o.reduce_range ? 64 : 127; }

// The axis of a layer's weight that holds its output channels: Conv (M, C, ...) 0;
// Gemm B (K, N) 1, or 0 when transposed; MatMul (K, N) 1.
int64_t weight_axis(const Node& n) {
    return n.op_type == "MatMul" || (n.op_type == "Gemm" && n.attrs.get_int("transB", 0) == 0) ? 1
                                                                                               : 0;
}

struct Int8Weight {
    Tensor q, scale, dequantized;
    int64_t axis = 0;
};

Result<Int8Weight> quantize_weight(const Node& n, const Tensor& w, bool per_tensor,
                                   int qmax = 127) {
    Int8Weight r;
    r.axis = weight_axis(n);
    const int64_t channels = per_tensor ? 1 : w.shape()[r.axis];
    int64_t inner = 1;
    for (int64_t d = r.axis + 1; d < w.rank(); ++d) inner *= w.shape()[d];
    auto ch = [&](int64_t i) { return channels == 1 ? 0 : i / inner % channels; };
    std::vector<float> amax(static_cast<size_t>(channels), 0.0f);
    const float* wd = w.data<float>();
    for (int64_t i = 0; i < w.numel(); ++i) amax[ch(i)] = std::max(amax[ch(i)], std::fabs(wd[i]));
    PARE_ASSIGN_OR_RETURN(r.q, Tensor::create(DType::kInt8, w.shape()));
    PARE_ASSIGN_OR_RETURN(
        r.scale, Tensor::create(DType::kFloat32, channels == 1 ? Shape{} : Shape{channels}));
    PARE_ASSIGN_OR_RETURN(r.dequantized, Tensor::create(DType::kFloat32, w.shape()));
    for (int64_t c = 0; c < channels; ++c)
        r.scale.data<float>()[c] = amax[c] > 0 ? amax[c] / static_cast<float>(qmax) : 1.0f;
    for (int64_t i = 0; i < w.numel(); ++i) {
        const float s = r.scale.data<float>()[ch(i)];
        const double q = std::nearbyint(static_cast<double>(wd[i] / s));
        r.q.data<int8_t>()[i] =
            static_cast<int8_t>(std::max<double>(-qmax, std::min<double>(qmax, q)));
        r.dequantized.data<float>()[i] = r.q.data<int8_t>()[i] * s;
    }
    return r;
}

struct Stats {
    float lo = std::numeric_limits<float>::infinity();
    float hi = -std::numeric_limits<float>::infinity();
    // Pass 2: histograms of the positive values over [0, hi] and of the negative
    // ones' magnitudes over [0, -lo]; exact zeros (half of a ReLU's outputs, exact
    // in any range that holds 0) are left out, or their spike would dominate.
    std::vector<double> pos, neg;
    std::vector<double> sum;  // a weight error output's sum per channel (axis 1)
    int64_t per_channel = 0;  // values summed into each channel
};

// Runs `run` on every calibration batch: the observed tensors (rows [0, n) of
// each, n the batch's real images).
Status for_each_batch(
    Session& s, const Tensor& images, int64_t batch, const std::vector<std::string>& observed,
    const std::function<void(size_t, const float*, int64_t, int64_t, int64_t)>& fn) {
    const Shape& ds = images.shape();
    const int64_t N = ds[0], per = ds[1] * ds[2] * ds[3];
    TensorMap outs;
    for (int64_t b0 = 0; b0 < N; b0 += batch) {
        const int64_t n = std::min(batch, N - b0);
        PARE_ASSIGN_OR_RETURN(Tensor x,
                              Tensor::create(DType::kFloat32, {batch, ds[1], ds[2], ds[3]}));
        std::memset(x.raw(), 0, x.nbytes());
        std::memcpy(x.raw(), images.data<float>() + b0 * per,
                    static_cast<size_t>(n * per) * sizeof(float));
        PARE_RETURN_IF_ERROR(s.run({{s.graph().inputs[0].name, x}}, &outs));
        for (size_t k = 0; k < observed.size(); ++k) {
            const Tensor& t = outs.at(observed[k]);
            if (t.dtype() != DType::kFloat32 || t.rank() < 1 || t.shape()[0] != batch)
                return invalid_argument("activation \"" + observed[k] +
                                        "\" is not a batch of float32 values");
            // (values, their count, channels along axis 1, values per channel and image)
            const int64_t channels = t.rank() >= 2 ? t.shape()[1] : 1;
            const int64_t inner = t.numel() / batch / std::max<int64_t>(1, channels);
            fn(k, t.data<float>(), t.numel() / batch * n, channels, inner);
        }
    }
    return Status();
}

}  // namespace

Result<CalibMethod> parse_calib_method(const std::string& name) {
    if (name == "minmax") return CalibMethod::kMinMax;
    if (name == "percentile") return CalibMethod::kPercentile;
    if (name == "entropy") return CalibMethod::kEntropy;
    if (name == "mse") return CalibMethod::kMse;
    return invalid_argument("unknown calibration method \"" + name +
                            "\" (minmax, percentile, entropy or mse)");
}

const char* calib_method_name(CalibMethod m) {
    switch (m) {
        case CalibMethod::kMinMax:
            return "minmax";
        case CalibMethod::kPercentile:
            return "percentile";
        case CalibMethod::kEntropy:
            return "entropy";
        case CalibMethod::kMse:
            return "mse";
    }
    return "?";
}

void range_to_affine(float lo, float hi, bool is_signed, float* scale, int32_t* zero_point) {
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    const double qmin = is_signed ? -128 : 0, qmax = is_signed ? 127 : 255;
    double s = (static_cast<double>(hi) - lo) / (qmax - qmin);
    if (!(s > 0) || !std::isfinite(s)) s = 1.0;
    double z = std::nearbyint(qmin - lo / s);
    z = std::min(qmax, std::max(qmin, z));
    *scale = static_cast<float>(s);
    *zero_point = static_cast<int32_t>(z);
}

float threshold_from_histogram(const std::vector<double>& hist, float top, CalibMethod method,
                               double percentile, int levels) {
    const int B = static_cast<int>(hist.size());
    double total = 0;
    for (double h : hist) total += h;
    if (B == 0 || total <= 0 || !(top > 0)) return top;
    const double width = static_cast<double>(top) / B;
    if (method == CalibMethod::kPercentile) {
        double acc = 0;
        for (int i = 0; i < B; ++i) {
            acc += hist[i];
            if (acc >= total * percentile / 100.0) return static_cast<float>((i + 1) * width);
        }
        return top;
    }
    if (method == CalibMethod::kMse) {
        // Expected squared error of quantizing to [0, T] with `levels` steps: uniform
        // rounding noise step^2 / 12 inside, (x - T)^2 clipping outside.
        double best = std::numeric_limits<double>::infinity();
        int best_i = B;
        for (int i = std::max(1, B / 64); i <= B; ++i) {
            const double T = i * width, step = T / levels;
            double err = 0;
            for (int j = 0; j < B; ++j) {
                const double c = (j + 0.5) * width;
                err += hist[j] * (c > T ? (c - T) * (c - T) : step * step / 12.0);
            }
            if (err < best) best = err, best_i = i;
        }
        return static_cast<float>(best_i * width);
    }
    if (method == CalibMethod::kEntropy) {
        // TensorRT-style: for each threshold bin i (at least `levels` bins), P is the
        // histogram clipped at i (the tail added to its last bin), Q the unclipped
        // bins below i merged into `levels` groups and spread back over each group's
        // non-empty bins (so clipping shows as P's extra mass in its last bin); the
        // threshold minimizes KL(P || Q).
        double best = std::numeric_limits<double>::infinity();
        int best_i = B;
        std::vector<double> p, q;
        for (int i = std::min(levels, B); i <= B; ++i) {
            p.assign(hist.begin(), hist.begin() + i);
            double tail = 0;
            for (int j = i; j < B; ++j) tail += hist[j];
            p[i - 1] += tail;
            q.assign(i, 0.0);
            for (int g = 0; g < levels; ++g) {
                const int a = static_cast<int>(static_cast<int64_t>(g) * i / levels);
                const int b = static_cast<int>(static_cast<int64_t>(g + 1) * i / levels);
                double sum = 0;
                int nonzero = 0;
                for (int j = a; j < b; ++j) {
                    sum += hist[j];
                    nonzero += hist[j] > 0;
                }
                for (int j = a; j < b; ++j)
                    if (hist[j] > 0) q[j] = sum / nonzero;
            }
            double ps = 0, qs = 0;
            for (int j = 0; j < i; ++j) ps += p[j], qs += q[j];
            double kl = 0;
            for (int j = 0; j < i; ++j) {
                if (p[j] <= 0) continue;
                const double pj = p[j] / ps, qj = q[j] / qs;
                kl += qj > 0 ? pj * std::log(pj / qj) : pj * 30.0;  // empty Q bin: large
            }
            if (kl < best) best = kl, best_i = i;
        }
        return static_cast<float>(best_i * width);
    }
    return top;
}

Result<WeightsOnly> parse_weights_only(const std::string& name) {
    if (name == "int8") return WeightsOnly::kInt8;
    if (name == "float16" || name == "fp16") return WeightsOnly::kFloat16;
    if (name == "int4") return WeightsOnly::kInt4;
    return invalid_argument("unknown weight-only scheme \"" + name + "\" (int8, int4 or float16)");
}

Result<QuantPlan> weights_only_plan(const Graph& g, const QuantOptions& options) {
    QuantPlan p;
    PARE_ASSIGN_OR_RETURN(p.layers, quantizable_layers(g, options));
    if (p.layers.empty()) return invalid_argument("the model has no layer to quantize");
    return p;
}

Result<std::vector<std::string>> quantizable_layers(const Graph& g, const QuantOptions& options) {
    std::set<std::string> names;
    for (const Node& n : g.nodes) {
        names.insert(n.name);
        if (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear" ||
            n.op_type == "QLinearConv" || n.op_type == "QLinearMatMul" ||
            n.op_type == "ConvInteger" || n.op_type == "MatMulInteger")
            return invalid_argument("the model is already quantized (" + n.where() + ")");
    }
    for (const std::string& k : options.keep_float)
        if (!names.count(k))
            return invalid_argument("--keep-float: no node is named \"" + k + "\"");
    const std::set<std::string> keep(options.keep_float.begin(), options.keep_float.end());
    std::vector<std::string> layers;
    for (const Node& n : g.nodes) {
        if (keep.count(n.name)) continue;
        if (is_quantizable_add(g, n) || is_quantizable_mul(g, n) || is_quantizable_pool(g, n) ||
            is_quantizable_concat(g, n)) {
            if (options.weights_only == WeightsOnly::kNone) layers.push_back(n.name);
            continue;
        }
        if (!is_quantizable_op(n) || n.inputs.size() < 2) continue;
        auto w = g.initializers.find(n.inputs[1]);
        if (w == g.initializers.end() || w->second.dtype() != DType::kFloat32) continue;
        if (g.is_initializer(n.inputs[0])) continue;
        if (n.op_type == "Gemm" && n.attrs.get_int("transA", 0) != 0) continue;
        if (n.op_type == "MatMul" && w->second.rank() != 2) continue;
        layers.push_back(n.name);
    }
    return layers;
}

Result<QuantPlan> calibrate(const Graph& g_in, const Tensor& images, const QuantOptions& options) {
    if (options.method == CalibMethod::kPercentile &&
        !(options.percentile > 0 && options.percentile <= 100))
        return invalid_argument("percentile must be in (0, 100], got " +
                                std::to_string(options.percentile));
    if (images.dtype() != DType::kFloat32 || images.rank() != 4 || images.shape()[0] <= 0)
        return invalid_argument(
            "calibration images must be a non-empty (N, C, H, W) float32 batch");
    if (g_in.inputs.size() != 1)
        return invalid_argument("calibration needs a model with one input");
    PARE_ASSIGN_OR_RETURN(std::vector<std::string> layers, quantizable_layers(g_in, options));
    if (layers.empty()) return invalid_argument("the model has no layer to quantize");
    QuantPlan plan;
    plan.method = options.method;
    plan.layers = layers;
    plan.calibration_images = images.shape()[0];
    // The activations: input 0 of every quantized layer, once each.
    std::vector<std::string> observed;
    {
        std::set<std::string> seen;
        std::map<std::string, const Node*> by_name;
        for (const Node& n : g_in.nodes) by_name[n.name] = &n;
        for (const std::string& l : layers)
            for (const std::string& t : quantized_inputs(*by_name.at(l)))
                if (seen.insert(t).second) observed.push_back(t);
    }
    // The calibration model: the observed activations as outputs, any batch size.
    Graph g = g_in;
    PARE_RETURN_IF_ERROR(free_batch_dim(g).status());
    ValueInfo& in = g.inputs[0];
    const Shape& ds = images.shape();
    if (!in.has_shape || in.shape.size() != 4)
        return invalid_argument("model input \"" + in.name + "\" must be (N, C, H, W)");
    for (int d = 1; d < 4; ++d)
        if (in.shape[d] >= 0 && in.shape[d] != ds[d])
            return invalid_argument("model input \"" + in.name + "\" is " + shape_str(in.shape) +
                                    " but the calibration images are " +
                                    shape_str({ds[1], ds[2], ds[3]}));
    const int64_t batch = std::max<int64_t>(1, std::min(options.batch, ds[0]));
    in.shape = {batch, ds[1], ds[2], ds[3]};
    for (const std::string& t : observed)
        if (!g.is_output(t)) g.outputs.push_back(ValueInfo{t, DType::kFloat32, false, {}, {}});
    // Bias correction: each Conv/Gemm once more on W - W_int8 (no bias), its output
    // observed too.
    const size_t n_acts = observed.size();
    std::vector<std::string> corrected;  // layers, in the order of their outputs
    if (options.bias_correction) {
        std::map<std::string, const Node*> by_name;
        for (const Node& n : g_in.nodes) by_name[n.name] = &n;
        for (const std::string& l : layers) {
            const Node& n = *by_name.at(l);
            if (n.op_type != "Conv" && n.op_type != "Gemm") continue;
            const Tensor& w = g_in.initializers.at(n.inputs[1]);
            PARE_ASSIGN_OR_RETURN(Int8Weight qw, quantize_weight(n, w, options.per_tensor_weights,
                                                                 weight_qmax(options)));
            PARE_ASSIGN_OR_RETURN(Tensor delta, Tensor::create(DType::kFloat32, w.shape()));
            for (int64_t i = 0; i < w.numel(); ++i)
                delta.data<float>()[i] = w.data<float>()[i] - qw.dequantized.data<float>()[i];
            Node d = n;
            d.name = g.unique_name(l + "_weight_error");
            const std::string wn = g.unique_name(l + "_weight_error_w");
            g.initializers[wn] = delta;
            d.inputs = {n.inputs[0], wn};
            d.outputs = {g.unique_name(l + "_weight_error_out")};
            g.nodes.push_back(d);
            g.outputs.push_back(ValueInfo{d.outputs[0], DType::kFloat32, false, {}, {}});
            observed.push_back(d.outputs[0]);
            corrected.push_back(l);
        }
    }
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_ASSIGN_OR_RETURN(Session s, Session::prepare(std::move(g)));
    std::vector<Stats> st(observed.size());
    PARE_RETURN_IF_ERROR(
        for_each_batch(s, images, batch, observed,
                       [&](size_t k, const float* x, int64_t n, int64_t channels, int64_t inner) {
                           Stats& a = st[k];
                           if (k >= n_acts) {  // a weight error output: its sum per channel
                               if (a.sum.empty()) a.sum.assign(static_cast<size_t>(channels), 0.0);
                               for (int64_t i = 0; i < n; ++i)
                                   a.sum[static_cast<size_t>(i / inner % channels)] += x[i];
                               a.per_channel += n / std::max<int64_t>(1, channels);
                               return;
                           }
                           for (int64_t i = 0; i < n; ++i) {
                               a.lo = std::min(a.lo, x[i]);
                               a.hi = std::max(a.hi, x[i]);
                           }
                       }));
    for (size_t k = n_acts; k < st.size(); ++k) {
        std::vector<float>& c = plan.bias_correction[corrected[k - n_acts]];
        for (double v : st[k].sum)
            c.push_back(static_cast<float>(
                v / static_cast<double>(std::max<int64_t>(1, st[k].per_channel))));
    }
    st.resize(n_acts);
    observed.resize(n_acts);
    for (size_t k = 0; k < st.size(); ++k)
        if (!std::isfinite(st[k].lo) || !std::isfinite(st[k].hi))
            return invalid_argument("activation \"" + observed[k] +
                                    "\" is not finite on the calibration images");
    if (options.method != CalibMethod::kMinMax) {
        for (Stats& x : st) {
            x.pos.assign(kBins, 0.0);
            x.neg.assign(kBins, 0.0);
        }
        PARE_RETURN_IF_ERROR(for_each_batch(
            s, images, batch, observed, [&](size_t k, const float* x, int64_t n, int64_t, int64_t) {
                if (k >= n_acts) return;
                Stats& a = st[k];
                const double fp = a.hi > 0 ? kBins / static_cast<double>(a.hi) : 0;
                const double fn = a.lo < 0 ? kBins / -static_cast<double>(a.lo) : 0;
                for (int64_t i = 0; i < n; ++i) {
                    if (x[i] > 0) {
                        a.pos[std::min(kBins - 1, static_cast<int>(x[i] * fp))] += 1;
                    } else if (x[i] < 0) {
                        a.neg[std::min(kBins - 1, static_cast<int>(-x[i] * fn))] += 1;
                    }
                }
            }));
    }
    for (size_t k = 0; k < st.size(); ++k) {
        ActivationRange r;
        r.tensor = observed[k];
        r.lo = st[k].lo;
        r.hi = st[k].hi;
        r.range_lo = r.lo;
        r.range_hi = r.hi;
        if (options.method != CalibMethod::kMinMax) {
            // Each side on its own: all 255 levels for non-negative activations (after
            // ReLU), about half each side for signed ones.
            const int levels = r.lo < 0 && r.hi > 0 ? 128 : 255;
            if (r.hi > 0)
                r.range_hi = threshold_from_histogram(st[k].pos, r.hi, options.method,
                                                      options.percentile, levels);
            if (r.lo < 0)
                r.range_lo = -threshold_from_histogram(st[k].neg, -r.lo, options.method,
                                                       options.percentile, levels);
        }
        plan.activations.push_back(r);
    }
    return plan;
}

namespace {

// g's first output on images (any batch), g's passes run first (constant
// DequantizeLinear of weights folds into float weights).
Result<Tensor> run_on_images(Graph g, const Tensor& images) {
    PARE_RETURN_IF_ERROR(free_batch_dim(g).status());
    const Shape& ds = images.shape();
    g.inputs[0].shape = ds;
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(run_default_passes(g));
    PARE_ASSIGN_OR_RETURN(Session s, Session::prepare(std::move(g)));
    TensorMap outs;
    PARE_RETURN_IF_ERROR(s.run({{s.graph().inputs[0].name, images}}, &outs));
    return outs.at(s.graph().outputs[0].name);
}

}  // namespace

Result<std::vector<LayerError>> layer_errors(const Graph& g, const QuantPlan& plan,
                                             const Tensor& images, const QuantOptions& options) {
    if (images.rank() != 4 || images.shape()[0] <= 0)
        return invalid_argument("sensitivity needs (N, C, H, W) images");
    const int64_t n = std::min<int64_t>(64, images.shape()[0]);
    const Shape& ds = images.shape();
    PARE_ASSIGN_OR_RETURN(Tensor x, Tensor::create(DType::kFloat32, {n, ds[1], ds[2], ds[3]}));
    std::memcpy(x.raw(), images.raw(), x.nbytes());
    PARE_ASSIGN_OR_RETURN(Tensor ref, run_on_images(g, x));
    std::vector<LayerError> out;
    for (const std::string& l : plan.layers) {
        QuantPlan one = plan;
        one.layers = {l};
        PARE_ASSIGN_OR_RETURN(Graph q, apply_quantization(g, one, options));
        PARE_ASSIGN_OR_RETURN(Tensor y, run_on_images(std::move(q), x));
        if (y.numel() != ref.numel()) return internal_error("quantized output shape differs");
        double num = 0, den = 0;
        for (int64_t i = 0; i < y.numel(); ++i) {
            const double d = static_cast<double>(y.data<float>()[i]) - ref.data<float>()[i];
            num += d * d;
            den += static_cast<double>(ref.data<float>()[i]) * ref.data<float>()[i];
        }
        out.push_back({l, den > 0 ? std::sqrt(num / den) : std::sqrt(num)});
    }
    return out;
}

std::vector<std::string> layers_over_budget(std::vector<LayerError> errors, double budget) {
    std::sort(errors.begin(), errors.end(),
              [](const LayerError& a, const LayerError& b) { return a.rel_l2 > b.rel_l2; });
    const size_t most = std::max<size_t>(1, errors.size() / 10);
    std::vector<std::string> keep;
    for (const LayerError& e : errors)
        if (e.rel_l2 > budget && keep.size() < most) keep.push_back(e.layer);
    return keep;
}

namespace {

// Bias correction: layer n's bias (a new initializer) gets corr added; Gemm's
// through beta (y = alpha A B + beta C; corr was measured with alpha). Layers
// whose bias is not a constant vector of the right length are left alone.
Status add_to_bias(Graph& g, Node& n, const std::vector<float>& corr) {
    const int64_t M = static_cast<int64_t>(corr.size());
    float beta = 1.0f;
    const bool has_bias = n.inputs.size() > 2 && !n.inputs[2].empty();
    if (n.op_type == "Gemm") {
        beta = n.attrs.get_float("beta", 1.0f);
        if (beta == 0.0f) {
            if (has_bias) return Status();
            beta = 1.0f;
            n.attrs.set("beta", Attribute::make_float(1.0f));
        }
    }
    PARE_ASSIGN_OR_RETURN(Tensor bias, Tensor::create(DType::kFloat32, {M}));
    for (int64_t m = 0; m < M; ++m) bias.data<float>()[m] = 0.0f;
    if (has_bias) {
        auto it = g.initializers.find(n.inputs[2]);
        if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32 ||
            it->second.rank() != 1 || it->second.numel() != M)
            return Status();
        for (int64_t m = 0; m < M; ++m) bias.data<float>()[m] = it->second.data<float>()[m];
    }
    for (int64_t m = 0; m < M; ++m) bias.data<float>()[m] += corr[static_cast<size_t>(m)] / beta;
    const std::string name = g.unique_name(n.name + "_bias_corrected");
    g.initializers[name] = bias;
    if (n.inputs.size() < 3) n.inputs.resize(3);
    n.inputs[2] = name;
    return Status();
}

}  // namespace

Result<Graph> dynamic_quantization(const Graph& g_in, const QuantOptions& options) {
    Graph g = g_in;
    PARE_ASSIGN_OR_RETURN(std::vector<std::string> candidates, quantizable_layers(g, options));
    const std::set<std::string> layers(candidates.begin(), candidates.end());
    std::vector<Node> out_nodes;
    int done = 0;
    for (const Node& n : g.nodes) {
        const Tensor* wp = nullptr;
        if (layers.count(n.name) && (n.op_type == "MatMul" || n.op_type == "Gemm")) {
            wp = &g.initializers.at(n.inputs[1]);
            if (wp->rank() != 2) wp = nullptr;
            if (n.op_type == "Gemm" && (n.attrs.get_float("alpha", 1.0f) != 1.0f ||
                                        n.attrs.get_float("beta", 1.0f) != 1.0f))
                wp = nullptr;
        }
        if (!wp) {
            out_nodes.push_back(n);
            continue;
        }
        // B as (K, N): Gemm's transB weights transposed here.
        Tensor w = *wp;
        if (n.op_type == "Gemm" && n.attrs.get_int("transB", 0) != 0) {
            const int64_t N = wp->shape()[0], K = wp->shape()[1];
            PARE_ASSIGN_OR_RETURN(w, Tensor::create(DType::kFloat32, {K, N}));
            for (int64_t k = 0; k < K; ++k)
                for (int64_t j = 0; j < N; ++j)
                    w.data<float>()[k * N + j] = wp->data<float>()[j * K + k];
        }
        Node mm;
        mm.op_type = "MatMul";
        PARE_ASSIGN_OR_RETURN(Int8Weight qw, quantize_weight(mm, w, options.per_tensor_weights,
                                                             weight_qmax(options)));
        const std::string base = n.name;
        auto name = [&](const std::string& suffix) {
            const std::string v = g.unique_name(base + suffix);
            g.initializers[v] = Tensor();  // reserved
            return v;
        };
        const std::string wq = name("_weight_int8"), wz = name("_weight_zero_point"),
                          ws = name("_weight_scale");
        const std::string aq = name("_input_uint8"), as = name("_input_scale"),
                          az = name("_input_zero_point");
        const std::string yi = name("_int32"), yf = name("_int32_float"), sc = name("_scale"),
                          y = n.op_type == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty()
                                  ? name("_without_bias")
                                  : n.outputs[0];
        g.initializers[wq] = qw.q;
        PARE_ASSIGN_OR_RETURN(Tensor zero, Tensor::create(DType::kInt8, {}));
        zero.data<int8_t>()[0] = 0;
        g.initializers[wz] = zero;
        g.initializers[ws] = qw.scale;
        auto node = [&](const std::string& op, std::vector<std::string> in,
                        std::vector<std::string> out) {
            Node x;
            x.op_type = op;
            x.name = g.unique_name(base + "_" + op);
            g.initializers[x.name] = Tensor();  // reserved
            x.inputs = std::move(in);
            x.outputs = std::move(out);
            return x;
        };
        out_nodes.push_back(node("DynamicQuantizeLinear", {n.inputs[0]}, {aq, as, az}));
        out_nodes.push_back(node("MatMulInteger", {aq, wq, az, wz}, {yi}));
        Node cast = node("Cast", {yi}, {yf});
        cast.attrs.set("to", Attribute::make_int(1));  // FLOAT
        out_nodes.push_back(cast);
        out_nodes.push_back(node("Mul", {as, ws}, {sc}));
        out_nodes.push_back(node("Mul", {yf, sc}, {y}));
        if (y != n.outputs[0]) out_nodes.push_back(node("Add", {y, n.inputs[2]}, {n.outputs[0]}));
        ++done;
    }
    if (done == 0) return invalid_argument("the model has no MatMul or Gemm with constant weights");
    g.nodes = out_nodes;
    PARE_RETURN_IF_ERROR(finish_rewrite(g));
    return g;
}

std::string plan_to_json(const QuantPlan& plan) {
    nlohmann::json j;
    j["format"] = "pare-quant-plan-1";
    j["method"] = calib_method_name(plan.method);
    j["calibration_images"] = plan.calibration_images;
    j["layers"] = plan.layers;
    j["activations"] = nlohmann::json::array();
    for (const ActivationRange& r : plan.activations)
        j["activations"].push_back({{"tensor", r.tensor},
                                    {"min", r.lo},
                                    {"max", r.hi},
                                    {"range_min", r.range_lo},
                                    {"range_max", r.range_hi}});
    if (!plan.bias_correction.empty()) {
        j["bias_correction"] = nlohmann::json::object();
        for (const auto& kv : plan.bias_correction) j["bias_correction"][kv.first] = kv.second;
    }
    return j.dump(1) + "\n";
}

Result<QuantPlan> plan_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument("not a JSON object");
    if (j.value("format", "") != "pare-quant-plan-1")
        return invalid_argument("\"format\" is not \"pare-quant-plan-1\"");
    QuantPlan p;
    if (!j.contains("method") || !j["method"].is_string())
        return invalid_argument("\"method\" is missing");
    PARE_ASSIGN_OR_RETURN(p.method, parse_calib_method(j["method"].get<std::string>()));
    if (j.contains("calibration_images") && j["calibration_images"].is_number_integer())
        p.calibration_images = j["calibration_images"].get<int64_t>();
    if (!j.contains("layers") || !j["layers"].is_array())
        return invalid_argument("\"layers\" is missing or not a list");
    for (const auto& l : j["layers"]) {
        if (!l.is_string()) return invalid_argument("\"layers\" holds a non-string");
        p.layers.push_back(l.get<std::string>());
    }
    if (!j.contains("activations") || !j["activations"].is_array())
        return invalid_argument("\"activations\" is missing or not a list");
    for (const auto& a : j["activations"]) {
        ActivationRange r;
        const char* keys[] = {"min", "max", "range_min", "range_max"};
        float* dst[] = {&r.lo, &r.hi, &r.range_lo, &r.range_hi};
        if (!a.is_object() || !a.contains("tensor") || !a["tensor"].is_string())
            return invalid_argument("an activation has no \"tensor\" name");
        r.tensor = a["tensor"].get<std::string>();
        for (int k = 0; k < 4; ++k) {
            if (!a.contains(keys[k]) || !a[keys[k]].is_number())
                return invalid_argument("activation \"" + r.tensor + "\" has no number \"" +
                                        keys[k] + "\"");
            *dst[k] = a[keys[k]].get<float>();
        }
        if (!(r.range_lo <= r.range_hi))
            return invalid_argument("activation \"" + r.tensor + "\" has range_min > range_max");
        p.activations.push_back(r);
    }
    if (j.contains("bias_correction")) {
        if (!j["bias_correction"].is_object())
            return invalid_argument("\"bias_correction\" is not an object");
        for (const auto& kv : j["bias_correction"].items()) {
            if (!kv.value().is_array())
                return invalid_argument("\"bias_correction\" of \"" + kv.key() +
                                        "\" is not a list");
            std::vector<float>& c = p.bias_correction[kv.key()];
            for (const auto& v : kv.value()) {
                if (!v.is_number())
                    return invalid_argument("\"bias_correction\" of \"" + kv.key() +
                                            "\" holds a non-number");
                c.push_back(v.get<float>());
            }
        }
    }
    return p;
}

namespace {

// A constant stored quantized: q and its scale as initializers named after base,
// read through a DequantizeLinear (no zero point: symmetric, and its default is 0
// of q's type) with `axis` when >= 0 and `block_size` when > 0; the new names are
// reserved. Returns the dequantized value's name.
std::string dequantized_constant(Graph& g, const std::string& base, const char* q_suffix, Tensor q,
                                 Tensor scale, int64_t axis, int64_t block,
                                 std::vector<Node>& added) {
    const std::string qn = g.unique_name(base + q_suffix);
    g.initializers[qn] = std::move(q);
    const std::string sn = g.unique_name(base + "_scale");
    g.initializers[sn] = std::move(scale);
    Node dq;
    dq.op_type = "DequantizeLinear";
    dq.name = g.unique_name(base + "_DequantizeLinear");
    dq.inputs = {qn, sn};
    dq.outputs = {g.unique_name(base + "_dequantized")};
    if (axis >= 0) dq.attrs.set("axis", Attribute::make_int(axis));
    if (block > 0) dq.attrs.set("block_size", Attribute::make_int(block));
    g.initializers[dq.name] = Tensor();
    g.initializers[dq.outputs[0]] = Tensor();
    added.push_back(dq);
    return dq.outputs[0];
}

// A Conv's float bias as int32 with scale x_scale * w_scale[c] and zero point 0,
// read through DequantizeLinear: the form ONNX Runtime's QDQ fusion wants and
// QLinearConv takes. Left in float when a value would not fit in int32.
Status quantize_bias(Graph& g, Node& n, float x_scale, const Tensor& w_scale,
                     std::vector<Node>& added) {
    if (n.inputs.size() < 3 || n.inputs[2].empty()) return Status();
    auto it = g.initializers.find(n.inputs[2]);
    if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32 ||
        it->second.rank() != 1)
        return Status();
    const Tensor& b = it->second;
    const int64_t M = b.numel();
    if (w_scale.numel() != 1 && w_scale.numel() != M) return Status();
    // One scale for a per-tensor weight (a scalar, not M copies of it).
    const bool per_channel = w_scale.numel() != 1;
    PARE_ASSIGN_OR_RETURN(Tensor q, Tensor::create(DType::kInt32, {M}));
    PARE_ASSIGN_OR_RETURN(Tensor sc,
                          Tensor::create(DType::kFloat32, per_channel ? Shape{M} : Shape{}));
    for (int64_t m = 0; m < M; ++m) {
        const float s = x_scale * w_scale.data<float>()[per_channel ? m : 0];
        const double v = std::nearbyint(static_cast<double>(b.data<float>()[m]) / s);
        if (!(s > 0) || !(std::fabs(v) < 2147483647.0)) return Status();
        q.data<int32_t>()[m] = static_cast<int32_t>(v);
        sc.data<float>()[per_channel ? m : 0] = s;
    }
    n.inputs[2] = dequantized_constant(g, n.inputs[2], "_quantized", std::move(q), std::move(sc),
                                       per_channel ? 0 : -1, 0, added);
    return Status();
}

}  // namespace

namespace {

// The scale and zero point of every activation the plan's layers read, keyed by
// tensor: its calibrated range, or for a quantized MaxPool's output its input's
// (followed through chains of them). apply_quantization and the trainer's fake
// quantization both take them from here.
using ActivationParams = std::map<std::string, std::pair<float, int32_t>>;
Result<ActivationParams> activation_params(const Graph& g, const QuantPlan& plan,
                                           const QuantOptions& options) {
    std::map<std::string, const ActivationRange*> ranges;
    for (const ActivationRange& r : plan.activations) ranges[r.tensor] = &r;
    const std::set<std::string> layers(plan.layers.begin(), plan.layers.end());
    // A quantized MaxPool's output -> its input, and a Flatten's output after one ->
    // the Flatten's input (so that a MaxPool -> Flatten -> Gemm stays in integers).
    std::map<std::string, std::string> range_of;
    for (const Node& n : g.nodes) {
        if (layers.count(n.name) && n.op_type == "MaxPool") range_of[n.outputs[0]] = n.inputs[0];
        if (n.op_type == "Flatten" && !n.inputs.empty() && range_of.count(n.inputs[0]))
            range_of[n.outputs[0]] = n.inputs[0];
    }
    // A tensor's range: a quantized Concat's inputs and output take the union of
    // the inputs' (in graph order, so that nested ones see their inputs' unions);
    // a quantized MaxPool's output its input's; others their calibrated one.
    std::map<std::string, std::pair<float, float>> shared;
    auto range = [&](const std::string& x, const Node& n, std::pair<float, float>* r) -> Status {
        std::string from = x;
        for (int hops = 0; !shared.count(from) && range_of.count(from) && hops < 1000; ++hops)
            from = range_of[from];
        if (shared.count(from)) {
            *r = shared[from];
            return Status();
        }
        auto it = ranges.find(from);
        if (it == ranges.end())
            return invalid_argument("the plan has no range for \"" + x + "\" (" + n.where() +
                                    "): calibrate this model again");
        *r = {it->second->range_lo, it->second->range_hi};
        return Status();
    };
    for (const Node& n : g.nodes) {
        if (!layers.count(n.name) || n.op_type != "Concat") continue;
        std::pair<float, float> u{0.0f, 0.0f}, r;
        for (const std::string& x : n.inputs) {
            PARE_RETURN_IF_ERROR(range(x, n, &r));
            u = {std::min(u.first, r.first), std::max(u.second, r.second)};
        }
        for (const std::string& x : n.inputs) shared[x] = u;
        shared[n.outputs[0]] = u;
    }
    ActivationParams params;
    for (const Node& n : g.nodes) {
        if (!layers.count(n.name)) continue;
        for (const std::string& x : quantized_inputs(n)) {
            std::pair<float, float> r;
            PARE_RETURN_IF_ERROR(range(x, n, &r));
            float scale;
            int32_t zp;
            range_to_affine(r.first, r.second, options.signed_activations, &scale, &zp);
            params[x] = {scale, zp};
        }
    }
    return params;
}

// Grouped int4 (WeightsOnly::kInt4): layer n's weight as a matrix with the reduction
// along one axis (a Conv's (M, C*kh*kw), axis 1; a Gemm/MatMul's as stored, the
// axis that is not the output channels'), one scale per `block` consecutive values
// on that axis (amax / 7, symmetric), the values in [-7, 7] as int8, read through
// an opset-21 DequantizeLinear with block_size (and a Reshape back for a Conv).
// Returns the float weight's name, or "" for a weight that is not such a matrix.
Result<std::string> grouped_int4_weight(Graph& g, const Node& n, const std::string& wname,
                                        int64_t block, std::vector<Node>& added) {
    if (block < 1) return invalid_argument("--block-size must be at least 1");
    const Tensor w = g.initializers.at(wname);
    const bool conv = n.op_type == "Conv";
    if (w.rank() < 2 || (!conv && w.rank() != 2)) return std::string();
    const Shape view = conv ? Shape{w.shape()[0], w.numel() / w.shape()[0]} : w.shape();
    const int64_t axis = conv ? 1 : 1 - weight_axis(n);
    const int64_t rows = view[0], cols = view[1];
    const int64_t dim = view[axis], blocks = (dim + block - 1) / block;
    Shape sshape = view;
    sshape[axis] = blocks;
    PARE_ASSIGN_OR_RETURN(Tensor q, Tensor::create(DType::kInt8, view));
    PARE_ASSIGN_OR_RETURN(Tensor sc, Tensor::create(DType::kFloat32, sshape));
    auto scale_index = [&](int64_t r, int64_t c) {
        return axis == 1 ? r * blocks + c / block : (r / block) * cols + c;
    };
    float* s = sc.data<float>();
    std::fill(s, s + sc.numel(), 0.0f);
    const float* wd = w.data<float>();
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            float& m = s[scale_index(r, c)];
            m = std::max(m, std::fabs(wd[r * cols + c]));
        }
    for (int64_t i = 0; i < sc.numel(); ++i) s[i] = s[i] > 0 ? s[i] / 7.0f : 1.0f;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const double v =
                std::nearbyint(static_cast<double>(wd[r * cols + c] / s[scale_index(r, c)]));
            q.data<int8_t>()[r * cols + c] = static_cast<int8_t>(std::max(-7.0, std::min(7.0, v)));
        }
    const std::string dq =
        dequantized_constant(g, wname, "_int4", std::move(q), std::move(sc), axis, block, added);
    if (!conv) return dq;
    const std::string shape = g.unique_name(wname + "_shape");
    g.initializers[shape] =
        Tensor::from_vector<int64_t>(w.shape(), {static_cast<int64_t>(w.rank())});
    Node reshape;
    reshape.op_type = "Reshape";
    reshape.name = g.unique_name(wname + "_Reshape");
    reshape.inputs = {dq, shape};
    reshape.outputs = {g.unique_name(wname + "_reshaped")};
    g.initializers[reshape.name] = Tensor();
    g.initializers[reshape.outputs[0]] = Tensor();
    added.push_back(reshape);
    return reshape.outputs[0];
}

}  // namespace

Result<Graph> apply_quantization(const Graph& g_in, const QuantPlan& plan,
                                 const QuantOptions& options) {
    Graph g = g_in;
    const std::set<std::string> layers(plan.layers.begin(), plan.layers.end());
    {
        std::set<std::string> names;
        for (const Node& n : g.nodes) names.insert(n.name);
        for (const std::string& l : plan.layers)
            if (!names.count(l))
                return invalid_argument("the plan's layer \"" + l + "\" is not in the model");
    }
    std::vector<Node> added;
    std::map<std::string, std::string> act_dq, weight_dq;  // float tensor -> its DQ output
    std::map<std::string, Tensor> weight_scale;            // float weight -> its int8 scales
    auto scalar_init = [&](const std::string& base, DType dtype, double v) -> Result<std::string> {
        const std::string name = g.unique_name(base);
        PARE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(dtype, {}));
        switch (dtype) {
            case DType::kFloat32:
                t.data<float>()[0] = static_cast<float>(v);
                break;
            case DType::kInt8:
                t.data<int8_t>()[0] = static_cast<int8_t>(v);
                break;
            default:
                t.data<uint8_t>()[0] = static_cast<uint8_t>(v);
                break;
        }
        g.initializers[name] = t;
        return name;
    };
    const DType act_type = options.signed_activations ? DType::kInt8 : DType::kUint8;
    const bool weights_only = options.weights_only != WeightsOnly::kNone;
    ActivationParams params;
    if (!weights_only) {
        PARE_ASSIGN_OR_RETURN(params, activation_params(g, plan, options));
    }
    // An activation quantized: QuantizeLinear then DequantizeLinear, shared by every
    // layer that reads it; returns the DequantizeLinear output.
    auto quantize_activation = [&](const std::string& x) -> Result<std::string> {
        auto done = act_dq.find(x);
        if (done != act_dq.end()) return done->second;
        const auto [scale, zp] = params.at(x);
        PARE_ASSIGN_OR_RETURN(std::string s, scalar_init(x + "_scale", DType::kFloat32, scale));
        PARE_ASSIGN_OR_RETURN(std::string z, scalar_init(x + "_zero_point", act_type, zp));
        Node q, dq;
        q.op_type = "QuantizeLinear";
        q.name = g.unique_name(x + "_QuantizeLinear");
        q.inputs = {x, s, z};
        q.outputs = {g.unique_name(x + "_quantized")};
        dq.op_type = "DequantizeLinear";
        dq.name = g.unique_name(x + "_DequantizeLinear");
        dq.inputs = {q.outputs[0], s, z};
        // Names must stay unique across the nodes added so far, too.
        dq.outputs = {g.unique_name(x + "_dequantized")};
        if (dq.outputs[0] == q.outputs[0]) dq.outputs[0] += "_";
        act_dq[x] = dq.outputs[0];
        added.push_back(q);
        added.push_back(dq);
        // Reserve the names (unique_name looks at nodes and initializers).
        g.initializers[q.outputs[0]] = Tensor();
        g.initializers[dq.outputs[0]] = Tensor();
        g.initializers[q.name] = Tensor();
        g.initializers[dq.name] = Tensor();
        return dq.outputs[0];
    };
    for (Node& n : g.nodes) {
        if (!layers.count(n.name)) continue;
        if (n.op_type == "Add" || n.op_type == "Mul" || n.op_type == "MaxPool" ||
            n.op_type == "GlobalAveragePool" || n.op_type == "Concat") {
            for (size_t i = 0; i < quantized_inputs(n).size(); ++i) {
                PARE_ASSIGN_OR_RETURN(n.inputs[i], quantize_activation(n.inputs[i]));
            }
            continue;
        }
        const std::string x = n.inputs[0];
        if (!weights_only) {
            PARE_ASSIGN_OR_RETURN(n.inputs[0], quantize_activation(x));
        }
        const std::string wname = n.inputs[1];
        if (options.weights_only == WeightsOnly::kFloat16 && !weight_dq.count(wname)) {
            // float16 weights, widened back by a Cast.
            const Tensor w = g.initializers.at(wname);
            PARE_ASSIGN_OR_RETURN(Tensor h, Tensor::create(DType::kFloat16, w.shape()));
            for (int64_t i = 0; i < w.numel(); ++i)
                h.data<uint16_t>()[i] = float_to_half(w.data<float>()[i]);
            const std::string hn = g.unique_name(wname + "_float16");
            g.initializers[hn] = h;
            Node cast;
            cast.op_type = "Cast";
            cast.name = g.unique_name(wname + "_Cast");
            cast.inputs = {hn};
            cast.outputs = {g.unique_name(wname + "_float32")};
            cast.attrs.set("to", Attribute::make_int(1));  // FLOAT
            g.initializers[cast.name] = Tensor();
            g.initializers[cast.outputs[0]] = Tensor();
            weight_dq[wname] = cast.outputs[0];
            added.push_back(cast);
        }
        if (options.weights_only == WeightsOnly::kInt4 && !weight_dq.count(wname)) {
            PARE_ASSIGN_OR_RETURN(std::string dq,
                                  grouped_int4_weight(g, n, wname, options.block_size, added));
            if (dq.empty()) continue;  // not a matrix: left float
            weight_dq[wname] = dq;
        }
        // The weight: int8, symmetric, per output channel (or per tensor).
        if (!weight_dq.count(wname)) {
            const Tensor w = g.initializers.at(wname);
            PARE_ASSIGN_OR_RETURN(Int8Weight qw, quantize_weight(n, w, options.per_tensor_weights,
                                                                 weight_qmax(options)));
            weight_scale[wname] = qw.scale;
            const int64_t axis = qw.scale.numel() > 1 ? qw.axis : -1;
            weight_dq[wname] = dequantized_constant(g, wname, "_quantized", std::move(qw.q),
                                                    qw.scale, axis, 0, added);
        }
        n.inputs[1] = weight_dq[wname];
        auto bc = plan.bias_correction.find(n.name);
        if (bc != plan.bias_correction.end() && options.weights_only != WeightsOnly::kFloat16)
            PARE_RETURN_IF_ERROR(add_to_bias(g, n, bc->second));
        if (!weights_only && n.op_type == "Conv") {
            auto ws = weight_scale.find(wname);
            if (ws != weight_scale.end())
                PARE_RETURN_IF_ERROR(quantize_bias(g, n, params.at(x).first, ws->second, added));
        }
    }
    for (const Node& a : added) g.nodes.push_back(a);
    PARE_RETURN_IF_ERROR(finish_rewrite(g));
    return g;
}

}  // namespace pare

namespace pare {

Result<FakeQuant> fake_quant_of(const Graph& g, const QuantPlan& plan,
                                const QuantOptions& options) {
    FakeQuant fq;
    fq.signed_activations = options.signed_activations;
    fq.weight_qmax = weight_qmax(options);
    if (options.weights_only == WeightsOnly::kNone) {
        PARE_ASSIGN_OR_RETURN(fq.activations, activation_params(g, plan, options));
    }
    const std::set<std::string> layers(plan.layers.begin(), plan.layers.end());
    for (const Node& n : g.nodes) {
        if (!layers.count(n.name)) continue;
        if (!is_quantizable_op(n) || options.weights_only == WeightsOnly::kFloat16 ||
            options.weights_only == WeightsOnly::kInt4)
            continue;
        fq.weights[n.inputs[1]] = options.per_tensor_weights ? -1 : weight_axis(n);
    }
    return fq;
}

int compact_names(Graph& g) {
    auto base36 = [](int64_t v) {
        std::string s;
        do {
            s.insert(s.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36]);
            v /= 36;
        } while (v > 0);
        return s;
    };
    std::set<std::string> keep;
    for (const auto& v : g.inputs) keep.insert(v.name);
    for (const auto& v : g.outputs) keep.insert(v.name);
    std::map<std::string, std::string> to;
    int64_t next = 0;
    auto fresh = [&](const std::string& prefix) {
        for (;;) {
            std::string name = prefix + base36(next++);
            if (!keep.count(name)) return name;
        }
    };
    auto rename = [&](const std::string& v) {
        if (v.empty() || keep.count(v)) return v;
        auto it = to.find(v);
        if (it != to.end()) return it->second;
        return to[v] = fresh("t");
    };
    for (Node& n : g.nodes) {
        for (auto& o : n.outputs) o = rename(o);
        for (auto& i : n.inputs) i = rename(i);
    }
    std::map<std::string, Tensor> inits;
    for (auto& kv : g.initializers) inits[rename(kv.first)] = std::move(kv.second);
    g.initializers = std::move(inits);
    g.value_info.clear();
    std::set<std::string> node_names;
    for (const Node& n : g.nodes) node_names.insert(n.name);
    int64_t q = 0;
    for (Node& n : g.nodes) {
        if (n.op_type != "QuantizeLinear" && n.op_type != "DequantizeLinear") continue;
        std::string name;
        do {
            name = "q" + base36(q++);
        } while (node_names.count(name));
        n.name = name;
    }
    return static_cast<int>(to.size());
}

}  // namespace pare

namespace pare {

namespace {

// The float constant named v used by this one node only, or null. Its storage is
// made this graph's own first (copies of a graph share tensor storage).
Tensor* own_constant(Graph& g, const std::map<std::string, std::vector<int>>& uses,
                     const std::string& v, std::set<std::string>* cloned = nullptr) {
    auto it = g.initializers.find(v);
    auto u = uses.find(v);
    if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32) return nullptr;
    if (u != uses.end() && u->second.size() > 1) return nullptr;
    if (cloned && cloned->insert(v).second) it->second = it->second.clone();
    return &it->second;
}

}  // namespace

Result<EqualizeReport> equalize_layers(Graph& g, bool relu6_to_relu) {
    EqualizeReport rep;
    std::set<std::string> pairs_seen, cloned;
    for (int sweep = 0; sweep < 20; ++sweep) {
        const auto consumers = g.consumers();
        double worst = 0;
        int pairs = 0;
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            Node& n1 = g.nodes[i];
            if (n1.op_type != "Conv" || n1.outputs.size() != 1 || g.is_output(n1.outputs[0]))
                continue;
            auto only = [&](const std::string& v) -> int {
                auto it = consumers.find(v);
                return it == consumers.end() || it->second.size() != 1 || g.is_output(v)
                           ? -1
                           : it->second[0];
            };
            int c = only(n1.outputs[0]);
            if (c < 0) continue;
            Node* act = nullptr;
            if (g.nodes[c].op_type == "Relu" || g.nodes[c].op_type == "Clip") {
                act = &g.nodes[c];
                if (act->op_type == "Clip") {
                    // Clip(0, hi): positive scaling changes where it clips; DFQ's remedy
                    // (relu6_to_relu) makes it a Relu.
                    const Tensor* lo =
                        act->input(1).empty() ? nullptr : own_constant(g, {}, act->input(1));
                    if (!relu6_to_relu || !lo || lo->numel() != 1 || lo->data<float>()[0] != 0.0f)
                        continue;
                }
                c = only(act->outputs[0]);
                if (c < 0) continue;
            }
            Node& n2 = g.nodes[c];
            if (n2.op_type != "Conv" || n2.input(0) != (act ? act->outputs[0] : n1.outputs[0]))
                continue;
            Tensor* w1 = own_constant(g, consumers, n1.input(1), &cloned);
            Tensor* w2 = own_constant(g, consumers, n2.input(1), &cloned);
            Tensor* b1 =
                n1.input(2).empty() ? nullptr : own_constant(g, consumers, n1.input(2), &cloned);
            if (!w1 || !w2 || (!n1.input(2).empty() && !b1) || w1->rank() != 4 || w2->rank() != 4)
                continue;
            if (n1.attrs.get_int("group", 1) != 1 && n1.attrs.get_int("group", 1) != w1->shape()[0])
                continue;
            const int64_t M = w1->shape()[0], g2 = n2.attrs.get_int("group", 1);
            const bool depthwise2 = g2 == M && w2->shape()[0] == M && w2->shape()[1] == 1;
            if (!depthwise2 && !(g2 == 1 && w2->shape()[1] == M)) continue;
            const int64_t per1 = w1->numel() / M;
            const int64_t M2 = w2->shape()[0], per2 = w2->numel() / M2;
            const int64_t k2 = w2->shape()[2] * w2->shape()[3];
            float* a = w1->data<float>();
            float* b = w2->data<float>();
            for (int64_t ch = 0; ch < M; ++ch) {
                float r1 = 0, r2 = 0;
                for (int64_t j = 0; j < per1; ++j) r1 = std::max(r1, std::fabs(a[ch * per1 + j]));
                if (depthwise2) {
                    for (int64_t j = 0; j < per2; ++j)
                        r2 = std::max(r2, std::fabs(b[ch * per2 + j]));
                } else {
                    for (int64_t m = 0; m < M2; ++m)
                        for (int64_t j = 0; j < k2; ++j)
                            r2 = std::max(r2, std::fabs(b[m * per2 + ch * k2 + j]));
                }
                if (!(r1 > 0) || !(r2 > 0)) continue;
                // After scaling both ranges are sqrt(r1 * r2).
                const float s = std::sqrt(r1 / r2);
                worst = std::max(worst, std::fabs(std::log(static_cast<double>(s))));
                for (int64_t j = 0; j < per1; ++j) a[ch * per1 + j] /= s;
                if (b1) b1->data<float>()[ch] /= s;
                if (depthwise2) {
                    for (int64_t j = 0; j < per2; ++j) b[ch * per2 + j] *= s;
                } else {
                    for (int64_t m = 0; m < M2; ++m)
                        for (int64_t j = 0; j < k2; ++j) b[m * per2 + ch * k2 + j] *= s;
                }
            }
            if (act && act->op_type == "Clip") {
                act->op_type = "Relu";
                act->inputs.resize(1);
                act->attrs = Attributes();
                ++rep.relu6_replaced;
            }
            pairs_seen.insert(n1.name + ">" + n2.name);
            ++pairs;
        }
        rep.sweeps = sweep + 1;
        if (pairs == 0 || worst < 1e-3) break;
    }
    rep.pairs = static_cast<int>(pairs_seen.size());
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(eliminate_dead_code(g).status());
    return rep;
}

}  // namespace pare
