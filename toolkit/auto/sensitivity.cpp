#include "toolkit/auto/sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "toolkit/lowrank/lowrank.h"
#include "toolkit/prune/prune.h"
#include "toolkit/report/evaluate.h"

namespace pare {

namespace {

struct KindName {
    ActionKind kind;
    const char* prefix;
};
constexpr KindName kKinds[] = {{ActionKind::kInt8, "int8"},
                               {ActionKind::kInt4Weights, "int4w"},
                               {ActionKind::kSparsity, "sparse"},
                               {ActionKind::kChannels, "channels"},
                               {ActionKind::kLowRank, "rank/"}};

// The model's classes for `val`, and top-1 in %.
struct Scored {
    double top1 = 0;
    std::vector<int64_t> predictions;
};
Result<Scored> score(const Graph& g, const Dataset& val, int64_t batch) {
    PARE_ASSIGN_OR_RETURN(EvalReport r, evaluate(g, val, batch));
    return Scored{100.0 * r.top1, std::move(r.predictions)};
}

double agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    if (a.empty() || a.size() != b.size()) return 0;
    int64_t same = 0;
    for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
    return 100.0 * static_cast<double>(same) / static_cast<double>(a.size());
}

// The axis of a Conv/Gemm/MatMul weight that indexes output channels.
int output_axis(const Node& n) {
    if (n.op_type == "Conv") return 0;
    if (n.op_type == "Gemm") return n.attrs.get_int("transB", 0) != 0 ? 0 : 1;
    return -1;  // MatMul: the last axis
}

int64_t nonzero(const Tensor& t) {
    int64_t k = 0;
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) k += p[i] != 0.0f;
    return k;
}

std::string fmt(double v) {
    char b[32];
    const double change = std::fabs(v) < 0.005 ? 0.0 : -v;  // no "-0.00"
    std::snprintf(b, sizeof b, change == 0 ? "%.2f" : "%+.2f", change);
    return b;
}

}  // namespace

std::string action_name(const Action& a) {
    switch (a.kind) {
        case ActionKind::kInt8:
            return "int8";
        case ActionKind::kInt4Weights:
            return "int4w";
        case ActionKind::kSparsity:
            return "sparse" + std::to_string(static_cast<int>(std::lround(a.level * 100)));
        case ActionKind::kChannels:
            return "channels" + std::to_string(static_cast<int>(std::lround(a.level * 100)));
        case ActionKind::kLowRank: {
            char b[32];
            std::snprintf(b, sizeof b, "rank/%g", a.level);
            return b;
        }
    }
    return "?";
}

Result<Action> parse_action(const std::string& name) {
    for (const KindName& k : kKinds) {
        const std::string p = k.prefix;
        if (name.compare(0, p.size(), p) != 0) continue;
        const std::string rest = name.substr(p.size());
        Action a{k.kind, 0};
        if (k.kind == ActionKind::kInt8 || k.kind == ActionKind::kInt4Weights) {
            if (!rest.empty()) break;
            return a;
        }
        char* end = nullptr;
        const double v = std::strtod(rest.c_str(), &end);
        if (rest.empty() || *end != '\0' || !std::isfinite(v)) break;
        a.level = k.kind == ActionKind::kLowRank ? v : v / 100.0;
        const bool ok = k.kind == ActionKind::kLowRank ? v > 1 : a.level > 0 && a.level < 1;
        if (!ok) break;
        return a;
    }
    return invalid_argument("unknown action \"" + name +
                            "\" (int8, int4w, sparseNN, channelsNN with NN in 1..99, rank/R with "
                            "R > 1)");
}

const SensitivityEntry* SensitivityReport::find(const std::string& target, const Action& a) const {
    const std::string n = action_name(a);
    for (const SensitivityEntry& e : entries)
        if (e.target == target && action_name(e.action) == n) return &e;
    return nullptr;
}

std::vector<Action> SensitivityReport::actions() const {
    std::vector<Action> out;
    std::set<std::string> seen;
    for (const SensitivityEntry& e : entries)
        if (seen.insert(action_name(e.action)).second) out.push_back(e.action);
    std::stable_sort(out.begin(), out.end(), [](const Action& a, const Action& b) {
        return static_cast<int>(a.kind) < static_cast<int>(b.kind);
    });
    return out;
}

