#include "runtime/exec/session.h"
#include "runtime/ir/passes/passes.h"
#include "runtime/ops/op_util.h"

namespace pare {

namespace {

// Ops whose folded output can be far larger than their inputs: folding them would
// bloat the model file, so they are folded only when the result is small. A
// weight's DequantizeLinear stays a node unless tiny (and always when it feeds a
// Conv, Gemm or MatMul as their weight, see weight_dq): the file keeps its 8-bit
// bytes, and the session computes it once at prepare.
int64_t max_fold(OpKind op) {
    if (op == OpKind::kDequantizeLinear) return 1024;
    if (op == OpKind::kConstantOfShape || op == OpKind::kExpand) return 1 << 16;
    return -1;  // any size
}

bool shape_fully_known(const Graph& g, const std::string& v) {
    for (const auto& i : g.inputs) {
        if (i.name != v) continue;
        if (!i.has_shape) return false;
        for (int64_t d : i.shape) {
            if (d < 0) return false;
        }
        return true;
    }
    auto it = g.value_info.find(v);
    if (it == g.value_info.end() || !it->second.has_shape) return false;
    for (int64_t d : it->second.shape) {
        if (d < 0) return false;
    }
    return true;
}

const Shape& known_shape(const Graph& g, const std::string& v) {
    for (const auto& i : g.inputs) {
        if (i.name == v) return i.shape;
    }
    return g.value_info.at(v).shape;
}

// A DequantizeLinear giving a Conv's, Gemm's or MatMul's weight (input 1): the
// session's integer fusions read its 8-bit tensor and scales (fuse_qdq_activations),
// so it stays a node at any size.
bool weight_dq(const Graph& g, const Node& n,
               const std::map<std::string, std::vector<int>>& consumers) {
    if (n.op != OpKind::kDequantizeLinear || n.outputs.size() != 1) return false;
    auto it = consumers.find(n.outputs[0]);
    if (it == consumers.end()) return false;
    for (int c : it->second) {
        const Node& u = g.nodes[c];
        if ((u.op == OpKind::kConv || u.op == OpKind::kGemm || u.op == OpKind::kMatMul) &&
            u.input(1) == n.outputs[0])
            return true;
    }
    return false;
}

// One sweep in topological order; returns the number of nodes folded.
Result<int> fold_sweep(Graph& g) {
    int folded = 0;
    std::vector<Node> kept;
    const auto consumers = g.consumers();
    for (auto& n : g.nodes) {
        if (weight_dq(g, n, consumers)) {
            kept.push_back(std::move(n));
            continue;
        }
        std::vector<Tensor> outs;
        bool done = false;
        if (n.op == OpKind::kShape && !g.is_initializer(n.input(0)) &&
            shape_fully_known(g, n.input(0))) {
            const Shape& s = known_shape(g, n.input(0));
            int64_t b, e;
            shape_op_range(n, static_cast<int64_t>(s.size()), &b, &e);
            outs.push_back(Tensor::from_vector<int64_t>(
                std::vector<int64_t>(s.begin() + b, s.begin() + e), {e - b}));
            done = true;
        } else if (n.op != OpKind::kUnknown && n.op != OpKind::kIf) {
            bool all_const = !n.inputs.empty() || n.op == OpKind::kConstant;
            std::vector<const Tensor*> in;
            for (const auto& i : n.inputs) {
                if (i.empty()) {
                    in.push_back(nullptr);
                } else if (g.is_initializer(i)) {
                    in.push_back(&g.initializers.at(i));
                } else {
                    all_const = false;
                }
            }
            if (all_const) {
                PARE_RETURN_IF_ERROR(run_node(n, in, &outs));
                int64_t total = 0;
                for (const auto& t : outs) total += t.numel();
                done = max_fold(n.op) < 0 || total <= max_fold(n.op);
            }
        }
        if (!done) {
            kept.push_back(std::move(n));
            continue;
        }
        ++folded;
        for (size_t o = 0; o < n.outputs.size(); ++o) {
            if (n.outputs[o].empty()) continue;
            g.initializers[n.outputs[o]] = outs[o];
            g.value_info.erase(n.outputs[o]);
        }
    }
    g.nodes = std::move(kept);
    return folded;
}

}  // namespace

Result<int> fold_constants(Graph& g) {
    PARE_RETURN_IF_ERROR(g.topo_sort());
    int total = 0;
    for (int iter = 0; iter < 32; ++iter) {
        PARE_RETURN_IF_ERROR(infer_shapes(g));
        PARE_ASSIGN_OR_RETURN(int n, fold_sweep(g));
        total += n;
        if (n == 0) break;
    }
    return total;
}

}  // namespace pare
