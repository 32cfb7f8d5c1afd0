#include "toolkit/auto/auto.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "runtime/ir/passes/passes.h"
#include "toolkit/io/files.h"
#include "toolkit/lowrank/lowrank.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/quant/quantize.h"
#include "toolkit/report/evaluate.h"
#include "toolkit/report/latency.h"

namespace pare {

namespace {

using Clock = std::chrono::steady_clock;

// Points every choice is assumed to cost on top of its measured loss alone: losses
// measured as zero do not add up to zero.
constexpr double kDropFloor = 0.1;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Per layer: MACs and parameters (sparsity_report of the graph).
struct LayerCost {
    int64_t macs = 0, params = 0;
};
Result<std::map<std::string, LayerCost>> layer_costs(const Graph& g) {
    PARE_ASSIGN_OR_RETURN(std::vector<LayerSparsity> rep, sparsity_report(g));
    std::map<std::string, LayerCost> out;
    for (const LayerSparsity& l : rep) out[l.layer] = {l.macs, l.params};
    return out;
}

double fraction(int64_t after, int64_t before) {
    return before > 0 ? static_cast<double>(after) / static_cast<double>(before) : 1.0;
}

std::string level_key(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return b;
}

}  // namespace

Result<AutoObjective> parse_objective(const std::string& name) {
    if (name == "latency") return AutoObjective::kLatency;
    if (name == "size") return AutoObjective::kSize;
    return invalid_argument("--objective must be latency or size, not \"" + name + "\"");
}

const char* objective_name(AutoObjective o) {
    return o == AutoObjective::kLatency ? "latency" : "size";
}

std::string config_summary(const AutoConfig& c) {
    std::string s;
    char b[128];
    if (!c.channels.empty()) {
        double mean = 0;
        for (const auto& kv : c.channels) mean += kv.second;
        mean /= static_cast<double>(c.channels.size());
        std::snprintf(b, sizeof b, "channels %zu group%s (mean %.0f%% removed)", c.channels.size(),
                      c.channels.size() == 1 ? "" : "s", 100 * mean);
        s += b;
    }
    if (!c.ranks.empty()) {
        std::snprintf(b, sizeof b, "%slow rank %zu layer%s", s.empty() ? "" : ", ", c.ranks.size(),
                      c.ranks.size() == 1 ? "" : "s");
        s += b;
    }
    if (c.int8) {
        std::snprintf(b, sizeof b, "%sint8", s.empty() ? "" : ", ");
        s += b;
        if (!c.keep_float.empty()) s += " (" + std::to_string(c.keep_float.size()) + " kept float)";
    }
    return s.empty() ? "unchanged" : s;
}

// --- state --------------------------------------------------------------------

int AutoState::best(double max_drop, AutoObjective objective) const {
    int best = -1;
    auto key = [&](const AutoTrial& t) {
        return objective == AutoObjective::kLatency ? t.latency_ms
                                                    : static_cast<double>(t.size_bytes);
    };
    for (size_t i = 0; i < trials.size(); ++i) {
        const AutoTrial& t = trials[i];
        if (!t.ok || base_val_top1 - t.val_top1 > max_drop + 1e-9) continue;
        if (best < 0 || key(t) < key(trials[static_cast<size_t>(best)]) ||
            (key(t) == key(trials[static_cast<size_t>(best)]) &&
             t.val_top1 > trials[static_cast<size_t>(best)].val_top1))
            best = static_cast<int>(i);
    }
    return best;
}

int AutoState::closest() const {
    int c = -1;
    for (size_t i = 0; i < trials.size(); ++i)
        if (trials[i].ok && (c < 0 || trials[i].val_top1 > trials[static_cast<size_t>(c)].val_top1))
            c = static_cast<int>(i);
    return c;
}

std::vector<int> AutoState::pareto() const {
    std::vector<int> front;
    for (size_t i = 0; i < trials.size(); ++i) {
        const AutoTrial& a = trials[i];
        if (!a.ok) continue;
        bool dominated = false;
        for (size_t j = 0; j < trials.size() && !dominated; ++j) {
            const AutoTrial& b = trials[j];
            if (i == j || !b.ok) continue;
            const bool no_worse = b.val_top1 >= a.val_top1 && b.latency_ms <= a.latency_ms &&
                                  b.size_bytes <= a.size_bytes;
            const bool better = b.val_top1 > a.val_top1 || b.latency_ms < a.latency_ms ||
                                b.size_bytes < a.size_bytes;
            dominated = no_worse && better;
        }
        if (!dominated) front.push_back(static_cast<int>(i));
    }
    return front;
}

namespace {

nlohmann::json config_json(const AutoConfig& c) {
    nlohmann::json ch = nlohmann::json::object(), rk = nlohmann::json::object();
    for (const auto& [k, v] : c.channels) ch[k] = v;
    for (const auto& [k, v] : c.ranks) rk[k] = v;
    return {{"channels", ch}, {"ranks", rk}, {"int8", c.int8}, {"keep_float", c.keep_float}};
}

AutoConfig config_from(const nlohmann::json& j) {
    AutoConfig c;
    for (const auto& [k, v] : j.at("channels").items()) c.channels[k] = v.get<double>();
    for (const auto& [k, v] : j.at("ranks").items()) c.ranks[k] = v.get<double>();
    c.int8 = j.at("int8").get<bool>();
    c.keep_float = j.at("keep_float").get<std::vector<std::string>>();
    for (const auto& [k, v] : c.channels)
        if (!(v > 0 && v < 1))
            throw std::runtime_error("channel fraction of \"" + k + "\" not in (0, 1)");
    for (const auto& [k, v] : c.ranks)
        if (!(v > 1)) throw std::runtime_error("rank reduction of \"" + k + "\" not above 1");
    return c;
}

}  // namespace

namespace {

nlohmann::json trial_json(const AutoTrial& t) {
    nlohmann::json x = {{"index", t.index},     {"config", config_json(t.config)},
                        {"budget", t.budget},   {"ok", t.ok},
                        {"seconds", t.seconds}, {"worker", t.worker}};
    if (t.ok) {
        x["val_top1"] = t.val_top1;
        x["latency_ms"] = t.latency_ms;
        x["predicted_ms"] = t.predicted_ms;
        x["size_bytes"] = t.size_bytes;
        x["params"] = t.params;
    } else {
        x["error"] = t.error;
    }
    return x;
}

AutoTrial trial_from(const nlohmann::json& x) {
    AutoTrial t;
    t.index = x.at("index").get<int>();
    t.config = config_from(x.at("config"));
    t.budget = x.at("budget").get<double>();
    t.ok = x.at("ok").get<bool>();
    t.seconds = x.at("seconds").get<double>();
    t.worker = x.value("worker", 0);
    if (t.ok) {
        t.val_top1 = x.at("val_top1").get<double>();
        t.latency_ms = x.at("latency_ms").get<double>();
        t.predicted_ms = x.at("predicted_ms").get<double>();
        t.size_bytes = x.at("size_bytes").get<int64_t>();
        t.params = x.at("params").get<int64_t>();
    } else {
        t.error = x.value("error", "");
    }
    return t;
}

}  // namespace

std::string trial_to_json(const AutoTrial& t) { return trial_json(t).dump(); }

Result<AutoTrial> trial_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument("a trial is no JSON object");
    try {
        return trial_from(j);
    } catch (const std::exception& e) {
        return invalid_argument(std::string("malformed trial: ") + e.what());
    }
}