Status fake_quantize_weights(Graph& g, const std::string& layer, int bits) {
    if (bits < 2 || bits > 8) return invalid_argument("weights: 2 to 8 bits");
    Node* node = nullptr;
    for (Node& n : g.nodes)
        if (n.name == layer) node = &n;
    if (!node || node->inputs.size() < 2 || !g.initializers.count(node->input(1)))
        return invalid_argument("\"" + layer + "\" is no layer with a constant weight");
    const Tensor& w0 = g.initializers.at(node->input(1));
    if (w0.dtype() != DType::kFloat32 || w0.rank() < 2)
        return invalid_argument("\"" + layer + "\": the weight is not a float matrix or filter");
    Tensor w = w0.clone();
    int axis = output_axis(*node);
    if (axis < 0) axis = static_cast<int>(w.rank()) - 1;
    const Shape& s = w.shape();
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < s.size(); ++d) inner *= s[d];
    const int64_t n = s[static_cast<size_t>(axis)], outer = w.numel() / (n * inner);
    const double qmax = std::pow(2.0, bits - 1) - 1;  // symmetric: -qmax..qmax
    float* p = w.data<float>();
    for (int64_t c = 0; c < n; ++c) {
        double mx = 0;
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i)
                mx = std::max(mx, std::fabs(double(p[(o * n + c) * inner + i])));
        if (mx == 0) continue;
        const double scale = mx / qmax;
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
                float& v = p[(o * n + c) * inner + i];
                v = static_cast<float>(std::clamp(std::nearbyint(v / scale), -qmax, qmax) * scale);
            }
    }
    // A fresh initializer: graph copies share tensors.
    const std::string name = g.unique_name(node->input(1) + "_int" + std::to_string(bits));
    g.initializers[name] = w;
    node->inputs[1] = name;
    return Status();
}

