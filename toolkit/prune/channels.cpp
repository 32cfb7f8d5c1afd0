// The channel analysis of structured pruning (channels.h).
#include "toolkit/prune/channels.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace pare {

int ChannelAnalysis::fresh() {
    parent_.push_back(static_cast<int>(parent_.size()));
    frozen_.push_back(0);
    why_.emplace_back();
    return parent_.back();
}

int ChannelAnalysis::find(int id) const {
    while (parent_[static_cast<size_t>(id)] != id) {
        parent_[static_cast<size_t>(id)] = parent_[static_cast<size_t>(parent_[id])];
        id = parent_[static_cast<size_t>(id)];
    }
    return id;
}

void ChannelAnalysis::unite(int a, int b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    if (b < a) std::swap(a, b);
    parent_[static_cast<size_t>(b)] = a;
    if (frozen_[static_cast<size_t>(b)] && !frozen_[static_cast<size_t>(a)]) {
        frozen_[static_cast<size_t>(a)] = 1;
        why_[static_cast<size_t>(a)] = why_[static_cast<size_t>(b)];
    }
}

void ChannelAnalysis::freeze(int id, const std::string& why) {
    const auto r = static_cast<size_t>(find(id));
    if (frozen_[r]) return;
    frozen_[r] = 1;
    why_[r] = why;
}

void ChannelAnalysis::freeze_all(const std::vector<int>& ids, const std::string& why) {
    for (int id : ids) freeze(id, why);
}

namespace {

bool one_of(OpKind op, std::initializer_list<OpKind> ops) {
    return std::find(ops.begin(), ops.end(), op) != ops.end();
}

// Ops that pass each channel through unchanged (elementwise on one tensor, or
// spatial only); their other inputs, if any, are scalars or spatial parameters.
bool passes_channels(OpKind op) {
    return one_of(op, {OpKind::kRelu,
                       OpKind::kClip,
                       OpKind::kSigmoid,
                       OpKind::kHardSigmoid,
                       OpKind::kHardSwish,
                       OpKind::kLeakyRelu,
                       OpKind::kElu,
                       OpKind::kTanh,
                       OpKind::kSoftplus,
                       OpKind::kAbs,
                       OpKind::kNeg,
                       OpKind::kExp,
                       OpKind::kIdentity,
                       OpKind::kDropout,
                       OpKind::kMaxPool,
                       OpKind::kAveragePool,
                       OpKind::kGlobalAveragePool,
                       OpKind::kGlobalMaxPool,
                       OpKind::kResize,
                       OpKind::kPad,
                       OpKind::kErf});
}

bool broadcasts(OpKind op) {
    return one_of(op, {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMax,
                       OpKind::kMin, OpKind::kSum, OpKind::kPRelu, OpKind::kPow});
}

}  // namespace

// Walks the graph once, filling the analysis.
struct ChannelWalker {
    const Graph& g;
    ChannelAnalysis& a;
    std::map<std::string, std::vector<int>> ids;  // per tracked value

    const Shape* shape_of(const std::string& v) const {
        if (g.is_initializer(v)) return &g.initializers.at(v).shape();
        for (const auto& i : g.inputs)
            if (i.name == v) return i.has_shape ? &i.shape : nullptr;
        const auto it = g.value_info.find(v);
        return it != g.value_info.end() && it->second.has_shape ? &it->second.shape : nullptr;
    }
    // Channels of v (dim 1 of a rank >= 2 value), or -1.
    int64_t channels_of(const std::string& v) const {
        const Shape* s = shape_of(v);
        return s && s->size() >= 2 ? (*s)[1] : -1;
    }
    const Tensor* init(const std::string& v) const {
        const auto it = g.initializers.find(v);
        return it == g.initializers.end() ? nullptr : &it->second;
    }
    std::vector<int> make(int64_t n, const std::string& frozen_by = "") {
        std::vector<int> v(static_cast<size_t>(std::max<int64_t>(0, n)));
        for (auto& id : v) {
            id = a.fresh();
            if (!frozen_by.empty()) a.freeze(id, frozen_by);
        }
        return v;
    }
    const std::vector<int>* tracked(const std::string& v) const {
        const auto it = ids.find(v);
        return it == ids.end() ? nullptr : &it->second;
    }
    // Outputs of a node the analysis does not follow: fresh frozen ids, and its
    // inputs' ids frozen.
    void opaque(const Node& n) {
        const std::string why = "node \"" + n.name + "\" (" + n.op_type + ")";
        for (const auto& i : n.inputs)
            if (const auto* t = tracked(i)) a.freeze_all(*t, why);
        for (const auto& o : n.outputs) {
            const int64_t c = channels_of(o);
            if (!o.empty() && c > 0) ids[o] = make(c, why);
        }
    }
    void slot(ChannelSlot::Kind kind, int node, int input, int axis, std::vector<int> v) {
        ChannelSlot s;
        s.kind = kind;
        s.node = node;
        s.input = input;
        s.axis = axis;
        s.ids = std::move(v);
        a.slots_.push_back(std::move(s));
    }

