#include "runtime/exec/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <set>

#include "runtime/exec/control_flow.h"
#include "runtime/ir/passes/passes.h"
#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/op.h"

namespace pare {

namespace {

bool reference_requested() {
    static const bool r = [] {
        const char* k = std::getenv("PARE_KERNELS");
        return k && std::string(k) == "reference";
    }();
    return r;
}

// Infers node's outputs from its inputs' metadata and allocates them.
Status infer_and_allocate(const Node& node, const std::vector<const Tensor*>& inputs,
                          std::vector<Tensor>* outputs) {
    if (node.op == OpKind::kUnknown) return unsupported(node.where() + ": op is not supported");
    if (node.outputs.empty()) return invalid_argument(node.where() + " has no output");
    InferContext ictx{node, {}, std::vector<ValueMeta>(node.outputs.size())};
    ictx.in.reserve(inputs.size());
    for (const Tensor* t : inputs) ictx.in.push_back(t ? ValueMeta::of(*t) : ValueMeta());
    PARE_RETURN_IF_ERROR(op_def(node.op).infer(ictx).with_context(node.where()));
    outputs->assign(node.outputs.size(), Tensor());
    for (size_t i = 0; i < node.outputs.size(); ++i) {
        const ValueMeta& m = ictx.out[i];
        if (!m.shape_known() || m.dtype == DType::kUndefined) {
            return internal_error(node.where() + ": output " + std::to_string(i) +
                                  " shape not determined from concrete inputs");
        }
        Result<Tensor> r = Tensor::create(m.dtype, m.shape);
        if (!r.ok()) return r.status().with_context(node.where());
        (*outputs)[i] = std::move(r).value();
    }
    return Status();
}

// The activation node `act` as a fused epilogue, if it is one with constant operands.
bool as_activation(const Graph& g, const Node& act, Activation* out) {
    std::vector<const Tensor*> constants;
    for (const auto& name : act.inputs) {
        auto it = g.initializers.find(name);
        constants.push_back(it == g.initializers.end() ? nullptr : &it->second);
    }
    return activation_of(act, constants, out);
}

// The float scalar constant input i of node holds, if it is one.
bool scalar_input(const Graph& g, const Node& node, size_t i, float* value) {
    if (i >= node.inputs.size() || !g.is_initializer(node.inputs[i])) return false;
    const Tensor& t = g.initializers.at(node.inputs[i]);
    if (t.dtype() != DType::kFloat32 || t.numel() != 1) return false;
    *value = t.data<float>()[0];
    return true;
}

// What is known of value v's type: a graph input's declared (bound) info, or what
// shape inference recorded; null if neither.
const ValueInfo* known_info(const Graph& g, const std::string& v) {
    for (const auto& i : g.inputs) {
        if (i.name == v) return &i;
    }
    auto it = g.value_info.find(v);
    return it == g.value_info.end() ? nullptr : &it->second;
}

// The single consumer of value v (not a graph output), or -1.
int only_consumer(const Graph& g, const std::map<std::string, std::vector<int>>& consumers,
                  const std::string& v) {
    auto c = consumers.find(v);
    if (c == consumers.end() || c->second.size() != 1 || g.is_output(v)) return -1;
    return c->second[0];
}

// HardSwish written out, as PaddlePaddle exports it: v * Clip(v + 3, 0, 6) / 6 as
// Add(v, 3) -> Clip -> Mul(v, .) -> Div(., 6) (or Mul by 1/6). add and mul are v's
// two consumers; returns the four nodes, or empty.
std::vector<int> hardswish_chain(const Graph& g,
                                 const std::map<std::string, std::vector<int>>& consumers,
                                 const std::string& v, int add, int mul) {
    const Node& a = g.nodes[add];
    float three = 0, six = 0;
    if (a.op != OpKind::kAdd || a.inputs.size() != 2 || a.outputs.size() != 1) return {};
    if (!((a.inputs[0] == v && scalar_input(g, a, 1, &three)) ||
          (a.inputs[1] == v && scalar_input(g, a, 0, &three))) ||
        three != 3.0f)
        return {};
    const int clip = only_consumer(g, consumers, a.outputs[0]);
    if (clip < 0) return {};
    const Node& c = g.nodes[clip];
    Activation ca;
    if (c.outputs.size() != 1 || c.input(0) != a.outputs[0] || !as_activation(g, c, &ca) ||
        ca.kind != Activation::kClip || ca.lo != 0.0f || ca.hi != 6.0f)
        return {};
    const Node& m = g.nodes[mul];
    if (m.op != OpKind::kMul || m.inputs.size() != 2 || m.outputs.size() != 1) return {};
    if (!((m.inputs[0] == v && m.inputs[1] == c.outputs[0]) ||
          (m.inputs[1] == v && m.inputs[0] == c.outputs[0])) ||
        only_consumer(g, consumers, c.outputs[0]) != mul)
        return {};
    const int div = only_consumer(g, consumers, m.outputs[0]);
    if (div < 0) return {};
    const Node& d = g.nodes[div];
    if (d.outputs.size() != 1 || d.inputs.size() != 2 || d.inputs[0] != m.outputs[0]) return {};
    if (d.op == OpKind::kDiv && scalar_input(g, d, 1, &six) && six == 6.0f)
        return {add, clip, mul, div};
    if (d.op == OpKind::kMul && scalar_input(g, d, 1, &six) && std::fabs(six * 6.0f - 1.0f) < 1e-6f)
        return {add, clip, mul, div};
    return {};
}

// The nodes computing act(v) from v alone, last one giving the result: a single
// activation consuming v, or a gate and Mul(v, gate(v)): Sigmoid (SiLU), or
// HardSigmoid with alpha 1/6 and beta 1/2 (HardSwish, as PyTorch exports it); or
// HardSwish written out (hardswish_chain). Empty when v's consumers are anything
// else.
std::vector<int> fusable_activation(const Graph& g,
                                    const std::map<std::string, std::vector<int>>& consumers,
                                    const std::string& v, Activation* act) {
    auto c = consumers.find(v);
    if (c == consumers.end()) return {};
    const std::vector<int>& users = c->second;
    if (users.size() == 1) {
        const Node& a = g.nodes[users[0]];
        if (a.outputs.size() == 1 && a.input(0) == v && as_activation(g, a, act)) return users;
        return {};
    }
    if (users.size() != 2 || users[0] == users[1]) return {};
    for (int k = 0; k < 2; ++k) {
        std::vector<int> chain = hardswish_chain(g, consumers, v, users[k], users[1 - k]);
        if (!chain.empty()) {
            act->kind = Activation::kHardSwish;
            return chain;
        }
    }
    for (int k = 0; k < 2; ++k) {
        const Node& sig = g.nodes[users[k]];
        const Node& mul = g.nodes[users[1 - k]];
        Activation gate;
        if (mul.op != OpKind::kMul || sig.outputs.size() != 1 || mul.inputs.size() != 2 ||
            g.is_output(sig.outputs[0]) || sig.input(0) != v || !as_activation(g, sig, &gate))
            continue;
        Activation whole;
        if (gate.kind == Activation::kSigmoid) {
            whole.kind = Activation::kSiLU;
        } else if (gate.kind == Activation::kHardSigmoid &&
                   std::fabs(gate.alpha - 1.0f / 6.0f) < 1e-6f &&
                   std::fabs(gate.beta - 0.5f) < 1e-6f) {
            whole.kind = Activation::kHardSwish;
        } else {
            continue;
        }
        const std::string& s = sig.outputs[0];
        auto sc = consumers.find(s);
        if (sc == consumers.end() || sc->second.size() != 1 || sc->second[0] != users[1 - k])
            continue;
        if ((mul.inputs[0] == v && mul.inputs[1] == s) ||
            (mul.inputs[0] == s && mul.inputs[1] == v)) {
            *act = whole;
            return {users[k], users[1 - k]};
        }
    }
    return {};
}

// The Add node that is the only consumer of Conv node n's output v, when its other
// operand *r is ready before node n runs (a graph input, or produced by an earlier
// node; not a constant) and has v's static float shape; else -1.
int fusable_residual_add(const Graph& g, const std::map<std::string, std::vector<int>>& consumers,
                         int n, std::string* r) {
    const Node& conv = g.nodes[n];
    if (conv.op != OpKind::kConv || conv.outputs.size() != 1) return -1;
    const std::string& v = conv.outputs[0];
    const int add = only_consumer(g, consumers, v);
    if (add < 0) return -1;
    const Node& a = g.nodes[add];
    if (a.op != OpKind::kAdd || a.inputs.size() != 2 || a.outputs.size() != 1) return -1;
    if (a.inputs[0] == a.inputs[1]) return -1;
    const std::string& other = a.inputs[0] == v ? a.inputs[1] : a.inputs[0];
    if (g.is_initializer(other)) return -1;
    const int p = g.producer_of(other);
    bool is_input = false;
    for (const auto& i : g.inputs) is_input = is_input || i.name == other;
    if (!(is_input || (p >= 0 && p < n))) return -1;
    const ValueInfo *x = known_info(g, v), *y = known_info(g, other);
    if (!x || !y || !x->has_shape || !y->has_shape || x->shape != y->shape ||
        x->dtype != DType::kFloat32 || y->dtype != DType::kFloat32)
        return -1;
    for (int64_t d : x->shape) {
        if (d < 0) return -1;
    }
    *r = other;
    return add;
}

// Ops whose output 0 may be placed over input 0's bytes.
bool is_view_op(OpKind op) {
    return op == OpKind::kReshape || op == OpKind::kFlatten || op == OpKind::kSqueeze ||
           op == OpKind::kUnsqueeze || op == OpKind::kIdentity || op == OpKind::kDropout;
}
// Elementwise ops whose kernels (reference and f32_elementwise) read x[i] before
// writing y[i] and nothing else of x after: the output may overwrite the input
// (same shape, float32).
bool is_in_place_op(OpKind op) {
    switch (op) {
        case OpKind::kRelu:
        case OpKind::kClip:
        case OpKind::kSigmoid:
        case OpKind::kHardSwish:
        case OpKind::kHardSigmoid:
        case OpKind::kLeakyRelu:
        case OpKind::kTanh:
        case OpKind::kElu:
        case OpKind::kNeg:
        case OpKind::kAbs:
        case OpKind::kExp:
        case OpKind::kSqrt:
        case OpKind::kAdd:
        case OpKind::kSub:
        case OpKind::kMul:
        case OpKind::kDiv:
            return true;
        default:
            return false;
    }
}

// Adds the scope's wall time to (*ms)[i] when ms is given.
class StepTimer {
  public:
    StepTimer(std::vector<double>* ms, size_t i) : ms_(ms), i_(i) {
        if (ms_) t0_ = std::chrono::steady_clock::now();
    }
    ~StepTimer() {
        if (ms_) {
            (*ms_)[i_] +=
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_)
                    .count();
        }
    }