std::string auto_state_to_json(const AutoState& s) {
    nlohmann::json j;
    j["format"] = "pare-auto-state-1";
    j["model"] = s.model_id;
    j["settings"] = s.settings;
    j["base"] = {{"val_top1", s.base_val_top1},
                 {"latency_ms", s.base_latency_ms},
                 {"int8_latency_ms", s.base_int8_latency_ms},
                 {"size_bytes", s.base_size_bytes},
                 {"params", s.base_params}};
    j["budget"] = s.budget;
    j["sensitivity"] = nlohmann::json::parse(s.sensitivity, nullptr, false);
    j["elapsed_s"] = s.elapsed_s;
    j["trials"] = nlohmann::json::array();
    for (const AutoTrial& t : s.trials) j["trials"].push_back(trial_json(t));
    return j.dump(1) + "\n";
}

Result<AutoState> auto_state_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument("not a JSON object (corrupt?)");
    if (j.value("format", "") != "pare-auto-state-1")
        return invalid_argument("\"format\" is not \"pare-auto-state-1\"");
    AutoState s;
    try {
        s.model_id = j.at("model").get<std::string>();
        s.settings = j.at("settings").get<std::string>();
        const auto& b = j.at("base");
        s.base_val_top1 = b.at("val_top1").get<double>();
        s.base_latency_ms = b.at("latency_ms").get<double>();
        s.base_int8_latency_ms = b.at("int8_latency_ms").get<double>();
        s.base_size_bytes = b.at("size_bytes").get<int64_t>();
        s.base_params = b.at("params").get<int64_t>();
        s.budget = j.at("budget").get<double>();
        if (!j.at("sensitivity").is_object())
            return invalid_argument("\"sensitivity\" is no object");
        s.sensitivity = j.at("sensitivity").dump();
        s.elapsed_s = j.at("elapsed_s").get<double>();
        for (const auto& x : j.at("trials")) {
            AutoTrial t = trial_from(x);
            if (!s.trials.empty() && t.index <= s.trials.back().index)
                return invalid_argument("trial " + std::to_string(t.index) + " follows trial " +
                                        std::to_string(s.trials.back().index));
            s.trials.push_back(std::move(t));
        }
    } catch (const std::exception& e) {
        return invalid_argument(std::string("malformed state: ") + e.what());
    }
    return s;
}

