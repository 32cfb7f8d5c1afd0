// Low-rank factorization: SVD for Gemm, MatMul and 1x1 convolutions, Tucker-2 or
// a spatial split for KxK convolutions (lowrank.h).
#include "toolkit/lowrank/lowrank.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "toolkit/lowrank/linalg.h"
#include "toolkit/report/evaluate.h"

namespace pare {

namespace {

const char* const kKindNames[] = {"svd", "tucker2", "spatial"};

// A layer factorization can touch, with the numbers the rank rules need.
struct Candidate {
    int node = -1;
    FactorKind kind = FactorKind::kSvd;
    int64_t n = 0, c = 0, kh = 1, kw = 1;  // out, in (a Gemm/MatMul: N and K), kernel
    int64_t rows_in = 1, rows_out = 1;     // positions per image: input and output
    int64_t rows_mid = 1;                  // spatial split: output height x input width
    int64_t bias = 0;                      // bias parameters (unchanged by factorization)
    int64_t params() const { return n * c * kh * kw + bias; }
    int64_t macs() const { return rows_out * n * c * kh * kw; }
};

std::vector<int64_t> ints_or(const Node& n, const char* name, std::vector<int64_t> def) {
    std::vector<int64_t> v = n.attrs.get_ints(name);
    return v.empty() ? def : v;
}

// The inferred shape of a value (graph inputs included), or null.
const ValueInfo* value_of(const Graph& g, const std::string& name) {
    const auto it = g.value_info.find(name);
    if (it != g.value_info.end()) return it->second.has_shape ? &it->second : nullptr;
    for (const auto& in : g.inputs)
        if (in.name == name) return in.has_shape ? &in : nullptr;
    return nullptr;
}

// Why node i of (prepared) g cannot be factorized, or "" with *c filled.
std::string candidate_of(const Graph& g, int i, bool spatial, Candidate* c) {
    const Node& n = g.nodes[static_cast<size_t>(i)];
    if (n.op != OpKind::kConv && n.op != OpKind::kGemm && n.op != OpKind::kMatMul)
        return "not a Conv, Gemm or MatMul";
    const auto wi = g.initializers.find(n.input(1));
    if (wi == g.initializers.end() || wi->second.dtype() != DType::kFloat32)
        return "its weight is not a float32 constant";
    const Tensor& w = wi->second;
    const ValueInfo* vi = value_of(g, n.outputs[0]);
    const ValueInfo* xi = value_of(g, n.input(0));
    if (!vi || !xi) return "its shapes are unknown";
    // A free batch dimension counts as 1 (costs are per image).
    Shape ys = vi->shape;
    Shape xs = xi->shape;
    if (!ys.empty() && ys[0] < 0) ys[0] = 1;
    if (!xs.empty() && xs[0] < 0) xs[0] = 1;
    for (int64_t d : ys)
        if (d < 0) return "its output shape is not fixed";
    c->node = i;
    if (!n.input(2).empty()) {
        const auto b = g.initializers.find(n.input(2));
        if (b != g.initializers.end()) c->bias = b->second.numel();
    }
    if (n.op == OpKind::kConv) {
        if (n.attrs.get_int("group", 1) != 1) return "grouped or depthwise";
        if (w.rank() != 4 || xs.size() != 4 || xs[2] < 0 || xs[3] < 0)
            return "not a 2-D convolution";
        c->n = w.shape()[0];
        c->c = w.shape()[1];
        c->kh = w.shape()[2];
        c->kw = w.shape()[3];
        c->rows_in = xs[2] * xs[3];
        c->rows_out = ys[2] * ys[3];
        c->rows_mid = ys[2] * xs[3];
        if (c->kh == 1 && c->kw == 1) {
            c->kind = FactorKind::kSvd;
        } else if (spatial && c->kh > 1 && c->kw > 1) {
            const std::string ap = n.attrs.get_string("auto_pad", "NOTSET");
            if (ap != "NOTSET" && ap != "VALID") return "auto_pad " + ap + " (spatial split)";
            c->kind = FactorKind::kSpatial;
        } else {
            c->kind = FactorKind::kTucker2;
        }
        return "";
    }
    if (w.rank() != 2) return "its weight is not a matrix";
    if (n.op == OpKind::kGemm && n.attrs.get_int("transA", 0) != 0) return "transA";
    const bool tb = n.op == OpKind::kGemm && n.attrs.get_int("transB", 0) != 0;
    c->kind = FactorKind::kSvd;
    c->c = tb ? w.shape()[1] : w.shape()[0];  // K
    c->n = tb ? w.shape()[0] : w.shape()[1];  // N
    c->rows_in = c->rows_out = 1;
    for (size_t d = 0; d + 1 < ys.size(); ++d) c->rows_out *= ys[d];
    c->rows_in = c->rows_out;
    return "";
}

// Parameters and MACs of candidate c factorized at (r_in, r_out).
void cost(const Candidate& c, int64_t r_in, int64_t r_out, int64_t* params, int64_t* macs) {
    switch (c.kind) {
        case FactorKind::kSvd:
            *params = r_out * (c.n + c.c) + c.bias;
            *macs = c.rows_out * r_out * (c.n + c.c);
            break;
        case FactorKind::kTucker2: {  // a full rank folds its 1x1 into the core
            const int64_t ci = r_in, co = r_out;
            const int64_t reduce = ci < c.c ? c.c * ci : 0, restore = co < c.n ? co * c.n : 0;
            *params = reduce + ci * co * c.kh * c.kw + restore + c.bias;
            *macs = c.rows_in * reduce + c.rows_out * (ci * co * c.kh * c.kw + restore);
            break;
        }
        case FactorKind::kSpatial:  // the Kx1 part runs at the output's height, input's width
            *params = r_out * (c.c * c.kh + c.n * c.kw) + c.bias;
            *macs = c.rows_mid * r_out * c.c * c.kh + c.rows_out * c.n * r_out * c.kw;
            break;
    }
}

// The matrix an SVD-like factorization splits, row-major, and its sides.
std::vector<double> svd_matrix(const Node& node, const Candidate& c, const Tensor& w, int64_t* m,
                               int64_t* n) {
    const float* p = w.data<float>();
    std::vector<double> a;
    if (c.kind == FactorKind::kSpatial) {  // [(ci, y), (o, x)]
        *m = c.c * c.kh;
        *n = c.n * c.kw;
        a.resize(static_cast<size_t>(*m * *n));
        for (int64_t o = 0; o < c.n; ++o)
            for (int64_t ci = 0; ci < c.c; ++ci)
                for (int64_t y = 0; y < c.kh; ++y)
                    for (int64_t x = 0; x < c.kw; ++x)
                        a[(ci * c.kh + y) * *n + o * c.kw + x] =
                            p[((o * c.c + ci) * c.kh + y) * c.kw + x];
        return a;
    }
    if (node.op == OpKind::kConv) {  // (N, C): W itself
        *m = c.n;
        *n = c.c;
        a.assign(p, p + c.n * c.c);
        return a;
    }
    // Gemm / MatMul: W as (K, N).
    *m = c.c;
    *n = c.n;
    a.resize(static_cast<size_t>(c.c * c.n));
    const bool tb = node.op == OpKind::kGemm && node.attrs.get_int("transB", 0) != 0;
    for (int64_t k = 0; k < c.c; ++k)
        for (int64_t j = 0; j < c.n; ++j) a[k * c.n + j] = tb ? p[j * c.c + k] : p[k * c.n + j];
    return a;
}

// Singular values of W's unfoldings: (out) N x (C kh kw) and (in) C x (N kh kw).
std::vector<double> unfolding(const Tensor& w, const Candidate& c, bool in_mode) {
    const float* p = w.data<float>();
    const int64_t s = c.kh * c.kw;
    std::vector<double> a(static_cast<size_t>(c.n * c.c * s));
    for (int64_t o = 0; o < c.n; ++o)
        for (int64_t i = 0; i < c.c; ++i)
            for (int64_t t = 0; t < s; ++t) {
                const double v = p[(o * c.c + i) * s + t];
                if (in_mode)
                    a[i * (c.n * s) + o * s + t] = v;
                else
                    a[o * (c.c * s) + i * s + t] = v;
            }
    return a;
}

std::vector<double> singular_values(const std::vector<double>& a, int64_t m, int64_t n) {
    return truncated_svd(a, m, n, 0).s;
}

int64_t round_up(int64_t r, int64_t to, int64_t cap) {
    if (to > 1) r = (r + to - 1) / to * to;
    return std::clamp<int64_t>(r, 1, cap);
}

const Node* find_node(const Graph& g, const std::string& name, int* index) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].name == name) {
            *index = static_cast<int>(i);
            return &g.nodes[i];
        }
    return nullptr;
}