  private:
    std::vector<double>* ms_;
    size_t i_;
    std::chrono::steady_clock::time_point t0_;
};

bool is_static(const ValueMeta& m) { return m.dtype != DType::kUndefined && m.shape_known(); }

}  // namespace

Status run_node(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>* outputs, bool reference) {
    PARE_RETURN_IF_ERROR(infer_and_allocate(node, inputs, outputs));
    ComputeContext cctx{node, inputs, {}};
    for (auto& t : *outputs) cctx.out.push_back(&t);
    if (!reference && !reference_requested()) {
        if (auto k = prepare_kernel(node, inputs, Activation{}))
            return k->run(cctx).with_context(node.where());
    }
    return op_def(node.op).compute(cctx).with_context(node.where());
}

Status check_input(const ValueInfo& info, const Tensor& t) {
    const std::string where = "input \"" + info.name + "\"";
    if (info.dtype != DType::kUndefined && t.dtype() != info.dtype) {
        return invalid_argument(where + ": expected dtype " + dtype_name(info.dtype) + ", got " +
                                dtype_name(t.dtype()));
    }
    if (!info.has_shape) return Status();
    bool ok = info.shape.size() == t.shape().size();
    for (size_t i = 0; ok && i < info.shape.size(); ++i) {
        if (info.shape[i] >= 0 && info.shape[i] != t.shape()[i]) ok = false;
    }
    if (!ok) {
        return invalid_argument(where + ": expected shape " + shape_str(info.shape) + ", got " +
                                shape_str(t.shape()));
    }
    return Status();
}