Result<SensitivityReport> analyze_sensitivity(const Graph& g_in, const Dataset& val,
                                              const Tensor& calib, const SensitivityOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    if (val.size() == 0) return invalid_argument("sensitivity: no validation images");
    for (double s : o.sparsities)
        if (!(s > 0 && s < 1))
            return invalid_argument("sensitivity: sparsity levels are in (0, 1)");
    for (double s : o.channel_ratios)
        if (!(s > 0 && s < 1)) return invalid_argument("sensitivity: channel ratios are in (0, 1)");
    for (double s : o.rank_reductions)
        if (!(s > 1)) return invalid_argument("sensitivity: rank reductions are above 1");
    // Pruning and factorization work on the graph with BatchNormalization kept (the
    // trainer fine-tunes it); quantization on the graph pare runs, BN folded.
    PARE_ASSIGN_OR_RETURN(Graph g, prepare_for_pruning(g_in));
    Graph folded = g;
    PARE_RETURN_IF_ERROR(run_default_passes(folded));

    SensitivityReport r;
    r.examples = val.size();
    PARE_ASSIGN_OR_RETURN(Scored base, score(g, val, o.batch));
    r.base_top1 = base.top1;
    PARE_ASSIGN_OR_RETURN(std::vector<LayerSparsity> layers, sparsity_report(g));
    for (const LayerSparsity& l : layers) r.layers.push_back({l.layer, l.op, l.params, l.macs});
    std::map<std::string, int64_t> params_of;
    for (const LayerSparsity& l : layers) params_of[l.layer] = l.params;

    auto add = [&](const std::string& target, const Action& a, const Result<Graph>& m,
                   int64_t before, int64_t after) -> Status {
        SensitivityEntry e;
        e.target = target;
        e.action = a;
        e.params_before = before;
        e.params_after = after;
        if (!m.ok()) {
            e.applicable = false;
            e.note = m.status().message();
        } else {
            PARE_ASSIGN_OR_RETURN(Scored s, score(m.value(), val, o.batch));
            e.top1 = s.top1;
            e.drop = base.top1 - s.top1;
            e.agreement = agreement(s.predictions, base.predictions);
        }
        r.entries.push_back(std::move(e));
        return Status();
    };
    auto not_applicable = [&](const std::string& target, const Action& a, const std::string& why) {
        SensitivityEntry e;
        e.target = target;
        e.action = a;
        e.applicable = false;
        e.note = why;
        e.params_before = params_of[target];
        r.entries.push_back(std::move(e));
    };

    // The progress line: the entries from `first` on, "  int8 -0.10  rank/2 n/a".
    auto entries_since = [&](size_t first) {
        std::string line;
        for (size_t i = first; i < r.entries.size(); ++i)
            line += "  " + action_name(r.entries[i].action) + " " +
                    (r.entries[i].applicable ? fmt(r.entries[i].drop) : "n/a");
        return line;
    };

    // The plans for every layer at once, filtered to one layer below.
    QuantPlan qplan;
    std::set<std::string> quantizable;
    if (o.quant) {
        if (calib.rank() != 4 || calib.shape()[0] <= 0)
            return invalid_argument("sensitivity: int8 needs (N, C, H, W) calibration images");
        PARE_ASSIGN_OR_RETURN(qplan, calibrate(folded, calib, o.quant_options));
        quantizable.insert(qplan.layers.begin(), qplan.layers.end());
    }
    std::vector<PrunePlan> sparse_plans;
    for (double s : o.sparsities) {
        PruneOptions po;
        po.method = PruneMethod::kMagnitude;
        po.sparsity = s;
        PARE_ASSIGN_OR_RETURN(PrunePlan p, analyze_pruning(g, po));
        sparse_plans.push_back(std::move(p));
    }
    std::vector<LowRankPlan> rank_plans;
    for (double red : o.rank_reductions) {
        LowRankOptions lo;
        lo.reduction = red;
        PARE_ASSIGN_OR_RETURN(LowRankPlan p, analyze_lowrank(g, lo));
        rank_plans.push_back(std::move(p));
    }

    int done = 0;
    for (const LayerSparsity& l : layers) {
        ++done;
        const size_t first = r.entries.size();
        if (o.quant) {
            if (!quantizable.count(l.layer)) {
                not_applicable(l.layer, {ActionKind::kInt8, 0}, "not quantizable");
                if (o.int4)
                    not_applicable(l.layer, {ActionKind::kInt4Weights, 0}, "not quantizable");
            } else {
                QuantPlan one = qplan;
                one.layers = {l.layer};
                PARE_RETURN_IF_ERROR(add(l.layer, {ActionKind::kInt8, 0},
                                         apply_quantization(folded, one, o.quant_options), l.params,
                                         l.params));
                if (o.int4) {
                    Graph q4 = folded;
                    const Status st = fake_quantize_weights(q4, l.layer, 4);
                    PARE_RETURN_IF_ERROR(
                        add(l.layer, {ActionKind::kInt4Weights, 0},
                            st.ok() ? Result<Graph>(std::move(q4)) : Result<Graph>(st), l.params,
                            l.params));
                }
            }
        }
        for (size_t k = 0; k < o.sparsities.size(); ++k) {
            PrunePlan one = sparse_plans[k];
            one.layers.clear();
            for (const LayerPrune& lp : sparse_plans[k].layers)
                if (lp.layer == l.layer) one.layers.push_back(lp);
            const Action a{ActionKind::kSparsity, o.sparsities[k]};
            if (one.layers.empty()) {
                not_applicable(l.layer, a, "not prunable");
                continue;
            }
            Result<Graph> m = apply_pruning(g, one);
            int64_t after = 0;
            if (m.ok()) {
                const Node* n = nullptr;
                for (const Node& x : m.value().nodes)
                    if (x.name == l.layer) n = &x;
                if (n) {  // the layer's parameters (bias included) less its zero weights
                    const Tensor& w = m.value().initializers.at(n->input(1));
                    after = l.params - w.numel() + nonzero(w);
                }
            }
            PARE_RETURN_IF_ERROR(add(l.layer, a, m, l.params, after));
        }
        for (size_t k = 0; k < o.rank_reductions.size(); ++k) {
            const Action a{ActionKind::kLowRank, o.rank_reductions[k]};
            LowRankPlan one;
            for (const LayerFactor& f : rank_plans[k].layers)
                if (f.layer == l.layer) one.layers.push_back(f);
            if (one.layers.empty()) {
                std::string why = "not factorizable";
                for (const auto& [name, reason] : rank_plans[k].skipped)
                    if (name == l.layer) why = reason;
                not_applicable(l.layer, a, why);
                continue;
            }
            PARE_RETURN_IF_ERROR(add(l.layer, a, apply_lowrank(g, one), one.layers[0].params_before,
                                     one.layers[0].params_after));
        }
        if (o.progress) {
            std::fprintf(stderr, "[%d/%zu] %s:%s\n", done, layers.size(), l.layer.c_str(),
                         entries_since(first).c_str());
        }
    }

    // Channel groups: each ratio's per-group plan, filtered to one group.
    if (!o.channel_ratios.empty()) {
        PARE_ASSIGN_OR_RETURN(std::vector<ChannelGroup> groups, channel_groups(g));
        std::map<std::string, size_t> order;
        for (size_t i = 0; i < g.nodes.size(); ++i) order[g.nodes[i].name] = i;
        std::vector<PrunePlan> plans;
        for (double ratio : o.channel_ratios) {
            PruneOptions po;
            po.method = PruneMethod::kL2;
            po.sparsity = ratio;
            PARE_ASSIGN_OR_RETURN(PrunePlan p, analyze_pruning(g, po));
            plans.push_back(std::move(p));
        }
        int gi = 0;
        for (const ChannelGroup& cg : groups) {
            ++gi;
            if (cg.layers.empty()) continue;
            SensitivityGroup sg;
            sg.layers = cg.layers;
            std::stable_sort(
                sg.layers.begin(), sg.layers.end(),
                [&](const std::string& a, const std::string& b) { return order[a] < order[b]; });
            sg.name = sg.layers.front();
            sg.channels = cg.channels;
            const std::set<std::string> members(cg.layers.begin(), cg.layers.end());
            int64_t before = 0;
            for (const std::string& m : members) before += params_of[m];
            const size_t first = r.entries.size();
            for (size_t k = 0; k < plans.size(); ++k) {
                const Action a{ActionKind::kChannels, o.channel_ratios[k]};
                if (cg.prunable < 2) {
                    not_applicable(sg.name, a, "frozen: " + cg.frozen_by);
                    continue;
                }
                PrunePlan one = plans[k];
                one.channels.clear();
                for (const ChannelPrune& cp : plans[k].channels)
                    if (members.count(cp.layer)) one.channels.push_back(cp);
                if (one.channels.empty()) {
                    not_applicable(sg.name, a, "no channel removed at this ratio");
                    continue;
                }
                Result<Graph> m = apply_pruning(g, one);
                if (m.ok() && o.recalibrate) {
                    const Status st = o.recalibrate(m.value());
                    if (!st.ok()) m = st;
                }
                int64_t after = 0;
                if (m.ok()) {
                    Result<std::vector<LayerSparsity>> rep = sparsity_report(m.value());
                    if (rep.ok())
                        for (const LayerSparsity& ls : rep.value())
                            if (members.count(ls.layer)) after += ls.params;
                }
                PARE_RETURN_IF_ERROR(add(sg.name, a, m, before, after));
            }
            r.groups.push_back(std::move(sg));
            if (o.progress) {
                std::fprintf(stderr, "[group %d/%zu] %s (%zu layers, %lld channels):%s\n", gi,
                             groups.size(), r.groups.back().name.c_str(), cg.layers.size(),
                             static_cast<long long>(cg.channels), entries_since(first).c_str());
            }
        }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

void report_sensitivity(HtmlReport& page, const SensitivityReport& r,
                        const LatencyProfile* latency) {
    const std::vector<Action> actions = r.actions();
    std::vector<std::string> targets;
    for (const auto& l : r.layers) targets.push_back(l.name);
    for (const auto& gr : r.groups)
        if (std::find(targets.begin(), targets.end(), gr.name) == targets.end())
            targets.push_back(gr.name);
    HeatSpec heat;
    heat.title = "Top-1 points lost, each action on one layer alone";
    heat.unit = "points";
    heat.rows = targets;
    for (const Action& a : actions) heat.columns.push_back(action_name(a));
    std::vector<std::vector<std::string>> rows;
    for (const std::string& t : targets) {
        std::vector<double> v;
        std::vector<std::string> row{t};
        for (const Action& a : actions) {
            const SensitivityEntry* e = r.find(t, a);
            const bool ok = e && e->applicable;
            v.push_back(ok ? e->drop : NAN);
            row.push_back(ok ? fmt(e->drop) : "n/a");
        }
        heat.values.push_back(std::move(v));
        rows.push_back(std::move(row));
    }
    heat.max = 5;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s: %.2f%% top-1 on %lld validation images; each cell is the top-1 change "
                  "when only that layer (or, for channelsNN, that channel group) is compressed. "
                  "Measured in %.0f s.",
                  r.model.c_str(), r.base_top1, static_cast<long long>(r.examples), r.seconds);
    page.heading("Per-layer sensitivity");
    page.paragraph(buf);
    page.svg(heatmap_svg(heat));
    std::vector<std::string> header{"layer / group"};
    for (const Action& a : actions) header.push_back(action_name(a));
    page.table(header, rows);
    if (!r.groups.empty()) {
        std::vector<std::vector<std::string>> grows;
        for (const auto& gr : r.groups) {
            std::string members;
            for (const auto& l : gr.layers) members += (members.empty() ? "" : ", ") + l;
            grows.push_back({gr.name, std::to_string(gr.channels), members});
        }
        page.paragraph("Channel groups (the layers whose output channels are removed together):");
        page.table({"group", "channels", "layers"}, grows);
    }
    BarSpec bars;
    bars.title = "Where the size and the latency go, per layer";
    bars.set_names = {"weights", "MACs"};
    bars.units = {"KB fp32", "M"};
    std::vector<double> kb, macs, ms;
    double step_total = 0, layer_total = 0;
    for (const auto& l : r.layers) {
        bars.labels.push_back(l.name);
        kb.push_back(4.0 * static_cast<double>(l.params) / 1024.0);
        macs.push_back(static_cast<double>(l.macs) / 1e6);
        double t = 0;
        if (latency)
            for (const StepTime& st : latency->steps)
                if (st.node == l.name) t += st.ms;
        ms.push_back(t);
        layer_total += t;
    }
    bars.values = {kb, macs};
    if (latency && !latency->steps.empty()) {
        for (const StepTime& st : latency->steps) step_total += st.ms;
        bars.set_names.push_back("latency");
        bars.units.push_back("ms");
        bars.values.push_back(ms);
    }
    page.svg(bars_svg(bars));
    if (latency && !latency->steps.empty()) {
        std::snprintf(buf, sizeof buf,
                      "Latency in pare's runtime, batch 1, %d runs: median %.3f ms; the layers "
                      "above take %.3f ms of the %.3f ms the plan's steps add up to (the rest: "
                      "pooling, additions and other steps).",
                      latency->runs, latency->median_ms, layer_total, step_total);
        page.paragraph(buf);
    }
}

std::string sensitivity_to_json(const SensitivityReport& r) {
    nlohmann::json j;
    j["format"] = "pare-sensitivity-1";
    j["model"] = r.model;
    j["examples"] = r.examples;
    j["base_top1"] = r.base_top1;
    j["seconds"] = r.seconds;
    j["layers"] = nlohmann::json::array();
    for (const auto& l : r.layers)
        j["layers"].push_back(
            {{"name", l.name}, {"op", l.op}, {"params", l.params}, {"macs", l.macs}});
    j["groups"] = nlohmann::json::array();
    for (const auto& gr : r.groups)
        j["groups"].push_back(
            {{"name", gr.name}, {"layers", gr.layers}, {"channels", gr.channels}});
    j["entries"] = nlohmann::json::array();
    for (const auto& e : r.entries) {
        nlohmann::json x = {{"target", e.target},
                            {"action", action_name(e.action)},
                            {"applicable", e.applicable},
                            {"params_before", e.params_before},
                            {"params_after", e.params_after}};
        if (e.applicable) {
            x["top1"] = e.top1;
            x["drop"] = e.drop;
            x["agreement"] = e.agreement;
        } else {
            x["note"] = e.note;
        }
        j["entries"].push_back(std::move(x));
    }
    return j.dump(1) + "\n";
}

Result<SensitivityReport> sensitivity_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument("not a JSON object");
    if (j.value("format", "") != "pare-sensitivity-1")
        return invalid_argument("\"format\" is not \"pare-sensitivity-1\"");
    SensitivityReport r;
    try {
        r.model = j.value("model", "");
        r.examples = j.at("examples").get<int64_t>();
        r.base_top1 = j.at("base_top1").get<double>();
        r.seconds = j.value("seconds", 0.0);
        for (const auto& l : j.at("layers"))
            r.layers.push_back({l.at("name").get<std::string>(), l.at("op").get<std::string>(),
                                l.at("params").get<int64_t>(), l.at("macs").get<int64_t>()});
        for (const auto& gr : j.at("groups"))
            r.groups.push_back({gr.at("name").get<std::string>(),
                                gr.at("layers").get<std::vector<std::string>>(),
                                gr.at("channels").get<int64_t>()});
        for (const auto& x : j.at("entries")) {
            SensitivityEntry e;
            e.target = x.at("target").get<std::string>();
            PARE_ASSIGN_OR_RETURN(e.action, parse_action(x.at("action").get<std::string>()));
            e.applicable = x.at("applicable").get<bool>();
            e.params_before = x.at("params_before").get<int64_t>();
            e.params_after = x.at("params_after").get<int64_t>();
            if (e.applicable) {
                e.top1 = x.at("top1").get<double>();
                e.drop = x.at("drop").get<double>();
                e.agreement = x.at("agreement").get<double>();
            } else {
                e.note = x.value("note", "");
            }
            r.entries.push_back(std::move(e));
        }
    } catch (const nlohmann::json::exception& e) {
        return invalid_argument(std::string("malformed sensitivity file: ") + e.what());
    }
    return r;
}

}  // namespace pare