    bool conv(const Node& n, int idx) {
        const Tensor* w = init(n.input(1));
        const auto* x = tracked(n.input(0));
        if (!w || w->rank() < 3 || !x || w->dtype() != DType::kFloat32) return false;
        const int64_t group = n.attrs.get_int("group", 1);
        const int64_t cin = w->shape()[1] * group, cout = w->shape()[0];
        if (static_cast<int64_t>(x->size()) != cin) return false;
        const Tensor* b = n.input(2).empty() ? nullptr : init(n.input(2));
        if (!n.input(2).empty() && !b) return false;
        if (group == 1) {
            slot(ChannelSlot::kRead, idx, 1, 1, *x);
            ids[n.outputs[0]] = make(cout);
            slot(ChannelSlot::kMake, idx, 1, 0, ids[n.outputs[0]]);
            return true;
        }
        if (group == cin && cout == cin) {
            slot(ChannelSlot::kDepthwise, idx, 1, 0, *x);
            ids[n.outputs[0]] = *x;
            return true;
        }
        return false;
    }

    // Gemm (transA 0) or MatMul with a constant 2-D weight on a 2-D input.
    bool dense(const Node& n, int idx) {
        const Tensor* w = init(n.input(1));
        const auto* x = tracked(n.input(0));
        const Shape* xs = shape_of(n.input(0));
        if (!w || w->rank() != 2 || !x || !xs || xs->size() != 2 || w->dtype() != DType::kFloat32)
            return false;
        const bool gemm = n.op == OpKind::kGemm;
        if (gemm && n.attrs.get_int("transA", 0) != 0) return false;
        const bool tb = gemm && n.attrs.get_int("transB", 0) != 0;
        const int64_t k = w->shape()[tb ? 1 : 0], nout = w->shape()[tb ? 0 : 1];
        if (static_cast<int64_t>(x->size()) != k) return false;
        if (gemm && !n.input(2).empty()) {
            const Tensor* c = init(n.input(2));
            if (!c || c->numel() != nout) return false;  // a bias per output, or no slicing
        }
        slot(ChannelSlot::kRead, idx, 1, tb ? 1 : 0, *x);
        ids[n.outputs[0]] = make(nout);
        slot(ChannelSlot::kMake, idx, 1, tb ? 0 : 1, ids[n.outputs[0]]);
        return true;
    }

    bool binary(const Node& n, int idx) {
        const Shape* os = shape_of(n.outputs[0]);
        if (!os || os->size() < 2) return false;
        const int64_t c = (*os)[1];
        const size_t r = os->size();
        const std::vector<int>* base = nullptr;
        for (const auto& i : n.inputs) {
            const Shape* s = shape_of(i);
            if (!init(i) && s && s->size() == r && (*s)[1] == c && tracked(i)) {
                base = tracked(i);
                break;
            }
        }
        if (!base || static_cast<int64_t>(base->size()) != c) return false;
        const std::vector<int> out = *base;
        for (size_t k = 0; k < n.inputs.size(); ++k) {
            const std::string& i = n.inputs[k];
            const Shape* s = shape_of(i);
            if (!s) return false;
            const int64_t p = static_cast<int64_t>(s->size()) - static_cast<int64_t>(r - 1);
            if (p < 0 || (*s)[static_cast<size_t>(p)] == 1) continue;  // broadcast over channels
            if ((*s)[static_cast<size_t>(p)] != c) return false;
            if (init(i)) {
                slot(ChannelSlot::kParam, idx, static_cast<int>(k), static_cast<int>(p), out);
                continue;
            }
            const auto* t = tracked(i);
            if (!t || p != 1) return false;
            for (size_t j = 0; j < out.size(); ++j) a.unite(out[j], (*t)[j]);
        }
        ids[n.outputs[0]] = out;
        return true;
    }