Result<std::string> model_identity(const std::string& path) {
    PARE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char b[64];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
    const size_t slash = path.find_last_of('/');
    return (slash == std::string::npos ? path : path.substr(slash + 1)) + ", " +
           std::to_string(bytes.size()) + " bytes, fnv1a " + b;
}

std::string auto_settings(const AutoOptions& o, const std::string& data) {
    std::string s = "data " + data + ", max-drop " + level_key(o.max_drop) + ", objective " +
                    objective_name(o.objective) + ", seed " + std::to_string(o.seed) + ", channels";
    for (double v : o.channel_levels) s += " " + level_key(v);
    s += ", ranks";
    for (double v : o.rank_levels) s += " " + level_key(v);
    if (o.steer_drop() > o.max_drop) s += ", search-drop " + level_key(o.steer_drop());
    return s;
}

void report_auto(HtmlReport& page, const AutoState& s, const AutoOptions& o, int chosen,
                 const AutoReportExtra& extra) {
    char buf[512];
    int ok = 0;
    for (const AutoTrial& t : s.trials) ok += t.ok;
    page.heading("Automated compression");
    std::snprintf(buf, sizeof buf,
                  "%zu trials (%d measured) in %.0f s (%.2f per minute), objective %s, at most "
                  "%.2f points of validation top-1 lost. Original: %.2f%% validation top-1, "
                  "%.3f ms in pare (int8: %.3f ms), %lld bytes.",
                  s.trials.size(), ok, s.elapsed_s,
                  60.0 * static_cast<double>(s.trials.size()) / std::max(1.0, s.elapsed_s),
                  objective_name(o.objective), o.max_drop, s.base_val_top1, s.base_latency_ms,
                  s.base_int8_latency_ms, static_cast<long long>(s.base_size_bytes));
    page.paragraph(buf);
    if (chosen >= 0) {
        const AutoTrial& b = s.trials[static_cast<size_t>(chosen)];
        std::snprintf(
            buf, sizeof buf,
            "Chosen: trial %d (%s): %.2f%% validation top-1 (%+.2f), %.3f ms (%.2fx "
            "faster), %lld bytes (%.1fx smaller).",
            b.index, config_summary(b.config).c_str(), b.val_top1, b.val_top1 - s.base_val_top1,
            b.latency_ms, b.latency_ms > 0 ? s.base_latency_ms / b.latency_ms : 0.0,
            static_cast<long long>(b.size_bytes),
            b.size_bytes > 0
                ? static_cast<double>(s.base_size_bytes) / static_cast<double>(b.size_bytes)
                : 0.0);
        page.paragraph(buf);
    }
    if (std::isfinite(extra.speedup)) {
        std::snprintf(buf, sizeof buf,
                      "The written model runs %.2fx as fast as the original in pare (batch 1, "
                      "seven alternating rounds of both, median of the per-round ratios).",
                      extra.speedup);
        page.paragraph(buf);
    }
    if (std::isfinite(extra.test_top1_after)) {
        std::snprintf(buf, sizeof buf,
                      "Test split (final figures, never seen by the search): original %.2f%%, "
                      "result %.2f%% (%+.2f points).",
                      extra.test_top1_before, extra.test_top1_after,
                      extra.test_top1_after - extra.test_top1_before);
        page.paragraph(buf);
    }
    const std::vector<int> front = s.pareto();
    PlotSeries all{"trials", {}, {}, false, false}, fr{"Pareto front", {}, {}, true, true},
        orig{"original (float)", {{s.base_latency_ms, s.base_val_top1}}, {"original"}, false, true};
    PlotSeries all_kb = all, fr_kb = fr,
               orig_kb{"original (float)",
                       {{static_cast<double>(s.base_size_bytes) / 1024.0, s.base_val_top1}},
                       {"original"},
                       false,
                       true};
    for (const AutoTrial& t : s.trials) {
        if (!t.ok) continue;
        all.points.emplace_back(t.latency_ms, t.val_top1);
        all.labels.push_back("trial " + std::to_string(t.index));
        all_kb.points.emplace_back(static_cast<double>(t.size_bytes) / 1024.0, t.val_top1);
        all_kb.labels.push_back("trial " + std::to_string(t.index));
    }
    for (int i : front) {
        const AutoTrial& t = s.trials[static_cast<size_t>(i)];
        fr.points.emplace_back(t.latency_ms, t.val_top1);
        fr.labels.push_back(std::to_string(t.index));
        fr_kb.points.emplace_back(static_cast<double>(t.size_bytes) / 1024.0, t.val_top1);
        fr_kb.labels.push_back(std::to_string(t.index));
    }
    PlotSeries single{"single techniques", {}, {}, false, true}, single_kb = single;
    for (const AutoBaseline& b : extra.baselines) {
        single.points.emplace_back(b.latency_ms, b.val_top1);
        single.labels.push_back(b.label);
        single_kb.points.emplace_back(static_cast<double>(b.size_bytes) / 1024.0, b.val_top1);
        single_kb.labels.push_back(b.label);
    }
    ScatterSpec lat{"Validation top-1 against latency (Pareto front labelled by trial)",
                    "latency in pare, batch 1 (ms)",
                    "validation top-1 (%)",
                    {all, fr, orig},
                    false};
    ScatterSpec size{"Validation top-1 against size",
                     "ONNX file (KB)",
                     "validation top-1 (%)",
                     {all_kb, fr_kb, orig_kb},
                     true};
    if (!extra.baselines.empty()) {
        lat.series.push_back(single);
        size.series.push_back(single_kb);
        std::vector<std::vector<std::string>> rows;
        for (const AutoBaseline& b : extra.baselines) {
            char a[32], l[32];
            std::snprintf(a, sizeof a, "%.2f", b.val_top1);
            std::snprintf(l, sizeof l, "%.3f", b.latency_ms);
            rows.push_back({b.label, a, l, std::to_string(b.size_bytes)});
        }
        page.paragraph(
            "Each technique alone, measured like the trials (same validation images, "
            "same latency measurement):");
        page.table({"model", "val top-1 %", "ms", "bytes"}, rows);
    }
    page.svg(scatter_svg(lat));
    page.svg(scatter_svg(size));
    PlotSeries pm{"trials", {}, {}, false, false},
        ideal{"predicted = measured", {}, {}, true, false};
    double lo = INFINITY, hi = 0;
    for (const AutoTrial& t : s.trials) {
        if (!t.ok) continue;
        pm.points.emplace_back(t.predicted_ms, t.latency_ms);
        pm.labels.push_back("trial " + std::to_string(t.index));
        lo = std::min({lo, t.predicted_ms, t.latency_ms});
        hi = std::max({hi, t.predicted_ms, t.latency_ms});
    }
    if (hi > 0) ideal.points = {{lo, lo}, {hi, hi}};
    page.svg(scatter_svg({"The latency table checked: predicted against measured latency",
                          "predicted from the per-layer table (ms)",
                          "measured (ms)",
                          {pm, ideal},
                          false}));
    std::vector<std::vector<std::string>> rows;
    const std::set<int> on_front(front.begin(), front.end());
    for (size_t i = 0; i < s.trials.size(); ++i) {
        const AutoTrial& t = s.trials[i];
        char a[32], d[32], l[32], p[32];
        std::snprintf(a, sizeof a, "%.2f", t.val_top1);
        std::snprintf(d, sizeof d, "%+.2f", t.val_top1 - s.base_val_top1);
        std::snprintf(l, sizeof l, "%.3f", t.latency_ms);
        std::snprintf(p, sizeof p, "%.3f", t.predicted_ms);
        std::string mark = static_cast<int>(i) == chosen         ? "chosen"
                           : on_front.count(static_cast<int>(i)) ? "front"
                                                                 : "";
        if (!t.ok)
            rows.push_back({std::to_string(t.index), config_summary(t.config), "failed: " + t.error,
                            "", "", "", "", std::to_string(t.worker), ""});
        else
            rows.push_back({std::to_string(t.index), config_summary(t.config), a, d, l, p,
                            std::to_string(t.size_bytes), std::to_string(t.worker), mark});
    }
    page.table({"trial", "configuration", "val top-1 %", "change", "ms", "predicted ms", "bytes",
                "worker", ""},
               rows);
}