Session::Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Result<Session> Session::prepare(Graph graph, const SessionOptions& options) {
    PARE_RETURN_IF_ERROR(graph.resolve_ops());
    PARE_RETURN_IF_ERROR(verify(graph));
    PARE_RETURN_IF_ERROR(graph.topo_sort());
    PARE_RETURN_IF_ERROR(infer_shapes(graph));
    // Quantized convolutions with a float activation between them and their
    // QuantizeLinear: one integer kernel each (the session's own graph only).
    if (options.fuse)
        PARE_RETURN_IF_ERROR(fuse_qdq_activations(graph, fusable_activation).status());
    Session s;
    s.run_mu_ = std::make_unique<std::mutex>();
    if (options.threads > 1) s.pool_ = std::make_unique<ThreadPool>(options.threads);
    std::map<std::string, int> slot;
    auto slot_of = [&](const std::string& name) {
        auto it = slot.find(name);
        if (it != slot.end()) return it->second;
        slot[name] = s.slot_count_;
        return s.slot_count_++;
    };
    for (const auto& kv : graph.initializers)
        s.constants_.emplace_back(slot_of(kv.first), kv.second);
    for (const auto& i : graph.inputs) s.input_slots_.push_back(slot_of(i.name));

    const bool reference = options.reference || reference_requested();
    const auto consumers = graph.consumers();
    std::vector<bool> fused_away(graph.nodes.size(), false);
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
        if (fused_away[n]) continue;
        const Node& node = graph.nodes[n];
        // A node of constants only (a weight's DequantizeLinear, which files keep
        // as int8: fold_constants leaves large ones) is computed here, once; its
        // outputs become constants.
        bool all_const =
            !node.inputs.empty() && !graph.is_output(node.outputs[0]) && node.op != OpKind::kIf;
        std::vector<const Tensor*> const_in;
        for (const auto& i : node.inputs) {
            auto it = i.empty() ? graph.initializers.end() : graph.initializers.find(i);
            if (!i.empty() && it == graph.initializers.end()) all_const = false;
            const_in.push_back(it == graph.initializers.end() ? nullptr : &it->second);
        }
        if (all_const) {
            std::vector<Tensor> outs;
            PARE_RETURN_IF_ERROR(run_node(node, const_in, &outs));
            for (size_t o = 0; o < node.outputs.size() && o < outs.size(); ++o) {
                if (node.outputs[o].empty()) continue;
                graph.initializers[node.outputs[o]] = outs[o];
                s.constants_.emplace_back(slot_of(node.outputs[o]), outs[o]);
            }
            continue;
        }
        Step st;
        st.node = static_cast<int>(n);
        std::vector<const Tensor*> constants;
        for (const auto& i : node.inputs) {
            st.in.push_back(i.empty() ? -1 : slot_of(i));
            auto it = graph.initializers.find(i);
            constants.push_back(it == graph.initializers.end() ? nullptr : &it->second);
        }
        if (node.op == OpKind::kIf) {  // both branches prepared as Sessions of their own
            std::vector<const ValueInfo*> infos;
            for (const auto& i : node.inputs)
                infos.push_back(i.empty() ? nullptr : known_info(graph, i));
            PARE_ASSIGN_OR_RETURN(st.kernel, prepare_if(node, constants, infos, options));
            for (const auto& o : node.outputs)
                st.out.push_back(slot_of(o.empty() ? graph.unique_name("_") : o));
            s.plan_.push_back({node.name, node.op_type, st.kernel->name(), ""});
            s.steps_.push_back(std::move(st));
            continue;
        }
        std::vector<std::string> outs = node.outputs;
        PlanStep ps{node.name, node.op_type, "reference", ""};
        if (!reference) {
            std::vector<int> act_nodes;
            Activation act;
            const bool single = options.fuse && outs.size() == 1 && !graph.is_output(outs[0]);
            // Input 0's static shape, a hint for the kernel choice (shape inference has
            // run; graph inputs carry their bound shapes).
            const Shape* in_shape = nullptr;
            DType in_dtype = DType::kUndefined;
            if (const ValueInfo* vi =
                    node.inputs.empty() ? nullptr : known_info(graph, node.inputs[0])) {
                in_dtype = vi->dtype;
                bool fixed = vi->has_shape;
                for (size_t d = 0; fixed && d < vi->shape.size(); ++d) fixed = vi->shape[d] >= 0;
                if (fixed) in_shape = &vi->shape;
            }
            // A Conv whose only consumer is Add(conv, r), r computed before the Conv
            // with the same shape: the kernel adds r as it stores its results, then
            // applies the activation that follows the Add.
            std::string r;
            const int add =
                single ? fusable_residual_add(graph, consumers, static_cast<int>(n), &r) : -1;
            if (add >= 0) {
                const std::string& sum = graph.nodes[add].outputs[0];
                std::vector<int> after;
                if (!graph.is_output(sum)) after = fusable_activation(graph, consumers, sum, &act);
                st.kernel = prepare_kernel(node, constants, act, true, in_shape, in_dtype);
                if (st.kernel) {
                    act_nodes = {add};
                    act_nodes.insert(act_nodes.end(), after.begin(), after.end());
                    st.residual = slot_of(r);
                }
            }
            // Otherwise the activation that is the only consumer of a single output,
            // or one written out (fusable_activation).
            if (!st.kernel && single) {
                act = Activation{};
                act_nodes = fusable_activation(graph, consumers, outs[0], &act);
                if (!act_nodes.empty())
                    st.kernel = prepare_kernel(node, constants, act, false, in_shape, in_dtype);
                if (!st.kernel) act_nodes.clear();
            }
            if (st.kernel) {
                for (int a : act_nodes) {
                    fused_away[a] = true;
                    ps.fused += (ps.fused.empty() ? "" : "+") + graph.nodes[a].name;
                }
                outs = graph.nodes[act_nodes.back()].outputs;
            } else {
                st.kernel =
                    prepare_kernel(node, constants, Activation{}, false, in_shape, in_dtype);
            }
            if (st.kernel) ps.kernel = st.kernel->name();
        }
        for (const auto& o : outs)
            st.out.push_back(slot_of(o.empty() ? graph.unique_name("_") : o));
        s.steps_.push_back(std::move(st));
        s.plan_.push_back(ps);
    }
    for (const auto& o : graph.outputs) s.output_slots_.push_back(slot_of(o.name));
    s.graph_ = std::move(graph);
    PARE_RETURN_IF_ERROR(s.plan_memory());
    return s;
}

