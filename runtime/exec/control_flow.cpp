// If: two prepared branch Sessions; see control_flow.h.
#include "runtime/exec/control_flow.h"

#include <cstring>

#include "runtime/ir/passes/passes.h"

namespace pare {

namespace {

struct Branch {
    Session session;
    std::vector<std::pair<size_t, std::string>> feeds;  // node input -> branch input
};

class IfKernel : public PreparedKernel {
  public:
    IfKernel(Branch yes, Branch no) : yes_(std::move(yes)), no_(std::move(no)) {}

    std::string name() const override {
        return "if (then " + std::to_string(yes_.session.plan().size()) + " steps, else " +
               std::to_string(no_.session.plan().size()) + ")";
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& c = *ctx.in[0];
        if (c.numel() != 1 || c.dtype() != DType::kBool)
            return invalid_argument("the condition " + shape_str(c.shape()) + " must be one bool");
        const Branch& b = c.data<uint8_t>()[0] != 0 ? yes_ : no_;
        TensorMap in, out;
        for (const auto& [i, name] : b.feeds) in[name] = *ctx.in[i];
        PARE_RETURN_IF_ERROR(b.session.run(in, &out));
        const Graph& g = b.session.graph();
        for (size_t o = 0; o < ctx.out.size(); ++o) {
            const Tensor& t = out.at(g.outputs[o].name);
            Tensor& dst = *ctx.out[o];
            if (!dst.defined()) {
                dst = t;
                continue;
            }
            if (dst.shape() != t.shape() || dst.dtype() != t.dtype())
                return invalid_argument("branch output \"" + g.outputs[o].name + "\" is " +
                                        shape_str(t.shape()) + ", the node's output " +
                                        shape_str(dst.shape()));
            std::memcpy(dst.raw(), t.raw(), t.nbytes());
        }
        return Status();
    }

  private:
    Branch yes_, no_;
};

Result<Branch> prepare_branch(const Graph& branch, const std::string& which,
                              const std::vector<const Tensor*>& constants,
                              const std::vector<const ValueInfo*>& infos,
                              const SessionOptions& options) {
    Branch b;
    Graph g = branch;
    // The passes edit tensors in place; the node keeps its own.
    for (auto& kv : g.initializers) kv.second = kv.second.clone();
    std::vector<ValueInfo> inputs;
    for (size_t i = 0; i < g.inputs.size(); ++i) {
        const size_t k = i + 1;  // node input 0 is the condition
        ValueInfo v = g.inputs[i];
        if (k < constants.size() && constants[k]) {
            g.initializers[v.name] = constants[k]->clone();
            continue;
        }
        if (k < infos.size() && infos[k]) {
            v.dtype = infos[k]->dtype;
            v.has_shape = infos[k]->has_shape;
            v.shape = infos[k]->shape;
            v.dim_params.assign(v.shape.size(), "");
        }
        b.feeds.emplace_back(k, v.name);
        inputs.push_back(v);
    }
    g.inputs = inputs;
    Status s = g.resolve_ops();
    if (s.ok()) s = run_default_passes(g);
    Result<Session> r = s.ok() ? Session::prepare(std::move(g), options) : Result<Session>(s);
    if (!r.ok()) return r.status().with_context(which);
    b.session = std::move(r).value();
    return b;
}

}  // namespace

Result<std::unique_ptr<PreparedKernel>> prepare_if(const Node& node,
                                                   const std::vector<const Tensor*>& constants,
                                                   const std::vector<const ValueInfo*>& infos,
                                                   const SessionOptions& options) {
    const Graph* yes = node.attrs.get_graph("then_branch");
    const Graph* no = node.attrs.get_graph("else_branch");
    if (!yes || !no) return invalid_argument(node.where() + ": needs then_branch and else_branch");
    PARE_ASSIGN_OR_RETURN(
        Branch y, prepare_branch(*yes, node.where() + " then_branch", constants, infos, options));
    PARE_ASSIGN_OR_RETURN(
        Branch n, prepare_branch(*no, node.where() + " else_branch", constants, infos, options));
    return std::unique_ptr<PreparedKernel>(new IfKernel(std::move(y), std::move(n)));
}

}  // namespace pare