// --- the search ---------------------------------------------------------------

Result<AutoSearch> AutoSearch::create(const Graph& g, SensitivityReport sensitivity,
                                      const AutoOptions& o, const AutoContext& ctx) {
    if (!ctx.val || ctx.val->size() == 0) return invalid_argument("auto: no validation images");
    if (!std::isfinite(o.max_drop)) return invalid_argument("auto: --max-drop must be a number");
    AutoSearch s;
    s.o_ = o;
    s.ctx_ = ctx;
    s.sens_ = std::move(sensitivity);
    PARE_ASSIGN_OR_RETURN(s.g_, prepare_for_pruning(g));
    s.base_top1_ = s.sens_.base_top1;
    PARE_ASSIGN_OR_RETURN(auto base_cost, layer_costs(s.g_));
    for (const auto& [name, c] : base_cost) s.layer_params_[name] = c.params;
    s.base_params_ = s.g_.parameter_count();
    PARE_ASSIGN_OR_RETURN(std::string bytes, export_onnx_bytes(g));
    s.base_size_ = static_cast<int64_t>(bytes.size());

    LatencyOptions lo;
    lo.runs = o.latency_runs;
    lo.threads = o.threads;
    lo.rounds = 3;
    PARE_ASSIGN_OR_RETURN(LatencyProfile prof, measure_latency(s.g_, lo));
    s.base_fp32_ms_ = prof.median_ms;
    for (const SensitivityLayer& l : s.sens_.layers) {
        const SensitivityEntry* e = s.sens_.find(l.name, {ActionKind::kInt8, 0});
        if (e && e->applicable && e->drop > o.keep_float_drop) s.keep_float_.push_back(l.name);
    }
    // The latency table is measured on int8 models, as the candidates run: the
    // original's plan steps, then each choice's alone (below).
    lo.per_step = true;
    // Step times by layer: a layer's own step and those its factorization added
    // ("layer/lowrank_..."); "" for the rest (quantize, add, pool steps).
    auto by_layer = [&](const LatencyProfile& p) {
        std::map<std::string, double> t;
        for (const StepTime& st : p.steps) {
            const std::string root = st.node.substr(0, st.node.find('/'));
            t[base_cost.count(root) ? root : ""] += st.ms;
        }
        return t;
    };
    AutoConfig plain;
    plain.keep_float = s.keep_float_;
    PARE_ASSIGN_OR_RETURN(s.base_q_, s.build(plain, false));
    const Graph& base_q = s.base_q_;
    {
        PARE_ASSIGN_OR_RETURN(LatencyProfile p8, measure_latency(base_q, lo));
        s.base_int8_ms_ = p8.median_ms;
        const std::map<std::string, double> t = by_layer(p8);
        double total = 0;
        for (const auto& kv : t) total += kv.second;
        for (const auto& [layer, ms] : t) s.layer_share_[layer] = total > 0 ? ms / total : 0;
    }

    // The items: each group's channel levels and each layer's rank levels, with
    // the MACs and parameters each leaves in every layer (applied alone).
    for (double level : o.channel_levels) {
        PruneOptions po;
        po.method = PruneMethod::kL2;
        po.sparsity = level;
        po.round_to = o.round_channels;
        PARE_ASSIGN_OR_RETURN(PrunePlan p, analyze_pruning(s.g_, po));
        s.channel_plans_[level] = std::move(p);
    }
    for (const SensitivityGroup& gr : s.sens_.groups) {
        s.group_layers_[gr.name] = gr.layers;
        const std::set<std::string> members(gr.layers.begin(), gr.layers.end());
        for (double level : o.channel_levels) {
            const SensitivityEntry* e = s.sens_.find(gr.name, {ActionKind::kChannels, level});
            if (!e || !e->applicable) continue;
            PrunePlan one = s.channel_plans_[level];
            one.channels.clear();
            for (const ChannelPrune& cp : s.channel_plans_[level].channels)
                if (members.count(cp.layer)) one.channels.push_back(cp);
            if (one.channels.empty()) continue;
            Result<Graph> m = apply_pruning(s.g_, one);
            if (!m.ok()) continue;
            PARE_ASSIGN_OR_RETURN(auto after, layer_costs(m.value()));
            Item it;
            it.target = gr.name;
            it.channels = true;
            it.level = level;
            it.drop = std::max(0.0, e->drop) + kDropFloor;
            for (const auto& [name, c] : base_cost) {
                const auto a = after.find(name);
                if (a == after.end()) continue;
                it.params_frac[name] = fraction(a->second.params, c.params);
            }
            s.items_.push_back(std::move(it));
        }
    }
    for (double level : o.rank_levels) {
        LowRankOptions lr;
        lr.reduction = level;
        PARE_ASSIGN_OR_RETURN(LowRankPlan p, analyze_lowrank(s.g_, lr));
        for (const LayerFactor& f : p.layers) {
            const SensitivityEntry* e = s.sens_.find(f.layer, {ActionKind::kLowRank, level});
            if (!e || !e->applicable) continue;
            Item it;
            it.target = f.layer;
            it.level = level;
            it.drop = std::max(0.0, e->drop) + kDropFloor;
            it.params_frac[f.layer] = fraction(f.params_after, f.params_before);
            s.items_.push_back(std::move(it));
        }
    }
    // Each choice's latency: the int8 model with that choice alone, per layer the
    // fraction of the original's time left (per-step medians, steadier than whole
    // runs). The original is measured again next to each choice: a shared
    // machine's speed drifts over minutes by tens of percent. Fractions multiply
    // when choices meet in a layer (channels removed on both sides of a
    // convolution, then its factorization), which sums of differences would not.
    for (size_t i = 0; i < s.items_.size() && o.latency_table; ++i) {
        Item& it = s.items_[i];
        AutoConfig one;
        one.keep_float = s.keep_float_;
        set(one, it);
        PARE_ASSIGN_OR_RETURN(Graph q, s.build(one, false));
        PARE_ASSIGN_OR_RETURN(LatencyProfile pb, measure_latency(base_q, lo));
        PARE_ASSIGN_OR_RETURN(LatencyProfile p, measure_latency(q, lo));
        // Only the layers the choice changes (their parameters change) and the
        // steps of no layer: elsewhere a fraction would be noise around 1, and
        // noise multiplies.
        const std::map<std::string, double> tb = by_layer(pb), ti = by_layer(p);
        for (const auto& [layer, ms] : tb) {
            const auto pf = it.params_frac.find(layer);
            const bool changed = layer.empty() || (pf != it.params_frac.end() && pf->second != 1.0);
            const auto x = ti.find(layer);
            if (ms > 0 && changed) it.time_frac[layer] = (x == ti.end() ? 0.0 : x->second) / ms;
        }
        if (o.progress && ((i + 1) % 10 == 0 || i + 1 == s.items_.size()))
            std::fprintf(stderr, "auto: latency table %zu/%zu choices measured\n", i + 1,
                         s.items_.size());
    }
    if (o.progress)
        std::fprintf(stderr,
                     "auto: original %.3f ms float, %.3f ms int8; %zu choices (channel groups x "
                     "levels, layers x ranks)\n",
                     s.base_fp32_ms_, s.base_int8_ms_, s.items_.size());
    return s;
}