// Lifetimes in step indices; values sharing bytes (views, in place) form one group
// whose lifetime is the union of its members'. Groups are placed largest first at
// the lowest arena offset that overlaps no placed group alive at the same time.
Status Session::plan_memory() {
    const int S = slot_count_, T = static_cast<int>(steps_.size());
    std::vector<bool> external(S, false);  // constants and graph inputs: not in the arena
    for (const auto& c : constants_) external[c.first] = true;
    for (int i : input_slots_) external[i] = true;
    std::vector<int> def(S, -1), last(S, -1);
    for (int t = 0; t < T; ++t) {
        for (int i : steps_[t].in) {
            if (i >= 0) last[i] = t;
        }
        if (steps_[t].residual >= 0) last[steps_[t].residual] = t;
        for (int o : steps_[t].out) def[o] = t;
    }
    // Release points for unplanned runs.
    std::set<int> keep(output_slots_.begin(), output_slots_.end());
    for (const auto& c : constants_) keep.insert(c.first);
    for (int i = 0; i < S; ++i) {
        if (last[i] >= 0 && !keep.count(i)) steps_[last[i]].release.push_back(i);
    }
    for (int o : output_slots_) last[o] = T;  // outputs live to the end

    // Static shapes from inference alone (not shapes a model file declares).
    std::vector<ValueMeta> meta(S);
    for (const auto& c : constants_) meta[c.first] = ValueMeta::of(c.second);
    for (size_t i = 0; i < graph_.inputs.size(); ++i) {
        const ValueInfo& v = graph_.inputs[i];
        meta[input_slots_[i]] = {v.dtype, v.has_shape, v.shape, nullptr};
    }
    for (int t = 0; t < T; ++t) {
        const Step& st = steps_[t];
        const Node& node = graph_.nodes[st.node];
        InferContext ictx{node, {}, std::vector<ValueMeta>(node.outputs.size())};
        for (int i : st.in) ictx.in.push_back(i >= 0 ? meta[i] : ValueMeta());
        if (!op_def(node.op).infer(ictx).ok()) return Status();  // run reports it
        for (size_t o = 0; o < st.out.size(); ++o) {
            if (!is_static(ictx.out[o])) return Status();  // dynamic: allocate per node
            meta[st.out[o]] = ictx.out[o];
            meta[st.out[o]].data = nullptr;
        }
    }
    for (int i : output_slots_) {
        if (!is_static(meta[i])) return Status();
    }
    std::vector<int64_t> bytes(S, 0);
    int64_t naive = 0;
    for (int i = 0; i < S; ++i) {
        if (external[i] || def[i] < 0) continue;
        Result<int64_t> n = shape_numel(meta[i].shape);
        if (!n.ok()) return Status();
        const int64_t esize = std::max<int64_t>(1, static_cast<int64_t>(dtype_size(meta[i].dtype)));
        // Past the size limit (checked before multiplying: a hostile shape could
        // overflow): unplanned, and the per-node allocation reports the error.
        if (n.value() > tensor_byte_limit() / esize) return Status();
        bytes[i] = n.value() * esize;
        naive += bytes[i];
    }

    std::vector<int> parent(S);
    std::iota(parent.begin(), parent.end(), 0);
    std::function<int(int)> find = [&](int x) {
        return parent[x] == x ? x : parent[x] = find(parent[x]);
    };
    std::vector<int> glast = last;  // per group root: last use of any member
    for (int t = 0; t < T; ++t) {
        Step& st = steps_[t];
        const Node& node = graph_.nodes[st.node];
        if (st.in.empty() || st.in[0] < 0 || st.out.empty() || external[st.in[0]]) continue;
        const int in = st.in[0], out = st.out[0];
        if (bytes[in] != bytes[out] || meta[in].dtype != meta[out].dtype) continue;
        bool share = false;
        if (is_view_op(node.op) && !st.kernel) {
            share = true;
            ++memory_.views;
        } else if (is_in_place_op(node.op) && meta[in].dtype == DType::kFloat32 &&
                   meta[in].shape == meta[out].shape && glast[find(in)] == t) {
            share = true;
            ++memory_.in_place;
        }
        if (!share) continue;
        st.overwrites_input = true;
        const int r = find(in);
        parent[find(out)] = r;
        glast[r] = std::max(glast[r], last[out]);
    }

    struct Group {
        int root;
        int start = std::numeric_limits<int>::max(), end = -1;
        int64_t bytes = 0, offset = 0;
    };
    std::map<int, Group> groups;
    for (int i = 0; i < S; ++i) {
        if (external[i] || def[i] < 0) continue;
        Group& g = groups[find(i)];
        g.root = find(i);
        g.start = std::min(g.start, def[i]);
        g.end = std::max({g.end, last[i], def[i]});
        g.bytes = std::max(g.bytes, (bytes[i] + 63) / 64 * 64);
    }
    std::vector<Group*> order;
    for (auto& kv : groups) order.push_back(&kv.second);
    std::stable_sort(order.begin(), order.end(),
                     [](const Group* a, const Group* b) { return a->bytes > b->bytes; });
    std::vector<Group*> placed;
    int64_t arena = 0;
    for (Group* g : order) {
        std::vector<std::pair<int64_t, int64_t>> busy;
        for (const Group* p : placed) {
            if (p->start <= g->end && g->start <= p->end)
                busy.emplace_back(p->offset, p->offset + p->bytes);
        }
        std::sort(busy.begin(), busy.end());
        int64_t off = 0;
        for (const auto& b : busy) {
            if (off + g->bytes <= b.first) break;
            off = std::max(off, b.second);
        }
        g->offset = off;
        arena = std::max(arena, off + g->bytes);
        placed.push_back(g);
    }
    if (arena > tensor_byte_limit()) return Status();
    arena_ = std::shared_ptr<uint8_t>(new (std::nothrow) uint8_t[std::max<int64_t>(arena, 64) + 64],
                                      std::default_delete<uint8_t[]>());
    if (!arena_) return Status();
    const size_t align =
        (64 - reinterpret_cast<uintptr_t>(arena_.get()) % 64) % 64;  // 64-byte aligned base
    planned_.assign(S, Tensor());
    for (int i = 0; i < S; ++i) {
        if (external[i] || def[i] < 0) continue;
        planned_[i] = Tensor::view(meta[i].dtype, meta[i].shape, arena_,
                                   align + static_cast<size_t>(groups[find(i)].offset));
        ++memory_.values;
    }
    memory_.planned = true;
    memory_.arena_bytes = arena;
    memory_.naive_bytes = naive;
    return Status();
}

