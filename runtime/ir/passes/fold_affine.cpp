// fold_affine: BatchNormalization, or Mul/Add/Sub/Div by a constant scalar or
// per-channel tensor, folded into the Conv or Gemm before it.
#include <cmath>
#include <utility>

#include "runtime/ir/passes/passes.h"

namespace pare {

namespace {

struct BnScale {
    std::vector<float> scale, shift;  // y = x * scale + shift, per channel
};

bool bn_params(const Graph& g, const Node& bn, int64_t channels, BnScale* out) {
    for (size_t i = 1; i < 5; ++i) {
        if (!g.is_initializer(bn.input(i))) return false;
        const Tensor& t = g.initializers.at(bn.input(i));
        if (t.dtype() != DType::kFloat32 || t.numel() != channels) return false;
    }
    const float* gamma = g.initializers.at(bn.input(1)).data<float>();
    const float* beta = g.initializers.at(bn.input(2)).data<float>();
    const float* mean = g.initializers.at(bn.input(3)).data<float>();
    const float* var = g.initializers.at(bn.input(4)).data<float>();
    const float eps = bn.attrs.get_float("epsilon", 1e-5f);
    out->scale.resize(channels);
    out->shift.resize(channels);
    for (int64_t c = 0; c < channels; ++c) {
        out->scale[c] = gamma[c] / std::sqrt(var[c] + eps);
        out->shift[c] = beta[c] - mean[c] * out->scale[c];
    }
    return true;
}

// The per-channel y = x * scale + shift that node computes from the producer's
// output x (rank `rank`, channels on axis `axis`), or false when it is not one:
// BatchNormalization with constant statistics, or Mul/Add (either operand order) or
// Sub/Div (x first) with a constant that is a scalar or broadcasts along the
// channel axis only.
bool affine_of(const Graph& g, const Node& node, const std::string& x, int64_t channels,
               int64_t rank, int64_t axis, BnScale* out) {
    if (node.op == OpKind::kBatchNormalization)
        return node.input(0) == x && bn_params(g, node, channels, out);
    const bool commutes = node.op == OpKind::kMul || node.op == OpKind::kAdd;
    if (!commutes && node.op != OpKind::kSub && node.op != OpKind::kDiv) return false;
    if (node.inputs.size() != 2) return false;
    const int ci = node.input(0) == x ? 1 : 0;
    if (node.input(1 - ci) != x || (ci == 0 && !commutes)) return false;
    if (!g.is_initializer(node.input(ci))) return false;
    const Tensor& c = g.initializers.at(node.input(ci));
    if (c.dtype() != DType::kFloat32) return false;
    if (c.numel() != 1) {
        // Right-aligned with the output's shape, c must be 1 everywhere but the channel axis.
        if (c.numel() != channels || c.rank() > rank || c.rank() < rank - axis) return false;
        const int64_t at = axis - (rank - c.rank());
        for (int64_t d = 0; d < c.rank(); ++d) {
            if (d != at && c.shape()[d] != 1) return false;
        }
    }
    out->scale.assign(channels, 1.0f);
    out->shift.assign(channels, 0.0f);
    for (int64_t m = 0; m < channels; ++m) {
        const float v = c.data<float>()[c.numel() == 1 ? 0 : m];
        switch (node.op) {
            case OpKind::kMul:
                out->scale[m] = v;
                break;
            case OpKind::kDiv:
                out->scale[m] = 1.0f / v;
                break;
            case OpKind::kAdd:
                out->shift[m] = v;
                break;
            default:
                out->shift[m] = -v;
                break;
        }
    }
    return true;
}

// Gives node the folded weights w (input 1) and bias b (input 2) as new initializers.
void set_folded(Graph& g, Node& node, Tensor w, Tensor b) {
    const std::string wn = g.unique_name(node.name + "_W_folded");
    g.initializers[wn] = std::move(w);
    const std::string bn = g.unique_name(node.name + "_B_folded");
    g.initializers[bn] = std::move(b);
    node.inputs.resize(3);
    node.inputs[1] = wn;
    node.inputs[2] = bn;
}

// Folds s into conv; returns false (graph untouched) when the weights are not constant.
bool fold_into_conv(Graph& g, Node& conv, const BnScale& s) {
    if (!g.is_initializer(conv.input(1))) return false;
    const Tensor& w = g.initializers.at(conv.input(1));
    if (w.dtype() != DType::kFloat32 || w.rank() < 3) return false;
    const int64_t M = w.shape()[0];
    const int64_t per = M ? w.numel() / M : 0;
    const bool has_bias = !conv.input(2).empty();
    if (has_bias &&
        (!g.is_initializer(conv.input(2)) || g.initializers.at(conv.input(2)).numel() != M)) {
        return false;
    }
    Tensor nw = w.clone();
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t i = 0; i < per; ++i) nw.data<float>()[m * per + i] *= s.scale[m];
    }
    Tensor nb = Tensor::create(DType::kFloat32, {M}).value();
    for (int64_t m = 0; m < M; ++m) {
        const float b = has_bias ? g.initializers.at(conv.input(2)).data<float>()[m] : 0.0f;
        nb.data<float>()[m] = b * s.scale[m] + s.shift[m];
    }
    set_folded(g, conv, std::move(nw), std::move(nb));
    return true;
}

