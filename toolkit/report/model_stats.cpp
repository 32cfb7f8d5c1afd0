#include "toolkit/report/model_stats.h"

namespace pare {

namespace {

const Shape* shape_of(const Graph& g, const std::string& v) {
    if (g.is_initializer(v)) return &g.initializers.at(v).shape();
    for (const auto& i : g.inputs) {
        if (i.name == v) return i.has_shape ? &i.shape : nullptr;
    }
    auto it = g.value_info.find(v);
    return it != g.value_info.end() && it->second.has_shape ? &it->second.shape : nullptr;
}

int64_t product(const Shape& s, size_t from, size_t to) {
    int64_t p = 1;
    for (size_t i = from; i < to && i < s.size(); ++i) {
        if (s[i] < 0) return -1;
        p *= s[i];
    }
    return p;
}

}  // namespace

ModelStats compute_stats(const Graph& g) {
    ModelStats st;
    for (const auto& n : g.nodes) ++st.op_counts[n.op_type];
    for (const auto& kv : g.initializers) {
        st.parameters += kv.second.numel();
        st.bytes_by_dtype[dtype_name(kv.second.dtype())] +=
            static_cast<int64_t>(kv.second.nbytes());
    }
    for (const auto& n : g.nodes) {
        NodeStats ns;
        ns.name = n.name;
        ns.op = n.op_type;
        if (!n.outputs.empty()) {
            if (const Shape* s = shape_of(g, n.outputs[0])) ns.output = *s;
        }
        for (const auto& i : n.inputs) {
            if (!i.empty() && g.is_initializer(i)) ns.params += g.initializers.at(i).numel();
        }
        st.nodes.push_back(ns);
        int64_t macs = 0;
        if (n.op == OpKind::kConv || n.op == OpKind::kConvTranspose) {
            const Shape* w = shape_of(g, n.input(1));
            const Shape* big = shape_of(g, n.op == OpKind::kConv ? n.outputs[0] : n.input(0));
            if (!w || !big) {
                st.macs_complete = false;
                continue;
            }
            // Conv: every output element takes C/g * k MACs; ConvTranspose: every input element.
            const int64_t per = product(*w, 1, w->size());
            const int64_t cnt = product(*big, 0, big->size());
            if (per < 0 || cnt < 0) {
                st.macs_complete = false;
                continue;
            }
            macs = cnt * per;
        } else if (n.op == OpKind::kGemm || n.op == OpKind::kMatMul) {
            const Shape* a = shape_of(g, n.input(0));
            const Shape* y = shape_of(g, n.outputs[0]);
            if (!a || !y || a->empty()) {
                st.macs_complete = false;
                continue;
            }
            const bool ta = n.op == OpKind::kGemm && n.attrs.get_int("transA", 0) != 0;
            const int64_t K = ta ? (*a)[0] : a->back();
            const int64_t cnt = product(*y, 0, y->size());
            if (K < 0 || cnt < 0) {
                st.macs_complete = false;
                continue;
            }
            macs = cnt * K;
        }
        st.macs += macs;
        st.nodes.back().macs = macs;
    }
    return st;
}

}  // namespace pare