Status Session::run(const TensorMap& inputs, TensorMap* outputs,
                    std::vector<double>* step_ms) const {
    std::vector<Tensor> slots(slot_count_);
    for (size_t i = 0; i < graph_.inputs.size(); ++i) {
        const ValueInfo& info = graph_.inputs[i];
        auto it = inputs.find(info.name);
        if (it == inputs.end())
            return invalid_argument("input \"" + info.name + "\" was not provided");
        PARE_RETURN_IF_ERROR(check_input(info, it->second));
        slots[input_slots_[i]] = it->second;
    }
    for (const auto& kv : inputs) {
        if (!graph_.is_input(kv.first)) {
            return invalid_argument("\"" + kv.first + "\" is not an input of the model");
        }
    }
    std::lock_guard<std::mutex> lock(*run_mu_);
    for (const auto& c : constants_) slots[c.first] = c.second;
    if (step_ms) step_ms->assign(steps_.size(), 0.0);
    PARE_RETURN_IF_ERROR(memory_.planned ? run_planned(slots, step_ms)
                                         : run_dynamic(slots, step_ms));
    outputs->clear();
    for (size_t i = 0; i < graph_.outputs.size(); ++i) {
        const Tensor& t = slots[output_slots_[i]];
        // Arena bytes are reused by the next run: hand out a copy.
        (*outputs)[graph_.outputs[i].name] = memory_.planned ? t.clone() : t;
    }
    return Status();
}