double energy_of(const std::vector<double>& s, int64_t r) {
    double t = 0, k = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        t += s[i] * s[i];
        if (static_cast<int64_t>(i) < r) k += s[i] * s[i];
    }
    return t > 0 ? k / t : 1;
}

Result<Graph> prepared(const Graph& g0) {
    Graph g = g0;
    PARE_RETURN_IF_ERROR(prepare_for_editing(g));
    return g;
}

}  // namespace

const char* factor_kind_name(FactorKind k) { return kKindNames[static_cast<int>(k)]; }

Result<LowRankPlan> analyze_lowrank(const Graph& g0, const LowRankOptions& o) {
    const int rules = (o.energy != 0) + (o.reduction != 0) + !o.ranks.empty();
    if (rules != 1)
        return invalid_argument(
            "give exactly one rank rule: an energy, a parameter reduction or per-layer ranks");
    if (o.energy != 0 && !(o.energy > 0 && o.energy <= 1))
        return invalid_argument("energy must be in (0, 1], not " + std::to_string(o.energy));
    if (o.reduction != 0 && !(o.reduction > 1))
        return invalid_argument("reduction must be > 1, not " + std::to_string(o.reduction));
    if (o.round_to < 1) return invalid_argument("round_to must be >= 1");
    PARE_ASSIGN_OR_RETURN(Graph g, prepared(g0));
    std::set<std::string> protect(o.protect.begin(), o.protect.end());
    std::set<std::string> only(o.only.begin(), o.only.end());
    for (const auto& kv : o.ranks) only.insert(kv.first);
    for (const auto& names : {protect, only}) {
        for (const auto& name : names) {
            int idx = -1;
            if (!find_node(g, name, &idx))
                return invalid_argument("no node named \"" + name + "\" in the model");
        }
    }
    LowRankPlan plan;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node& node = g.nodes[i];
        if (node.op != OpKind::kConv && node.op != OpKind::kGemm && node.op != OpKind::kMatMul)
            continue;
        if (!only.empty() && !only.count(node.name)) continue;
        if (protect.count(node.name)) {
            plan.skipped.emplace_back(node.name, "protected");
            continue;
        }
        Candidate c;
        const std::string why = candidate_of(g, static_cast<int>(i), o.spatial, &c);
        if (!why.empty()) {
            if (only.count(node.name))
                return invalid_argument(node.where() + " cannot be factorized: " + why);
            plan.skipped.emplace_back(node.name, why);
            continue;
        }
        const Tensor& w = g.initializers.at(node.input(1));
        LayerFactor f;
        f.layer = node.name;
        f.op = node.op_type;
        f.kind = c.kind;
        f.params_before = c.params();
        f.macs_before = c.macs();
        const auto explicit_rank = o.ranks.find(node.name);
        if (c.kind == FactorKind::kTucker2) {
            const std::vector<double> s_out =
                singular_values(unfolding(w, c, false), c.n, c.c * c.kh * c.kw);
            const std::vector<double> s_in =
                singular_values(unfolding(w, c, true), c.c, c.n * c.kh * c.kw);
            if (explicit_rank != o.ranks.end()) {
                const int64_t r = explicit_rank->second;
                if (r < 1 || r > std::max(c.n, c.c))
                    return invalid_argument(node.where() + ": rank " + std::to_string(r) +
                                            " is outside [1, " +
                                            std::to_string(std::max(c.n, c.c)) + "]");
                f.rank_out = std::min(r, c.n);
                f.rank_in = std::min(r, c.c);
            } else if (o.energy > 0) {
                f.rank_out = rank_for_energy(s_out, o.energy);
                f.rank_in = rank_for_energy(s_in, o.energy);
            } else {
                for (int64_t r2 = c.n; r2 >= 1; --r2) {
                    const int64_t r1 = std::clamp<int64_t>(
                        static_cast<int64_t>(
                            std::lround(static_cast<double>(r2 * c.c) / static_cast<double>(c.n))),
                        1, c.c);
                    int64_t p = 0, m = 0;
                    cost(c, r1, r2, &p, &m);
                    f.rank_out = r2;
                    f.rank_in = r1;
                    if (static_cast<double>(p) <= static_cast<double>(c.params()) / o.reduction)
                        break;
                }
            }
            // No rank above its unfolding's: r_out <= min(N, r_in kh kw), r_in <= min(C, r_out kh
            // kw).
            const int64_t s = c.kh * c.kw;
            f.rank_out = round_up(f.rank_out, o.round_to, std::min(c.n, c.c * s));
            f.rank_in = round_up(f.rank_in, o.round_to, std::min(c.c, c.n * s));
            f.rank_out = std::min(f.rank_out, f.rank_in * s);
            f.rank_in = std::min(f.rank_in, f.rank_out * s);
            cost(c, f.rank_in, f.rank_out, &f.params_after, &f.macs_after);
            f.energy = std::min(energy_of(s_out, f.rank_out), energy_of(s_in, f.rank_in));
        } else {
            int64_t m = 0, n = 0;
            const std::vector<double> a = svd_matrix(node, c, w, &m, &n);
            const std::vector<double> s = singular_values(a, m, n);
            const int64_t full = std::min(m, n);
            int64_t r = 0;
            if (explicit_rank != o.ranks.end()) {
                r = explicit_rank->second;
                if (r < 1 || r > full)
                    return invalid_argument(node.where() + ": rank " + std::to_string(r) +
                                            " is outside [1, " + std::to_string(full) +
                                            "] (its matrix is " + std::to_string(m) + " x " +
                                            std::to_string(n) + ")");
            } else if (o.energy > 0) {
                r = rank_for_energy(s, o.energy);
            } else {
                r = static_cast<int64_t>(static_cast<double>(m * n) / o.reduction /
                                         static_cast<double>(m + n));
                r = std::max<int64_t>(r, 1);
            }
            r = round_up(r, o.round_to, full);
            f.rank_out = r;
            cost(c, 0, r, &f.params_after, &f.macs_after);
            f.energy = energy_of(s, r);
        }
        if (f.macs_after >= f.macs_before || f.params_after >= f.params_before) {
            plan.skipped.emplace_back(
                node.name, "no MACs or parameters saved at rank " + std::to_string(f.rank_out) +
                               (c.kind == FactorKind::kTucker2 ? "/" + std::to_string(f.rank_in)
                                                               : std::string()));
            continue;
        }
        plan.layers.push_back(f);
    }
    return plan;
}

