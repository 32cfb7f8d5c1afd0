#include "runtime/ir/passes/passes.h"

namespace pare {

namespace {

void rename_uses(Graph& g, const std::string& from, const std::string& to) {
    for (auto& n : g.nodes) {
        for (auto& i : n.inputs) {
            if (i == from) i = to;
        }
    }
}

}  // namespace

Result<int> remove_identity(Graph& g) {
    int removed = 0;
    for (size_t n = 0; n < g.nodes.size();) {
        Node& node = g.nodes[n];
        const bool dropout_plain = node.op == OpKind::kDropout &&
                                   (node.outputs.size() < 2 || node.outputs[1].empty()) &&
                                   !(node.inputs.size() > 2 && !node.inputs[2].empty());
        if ((node.op != OpKind::kIdentity && !dropout_plain) || node.input(0).empty()) {
            ++n;
            continue;
        }
        const std::string x = node.inputs[0], y = node.outputs[0];
        if (!g.is_output(y)) {
            rename_uses(g, y, x);
        } else {
            // y must keep its name: rename x to y, if x is an intermediate value used
            // only as a plain value (not a graph input, output or initializer).
            const int p = g.producer_of(x);
            if (p < 0 || g.is_output(x)) {
                ++n;
                continue;
            }
            for (auto& o : g.nodes[p].outputs) {
                if (o == x) o = y;
            }
            rename_uses(g, x, y);
            auto vi = g.value_info.find(x);
            if (vi != g.value_info.end()) {
                ValueInfo moved = vi->second;
                moved.name = y;
                g.value_info.erase(vi);
                g.value_info[y] = moved;
            }
        }
        if (!g.is_output(y)) g.value_info.erase(y);
        g.nodes.erase(g.nodes.begin() + static_cast<long>(n));
        ++removed;
    }
    return removed;
}

}  // namespace pare