Status Session::run_planned(std::vector<Tensor>& slots, std::vector<double>* step_ms) const {
    for (int i = 0; i < slot_count_; ++i) {
        if (planned_[i].defined()) slots[i] = planned_[i];
    }
    // The pointer lists live across steps (moved into each context and back), so
    // the loop allocates nothing once they have grown.
    std::vector<const Tensor*> in;
    std::vector<Tensor*> out;
    for (size_t s = 0; s < steps_.size(); ++s) {
        const Step& st = steps_[s];
        const Node& node = graph_.nodes[st.node];
        StepTimer timer(step_ms, s);
        in.clear();
        out.clear();
        for (int i : st.in) in.push_back(i >= 0 ? &slots[i] : nullptr);
        if (st.residual >= 0) in.push_back(&slots[st.residual]);
        for (int o : st.out) out.push_back(&slots[o]);
        ComputeContext c{node, std::move(in), std::move(out), pool_.get()};
        Status status;
        if (st.kernel) {
            status = st.kernel->run(c);
        } else {
            // Reference kernels may count on zero-filled outputs, as Tensor::create gives.
            if (!st.overwrites_input) {
                for (Tensor* t : c.out) std::memset(t->raw(), 0, t->nbytes());
            }
            status = op_def(node.op).compute(c);
        }
        PARE_RETURN_IF_ERROR(status.with_context(node.where()));
        in = std::move(c.in);
        out = std::move(c.out);
    }
    return Status();
}

