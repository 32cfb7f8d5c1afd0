#include "runtime/ir/passes/passes.h"
#include "runtime/ops/op_util.h"

namespace pare {

Result<int> free_batch_dim(Graph& g) {
    if (g.inputs.empty()) return 0;
    for (const auto& i : g.inputs) {
        if (!i.has_shape || i.shape.empty() || i.shape[0] < 0) return 0;  // nothing fixed to free
    }
    for (const auto& n : g.nodes) {
        // A branch decided on a whole batch (a cascade's If) is only right for the
        // batch the graph was written for.
        if (n.op_type == "If") return 0;
    }
    const int64_t b0 = g.inputs[0].shape[0];
    for (const auto& i : g.inputs) {
        if (i.shape[0] != b0) return 0;  // inputs disagree on a batch: leave the graph alone
    }
    // Shape chains computing Reshape targets become constants while the batch is fixed.
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(fold_constants(g).status());
    Graph probe = g;
    PARE_RETURN_IF_ERROR(probe.resolve_ops());
    PARE_RETURN_IF_ERROR(probe.topo_sort());
    PARE_RETURN_IF_ERROR(infer_shapes(probe));
    auto dim0 = [&](const std::string& v) -> int64_t {
        for (const auto& i : probe.inputs) {
            if (i.name == v) return i.shape[0];
        }
        auto it = probe.value_info.find(v);
        return it != probe.value_info.end() && it->second.has_shape && !it->second.shape.empty()
                   ? it->second.shape[0]
                   : -1;
    };
    int rewritten = 0;
    for (auto& n : g.nodes) {
        if (n.op_type != "Reshape" || n.attrs.get_int("allowzero", 0) != 0 ||
            !g.is_initializer(n.input(1)))
            continue;
        const Tensor& spec = g.initializers.at(n.input(1));
        if (spec.rank() != 1 || spec.numel() < 1 || spec.at_int64(0) != b0) continue;
        if (dim0(n.input(0)) != b0 || dim0(n.outputs[0]) != b0) continue;
        std::vector<int64_t> s = to_int64s(spec);
        s[0] = 0;  // copy the input's (batch) dimension
        const std::string name = g.unique_name(n.input(1) + "_anybatch");
        g.initializers[name] = Tensor::from_vector<int64_t>(s, {static_cast<int64_t>(s.size())});
        n.inputs[1] = name;
        ++rewritten;
    }
    for (auto& i : g.inputs) {
        i.shape[0] = -1;
        if (i.dim_params.size() == i.shape.size()) i.dim_params[0] = "N";
    }
    for (auto& o : g.outputs) {
        if (o.has_shape && !o.shape.empty() && o.shape[0] == b0) o.shape[0] = -1;
    }
    g.value_info.clear();  // shapes with the old batch are stale
    return rewritten;
}

}  // namespace pare