namespace {

// The fraction of a layer's MACs or parameters config leaves.
template <class Items>
double params_fraction(const Items& items, const AutoConfig& c, const std::string& layer) {
    double f = 1;
    for (const auto& it : items) {
        const auto& chosen = it.channels ? c.channels : c.ranks;
        const auto k = chosen.find(it.target);
        if (k == chosen.end() || k->second != it.level) continue;
        const auto x = it.params_frac.find(layer);
        if (x != it.params_frac.end()) f *= x->second;
    }
    return f;
}

}  // namespace

double AutoSearch::predict_ms(const AutoConfig& c) const {
    double share = 0;
    for (const auto& [layer, sh] : layer_share_) {
        double f = 1;
        for (const Item& it : items_) {
            if (level_of(c, it) != it.level) continue;
            const auto x = it.time_frac.find(layer);
            if (x != it.time_frac.end()) f *= x->second;
        }
        share += sh * f;
    }
    return base_int8_ms_ * share;
}

void AutoSearch::set(AutoConfig& c, const Item& it) {
    (it.channels ? c.channels : c.ranks)[it.target] = it.level;
}

double AutoSearch::level_of(const AutoConfig& c, const Item& it) {
    const auto& m = it.channels ? c.channels : c.ranks;
    const auto k = m.find(it.target);
    return k == m.end() ? 0.0 : k->second;
}

