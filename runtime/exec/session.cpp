#include "runtime/exec/session.h"

#include <cstdlib>
#include <set>

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
}  // namespace

Status run_node(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>* outputs, bool reference) {
    if (node.op == OpKind::kUnknown) return unsupported(node.where() + ": op is not supported");
    if (node.outputs.empty()) return invalid_argument(node.where() + " has no output");
    const OpDef& def = op_def(node.op);
    InferContext ictx{node, {}, std::vector<ValueMeta>(node.outputs.size())};
    ictx.in.reserve(inputs.size());
    for (const Tensor* t : inputs) ictx.in.push_back(t ? ValueMeta::of(*t) : ValueMeta());
    PARE_RETURN_IF_ERROR(def.infer(ictx).with_context(node.where()));
    outputs->assign(node.outputs.size(), Tensor());
    ComputeContext cctx{node, inputs, {}};
    for (size_t i = 0; i < node.outputs.size(); ++i) {
        const ValueMeta& m = ictx.out[i];
        if (!m.shape_known() || m.dtype == DType::kUndefined) {
            return internal_error(node.where() + ": output " + std::to_string(i) +
                                  " shape not determined from concrete inputs");
        }
        Result<Tensor> r = Tensor::create(m.dtype, m.shape);
        if (!r.ok()) return r.status().with_context(node.where());
        (*outputs)[i] = std::move(r).value();
        cctx.out.push_back(&(*outputs)[i]);
    }
    ComputeFn fast = (reference || reference_requested()) ? nullptr : fast_compute(node.op);
    if (fast && node.op == OpKind::kConv && inputs[0]->dtype() != DType::kFloat32) fast = nullptr;
    return (fast ? fast : def.compute)(cctx).with_context(node.where());
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

Result<Session> Session::prepare(Graph graph) {
    PARE_RETURN_IF_ERROR(graph.resolve_ops());
    PARE_RETURN_IF_ERROR(verify(graph));
    PARE_RETURN_IF_ERROR(graph.topo_sort());
    PARE_RETURN_IF_ERROR(infer_shapes(graph));
    Session s;
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
    for (const auto& n : graph.nodes) {
        std::vector<int> ins, outs;
        for (const auto& i : n.inputs) ins.push_back(i.empty() ? -1 : slot_of(i));
        for (const auto& o : n.outputs)
            outs.push_back(slot_of(o.empty() ? graph.unique_name("_unused") : o));
        s.node_inputs_.push_back(ins);
        s.node_outputs_.push_back(outs);
    }
    for (const auto& o : graph.outputs) s.output_slots_.push_back(slot_of(o.name));
    // Lifetimes: a slot is released after its last consumer unless it is an output or constant.
    std::set<int> keep(s.output_slots_.begin(), s.output_slots_.end());
    for (const auto& c : s.constants_) keep.insert(c.first);
    std::vector<int> last(s.slot_count_, -1);
    for (size_t n = 0; n < s.node_inputs_.size(); ++n) {
        for (int i : s.node_inputs_[n]) {
            if (i >= 0) last[i] = static_cast<int>(n);
        }
    }
    s.release_after_.resize(graph.nodes.size());
    for (int i = 0; i < s.slot_count_; ++i) {
        if (last[i] >= 0 && !keep.count(i)) s.release_after_[last[i]].push_back(i);
    }
    s.graph_ = std::move(graph);
    return s;
}

Status Session::run(const TensorMap& inputs, TensorMap* outputs) const {
    std::vector<Tensor> slots(slot_count_);
    for (const auto& c : constants_) slots[c.first] = c.second;
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
    std::vector<const Tensor*> in;
    std::vector<Tensor> out;
    for (size_t n = 0; n < graph_.nodes.size(); ++n) {
        in.clear();
        for (int i : node_inputs_[n]) in.push_back(i >= 0 ? &slots[i] : nullptr);
        PARE_RETURN_IF_ERROR(run_node(graph_.nodes[n], in, &out));
        for (size_t o = 0; o < out.size(); ++o) slots[node_outputs_[n][o]] = std::move(out[o]);
        for (int r : release_after_[n]) slots[r] = Tensor();
    }
    outputs->clear();
    for (size_t i = 0; i < graph_.outputs.size(); ++i) {
        (*outputs)[graph_.outputs[i].name] = slots[output_slots_[i]];
    }
    return Status();
}

}  // namespace pare
