#include "toolkit/arch/builder.h"

#include <cmath>

#include "runtime/ir/passes/passes.h"

namespace pare {

int64_t make_divisible(double v, int64_t divisor) {
    int64_t r = std::max(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
    if (static_cast<double>(r) < 0.9 * v) r += divisor;
    return r;
}

GraphBuilder::GraphBuilder(const std::string& name, uint64_t seed) : rng_(seed) { g_.name = name; }

std::string GraphBuilder::node_name(const std::string& given, const std::string& op) {
    std::string base = given.empty() ? op + std::to_string(counter_++) : given;
    return scope_.empty() ? base : scope_ + "." + base;
}

std::string GraphBuilder::add_node(const std::string& op, std::vector<std::string> inputs,
                                   Attributes attrs, const std::string& name, size_t outputs,
                                   std::vector<std::string>* outs) {
    Node n;
    n.op_type = op;
    n.op = op_from_name(op, "");
    n.name = g_.unique_name(name);
    n.inputs = std::move(inputs);
    for (size_t i = 0; i < outputs; ++i)
        n.outputs.push_back(outputs == 1 ? n.name : n.name + ":" + std::to_string(i));
    if (outs) *outs = n.outputs;
    g_.nodes.push_back(n);
    g_.nodes.back().attrs = std::move(attrs);
    return n.outputs[0];
}

std::string GraphBuilder::constant(const std::string& base, Tensor t) {
    const std::string name = g_.unique_name(base);
    g_.initializers[name] = std::move(t);
    return name;
}

Tensor GraphBuilder::he_normal(Shape s, int64_t fan) {
    Tensor t = Tensor::create(DType::kFloat32, s).value();
    std::normal_distribution<float> d(
        0.0f, std::sqrt(2.0f / static_cast<float>(std::max<int64_t>(1, fan))));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng_);
    return t;
}

std::string GraphBuilder::input(int64_t channels, int64_t size, const std::vector<float>& mean,
                                const std::vector<float>& stdev) {
    ValueInfo v;
    v.name = "input";
    v.dtype = DType::kFloat32;
    v.has_shape = true;
    v.shape = {-1, channels, size, size};
    v.dim_params = {"N", "", "", ""};
    g_.inputs.push_back(v);
    if (mean.empty()) return v.name;
    std::vector<float> m(channels), inv(channels);
    for (int64_t c = 0; c < channels; ++c) {
        m[c] = mean[std::min<size_t>(c, mean.size() - 1)];
        inv[c] = 1.0f / stdev[std::min<size_t>(c, stdev.size() - 1)];
    }
    std::string x = add_node(
        "Sub", {v.name, constant("norm.mean", Tensor::from_vector(m, {1, channels, 1, 1}))}, {},
        node_name("norm.sub", ""));
    return add_node("Mul",
                    {x, constant("norm.inv_std", Tensor::from_vector(inv, {1, channels, 1, 1}))},
                    {}, node_name("norm.mul", ""));
}

std::string GraphBuilder::conv(const std::string& x, int64_t cin, int64_t cout, int64_t k,
                               int64_t stride, int64_t groups, bool bias, const std::string& name,
                               int64_t kh) {
    const int64_t kH = kh > 0 ? kh : k, kW = k;
    const std::string n = node_name(name.empty() ? "conv" + std::to_string(counter_++) : name, "");
    Attributes a;
    a.set("kernel_shape", Attribute::make_ints({kH, kW}));
    a.set("strides", Attribute::make_ints({stride, stride}));
    // "Same" padding: (k-1)/2 before, k/2 after (symmetric for odd kernels).
    a.set("pads", Attribute::make_ints({(kH - 1) / 2, (kW - 1) / 2, kH / 2, kW / 2}));
    a.set("group", Attribute::make_int(groups));
    // He initialization on fan_out, as torchvision does for these networks.
    std::vector<std::string> ins = {
        x,
        constant(n + ".weight", he_normal({cout, cin / groups, kH, kW}, cout * kH * kW / groups))};
    if (bias) ins.push_back(constant(n + ".bias", Tensor::create(DType::kFloat32, {cout}).value()));
    return add_node("Conv", ins, a, n);
}

std::string GraphBuilder::bn(const std::string& x, int64_t c, const std::string& name,
                             bool zero_gamma) {
    const std::string n = node_name(name.empty() ? "bn" + std::to_string(counter_++) : name, "");
    std::vector<float> ones(c, 1.0f), zeros(c, 0.0f);
    std::vector<std::string> ins = {
        x, constant(n + ".weight", Tensor::from_vector(zero_gamma ? zeros : ones, {c})),
        constant(n + ".bias", Tensor::from_vector(zeros, {c})),
        constant(n + ".running_mean", Tensor::from_vector(zeros, {c})),
        constant(n + ".running_var", Tensor::from_vector(ones, {c}))};
    Attributes a;
    a.set("epsilon", Attribute::make_float(1e-5f));
    a.set("momentum", Attribute::make_float(0.9f));
    return add_node("BatchNormalization", ins, a, n);
}

std::string GraphBuilder::act(const std::string& x, Act a, const std::string& name) {
    switch (a) {
        case Act::kNone:
            return x;
        case Act::kRelu:
            return add_node(
                "Relu", {x}, {},
                node_name(name.empty() ? "relu" + std::to_string(counter_++) : name, ""));
        case Act::kRelu6: {
            const std::string n =
                node_name(name.empty() ? "relu6_" + std::to_string(counter_++) : name, "");
            return add_node("Clip",
                            {x, constant(n + ".min", Tensor::from_vector<float>({0}, {})),
                             constant(n + ".max", Tensor::from_vector<float>({6}, {}))},
                            {}, n);
        }
        case Act::kHardSwish:
            return add_node(
                "HardSwish", {x}, {},
                node_name(name.empty() ? "hswish" + std::to_string(counter_++) : name, ""));
        case Act::kHardSigmoid: {
            Attributes at;  // PyTorch's hardsigmoid: relu6(x + 3) / 6
            at.set("alpha", Attribute::make_float(1.0f / 6));
            at.set("beta", Attribute::make_float(0.5f));
            return add_node(
                "HardSigmoid", {x}, at,
                node_name(name.empty() ? "hsigmoid" + std::to_string(counter_++) : name, ""));
        }
        case Act::kSigmoid:
            return add_node(
                "Sigmoid", {x}, {},
                node_name(name.empty() ? "sigmoid" + std::to_string(counter_++) : name, ""));
        case Act::kSilu: {
            const std::string base = name.empty() ? "silu" + std::to_string(counter_++) : name;
            std::string s = add_node("Sigmoid", {x}, {}, node_name(base + ".sigmoid", ""));
            return add_node("Mul", {x, s}, {}, node_name(base, ""));
        }
    }
    return x;
}

std::string GraphBuilder::conv_bn_act(const std::string& x, int64_t cin, int64_t cout, int64_t k,
                                      int64_t stride, Act a, int64_t groups,
                                      const std::string& name) {
    const std::string base = name.empty() ? "cba" + std::to_string(counter_++) : name;
    std::string y = conv(x, cin, cout, k, stride, groups, false, base + ".conv");
    y = bn(y, cout, base + ".bn");
    return act(y, a, base + ".act");
}

std::string GraphBuilder::add(const std::string& a, const std::string& b, const std::string& name) {
    return add_node("Add", {a, b}, {},
                    node_name(name.empty() ? "add" + std::to_string(counter_++) : name, ""));
}

std::string GraphBuilder::mul(const std::string& a, const std::string& b, const std::string& name) {
    return add_node("Mul", {a, b}, {},
                    node_name(name.empty() ? "mul" + std::to_string(counter_++) : name, ""));
}

std::string GraphBuilder::max_pool(const std::string& x, int64_t k, int64_t stride, int64_t pad,
                                   bool ceil, const std::string& name) {
    Attributes a;
    a.set("kernel_shape", Attribute::make_ints({k, k}));
    a.set("strides", Attribute::make_ints({stride, stride}));
    a.set("pads", Attribute::make_ints({pad, pad, pad, pad}));
    if (ceil) a.set("ceil_mode", Attribute::make_int(1));
    return add_node("MaxPool", {x}, a,
                    node_name(name.empty() ? "maxpool" + std::to_string(counter_++) : name, ""));
}

std::string GraphBuilder::avg_pool(const std::string& x, int64_t k, int64_t stride, int64_t pad,
                                   const std::string& name) {
    Attributes a;
    a.set("kernel_shape", Attribute::make_ints({k, k}));
    a.set("strides", Attribute::make_ints({stride, stride}));
    a.set("pads", Attribute::make_ints({pad, pad, pad, pad}));
    return add_node("AveragePool", {x}, a,
                    node_name(name.empty() ? "avgpool" + std::to_string(counter_++) : name, ""));
}

std::string GraphBuilder::global_avg_pool(const std::string& x, const std::string& name) {
    return add_node("GlobalAveragePool", {x}, {},
                    node_name(name.empty() ? "gap" + std::to_string(counter_++) : name, ""));
}

std::string GraphBuilder::flatten(const std::string& x, const std::string& name) {
    Attributes a;
    a.set("axis", Attribute::make_int(1));
    return add_node("Flatten", {x}, a,
                    node_name(name.empty() ? "flatten" + std::to_string(counter_++) : name, ""));
}

std::string GraphBuilder::linear(const std::string& x, int64_t cin, int64_t cout,
                                 const std::string& name) {
    const std::string n = node_name(name.empty() ? "fc" + std::to_string(counter_++) : name, "");
    Tensor w = Tensor::create(DType::kFloat32, {cout, cin}).value();
    const float bound = 1.0f / std::sqrt(static_cast<float>(cin));
    std::uniform_real_distribution<float> d(-bound, bound);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = d(rng_);
    Tensor b = Tensor::create(DType::kFloat32, {cout}).value();
    for (int64_t i = 0; i < cout; ++i) b.data<float>()[i] = d(rng_);
    Attributes a;
    a.set("transB", Attribute::make_int(1));
    return add_node("Gemm", {x, constant(n + ".weight", w), constant(n + ".bias", b)}, a, n);
}

std::string GraphBuilder::dropout(const std::string& x, float ratio, const std::string& name) {
    const std::string n =
        node_name(name.empty() ? "dropout" + std::to_string(counter_++) : name, "");
    return add_node("Dropout", {x, constant(n + ".ratio", Tensor::from_vector<float>({ratio}, {}))},
                    {}, n);
}

std::string GraphBuilder::concat(const std::vector<std::string>& xs, int64_t axis,
                                 const std::string& name) {
    Attributes a;
    a.set("axis", Attribute::make_int(axis));
    return add_node("Concat", xs, a,
                    node_name(name.empty() ? "concat" + std::to_string(counter_++) : name, ""));
}

std::vector<std::string> GraphBuilder::split(const std::string& x,
                                             const std::vector<int64_t>& sizes, int64_t axis,
                                             const std::string& name) {
    Attributes a;
    a.set("axis", Attribute::make_int(axis));
    const std::string n = node_name(name.empty() ? "split" + std::to_string(counter_++) : name, "");
    std::vector<std::string> outs;
    add_node("Split",
             {x, constant(n + ".sizes", Tensor::from_vector<int64_t>(
                                            sizes, {static_cast<int64_t>(sizes.size())}))},
             a, n, sizes.size(), &outs);
    return outs;
}

std::string GraphBuilder::reshape(const std::string& x, const std::vector<int64_t>& spec,
                                  const std::string& name) {
    const std::string n =
        node_name(name.empty() ? "reshape" + std::to_string(counter_++) : name, "");
    return add_node("Reshape",
                    {x, constant(n + ".shape", Tensor::from_vector<int64_t>(
                                                   spec, {static_cast<int64_t>(spec.size())}))},
                    {}, n);
}

std::string GraphBuilder::transpose(const std::string& x, const std::vector<int64_t>& perm,
                                    const std::string& name) {
    Attributes a;
    a.set("perm", Attribute::make_ints(perm));
    return add_node("Transpose", {x}, a,
                    node_name(name.empty() ? "transpose" + std::to_string(counter_++) : name, ""));
}

std::string GraphBuilder::squeeze_excite(const std::string& x, int64_t c, int64_t reduced,
                                         Act inner, Act gate, const std::string& name) {
    std::string s = global_avg_pool(x, name + ".pool");
    s = conv(s, c, reduced, 1, 1, 1, true, name + ".reduce");
    s = act(s, inner, name + ".act");
    s = conv(s, reduced, c, 1, 1, 1, true, name + ".expand");
    s = act(s, gate, name + ".gate");
    return mul(x, s, name + ".scale");
}

std::string GraphBuilder::inverted_residual(const std::string& x, int64_t cin, int64_t hidden,
                                            int64_t cout, int64_t k, int64_t stride, Act act,
                                            int64_t se_reduced, Act se_inner, Act se_gate) {
    std::string y = x;
    if (hidden != cin) y = conv_bn_act(y, cin, hidden, 1, 1, act, 1, "expand");
    y = conv_bn_act(y, hidden, hidden, k, stride, act, hidden, "dw");
    if (se_reduced > 0) y = squeeze_excite(y, hidden, se_reduced, se_inner, se_gate, "se");
    y = conv_bn_act(y, hidden, cout, 1, 1, Act::kNone, 1, "project");
    return (stride == 1 && cin == cout) ? add(x, y, "add") : y;
}

std::string GraphBuilder::classifier_head(const std::string& x, int64_t channels, int64_t classes,
                                          float ratio) {
    scope("head");
    std::string y = flatten(global_avg_pool(x, "pool"), "flatten");
    if (ratio > 0) y = dropout(y, ratio, "dropout");
    y = linear(y, channels, classes, "fc");
    output(y, classes);
    return y;
}

void GraphBuilder::output(const std::string& x, int64_t classes) {
    ValueInfo v;
    v.name = x;
    v.dtype = DType::kFloat32;
    v.has_shape = true;
    v.shape = {-1, classes};
    v.dim_params = {"N", ""};
    g_.outputs.push_back(v);
}

Result<Graph> GraphBuilder::finish() {
    Graph g = g_;
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(verify(g));
    PARE_RETURN_IF_ERROR(g.topo_sort());
    PARE_RETURN_IF_ERROR(infer_shapes(g));
    return g;
}

}  // namespace pare