AutoConfig AutoSearch::propose(const AutoState& state, int index, double* budget) const {
    std::mt19937_64 rng(o_.seed * 1000003ull + static_cast<uint64_t>(index));
    AutoConfig base;
    base.int8 = true;
    base.keep_float = keep_float_;
    // Trial 0: int8 alone, the safe candidate every search has.
    if (index == 0) {
        *budget = 0;
        return base;
    }
    std::set<std::string> tried;
    for (const AutoTrial& t : state.trials) tried.insert(config_json(t.config).dump());
    AutoConfig c = propose_new(state, index, budget, rng);
    // A configuration tried before is made one step more aggressive somewhere.
    std::vector<const Item*> up;
    for (int attempt = 0; attempt < 50 && tried.count(config_json(c).dump()); ++attempt) {
        up.clear();
        for (const Item& it : items_)
            if (it.level > level_of(c, it)) up.push_back(&it);
        if (up.empty()) break;
        set(c, *up[rng() % up.size()]);
    }
    return c;
}

AutoConfig AutoSearch::propose_new(const AutoState& state, int index, double* budget,
                                   std::mt19937_64& rng) const {
    AutoConfig base;
    base.int8 = true;
    base.keep_float = keep_float_;
    auto objective = [&](const AutoConfig& c) {
        if (o_.objective == AutoObjective::kLatency) return predict_ms(c);
        double p = 0;
        for (const auto& [layer, n] : layer_params_)
            p += static_cast<double>(n) * params_fraction(items_, c, layer);
        return p;
    };
    const int best = state.best(o_.steer_drop(), o_.objective);
    if (index % 2 == 1 && best >= 0 && !items_.empty()) {
        // Mutate the best: one target one level more aggressive (or, one time in
        // four, one of its choices undone).
        const AutoTrial& b = state.trials[static_cast<size_t>(best)];
        AutoConfig c = b.config;
        *budget = b.budget;
        std::uniform_real_distribution<double> u(0, 1);
        if (u(rng) < 0.25 && !(c.channels.empty() && c.ranks.empty())) {
            std::vector<std::pair<bool, std::string>> chosen;
            for (const auto& kv : c.channels) chosen.emplace_back(true, kv.first);
            for (const auto& kv : c.ranks) chosen.emplace_back(false, kv.first);
            const auto& pick = chosen[rng() % chosen.size()];
            (pick.first ? c.channels : c.ranks).erase(pick.second);
            return c;
        }
        std::vector<const Item*> up;
        for (const Item& it : items_)
            if (it.level > level_of(c, it)) up.push_back(&it);
        if (!up.empty()) set(c, *up[rng() % up.size()]);
        return c;
    }
    // Greedy under the budget of estimated loss: the choice with the most objective
    // saved per (perturbed) point lost, until the budget is spent.
    *budget = state.budget;
    std::lognormal_distribution<double> noise(0.0, 0.4);
    std::vector<double> drop(items_.size());
    for (size_t i = 0; i < items_.size(); ++i) drop[i] = items_[i].drop * noise(rng);
    AutoConfig c = base;
    std::map<std::string, double> spent_on;  // target key -> its drop so far
    double spent = 0;
    for (;;) {
        const double now = objective(c);
        int pick = -1;
        double best_score = 0;
        for (size_t i = 0; i < items_.size(); ++i) {
            const Item& it = items_[i];
            if (it.level <= level_of(c, it)) continue;
            const std::string key = (it.channels ? "c:" : "r:") + it.target;
            const auto sp = spent_on.find(key);
            const double extra = drop[i] - (sp == spent_on.end() ? 0.0 : sp->second);
            if (spent + std::max(0.0, extra) > *budget) continue;
            AutoConfig t = c;
            set(t, it);
            const double gain = now - objective(t);
            if (gain <= 0) continue;
            const double score = gain / (std::max(0.0, extra) + 0.05);
            if (score > best_score) best_score = score, pick = static_cast<int>(i);
        }
        if (pick < 0) break;
        const Item& it = items_[static_cast<size_t>(pick)];
        const std::string key = (it.channels ? "c:" : "r:") + it.target;
        spent += std::max(0.0, drop[static_cast<size_t>(pick)] - spent_on[key]);
        spent_on[key] = drop[static_cast<size_t>(pick)];
        set(c, it);
    }
    return c;
}