Status Session::run_dynamic(std::vector<Tensor>& slots, std::vector<double>* step_ms) const {
    std::vector<const Tensor*> in;
    std::vector<Tensor> out;
    for (size_t s = 0; s < steps_.size(); ++s) {
        const Step& st = steps_[s];
        const Node& node = graph_.nodes[st.node];
        StepTimer timer(step_ms, s);
        in.clear();
        for (int i : st.in) in.push_back(i >= 0 ? &slots[i] : nullptr);
        if (node.op == OpKind::kIf) {
            out.assign(node.outputs.size(), Tensor());  // the branch's outputs are handed over
        } else {
            PARE_RETURN_IF_ERROR(infer_and_allocate(node, in, &out));
        }
        if (st.residual >= 0) in.push_back(&slots[st.residual]);
        ComputeContext c{node, in, {}, pool_.get()};
        for (auto& t : out) c.out.push_back(&t);
        if (st.kernel) {
            PARE_RETURN_IF_ERROR(st.kernel->run(c).with_context(node.where()));
        } else {
            PARE_RETURN_IF_ERROR(op_def(node.op).compute(c).with_context(node.where()));
        }
        for (size_t o = 0; o < out.size(); ++o) slots[st.out[o]] = std::move(out[o]);
        for (int r : st.release) slots[r] = Tensor();
    }
    return Status();
}

}  // namespace pare
