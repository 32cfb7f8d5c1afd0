// The IR in torch operations. Shapes and attributes follow the reference ops
// (runtime/ops); window geometry comes from the runtime's window_forward so padding
// rules are defined once.
#include "toolkit/train/torch_graph.h"

#include <set>
#include <stdexcept>

#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

[[noreturn]] void fail(const Node& n, const std::string& msg) {
    throw std::runtime_error(n.where() + ": " + msg);
}

std::vector<int64_t> ints_of(const torch::Tensor& t) {
    torch::Tensor c = t.to(torch::kLong).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

torch::ScalarType scalar_type(DType t) {
    switch (t) {
        case DType::kFloat32:
            return torch::kFloat;
        case DType::kFloat16:
            return torch::kHalf;
        case DType::kInt8:
            return torch::kChar;
        case DType::kUint8:
            return torch::kByte;
        case DType::kInt32:
            return torch::kInt;
        case DType::kInt64:
            return torch::kLong;
        case DType::kBool:
            return torch::kBool;
        default:
            throw std::runtime_error("dtype not supported in training");
    }
}

// Torch padding order: last dim first, (begin, end) pairs.
std::vector<int64_t> torch_pads(const Shape& begin, const Shape& end) {
    std::vector<int64_t> p;
    for (int64_t i = static_cast<int64_t>(begin.size()) - 1; i >= 0; --i) {
        p.push_back(begin[i]);
        p.push_back(end[i]);
    }
    return p;
}

bool symmetric(const Window& w) { return w.pad_begin == w.pad_end; }

Window window_of(const Node& n, const torch::Tensor& x, const Shape& kernel, bool ceil_mode) {
    Shape in(x.sizes().begin() + 2, x.sizes().end());
    Window w;
    Status s = window_forward(n.attrs, in, kernel, ceil_mode, &w);
    if (!s.ok()) fail(n, s.message());
    return w;
}

}  // namespace

torch::Tensor to_torch(const Tensor& t) {
    std::vector<int64_t> sizes(t.shape().begin(), t.shape().end());
    if (t.dtype() == DType::kBool) {
        return torch::from_blob(const_cast<void*>(t.raw()), sizes, torch::kByte)
            .to(torch::kBool)
            .clone();
    }
    return torch::from_blob(const_cast<void*>(t.raw()), sizes, scalar_type(t.dtype())).clone();
}

Tensor from_torch(const torch::Tensor& t) {
    torch::Tensor c = t.detach().contiguous();
    DType d = DType::kFloat32;
    switch (c.scalar_type()) {
        case torch::kFloat:
            d = DType::kFloat32;
            break;
        case torch::kLong:
            d = DType::kInt64;
            break;
        case torch::kInt:
            d = DType::kInt32;
            break;
        case torch::kByte:
            d = DType::kUint8;
            break;
        case torch::kChar:
            d = DType::kInt8;
            break;
        case torch::kBool:
            c = c.to(torch::kByte);
            d = DType::kBool;
            break;
        default:
            c = c.to(torch::kFloat);
    }
    Shape s(c.sizes().begin(), c.sizes().end());
    Tensor out = Tensor::create(d, s).value();
    if (out.nbytes()) std::memcpy(out.raw(), c.data_ptr(), out.nbytes());
    return out;
}

TorchGraph::TorchGraph(const Graph& g) : g_(g) {
    std::set<std::string> trainable, stats;
    for (const auto& n : g_.nodes) {
        switch (n.op) {
            case OpKind::kConv:
            case OpKind::kConvTranspose:
            case OpKind::kGemm:
                trainable.insert(n.input(1));
                trainable.insert(n.input(2));
                break;
            case OpKind::kMatMul:
                trainable.insert(n.input(0));
                trainable.insert(n.input(1));
                break;
            case OpKind::kPRelu:
                trainable.insert(n.input(1));
                break;
            case OpKind::kBatchNormalization:
                trainable.insert(n.input(1));
                trainable.insert(n.input(2));
                stats.insert(n.input(3));
                stats.insert(n.input(4));
                break;
            default:
                break;
        }
    }
    for (const auto& kv : g_.initializers) {
        torch::Tensor t = to_torch(kv.second);
        if (kv.second.dtype() == DType::kFloat32 && stats.count(kv.first)) {
            buffers_[kv.first] = t;
        } else if (kv.second.dtype() == DType::kFloat32 && trainable.count(kv.first)) {
            t.set_requires_grad(true);
            params_[kv.first] = t;
        }
        consts_[kv.first] = t;
    }
}