Result<Graph> AutoSearch::build(const AutoConfig& c, bool finetune) const {
    Graph m = g_;
    if (!c.channels.empty()) {
        PrunePlan plan;
        plan.method = PruneMethod::kL2;
        std::map<std::string, std::vector<int64_t>> per_layer;
        for (const auto& [group, level] : c.channels) {
            const auto p = channel_plans_.find(level);
            const auto members = group_layers_.find(group);
            if (p == channel_plans_.end() || members == group_layers_.end())
                return invalid_argument("no channel group \"" + group + "\" at level " +
                                        level_key(level));
            const std::set<std::string> in(members->second.begin(), members->second.end());
            for (const ChannelPrune& cp : p->second.channels)
                if (in.count(cp.layer)) per_layer[cp.layer] = cp.channels;
        }
        for (const Node& n : m.nodes) {
            const auto it = per_layer.find(n.name);
            if (it != per_layer.end()) plan.channels.push_back({n.name, it->second});
        }
        PARE_ASSIGN_OR_RETURN(m, apply_pruning(m, plan));
    }
    if (!c.ranks.empty()) {
        std::map<double, std::vector<std::string>> by_level;
        for (const auto& [layer, level] : c.ranks) by_level[level].push_back(layer);
        LowRankPlan plan;
        for (const auto& [level, layers] : by_level) {
            LowRankOptions lr;
            lr.reduction = level;
            lr.only = layers;
            PARE_ASSIGN_OR_RETURN(LowRankPlan p, analyze_lowrank(m, lr));
            plan.layers.insert(plan.layers.end(), p.layers.begin(), p.layers.end());
        }
        if (!plan.layers.empty()) {
            PARE_ASSIGN_OR_RETURN(m, apply_lowrank(m, plan));
        }
    }
    if (finetune && ctx_.finetune && (!c.channels.empty() || !c.ranks.empty()))
        PARE_RETURN_IF_ERROR(ctx_.finetune(m));
    if (!c.int8) return m;
    PARE_RETURN_IF_ERROR(run_default_passes(m));
    QuantOptions qo;
    std::set<std::string> names;
    for (const Node& n : m.nodes) names.insert(n.name);
    for (const std::string& k : c.keep_float)
        if (names.count(k)) qo.keep_float.push_back(k);
    PARE_ASSIGN_OR_RETURN(QuantPlan plan, calibrate(m, ctx_.calib, qo));
    PARE_ASSIGN_OR_RETURN(Graph q, apply_quantization(m, plan, qo));
    compact_names(q);
    return q;
}