bool fold_into_gemm(Graph& g, Node& gemm, const BnScale& s) {
    if (!g.is_initializer(gemm.input(1))) return false;
    const Tensor& w = g.initializers.at(gemm.input(1));
    if (w.dtype() != DType::kFloat32 || w.rank() != 2) return false;
    const bool tb = gemm.attrs.get_int("transB", 0) != 0;
    const int64_t N = tb ? w.shape()[0] : w.shape()[1], K = tb ? w.shape()[1] : w.shape()[0];
    const bool has_c = !gemm.input(2).empty();
    if (has_c &&
        (!g.is_initializer(gemm.input(2)) || g.initializers.at(gemm.input(2)).numel() != N)) {
        return false;
    }
    const float beta = gemm.attrs.get_float("beta", 1.0f);
    Tensor nw = w.clone();
    for (int64_t k = 0; k < K; ++k) {
        for (int64_t n = 0; n < N; ++n) {
            nw.data<float>()[tb ? n * K + k : k * N + n] *= s.scale[n];
        }
    }
    Tensor nc = Tensor::create(DType::kFloat32, {N}).value();
    for (int64_t n = 0; n < N; ++n) {
        const float c = has_c ? beta * g.initializers.at(gemm.input(2)).data<float>()[n] : 0.0f;
        nc.data<float>()[n] = c * s.scale[n] + s.shift[n];
    }
    set_folded(g, gemm, std::move(nw), std::move(nc));
    gemm.attrs.set("beta", Attribute::make_float(1.0f));
    return true;
}

}  // namespace

Result<int> fold_affine(Graph& g) {
    int folded = 0;
    auto consumers = g.consumers();
    for (size_t b = 0; b < g.nodes.size();) {
        const Node bn = g.nodes[b];
        const int p =
            bn.outputs.size() == 1 && !bn.inputs.empty() ? g.producer_of(bn.input(0)) : -1;
        int px = p;
        std::string x = bn.inputs.empty() ? std::string() : bn.input(0);
        if (px < 0 && bn.inputs.size() == 2 &&
            (bn.op == OpKind::kMul || bn.op == OpKind::kAdd)) {  // constant first
            x = bn.input(1);
            px = g.producer_of(x);
        }
        if (px < 0 || bn.outputs.size() != 1 || g.is_output(x) || consumers[x].size() != 1) {
            ++b;
            continue;
        }
        Node& prod = g.nodes[px];
        bool ok = false;
        BnScale s;
        if (prod.op == OpKind::kConv && g.is_initializer(prod.input(1))) {
            const Tensor& w = g.initializers.at(prod.input(1));
            ok = w.rank() >= 3 && affine_of(g, bn, x, w.shape()[0], w.rank(), 1, &s) &&
                 fold_into_conv(g, prod, s);
        }
        if (prod.op == OpKind::kGemm && g.is_initializer(prod.input(1))) {
            const Tensor& w = g.initializers.at(prod.input(1));
            const bool tb = prod.attrs.get_int("transB", 0) != 0;
            ok = w.rank() == 2 && affine_of(g, bn, x, w.shape()[tb ? 0 : 1], 2, 1, &s) &&
                 fold_into_gemm(g, prod, s);
        }
        if (!ok) {
            ++b;
            continue;
        }
        // The producer now writes the BatchNormalization's output directly.
        for (auto& o : prod.outputs) {
            if (o == x) o = bn.outputs[0];
        }
        g.value_info.erase(x);
        g.nodes.erase(g.nodes.begin() + static_cast<long>(b));
        consumers = g.consumers();
        ++folded;
    }
    return folded;
}

}  // namespace pare