Result<Graph> apply_lowrank(const Graph& g0, const LowRankPlan& plan) {
    PARE_ASSIGN_OR_RETURN(Graph g, prepared(g0));
    for (const LayerFactor& f : plan.layers) {
        int idx = -1;
        if (!find_node(g, f.layer, &idx))
            return invalid_argument("the plan names layer \"" + f.layer +
                                    "\", which is not in the model");
        Candidate c;
        const std::string why = candidate_of(g, idx, f.kind == FactorKind::kSpatial, &c);
        if (!why.empty())
            return invalid_argument(g.nodes[idx].where() + " cannot be factorized: " + why);
        const Node node = g.nodes[static_cast<size_t>(idx)];
        if (c.kind != f.kind)
            return invalid_argument(node.where() + ": the plan asks for " +
                                    factor_kind_name(f.kind) + " but the layer takes " +
                                    factor_kind_name(c.kind));
        const Tensor w = g.initializers.at(node.input(1));
        const std::string base = node.name.empty() ? g.unique_name("lowrank") : node.name;
        std::vector<Node> repl;
        auto add_init = [&](const std::string& suffix, const Shape& shape,
                            const std::vector<double>& v) {
            const std::string name = g.unique_name(base + suffix);
            Tensor t = Tensor::create(DType::kFloat32, shape).value();
            for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(v[i]);
            g.initializers[name] = t;
            return name;
        };
        auto new_node = [&](const std::string& suffix, const std::string& op) {
            Node n;
            n.name = g.unique_name(base + suffix);
            n.op_type = op;
            return n;
        };
        const std::string out = node.outputs[0];
        const std::string bias = node.input(2);
        // SVD and the spatial split: the r leading singular triplets of W's matrix.
        int64_t m = 0, n = 0;
        const int64_t r = f.rank_out;
        Svd d;
        if (c.kind != FactorKind::kTucker2) {
            const std::vector<double> a = svd_matrix(node, c, w, &m, &n);
            if (r < 1 || r > std::min(m, n))
                return invalid_argument(node.where() + ": rank " + std::to_string(r) +
                                        " is outside [1, " + std::to_string(std::min(m, n)) + "]");
            d = truncated_svd(a, m, n, r);
        }
        if (c.kind == FactorKind::kSvd) {
            // left = U sqrt(S) (m x r), right = sqrt(S) Vt (r x n).
            std::vector<double> left(static_cast<size_t>(m * r)), right(static_cast<size_t>(r * n));
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < r; ++j)
                    left[i * r + j] = d.u[i * r + j] * std::sqrt(d.s[j]);
            for (int64_t j = 0; j < r; ++j)
                for (int64_t k = 0; k < n; ++k)
                    right[j * n + k] = d.vt[j * n + k] * std::sqrt(d.s[j]);
            const std::string mid = g.unique_name(base + "/lowrank_mid");
            if (node.op == OpKind::kConv) {
                // W (N x C) = left (N x r) right (r x C): x -> right -> left.
                Node a1 = new_node("/lowrank_a", "Conv");
                a1.attrs = node.attrs;
                a1.inputs = {node.input(0), add_init("/lowrank_a_w", {r, c.c, 1, 1}, right)};
                a1.outputs = {mid};
                Node a2 = new_node("/lowrank_b", "Conv");
                a2.attrs.set("kernel_shape", Attribute::make_ints({1, 1}));
                a2.inputs = {mid, add_init("/lowrank_b_w", {c.n, r, 1, 1}, left)};
                if (!bias.empty()) a2.inputs.push_back(bias);
                a2.outputs = {out};
                repl = {a1, a2};
            } else {
                // W (K x N) = left (K x r) right (r x N): x -> left -> right.
                const std::string op = node.op_type;
                Node a1 = new_node("/lowrank_a", op);
                Node a2 = new_node("/lowrank_b", op);
                a1.inputs = {node.input(0), add_init("/lowrank_a_w", {c.c, r}, left)};
                a1.outputs = {mid};
                a2.inputs = {mid, add_init("/lowrank_b_w", {r, c.n}, right)};
                a2.outputs = {out};
                if (node.op == OpKind::kGemm) {
                    a1.attrs.set("alpha", Attribute::make_float(node.attrs.get_float("alpha", 1)));
                    if (!bias.empty()) {
                        a2.inputs.push_back(bias);
                        a2.attrs.set("beta",
                                     Attribute::make_float(node.attrs.get_float("beta", 1)));
                    }
                }
                repl = {a1, a2};
            }
        } else if (c.kind == FactorKind::kSpatial) {
            std::vector<double> wv(static_cast<size_t>(r * c.c * c.kh));
            std::vector<double> wh(static_cast<size_t>(c.n * r * c.kw));
            for (int64_t j = 0; j < r; ++j) {
                const double sq = std::sqrt(d.s[j]);
                for (int64_t ci = 0; ci < c.c; ++ci)
                    for (int64_t y = 0; y < c.kh; ++y)
                        wv[(j * c.c + ci) * c.kh + y] = d.u[(ci * c.kh + y) * r + j] * sq;
                for (int64_t o = 0; o < c.n; ++o)
                    for (int64_t x = 0; x < c.kw; ++x)
                        wh[(o * r + j) * c.kw + x] = d.vt[j * n + o * c.kw + x] * sq;
            }
            const std::vector<int64_t> st = ints_or(node, "strides", {1, 1});
            const std::vector<int64_t> dl = ints_or(node, "dilations", {1, 1});
            const std::vector<int64_t> pd = ints_or(node, "pads", {0, 0, 0, 0});
            const std::string mid = g.unique_name(base + "/lowrank_mid");
            Node v = new_node("/lowrank_v", "Conv");
            v.attrs.set("kernel_shape", Attribute::make_ints({c.kh, 1}));
            v.attrs.set("strides", Attribute::make_ints({st[0], 1}));
            v.attrs.set("dilations", Attribute::make_ints({dl[0], 1}));
            v.attrs.set("pads", Attribute::make_ints({pd[0], 0, pd[2], 0}));
            v.inputs = {node.input(0), add_init("/lowrank_v_w", {r, c.c, c.kh, 1}, wv)};
            v.outputs = {mid};
            Node h = new_node("/lowrank_h", "Conv");
            h.attrs.set("kernel_shape", Attribute::make_ints({1, c.kw}));
            h.attrs.set("strides", Attribute::make_ints({1, st[1]}));
            h.attrs.set("dilations", Attribute::make_ints({1, dl[1]}));
            h.attrs.set("pads", Attribute::make_ints({0, pd[1], 0, pd[3]}));
            h.inputs = {mid, add_init("/lowrank_h_w", {c.n, r, 1, c.kw}, wh)};
            if (!bias.empty()) h.inputs.push_back(bias);
            h.outputs = {out};
            repl = {v, h};
        } else {
            const int64_t r1 = f.rank_in, r2 = f.rank_out, s = c.kh * c.kw;
            if (r1 < 1 || r1 > c.c || r2 < 1 || r2 > c.n || r2 > r1 * s || r1 > r2 * s)
                return invalid_argument(
                    node.where() + ": Tucker-2 ranks " + std::to_string(r1) + "/" +
                    std::to_string(r2) + " do not fit its " + std::to_string(c.c) + " input and " +
                    std::to_string(c.n) +
                    " output channels (each rank at most the other times kh*kw)");
            const float* p = w.data<float>();
            // HOSVD, refined by two HOOI sweeps.
            Svd so = truncated_svd(unfolding(w, c, false), c.n, c.c * s, r2);
            Svd si = truncated_svd(unfolding(w, c, true), c.c, c.n * s, r1);
            // The unfoldings' column order does not matter to their left singular
            // vectors: t1 is [o][t][b] and t2 [ci][t][a], so the inner loops run along
            // the contiguous rank.
            std::vector<double> t1, t2, core;
            auto project_in = [&] {  // t1[o][t][b] = sum_ci U_in[ci][b] W[o][ci][t]
                t1.assign(static_cast<size_t>(c.n * r1 * s), 0.0);
                for (int64_t o = 0; o < c.n; ++o)
                    for (int64_t ci = 0; ci < c.c; ++ci) {
                        const double* u = &si.u[ci * r1];
                        for (int64_t t = 0; t < s; ++t) {
                            const double w = p[(o * c.c + ci) * s + t];
                            double* row = &t1[(o * s + t) * r1];
                            for (int64_t b = 0; b < r1; ++b) row[b] += w * u[b];
                        }
                    }
            };
            for (int sweep = 0; sweep < 2; ++sweep) {
                project_in();
                so = truncated_svd(t1, c.n, r1 * s, r2);
                // t2[ci][t][a] = sum_o U_out[o][a] W[o][ci][t]
                t2.assign(static_cast<size_t>(c.c * r2 * s), 0.0);
                for (int64_t o = 0; o < c.n; ++o) {
                    const double* u = &so.u[o * r2];
                    for (int64_t ci = 0; ci < c.c; ++ci)
                        for (int64_t t = 0; t < s; ++t) {
                            const double w = p[(o * c.c + ci) * s + t];
                            double* row = &t2[(ci * s + t) * r2];
                            for (int64_t a = 0; a < r2; ++a) row[a] += w * u[a];
                        }
                }
                si = truncated_svd(t2, c.c, r2 * s, r1);
            }
            project_in();
            // core[a][b][t] = sum_o U_out[o][a] t1[o][t][b], accumulated as [t][a][b].
            std::vector<double> acc(static_cast<size_t>(s * r2 * r1), 0.0);
            for (int64_t o = 0; o < c.n; ++o)
                for (int64_t a = 0; a < r2; ++a) {
                    const double u = so.u[o * r2 + a];
                    for (int64_t t = 0; t < s; ++t) {
                        const double* src = &t1[(o * s + t) * r1];
                        double* dst = &acc[(t * r2 + a) * r1];
                        for (int64_t b = 0; b < r1; ++b) dst[b] += u * src[b];
                    }
                }
            core.resize(acc.size());
            for (int64_t t = 0; t < s; ++t)
                for (int64_t a = 0; a < r2; ++a)
                    for (int64_t b = 0; b < r1; ++b)
                        core[(a * r1 + b) * s + t] = acc[(t * r2 + a) * r1 + b];
            std::vector<double> wa(static_cast<size_t>(r1 * c.c)),
                wc(static_cast<size_t>(c.n * r2));
            for (int64_t b = 0; b < r1; ++b)
                for (int64_t ci = 0; ci < c.c; ++ci) wa[b * c.c + ci] = si.u[ci * r1 + b];
            for (int64_t o = 0; o < c.n; ++o)
                for (int64_t a = 0; a < r2; ++a) wc[o * r2 + a] = so.u[o * r2 + a];
            // A full rank on one side is a square orthogonal map: folded into the core
            // (Tucker-1), one layer fewer.
            const bool reduce = r1 < c.c, restore = r2 < c.n;
            int64_t ci_core = r1, co_core = r2;
            if (!reduce) {  // core[a][ci] = sum_b core[a][b] U_in[ci][b]
                std::vector<double> k2(static_cast<size_t>(r2 * c.c * s), 0.0);
                for (int64_t a = 0; a < r2; ++a)
                    for (int64_t ci = 0; ci < c.c; ++ci)
                        for (int64_t b = 0; b < r1; ++b)
                            for (int64_t t = 0; t < s; ++t)
                                k2[(a * c.c + ci) * s + t] +=
                                    si.u[ci * r1 + b] * core[(a * r1 + b) * s + t];
                core.swap(k2);
                ci_core = c.c;
            }
            if (!restore) {  // core[o][.] = sum_a U_out[o][a] core[a][.]
                const int64_t row = ci_core * s;
                std::vector<double> k2(static_cast<size_t>(c.n * row), 0.0);
                for (int64_t o = 0; o < c.n; ++o)
                    for (int64_t a = 0; a < r2; ++a)
                        for (int64_t q = 0; q < row; ++q)
                            k2[o * row + q] += so.u[o * r2 + a] * core[a * row + q];
                core.swap(k2);
                co_core = c.n;
            }
            std::string x = node.input(0);
            if (reduce) {
                const std::string m1 = g.unique_name(base + "/lowrank_reduced");
                Node na = new_node("/lowrank_reduce", "Conv");
                na.attrs.set("kernel_shape", Attribute::make_ints({1, 1}));
                na.inputs = {x, add_init("/lowrank_reduce_w", {r1, c.c, 1, 1}, wa)};
                na.outputs = {m1};
                repl.push_back(na);
                x = m1;
            }
            Node nb = new_node("/lowrank_core", "Conv");
            nb.attrs = node.attrs;
            nb.inputs = {x, add_init("/lowrank_core_w", {co_core, ci_core, c.kh, c.kw}, core)};
            nb.outputs = {restore ? g.unique_name(base + "/lowrank_core_out") : out};
            if (!restore && !bias.empty()) nb.inputs.push_back(bias);
            repl.push_back(nb);
            if (restore) {
                Node nc = new_node("/lowrank_restore", "Conv");
                nc.attrs.set("kernel_shape", Attribute::make_ints({1, 1}));
                nc.inputs = {nb.outputs[0], add_init("/lowrank_restore_w", {c.n, r2, 1, 1}, wc)};
                if (!bias.empty()) nc.inputs.push_back(bias);
                nc.outputs = {out};
                repl.push_back(nc);
            }
        }
        // The weight goes when nothing else reads it.
        const std::string wname = node.input(1);
        g.nodes.erase(g.nodes.begin() + idx);
        g.nodes.insert(g.nodes.begin() + idx, repl.begin(), repl.end());
        bool used = false;
        for (const auto& n : g.nodes)
            for (const auto& in : n.inputs) used = used || in == wname;
        if (!used) g.initializers.erase(wname);
    }
    PARE_RETURN_IF_ERROR(g.resolve_ops());
    PARE_RETURN_IF_ERROR(g.topo_sort());
    g.value_info.clear();
    PARE_RETURN_IF_ERROR(infer_shapes(g));
    return g;
}