std::vector<torch::Tensor> TorchGraph::parameters() const {
    std::vector<torch::Tensor> v;
    for (const auto& kv : params_) v.push_back(kv.second);
    return v;
}

void TorchGraph::write_back(Graph& g) const {
    for (const auto* m : {&params_, &buffers_}) {
        for (const auto& kv : *m) {
            auto it = g.initializers.find(kv.first);
            if (it == g.initializers.end()) continue;
            Tensor t = from_torch(kv.second);
            if (t.shape() == it->second.shape() && t.dtype() == it->second.dtype()) it->second = t;
        }
    }
}

std::string TorchGraph::value_named(const std::string& name) const {
    for (const Node& n : g_.nodes)
        for (const auto& o : n.outputs)
            if (o == name) return name;
    for (const Node& n : g_.nodes)
        if (n.name == name && !n.outputs.empty()) return n.outputs[0];
    return "";
}

torch::Tensor TorchGraph::forward(const torch::Tensor& x, bool training,
                                  std::map<std::string, torch::Tensor>* taps) {
    std::map<std::string, torch::Tensor> env;
    // QAT: an activation fake-quantized as it is produced, a weight as it is read.
    const int64_t qmin = fq_.signed_activations ? -128 : 0,
                  qmax = fq_.signed_activations ? 127 : 255;
    auto fake_act = [&](const std::string& name, const torch::Tensor& v) {
        auto it = fq_.activations.find(name);
        if (it == fq_.activations.end()) return v;
        return torch::fake_quantize_per_tensor_affine(v, it->second.first, it->second.second, qmin,
                                                      qmax);
    };
    auto fake_weight = [&](const std::string& name, const torch::Tensor& w) {
        auto it = fq_.weights.find(name);
        if (it == fq_.weights.end()) return w;
        const int64_t axis = it->second;
        torch::Tensor amax;
        if (axis < 0) {
            amax = w.detach().abs().max().reshape({1});
        } else {
            std::vector<int64_t> dims;
            for (int64_t d = 0; d < w.dim(); ++d)
                if (d != axis) dims.push_back(d);
            amax = w.detach().abs().amax(dims);
        }
        // As quantize_weight: max|w| / qmax, or 1 for an all-zero channel.
        const int64_t wq = fq_.weight_qmax;
        torch::Tensor scale =
            torch::where(amax > 0, amax / static_cast<double>(wq), torch::ones_like(amax));
        if (axis < 0)
            return torch::fake_quantize_per_tensor_affine(w, scale.item<float>(), 0, -wq, wq);
        torch::Tensor zp = torch::zeros({scale.size(0)}, torch::kInt);
        return torch::fake_quantize_per_channel_affine(w, scale, zp, axis, -wq, wq);
    };
    env[g_.inputs.at(0).name] = fake_act(g_.inputs.at(0).name, x);
    auto in = [&](const Node& n, size_t i) -> torch::Tensor {
        const std::string& name = n.input(i);
        if (name.empty()) return torch::Tensor();
        auto c = consts_.find(name);
        if (c != consts_.end()) return fake_weight(name, c->second);
        auto e = env.find(name);
        if (e == env.end()) fail(n, "input \"" + name + "\" not computed");
        return e->second;
    };
    auto has = [&](const Node& n, size_t i) { return !n.input(i).empty(); };
    for (const Node& n : g_.nodes) {
        const Attributes& a = n.attrs;
        torch::Tensor y;
        torch::Tensor x0 = in(n, 0);
        switch (n.op) {
            case OpKind::kConv: {
                torch::Tensor w = in(n, 1);
                Window win = window_of(n, x0, Shape(w.sizes().begin() + 2, w.sizes().end()), false);
                torch::Tensor xin = x0;
                std::vector<int64_t> pad = win.pad_begin;
                if (!symmetric(win)) {
                    xin = torch::constant_pad_nd(x0, torch_pads(win.pad_begin, win.pad_end), 0);
                    pad.assign(pad.size(), 0);
                }
                y = torch::convolution(xin, w, has(n, 2) ? in(n, 2) : torch::Tensor(), win.strides,
                                       pad, win.dilations, false,
                                       std::vector<int64_t>(pad.size(), 0), a.get_int("group", 1));
                break;
            }
            case OpKind::kConvTranspose: {
                torch::Tensor w = in(n, 1);
                Shape pads = a.get_ints("pads");
                const size_t r = static_cast<size_t>(w.dim() - 2);
                if (pads.empty()) pads.assign(2 * r, 0);
                Shape pb(pads.begin(), pads.begin() + r), pe(pads.begin() + r, pads.end());
                if (pb != pe || a.has("output_shape") ||
                    a.get_string("auto_pad", "NOTSET") != "NOTSET") {
                    fail(n,
                         "ConvTranspose with asymmetric pads, output_shape or auto_pad cannot be "
                         "trained");
                }
                Shape st = a.get_ints("strides"), dl = a.get_ints("dilations"),
                      op = a.get_ints("output_padding");
                if (st.empty()) st.assign(r, 1);
                if (dl.empty()) dl.assign(r, 1);
                if (op.empty()) op.assign(r, 0);
                y = torch::convolution(x0, w, has(n, 2) ? in(n, 2) : torch::Tensor(), st, pb, dl,
                                       true, op, a.get_int("group", 1));
                break;
            }
            case OpKind::kBatchNormalization: {
                torch::Tensor mean = in(n, 3), var = in(n, 4);
                y = torch::batch_norm(x0, in(n, 1), in(n, 2), mean, var, training, 0.1,
                                      a.get_float("epsilon", 1e-5f), false);
                break;
            }
            case OpKind::kGemm: {
                torch::Tensor A = a.get_int("transA", 0) ? x0.t() : x0;
                torch::Tensor B = a.get_int("transB", 0) ? in(n, 1).t() : in(n, 1);
                y = torch::mm(A, B);
                const float alpha = a.get_float("alpha", 1), beta = a.get_float("beta", 1);
                if (alpha != 1) y = y * alpha;
                if (has(n, 2) && beta != 0) y = y + (beta == 1 ? in(n, 2) : in(n, 2) * beta);
                break;
            }
            case OpKind::kMatMul:
                y = torch::matmul(x0, in(n, 1));
                break;
            case OpKind::kMaxPool:
            case OpKind::kAveragePool: {
                const bool ceil = a.get_int("ceil_mode", 0) != 0;
                Window win = window_of(n, x0, a.get_ints("kernel_shape"), ceil);
                torch::Tensor xin = x0;
                std::vector<int64_t> pad = win.pad_begin;
                const bool is_max = n.op == OpKind::kMaxPool;
                if (!symmetric(win)) {
                    if (!is_max) fail(n, "AveragePool with asymmetric pads cannot be trained");
                    xin = torch::constant_pad_nd(x0, torch_pads(win.pad_begin, win.pad_end),
                                                 -std::numeric_limits<float>::infinity());
                    pad.assign(pad.size(), 0);
                }
                const int64_t r = win.rank;
                if (is_max) {
                    y = r == 1 ? torch::max_pool1d(xin, win.kernel, win.strides, pad, win.dilations,
                                                   ceil)
                        : r == 2 ? torch::max_pool2d(xin, win.kernel, win.strides, pad,
                                                     win.dilations, ceil)
                                 : torch::max_pool3d(xin, win.kernel, win.strides, pad,
                                                     win.dilations, ceil);
                } else {
                    const bool cip = a.get_int("count_include_pad", 0) != 0;
                    y = r == 1   ? torch::avg_pool1d(xin, win.kernel, win.strides, pad, ceil, cip)
                        : r == 2 ? torch::avg_pool2d(xin, win.kernel, win.strides, pad, ceil, cip)
                                 : torch::avg_pool3d(xin, win.kernel, win.strides, pad, ceil, cip);
                }
                break;
            }
            case OpKind::kGlobalAveragePool:
            case OpKind::kGlobalMaxPool: {
                std::vector<int64_t> dims;
                for (int64_t d = 2; d < x0.dim(); ++d) dims.push_back(d);
                y = n.op == OpKind::kGlobalAveragePool ? x0.mean(dims, true) : x0.amax(dims, true);
                break;
            }
            case OpKind::kRelu:
                y = torch::relu(x0);
                break;
            case OpKind::kSigmoid:
                y = torch::sigmoid(x0);
                break;
            case OpKind::kTanh:
                y = torch::tanh(x0);
                break;
            case OpKind::kExp:
                y = torch::exp(x0);
                break;
            case OpKind::kLog:
                y = torch::log(x0);
                break;
            case OpKind::kSqrt:
                y = torch::sqrt(x0);
                break;
            case OpKind::kNeg:
                y = torch::neg(x0);
                break;
            case OpKind::kAbs:
                y = torch::abs(x0);
                break;
            case OpKind::kErf:
                y = torch::erf(x0);
                break;
            case OpKind::kFloor:
                y = torch::floor(x0);
                break;
            case OpKind::kCeil:
                y = torch::ceil(x0);
                break;
            case OpKind::kReciprocal:
                y = torch::reciprocal(x0);
                break;
            case OpKind::kSoftplus:
                y = torch::softplus(x0);
                break;
            case OpKind::kNot:
                y = torch::logical_not(x0);
                break;
            case OpKind::kElu:
                y = torch::elu(x0, a.get_float("alpha", 1.0f));
                break;
            case OpKind::kLeakyRelu:
                y = torch::leaky_relu(x0, a.get_float("alpha", 0.01f));
                break;
            case OpKind::kHardSwish:
                y = torch::hardswish(x0);
                break;
            case OpKind::kHardSigmoid:
                y = torch::clamp(x0 * a.get_float("alpha", 0.2f) + a.get_float("beta", 0.5f), 0, 1);
                break;
            case OpKind::kClip: {
                c10::optional<torch::Scalar> lo, hi;
                if (has(n, 1)) lo = in(n, 1).item();
                if (has(n, 2)) hi = in(n, 2).item();
                y = torch::clamp(x0, lo, hi);
                break;
            }
            case OpKind::kAdd:
                y = x0 + in(n, 1);
                break;
            case OpKind::kSub:
                y = x0 - in(n, 1);
                break;
            case OpKind::kMul:
                y = x0 * in(n, 1);
                break;
            case OpKind::kDiv:
                y = x0.is_floating_point() ? x0 / in(n, 1) : torch::div(x0, in(n, 1), "trunc");
                break;
            case OpKind::kPow:
                y = torch::pow(x0, in(n, 1));
                break;
            case OpKind::kPRelu:
                y = torch::where(x0 >= 0, x0, x0 * in(n, 1));
                break;
            case OpKind::kEqual:
                y = torch::eq(x0, in(n, 1));
                break;
            case OpKind::kGreater:
                y = torch::gt(x0, in(n, 1));
                break;
            case OpKind::kGreaterOrEqual:
                y = torch::ge(x0, in(n, 1));
                break;
            case OpKind::kLess:
                y = torch::lt(x0, in(n, 1));
                break;
            case OpKind::kLessOrEqual:
                y = torch::le(x0, in(n, 1));
                break;
            case OpKind::kAnd:
                y = torch::logical_and(x0, in(n, 1));
                break;
            case OpKind::kOr:
                y = torch::logical_or(x0, in(n, 1));
                break;
            case OpKind::kMax:
            case OpKind::kMin:
            case OpKind::kSum:
                y = x0;
                for (size_t i = 1; i < n.inputs.size(); ++i) {
                    torch::Tensor b = in(n, i);
                    y = n.op == OpKind::kMax   ? torch::maximum(y, b)
                        : n.op == OpKind::kMin ? torch::minimum(y, b)
                                               : y + b;
                }
                break;
            case OpKind::kWhere:
                y = torch::where(x0, in(n, 1), in(n, 2));
                break;
            case OpKind::kSoftmax:
            case OpKind::kLogSoftmax: {
                const int64_t axis = a.get_int("axis", -1);
                y = n.op == OpKind::kSoftmax ? torch::softmax(x0, axis)
                                             : torch::log_softmax(x0, axis);
                break;
            }
            case OpKind::kFlatten: {
                int64_t axis = a.get_int("axis", 1);
                if (axis < 0) axis += x0.dim();
                int64_t outer = 1;
                for (int64_t d = 0; d < axis; ++d) outer *= x0.size(d);
                y = x0.reshape({outer, -1});
                break;
            }
            case OpKind::kReshape: {
                std::vector<int64_t> spec = ints_of(in(n, 1));
                const bool allowzero = a.get_int("allowzero", 0) != 0;
                for (size_t i = 0; i < spec.size(); ++i) {
                    if (spec[i] == 0 && !allowzero) spec[i] = x0.size(static_cast<int64_t>(i));
                }
                y = x0.reshape(spec);
                break;
            }
            case OpKind::kIdentity:
                y = x0;
                break;
            case OpKind::kDropout: {
                double ratio = 0.5;
                if (has(n, 1)) ratio = in(n, 1).item<double>();
                y = torch::dropout(x0, ratio, training);
                break;
            }
            case OpKind::kTranspose: {
                std::vector<int64_t> perm = a.get_ints("perm");
                if (perm.empty()) {
                    for (int64_t d = x0.dim() - 1; d >= 0; --d) perm.push_back(d);
                }
                y = x0.permute(perm);
                break;
            }
            case OpKind::kConcat: {
                std::vector<torch::Tensor> xs;
                for (size_t i = 0; i < n.inputs.size(); ++i) xs.push_back(in(n, i));
                y = torch::cat(xs, a.get_int("axis", 0));
                break;
            }
            case OpKind::kSplit: {
                int64_t axis = a.get_int("axis", 0);
                if (axis < 0) axis += x0.dim();
                std::vector<int64_t> sizes;
                if (has(n, 1)) {
                    sizes = ints_of(in(n, 1));
                } else {
                    const int64_t k = static_cast<int64_t>(n.outputs.size()), d = x0.size(axis);
                    const int64_t part = (d + k - 1) / k;
                    for (int64_t i = 0, left = d; i < k; ++i, left -= part)
                        sizes.push_back(std::min(part, left));
                }
                std::vector<torch::Tensor> parts = x0.split_with_sizes(sizes, axis);
                for (size_t o = 0; o < n.outputs.size() && o < parts.size(); ++o)
                    env[n.outputs[o]] = parts[o];
                continue;
            }
            case OpKind::kSlice: {
                std::vector<int64_t> starts = ints_of(in(n, 1)), ends = ints_of(in(n, 2)), axes,
                                     steps;
                if (has(n, 3)) axes = ints_of(in(n, 3));
                if (has(n, 4)) steps = ints_of(in(n, 4));
                y = x0;
                for (size_t i = 0; i < starts.size(); ++i) {
                    int64_t ax = axes.empty() ? static_cast<int64_t>(i) : axes[i];
                    if (ax < 0) ax += x0.dim();
                    const int64_t st = steps.empty() ? 1 : steps[i];
                    if (st <= 0) fail(n, "Slice with a negative step cannot be trained");
                    const int64_t dim = y.size(ax);
                    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
                    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
                    s = std::min(std::max<int64_t>(s, 0), dim);
                    e = std::min(std::max<int64_t>(e, 0), dim);
                    y = y.slice(ax, s, std::max(s, e), st);
                }
                break;
            }
            case OpKind::kGather: {
                int64_t axis = a.get_int("axis", 0);
                if (axis < 0) axis += x0.dim();
                torch::Tensor idx = in(n, 1).to(torch::kLong);
                idx = torch::where(idx < 0, idx + x0.size(axis), idx);
                std::vector<int64_t> shape(x0.sizes().begin(), x0.sizes().begin() + axis);
                for (int64_t d : idx.sizes()) shape.push_back(d);
                for (int64_t d = axis + 1; d < x0.dim(); ++d) shape.push_back(x0.size(d));
                y = torch::index_select(x0, axis, idx.flatten()).reshape(shape);
                break;
            }
            case OpKind::kSqueeze:
            case OpKind::kUnsqueeze: {
                std::vector<int64_t> axes = a.get_ints("axes");
                if (has(n, 1)) axes = ints_of(in(n, 1));
                if (n.op == OpKind::kSqueeze) {
                    if (axes.empty()) {
                        y = x0.squeeze();
                    } else {
                        for (auto& ax : axes) ax = ax < 0 ? ax + x0.dim() : ax;
                        std::sort(axes.rbegin(), axes.rend());
                        y = x0;
                        for (int64_t ax : axes) y = y.squeeze(ax);
                    }
                } else {
                    const int64_t r = x0.dim() + static_cast<int64_t>(axes.size());
                    for (auto& ax : axes) ax = ax < 0 ? ax + r : ax;
                    std::sort(axes.begin(), axes.end());
                    y = x0;
                    for (int64_t ax : axes) y = y.unsqueeze(ax);
                }
                break;
            }
            case OpKind::kShape: {
                int64_t b, e;
                shape_op_range(n, x0.dim(), &b, &e);
                std::vector<int64_t> s(x0.sizes().begin() + b, x0.sizes().begin() + e);
                y = torch::tensor(s, torch::kLong);
                break;
            }
            case OpKind::kCast:
                y = x0.to(scalar_type(static_cast<DType>(a.get_int("to", 1))));
                break;
            case OpKind::kConstantOfShape: {
                const Tensor* v = a.get_tensor("value");
                torch::Tensor fill = v ? to_torch(*v).reshape({}) : torch::zeros({}, torch::kFloat);
                y = fill.expand(ints_of(x0)).clone();
                break;
            }
            case OpKind::kConstant: {
                const Tensor* v = a.get_tensor("value");
                if (!v) fail(n, "Constant without a tensor value");
                y = to_torch(*v);
                break;
            }
            case OpKind::kExpand: {
                std::vector<int64_t> want = ints_of(in(n, 1));
                Shape out;
                Status s =
                    broadcast_shapes(Shape(x0.sizes().begin(), x0.sizes().end()), want, &out);
                if (!s.ok()) fail(n, s.message());
                y = x0.expand(out);
                break;
            }
            case OpKind::kReduceMean:
            case OpKind::kReduceSum:
            case OpKind::kReduceMax:
            case OpKind::kReduceMin: {
                std::vector<int64_t> axes = a.get_ints("axes");
                if (has(n, 1)) axes = ints_of(in(n, 1));
                const bool keep = a.get_int("keepdims", 1) != 0;
                if (axes.empty()) {
                    for (int64_t d = 0; d < x0.dim(); ++d) axes.push_back(d);
                }
                y = n.op == OpKind::kReduceMean  ? x0.mean(axes, keep)
                    : n.op == OpKind::kReduceSum ? x0.sum(axes, keep)
                    : n.op == OpKind::kReduceMax ? x0.amax(axes, keep)
                                                 : x0.amin(axes, keep);
                break;
            }
            case OpKind::kPad: {
                std::vector<int64_t> pads = ints_of(in(n, 1));
                const size_t r = pads.size() / 2;
                Shape pb(pads.begin(), pads.begin() + r), pe(pads.begin() + r, pads.end());
                const std::string mode = a.get_string("mode", "constant");
                if (mode == "constant") {
                    const double v = has(n, 2) ? in(n, 2).item<double>() : 0.0;
                    y = torch::constant_pad_nd(x0, torch_pads(pb, pe), v);
                } else {
                    for (size_t d = 0; d < 2 && d < r; ++d) {
                        if (pb[d] != 0 || pe[d] != 0)
                            fail(n, "reflect/edge Pad on batch or channel dims");
                    }
                    std::vector<int64_t> tp = torch_pads(Shape(pb.begin() + 2, pb.end()),
                                                         Shape(pe.begin() + 2, pe.end()));
                    namespace F = torch::nn::functional;
                    F::PadFuncOptions po(tp);
                    if (mode == "reflect") {
                        po.mode(torch::kReflect);
                    } else {
                        po.mode(torch::kReplicate);
                    }
                    y = F::pad(x0, po);
                }
                break;
            }
            case OpKind::kResize: {
                const std::string mode = a.get_string("mode", "nearest");
                const std::string ct = a.get_string("coordinate_transformation_mode", "half_pixel");
                if (x0.dim() != 4) fail(n, "only 4-D Resize can be trained");
                std::vector<int64_t> size;
                if (has(n, 3) && in(n, 3).numel() == 4) {
                    std::vector<int64_t> s = ints_of(in(n, 3));
                    size = {s[2], s[3]};
                } else if (has(n, 2) && in(n, 2).numel() == 4) {
                    torch::Tensor sc = in(n, 2).to(torch::kDouble);
                    size = {static_cast<int64_t>(std::floor(x0.size(2) * sc[2].item<double>())),
                            static_cast<int64_t>(std::floor(x0.size(3) * sc[3].item<double>()))};
                } else {
                    fail(n, "Resize without scales or sizes of rank 4");
                }
                if (mode == "nearest" && ct == "asymmetric" &&
                    a.get_string("nearest_mode", "round_prefer_floor") == "floor") {
                    y = torch::upsample_nearest2d(x0, size);
                } else if (mode == "linear" && (ct == "half_pixel" || ct == "pytorch_half_pixel" ||
                                                ct == "align_corners")) {
                    y = torch::upsample_bilinear2d(x0, size, ct == "align_corners");
                } else {
                    fail(n, "Resize mode " + mode + " with " + ct + " cannot be trained");
                }
                break;
            }
            default:
                fail(n, "cannot be trained (no torch mapping)");
        }
        if (!n.outputs.empty()) env[n.outputs[0]] = fake_act(n.outputs[0], y);
        if (n.op == OpKind::kDropout && n.outputs.size() > 1 && !n.outputs[1].empty()) {
            env[n.outputs[1]] = torch::ones_like(x0, torch::kBool);
        }
    }
    if (taps)
        for (auto& [name, v] : *taps) v = env.at(name);
    const std::string& out = g_.outputs.at(0).name;
    auto c = consts_.find(out);
    if (c != consts_.end()) return c->second;
    return env.at(out);
}

}  // namespace pare
