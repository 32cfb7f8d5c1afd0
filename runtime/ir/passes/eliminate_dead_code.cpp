#include <set>

#include "runtime/ir/passes/passes.h"

namespace pare {

Result<int> eliminate_dead_code(Graph& g) {
    std::set<std::string> live;
    for (const auto& o : g.outputs) live.insert(o.name);
    std::vector<bool> keep(g.nodes.size(), false);
    // Walk backwards until no new node becomes live (nodes need not be sorted).
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t n = g.nodes.size(); n-- > 0;) {
            if (keep[n]) continue;
            for (const auto& o : g.nodes[n].outputs) {
                if (!o.empty() && live.count(o)) {
                    keep[n] = true;
                    break;
                }
            }
            if (!keep[n]) continue;
            changed = true;
            for (const auto& i : g.nodes[n].inputs) {
                if (!i.empty()) live.insert(i);
            }
        }
    }
    std::vector<Node> kept;
    int removed = 0;
    for (size_t n = 0; n < g.nodes.size(); ++n) {
        if (keep[n]) {
            kept.push_back(std::move(g.nodes[n]));
        } else {
            ++removed;
        }
    }
    g.nodes = std::move(kept);
    for (auto it = g.initializers.begin(); it != g.initializers.end();) {
        it = live.count(it->first) ? std::next(it) : g.initializers.erase(it);
    }
    for (auto it = g.value_info.begin(); it != g.value_info.end();) {
        it = live.count(it->first) ? std::next(it) : g.value_info.erase(it);
    }
    return removed;
}

}  // namespace pare