Result<LowRankPlan> analyze_lowrank_by_sensitivity(const Graph& g, const LowRankOptions& options,
                                                   const Dataset& val, double max_drop,
                                                   const std::vector<double>& ladder) {
    if (val.size() == 0) return invalid_argument("the sensitivity needs validation data");
    if (!(max_drop >= 0)) return invalid_argument("the accuracy budget must be >= 0 points");
    LowRankOptions all = options;
    all.energy = 1;
    all.reduction = 0;
    all.ranks.clear();
    PARE_ASSIGN_OR_RETURN(LowRankPlan full, analyze_lowrank(g, all));
    PARE_ASSIGN_OR_RETURN(EvalReport base, evaluate(g, val));
    LowRankPlan plan;
    plan.skipped = full.skipped;
    std::set<std::string> candidates;
    for (const auto& s : full.skipped)
        if (s.second.rfind("no MACs", 0) == 0) candidates.insert(s.first);
    for (const auto& l : full.layers) candidates.insert(l.layer);
    plan.skipped.erase(std::remove_if(plan.skipped.begin(), plan.skipped.end(),
                                      [&](const auto& s) { return candidates.count(s.first); }),
                       plan.skipped.end());
    std::vector<double> steps = ladder;
    std::sort(steps.begin(), steps.end());
    std::vector<std::string> order;  // graph order
    for (const auto& n : g.nodes)
        if (candidates.count(n.name)) order.push_back(n.name);
    size_t done = 0;
    for (const auto& name : order) {
        ++done;
        std::string chosen = "over the budget at every energy";
        for (double e : steps) {
            LowRankOptions one = options;
            one.energy = e;
            one.reduction = 0;
            one.ranks.clear();
            one.only = {name};
            PARE_ASSIGN_OR_RETURN(LowRankPlan p, analyze_lowrank(g, one));
            if (p.layers.empty())
                continue;  // no saving at this energy; a higher one may not either
            PARE_ASSIGN_OR_RETURN(Graph f, apply_lowrank(g, p));
            PARE_ASSIGN_OR_RETURN(EvalReport r, evaluate(f, val));
            const double drop = 100 * (base.top1 - r.top1);
            std::fprintf(stderr, "sensitivity %zu/%zu %s: energy %.2f rank %lld, %+.2f points\n",
                         done, candidates.size(), name.c_str(), e,
                         static_cast<long long>(p.layers[0].rank_out), -drop);
            if (drop <= max_drop) {
                plan.layers.push_back(p.layers[0]);
                chosen.clear();
                break;
            }
        }
        if (!chosen.empty()) plan.skipped.emplace_back(name, chosen);
    }
    return plan;
}