    bool batchnorm(const Node& n, int idx) {
        const auto* x = tracked(n.input(0));
        if (!x) return false;
        for (int k = 1; k <= 4; ++k) {
            const Tensor* t = init(n.input(k));
            if (!t || t->numel() != static_cast<int64_t>(x->size())) return false;
        }
        for (int k = 1; k <= 4; ++k) slot(ChannelSlot::kParam, idx, k, 0, *x);
        ids[n.outputs[0]] = *x;
        return true;
    }

    // Flatten (axis 1) or Reshape of (N, C, H, W) into (N, C*H*W).
    bool flatten(const Node& n, int idx) {
        const auto* x = tracked(n.input(0));
        const Shape* xs = shape_of(n.input(0));
        const Shape* os = shape_of(n.outputs[0]);
        if (!x || !xs || !os || os->size() != 2 || xs->size() < 2) return false;
        int64_t hw = 1;
        for (size_t d = 2; d < xs->size(); ++d) hw *= (*xs)[d];
        if (hw <= 0 || (*os)[1] != static_cast<int64_t>(x->size()) * hw || (*os)[0] != (*xs)[0])
            return false;
        if (n.op == OpKind::kFlatten && n.attrs.get_int("axis", 1) != 1) return false;
        if (n.op == OpKind::kReshape) {
            const Tensor* s = init(n.input(1));
            if (!s || s->numel() != 2 || s->at_int64(0) == -1 || s->at_int64(0) == 0 ||
                n.attrs.get_int("allowzero", 0) != 0)
                return false;
            slot(ChannelSlot::kReshape, idx, 1, 0, *x);
        }
        std::vector<int> out;
        out.reserve(x->size() * static_cast<size_t>(hw));
        for (int id : *x) out.insert(out.end(), static_cast<size_t>(hw), id);
        ids[n.outputs[0]] = std::move(out);
        return true;
    }

    bool concat(const Node& n) {
        const Shape* os = shape_of(n.outputs[0]);
        if (!os) return false;
        int64_t axis = n.attrs.get_int("axis", 0);
        if (axis < 0) axis += static_cast<int64_t>(os->size());
        if (axis != 1) return false;
        std::vector<int> out;
        for (const auto& i : n.inputs) {
            const auto* t = tracked(i);
            if (!t) return false;
            out.insert(out.end(), t->begin(), t->end());
        }
        if (static_cast<int64_t>(out.size()) != (*os)[1]) return false;
        ids[n.outputs[0]] = std::move(out);
        return true;
    }

    bool split(const Node& n, int idx) {
        const auto* x = tracked(n.input(0));
        const Shape* xs = shape_of(n.input(0));
        if (!x || !xs) return false;
        int64_t axis = n.attrs.get_int("axis", 0);
        if (axis < 0) axis += static_cast<int64_t>(xs->size());
        if (axis != 1) return false;
        int64_t begin = 0;
        for (size_t o = 0; o < n.outputs.size(); ++o) {
            const int64_t c = channels_of(n.outputs[o]);
            if (c < 0 || begin + c > static_cast<int64_t>(x->size())) return false;
            ChannelSlot s;
            s.kind = ChannelSlot::kSplit;
            s.node = idx;
            s.output = static_cast<int>(o);
            s.begin = begin;
            s.end = begin + c;
            s.ids = *x;
            ids[n.outputs[o]] = std::vector<int>(x->begin() + begin, x->begin() + begin + c);
            a.slots_.push_back(std::move(s));
            begin += c;
        }
        return begin == static_cast<int64_t>(x->size());
    }

