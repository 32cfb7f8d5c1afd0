#include <set>

#include "runtime/ir/passes/passes.h"
#include "runtime/ops/op.h"

namespace pare {

namespace {

ValueMeta meta_of(const Graph& g, const std::string& name) {
    auto init = g.initializers.find(name);
    if (init != g.initializers.end()) return ValueMeta::of(init->second);
    for (const auto& i : g.inputs) {
        if (i.name == name) return {i.dtype, i.has_shape, i.shape, nullptr};
    }
    auto it = g.value_info.find(name);
    if (it != g.value_info.end())
        return {it->second.dtype, it->second.has_shape, it->second.shape, nullptr};
    return {};
}

}  // namespace

Status infer_shapes(Graph& g) {
    for (const auto& n : g.nodes) {
        if (n.outputs.empty()) return invalid_argument(n.where() + " has no output");
        InferContext ctx{n, {}, std::vector<ValueMeta>(n.outputs.size())};
        for (const auto& i : n.inputs) {
            if (i.empty()) {
                ctx.in.emplace_back();
                continue;
            }
            ValueMeta m = meta_of(g, i);
            if (m.dtype == DType::kUndefined) {
                return invalid_argument(n.where() + ": the type of input \"" + i + "\" is unknown");
            }
            ctx.in.push_back(m);
        }
        PARE_RETURN_IF_ERROR(op_def(n.op).infer(ctx).with_context(n.where()));
        for (size_t o = 0; o < n.outputs.size(); ++o) {
            if (n.outputs[o].empty()) continue;
            ValueInfo& vi = g.value_info[n.outputs[o]];
            const ValueMeta& m = ctx.out[o];
            const bool had = vi.has_shape && vi.shape.size() == m.shape.size();
            Shape declared = had ? vi.shape : Shape();
            vi.name = n.outputs[o];
            vi.dtype = m.dtype;
            vi.has_shape = m.has_shape || vi.has_shape;
            if (m.has_shape) {
                vi.shape = m.shape;
                // Keep a dim the model declared when inference could not find it.
                for (size_t d = 0; had && d < vi.shape.size(); ++d) {
                    if (vi.shape[d] < 0) vi.shape[d] = declared[d];
                }
            }
            vi.dim_params.resize(vi.shape.size());
        }
    }
    for (auto& o : g.outputs) {
        ValueMeta m = meta_of(g, o.name);
        if (m.dtype != DType::kUndefined) {
            if (o.dtype != DType::kUndefined && o.dtype != m.dtype) {
                return invalid_argument("graph output \"" + o.name + "\" is declared " +
                                        dtype_name(o.dtype) + " but computed as " +
                                        dtype_name(m.dtype));
            }
            o.dtype = m.dtype;
            if (m.has_shape) {
                if (!o.has_shape || o.shape.size() != m.shape.size()) {
                    o.shape = m.shape;
                    o.dim_params.assign(m.shape.size(), "");
                } else {
                    for (size_t d = 0; d < m.shape.size(); ++d) {
                        if (m.shape[d] >= 0) o.shape[d] = m.shape[d];
                    }
                }
                o.has_shape = true;
            }
        }
    }
    return Status();
}

}  // namespace pare