std::string lowrank_plan_to_json(const LowRankPlan& plan) {
    nlohmann::json j;
    j["format"] = "pare-lowrank-plan-1";
    j["layers"] = nlohmann::json::array();
    for (const auto& l : plan.layers) {
        j["layers"].push_back({{"layer", l.layer},
                               {"kind", factor_kind_name(l.kind)},
                               {"rank_in", l.rank_in},
                               {"rank_out", l.rank_out}});
    }
    return j.dump(2) + "\n";
}

Result<LowRankPlan> lowrank_plan_from_json(const std::string& text) {
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        if (!j.is_object() || j.value("format", "") != "pare-lowrank-plan-1")
            return invalid_argument("not a pare low-rank plan (format pare-lowrank-plan-1)");
        LowRankPlan plan;
        for (const auto& l : j.at("layers")) {
            LayerFactor f;
            f.layer = l.at("layer").get<std::string>();
            const std::string kind = l.at("kind").get<std::string>();
            int k = 0;
            while (k < 3 && kind != kKindNames[k]) ++k;
            if (k == 3)
                return invalid_argument("layer \"" + f.layer + "\": unknown kind \"" + kind +
                                        "\" (svd, tucker2 or spatial)");
            f.kind = static_cast<FactorKind>(k);
            f.rank_in = l.value("rank_in", int64_t{0});
            f.rank_out = l.at("rank_out").get<int64_t>();
            plan.layers.push_back(f);
        }
        return plan;
    } catch (const std::exception& e) {
        return invalid_argument(std::string("low-rank plan: ") + e.what());
    }
}

}  // namespace pare