AutoTrial AutoSearch::evaluate(const AutoConfig& c, int index, std::string* onnx_bytes) const {
    const auto t0 = Clock::now();
    AutoTrial t;
    t.index = index;
    t.config = c;
    t.predicted_ms = predict_ms(c);
    auto fail = [&](const Status& st) {
        t.ok = false;
        t.error = st.message();
        t.seconds = seconds_since(t0);
        return t;
    };
    Result<Graph> m = build(c, true);
    if (!m.ok()) return fail(m.status());
    Result<EvalReport> ev = pare::evaluate(m.value(), *ctx_.val);
    if (!ev.ok()) return fail(ev.status());
    // Latency as a multiple of the original int8 model's, the two measured in
    // alternation: trials minutes apart stay comparable on a drifting machine.
    LatencyOptions lo;
    lo.runs = o_.latency_runs;
    lo.threads = o_.threads;
    Result<double> speedup = alternating_speedup(base_q_, m.value(), lo, 3);
    if (!speedup.ok()) return fail(speedup.status());
    Result<std::string> bytes = export_onnx_bytes(m.value());
    if (!bytes.ok()) return fail(bytes.status());
    t.ok = true;
    t.val_top1 = 100.0 * ev.value().top1;
    t.latency_ms = speedup.value() > 0 ? base_int8_ms_ / speedup.value() : 0;
    t.size_bytes = static_cast<int64_t>(bytes.value().size());
    t.params = m.value().parameter_count();
    t.seconds = seconds_since(t0);
    if (onnx_bytes) *onnx_bytes = std::move(bytes).value();
    return t;
}

void AutoSearch::init_state(AutoState* s) const {
    s->base_val_top1 = base_top1_;
    s->base_latency_ms = base_fp32_ms_;
    s->base_int8_latency_ms = base_int8_ms_;
    s->base_size_bytes = base_size_;
    s->base_params = base_params_;
    s->budget = o_.initial_budget;
}

void AutoSearch::update_budget(AutoState* s, const AutoTrial& t) const {
    if (t.index % 2 == 1) return;  // mutations do not move the greedy budget
    const bool met = t.ok && s->base_val_top1 - t.val_top1 <= o_.steer_drop();
    s->budget = std::clamp(s->budget * (met ? 1.5 : 0.6), 0.05, 1000.0);
}

Status AutoSearch::record(AutoState* s, AutoTrial t, const std::string& bytes,
                          const std::string& state_path, const std::string& out_path) const {
    const int before = s->best(o_.max_drop, o_.objective);
    const int best_before = before < 0 ? -1 : s->trials[static_cast<size_t>(before)].index;
    auto at = std::find_if(s->trials.begin(), s->trials.end(),
                           [&](const AutoTrial& x) { return x.index > t.index; });
    s->trials.insert(at, t);
    update_budget(s, t);
    const int best_now = s->best(o_.max_drop, o_.objective);
    const bool is_best = best_now >= 0 && t.index != best_before &&
                         s->trials[static_cast<size_t>(best_now)].index == t.index;
    // The model first, then the state that names it: a kill between the two
    // leaves the previous state, which the resumed search continues from.
    if (is_best) PARE_RETURN_IF_ERROR(write_file_atomic(out_path, bytes).with_context(out_path));
    PARE_RETURN_IF_ERROR(
        write_file_atomic(state_path, auto_state_to_json(*s)).with_context(state_path));
    if (o_.progress) {
        if (t.ok)
            std::fprintf(stderr,
                         "auto: trial %d (worker %d): top-1 %.2f%% (%+.2f), %.3f ms (predicted "
                         "%.3f), %lld bytes, %.0f s%s\n",
                         t.index, t.worker, t.val_top1, t.val_top1 - s->base_val_top1, t.latency_ms,
                         t.predicted_ms, static_cast<long long>(t.size_bytes), t.seconds,
                         is_best ? "  (best so far)" : "");
        else
            std::fprintf(stderr, "auto: trial %d (worker %d) failed: %s\n", t.index, t.worker,
                         t.error.c_str());
    }
    return Status();
}

}  // namespace pare