    bool slice(const Node& n, int idx) {
        const auto* x = tracked(n.input(0));
        const Shape* xs = shape_of(n.input(0));
        const Shape* os = shape_of(n.outputs[0]);
        if (!x || !xs || !os || xs->size() != os->size()) return false;
        const Tensor* st = init(n.input(1));
        const Tensor* en = init(n.input(2));
        const Tensor* ax = n.input(3).empty() ? nullptr : init(n.input(3));
        const Tensor* sp = n.input(4).empty() ? nullptr : init(n.input(4));
        if (!st || !en || (!n.input(3).empty() && !ax) || (!n.input(4).empty() && !sp))
            return false;
        if (en->numel() != st->numel() || (ax && ax->numel() != st->numel()) ||
            (sp && sp->numel() != st->numel()))
            return false;
        int at = -1;
        for (int64_t k = 0; k < st->numel(); ++k) {
            int64_t axis = ax ? ax->at_int64(k) : k;
            if (axis < 0) axis += static_cast<int64_t>(xs->size());
            if (axis == 1) at = static_cast<int>(k);
        }
        if (at < 0) {  // a spatial slice: every channel passes
            ids[n.outputs[0]] = *x;
            return true;
        }
        if (sp && sp->at_int64(at) != 1) return false;
        const int64_t c = static_cast<int64_t>(x->size());
        int64_t b = st->at_int64(at), e = en->at_int64(at);
        if (b < 0) b += c;
        if (e < 0) e += c;
        b = std::clamp<int64_t>(b, 0, c);
        e = std::clamp<int64_t>(e, b, c);
        if ((*os)[1] != e - b) return false;
        ChannelSlot s;
        s.kind = ChannelSlot::kSlice;
        s.node = idx;
        s.input = at;
        s.begin = b;
        s.end = e;
        s.ids = *x;
        a.slots_.push_back(std::move(s));
        ids[n.outputs[0]] = std::vector<int>(x->begin() + b, x->begin() + e);
        return true;
    }

    // ReduceMean/Max/Min/Sum over spatial axes only (global pooling written as a
    // reduction): each channel passes.
    bool reduce(const Node& n) {
        const auto* x = tracked(n.input(0));
        const Shape* xs = shape_of(n.input(0));
        if (!x || !xs) return false;
        std::vector<int64_t> axes = n.attrs.get_ints("axes");
        if (n.op == OpKind::kReduceSum) {
            const Tensor* t = n.input(1).empty() ? nullptr : init(n.input(1));
            if (!t) return false;
            axes.clear();
            for (int64_t k = 0; k < t->numel(); ++k) axes.push_back(t->at_int64(k));
        }
        if (axes.empty()) return false;  // all axes
        for (int64_t ax : axes)
            if ((ax < 0 ? ax + static_cast<int64_t>(xs->size()) : ax) < 2) return false;
        if (channels_of(n.outputs[0]) != static_cast<int64_t>(x->size())) return false;
        ids[n.outputs[0]] = *x;
        return true;
    }

    Status walk() {
        for (const auto& in : g.inputs) {
            const int64_t c = channels_of(in.name);
            if (c > 0) ids[in.name] = make(c, "the graph input \"" + in.name + "\"");
        }
        for (size_t k = 0; k < g.nodes.size(); ++k) {
            const Node& n = g.nodes[k];
            const int i = static_cast<int>(k);
            if (n.outputs.empty()) continue;
            bool ok = false;
            if (n.op == OpKind::kConv) {
                ok = conv(n, i);
            } else if (n.op == OpKind::kGemm || n.op == OpKind::kMatMul) {
                ok = dense(n, i);
            } else if (n.op == OpKind::kBatchNormalization) {
                ok = batchnorm(n, i);
            } else if (broadcasts(n.op)) {
                ok = binary(n, i);
            } else if (n.op == OpKind::kFlatten || n.op == OpKind::kReshape) {
                ok = flatten(n, i);
            } else if (n.op == OpKind::kConcat) {
                ok = concat(n);
            } else if (n.op == OpKind::kSplit) {
                ok = split(n, i);
            } else if (n.op == OpKind::kSlice) {
                ok = slice(n, i);
            } else if (one_of(n.op, {OpKind::kReduceMean, OpKind::kReduceMax, OpKind::kReduceMin,
                                     OpKind::kReduceSum})) {
                ok = reduce(n);
            } else if (passes_channels(n.op)) {
                const auto* x = tracked(n.input(0));
                ok = x && n.outputs.size() >= 1 &&
                     channels_of(n.outputs[0]) == static_cast<int64_t>(x->size());
                if (ok) ids[n.outputs[0]] = *x;
            }
            if (!ok) opaque(n);
        }
        for (const auto& o : g.outputs)
            if (const auto* t = tracked(o.name))
                a.freeze_all(*t, "the graph output \"" + o.name + "\"");
        return Status::ok_status();
    }
};

Result<ChannelAnalysis> ChannelAnalysis::run(const Graph& g) {
    ChannelAnalysis a;
    ChannelWalker w{g, a, {}};
    PARE_RETURN_IF_ERROR(w.walk());
    return a;
}

}  // namespace pare
