#include "toolkit/auto/nas.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "toolkit/arch/builder.h"
#include "toolkit/prune/prune.h"
#include "toolkit/report/latency.h"

namespace pare {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool is_effnet(const std::string& space) { return space == "efficientnet"; }

// The block every stage repeats, as the zoo builds it.
struct BlockSpec {
    int64_t cin, hidden, cout, kernel, stride, se_reduced;
};

// Each block of arch in order, with its input resolution.
std::vector<std::pair<BlockSpec, int64_t>> blocks_of(const NasSpace& sp, const NasArch& a,
                                                     int64_t input_size) {
    const bool small = input_size < 64;
    auto ch = [&](int64_t c) { return make_divisible(static_cast<double>(c) * a.width); };
    int64_t cin = ch(sp.stem), res = small ? input_size : (input_size + 1) / 2;
    std::vector<std::pair<BlockSpec, int64_t>> out;
    for (size_t s = 0; s < sp.stages.size() && s < a.stages.size(); ++s) {
        const NasSpace::Stage& st = sp.stages[s];
        const NasStage& c = a.stages[s];
        const int64_t cout = ch(st.channels);
        // Small inputs keep MobileNetV2's first stride-2 stage at stride 1 (the zoo's rule).
        const bool keep = small && !is_effnet(sp.name) && st.channels == 24;
        for (int64_t r = 0; r < c.repeats; ++r) {
            const int64_t stride = (r == 0 && !keep) ? st.stride : 1;
            const int64_t hidden =
                static_cast<int64_t>(std::lround(static_cast<double>(cin) * c.expansion));
            const int64_t se =
                c.se ? std::max<int64_t>(
                           1, is_effnet(sp.name) ? cin / 4 : make_divisible(hidden / 4.0))
                     : 0;
            out.push_back({{cin, hidden, cout, c.kernel, stride, se}, res});
            res = (res + stride - 1) / stride;
            cin = cout;
        }
    }
    return out;
}

Act block_act(const std::string& space) { return is_effnet(space) ? Act::kSilu : Act::kRelu6; }
Act se_inner(const std::string& space) { return is_effnet(space) ? Act::kSilu : Act::kRelu; }
Act se_gate(const std::string& space) {
    return is_effnet(space) ? Act::kSigmoid : Act::kHardSigmoid;
}

}  // namespace

std::string nas_arch_summary(const NasArch& a) {
    char b[64];
    std::snprintf(b, sizeof b, "%s x%g:", a.space.c_str(), a.width);
    std::string s = b;
    for (const NasStage& st : a.stages) {
        std::snprintf(b, sizeof b, " %lldx(e%g k%lld%s)", static_cast<long long>(st.repeats),
                      st.expansion, static_cast<long long>(st.kernel), st.se ? " se" : "");
        s += b;
    }
    return s;
}

// a, when its space exists and its stages and width are within range.
static Result<NasArch> checked(const NasArch& a) {
    PARE_ASSIGN_OR_RETURN(NasSpace sp, nas_space(a.space));
    if (a.stages.size() != sp.stages.size())
        return invalid_argument("the architecture has " + std::to_string(a.stages.size()) +
                                " stages, the space " + std::to_string(sp.stages.size()));
    for (const NasStage& s : a.stages)
        if (s.repeats < 1 || s.repeats > 8 || (s.kernel != 3 && s.kernel != 5 && s.kernel != 7) ||
            !(s.expansion >= 1 && s.expansion <= 8))
            return invalid_argument("a stage is out of range: " + nas_arch_summary(a));
    if (!(a.width > 0 && a.width <= 4)) return invalid_argument("width out of range");
    return a;
}

std::string nas_arch_to_json(const NasArch& a) {
    nlohmann::json j = {{"format", "pare-nas-arch-1"}, {"space", a.space}, {"width", a.width}};
    j["stages"] = nlohmann::json::array();
    for (const NasStage& s : a.stages)
        j["stages"].push_back({{"repeats", s.repeats},
                               {"kernel", s.kernel},
                               {"expansion", s.expansion},
                               {"se", s.se}});
    return j.dump();
}

Result<NasArch> nas_arch_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("format", "") != "pare-nas-arch-1")
        return invalid_argument("not a pare-nas-arch-1 JSON object");
    NasArch a;
    try {
        a.space = j.at("space").get<std::string>();
        a.width = j.at("width").get<double>();
        for (const auto& s : j.at("stages"))
            a.stages.push_back({s.at("repeats").get<int64_t>(), s.at("kernel").get<int64_t>(),
                                s.at("expansion").get<double>(), s.at("se").get<bool>()});
    } catch (const std::exception& e) {
        return invalid_argument(std::string("malformed architecture: ") + e.what());
    }
    return checked(a);
}

Result<NasArch> nas_arch_from_summary(const std::string& text) {
    static const std::regex head(R"(^\s*(\S+)\s+x([0-9.]+):(.*)$)");
    static const std::regex stage(R"(^\s*([0-9]+)x\(e([0-9.]+) k([0-9]+)( se)?\))");
    std::smatch m;
    const std::string bad =
        "not an architecture like \"mobilenet_v2 x0.5: 1x(e1 k3) 2x(e6 k3 se) "
        "...\": \"" +
        text + "\"";
    if (!std::regex_match(text, m, head)) return invalid_argument(bad);
    NasArch a;
    a.space = m[1].str();
    try {
        a.width = std::stod(m[2].str());
        std::string rest = m[3].str();
        while (rest.find_first_not_of(' ') != std::string::npos) {
            std::smatch s;
            if (!std::regex_search(rest, s, stage)) return invalid_argument(bad);
            a.stages.push_back({std::stoll(s[1].str()), std::stoll(s[3].str()),
                                std::stod(s[2].str()), s[4].matched});
            rest = s.suffix().str();
        }
    } catch (const std::exception&) {
        return invalid_argument(bad);
    }
    return checked(a);
}

Result<NasSpace> nas_space(const std::string& name) {
    NasSpace s;
    s.name = name;
    s.widths = {0.25, 0.35, 0.5};
    s.kernels = {3, 5};
    s.se = {false, true};
    if (name == "mobilenet_v2") {
        // (channels, stride, repeats of MobileNetV2 as the most, fewest 1)
        s.stages = {{16, 1, 1, 1, true},  {24, 2, 1, 3, false}, {32, 2, 1, 4, false},
                    {64, 2, 1, 4, false}, {96, 1, 1, 3, false}, {160, 2, 1, 3, false},
                    {320, 1, 1, 1, false}};
        s.expansions = {3, 4, 6};
        s.stem = 32;
        s.last = 1280;
        return s;
    }
    if (name == "efficientnet") {
        s.stages = {{16, 1, 1, 1, true},  {24, 2, 1, 3, false},  {40, 2, 1, 3, false},
                    {80, 2, 1, 4, false}, {112, 1, 1, 4, false}, {192, 2, 1, 4, false},
                    {320, 1, 1, 1, false}};
        s.expansions = {3, 4, 6};
        s.stem = 32;
        s.last = 1280;
        return s;
    }
    return invalid_argument("--space must be mobilenet_v2 or efficientnet, not \"" + name + "\"");
}

NasArch sample_arch(const NasSpace& sp, std::mt19937_64& rng) {
    NasArch a;
    a.space = sp.name;
    a.width = sp.widths[rng() % sp.widths.size()];
    for (const NasSpace::Stage& st : sp.stages) {
        NasStage s;
        if (st.fixed) {
            s = {1, 3, 1.0, is_effnet(sp.name)};
        } else {
            s.repeats = st.min_repeats +
                        static_cast<int64_t>(
                            rng() % static_cast<uint64_t>(st.max_repeats - st.min_repeats + 1));
            s.expansion = sp.expansions[rng() % sp.expansions.size()];
            s.kernel = sp.kernels[rng() % sp.kernels.size()];
            s.se = sp.se[rng() % sp.se.size()];
        }
        a.stages.push_back(s);
    }
    return a;
}

Result<Graph> build_nas_arch(const NasArch& a, const ArchOptions& o) {
    PARE_ASSIGN_OR_RETURN(NasSpace sp, nas_space(a.space));
    if (a.stages.size() != sp.stages.size())
        return invalid_argument("the architecture's stages do not match the space");
    GraphBuilder b("nas_" + a.space, o.seed);
    const bool small = o.input_size < 64;
    const Act act = block_act(a.space);
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    const int64_t stem = make_divisible(static_cast<double>(sp.stem) * a.width);
    x = b.conv_bn_act(x, o.in_channels, stem, 3, small ? 1 : 2, act, 1, "conv");
    int idx = 0;
    int64_t cin = stem;
    for (const auto& [blk, res] : blocks_of(sp, a, o.input_size)) {
        b.scope("block" + std::to_string(idx++));
        x = b.inverted_residual(x, blk.cin, blk.hidden, blk.cout, blk.kernel, blk.stride, act,
                                blk.se_reduced, se_inner(a.space), se_gate(a.space));
        cin = blk.cout;
    }
    b.scope("last");
    const int64_t last = make_divisible(static_cast<double>(sp.last) * std::max(1.0, a.width));
    x = b.conv_bn_act(x, cin, last, 1, 1, act, 1, "conv");
    b.classifier_head(x, last, o.num_classes, o.dropout);
    return b.finish();
}

NasLatencyTable::NasLatencyTable(ArchOptions base, int runs, int threads)
    : base_(std::move(base)), runs_(runs), threads_(threads) {}

Result<double> NasLatencyTable::measure(const std::string& key,
                                        const std::function<Result<Graph>()>& build) {
    const auto it = ms_.find(key);
    if (it != ms_.end()) return it->second;
    PARE_ASSIGN_OR_RETURN(Graph g, build());
    LatencyOptions lo;
    lo.runs = runs_;
    lo.threads = threads_;
    lo.rounds = 2;
    PARE_ASSIGN_OR_RETURN(LatencyProfile p, measure_latency(g, lo));
    ms_[key] = p.median_ms;
    return p.median_ms;
}

Result<double> NasLatencyTable::predict(const NasArch& a) {
    PARE_ASSIGN_OR_RETURN(NasSpace sp, nas_space(a.space));
    const bool small = base_.input_size < 64;
    const Act act = block_act(a.space);
    const int64_t stem = make_divisible(static_cast<double>(sp.stem) * a.width);
    const int64_t last = make_divisible(static_cast<double>(sp.last) * std::max(1.0, a.width));
    // The head (last 1x1 convolution, pooling, classifier) on each block output
    // shape is measured with every block, and alone to be subtracted.
    auto head = [&](GraphBuilder& b, const std::string& x, int64_t c) {
        b.scope("last");
        const std::string y = b.conv_bn_act(x, c, last, 1, 1, act, 1, "conv");
        b.classifier_head(y, last, base_.num_classes, 0);
    };
    double total = 0;
    const std::string stem_key = a.space + " stem " + std::to_string(stem);
    PARE_ASSIGN_OR_RETURN(
        double stem_ms, measure(stem_key, [&]() -> Result<Graph> {
            GraphBuilder b("stem", 1);
            std::string x = b.input(base_.in_channels, base_.input_size, base_.mean, base_.stdev);
            x = b.conv_bn_act(x, base_.in_channels, stem, 3, small ? 1 : 2, act, 1, "conv");
            b.classifier_head(x, stem, base_.num_classes, 0);
            return b.finish();
        }));
    total += stem_ms;
    for (const auto& [blk, res] : blocks_of(sp, a, base_.input_size)) {
        char k[160];
        std::snprintf(k, sizeof k, "%s block %lld %lld %lld k%lld s%lld se%lld at %lld",
                      a.space.c_str(), static_cast<long long>(blk.cin),
                      static_cast<long long>(blk.hidden), static_cast<long long>(blk.cout),
                      static_cast<long long>(blk.kernel), static_cast<long long>(blk.stride),
                      static_cast<long long>(blk.se_reduced), static_cast<long long>(res));
        const BlockSpec bs = blk;
        const int64_t r = res;
        PARE_ASSIGN_OR_RETURN(double with, measure(k, [&]() -> Result<Graph> {
                                  GraphBuilder b("block", 1);
                                  std::string x = b.input(bs.cin, r, {}, {});
                                  x = b.inverted_residual(x, bs.cin, bs.hidden, bs.cout, bs.kernel,
                                                          bs.stride, act, bs.se_reduced,
                                                          se_inner(a.space), se_gate(a.space));
                                  b.classifier_head(x, bs.cout, base_.num_classes, 0);
                                  return b.finish();
                              }));
        const int64_t out_res = (res + blk.stride - 1) / blk.stride;
        char hk[96];
        std::snprintf(hk, sizeof hk, "pool-fc %lld at %lld", static_cast<long long>(blk.cout),
                      static_cast<long long>(out_res));
        PARE_ASSIGN_OR_RETURN(double pool, measure(hk, [&]() -> Result<Graph> {
                                  GraphBuilder b("pool", 1);
                                  const std::string x = b.input(bs.cout, out_res, {}, {});
                                  b.classifier_head(x, bs.cout, base_.num_classes, 0);
                                  return b.finish();
                              }));
        total += std::max(0.0, with - pool);
    }
    // The head at the last block's output.
    const auto blocks = blocks_of(sp, a, base_.input_size);
    const int64_t cout = blocks.back().first.cout;
    int64_t res = blocks.back().second;
    res = (res + blocks.back().first.stride - 1) / blocks.back().first.stride;
    char hk[96];
    std::snprintf(hk, sizeof hk, "%s head %lld->%lld at %lld", a.space.c_str(),
                  static_cast<long long>(cout), static_cast<long long>(last),
                  static_cast<long long>(res));
    PARE_ASSIGN_OR_RETURN(double head_ms, measure(hk, [&]() -> Result<Graph> {
                              GraphBuilder b("head", 1);
                              const std::string x = b.input(cout, res, {}, {});
                              head(b, x, cout);
                              return b.finish();
                          }));
    return total + head_ms;
}

Result<NasResult> shortlist_nas(const NasSpace& sp, const ArchOptions& base, const NasOptions& o) {
    const auto t0 = Clock::now();
    if (!(o.latency_budget_ms > 0)) return invalid_argument("--latency-budget must be positive");
    NasResult r;
    NasLatencyTable table(base, o.latency_runs, o.threads);
    std::mt19937_64 rng(o.seed);
    std::vector<NasCandidate> within;
    std::set<std::string> seen;
    r.fastest_predicted_ms = INFINITY;
    NasArch fastest;
    for (int i = 0; i < o.samples; ++i) {
        NasArch a = sample_arch(sp, rng);
        if (!seen.insert(nas_arch_to_json(a)).second) continue;
        ++r.sampled;
        PARE_ASSIGN_OR_RETURN(double ms, table.predict(a));
        if (ms < r.fastest_predicted_ms) r.fastest_predicted_ms = ms, fastest = a;
        if (o.progress && (r.sampled % 250 == 0))
            std::fprintf(stderr,
                         "nas: %d architectures sampled, %zu within %.3f ms, %zu blocks measured\n",
                         r.sampled, within.size(), o.latency_budget_ms, table.entries());
        if (ms > o.latency_budget_ms) continue;
        PARE_ASSIGN_OR_RETURN(Graph g, build_nas_arch(a, base));
        PARE_ASSIGN_OR_RETURN(std::vector<LayerSparsity> layers, sparsity_report(g));
        NasCandidate c;
        c.arch = a;
        c.predicted_ms = ms;
        c.macs = layer_totals(layers).macs;
        c.params = g.parameter_count();
        within.push_back(c);
    }
    r.within_budget = static_cast<int>(within.size());
    r.table_entries = table.entries();
    if (within.empty()) {
        char b[512];
        std::snprintf(b, sizeof b,
                      "no sampled architecture is predicted within %.3f ms; the fastest of the %d "
                      "sampled is %.3f ms: %s",
                      o.latency_budget_ms, r.sampled, r.fastest_predicted_ms,
                      nas_arch_summary(fastest).c_str());
        return invalid_argument(b);
    }
    // The shortlist: the most MACs (capacity) within the budget.
    std::stable_sort(within.begin(), within.end(),
                     [](const NasCandidate& a, const NasCandidate& b) { return a.macs > b.macs; });
    within.resize(std::min<size_t>(within.size(), static_cast<size_t>(o.shortlist)));
    r.candidates = std::move(within);
    r.seconds = since(t0);
    if (o.progress)
        std::fprintf(stderr,
                     "nas: %d sampled, %d within %.3f ms (predicted from %zu measured blocks); "
                     "training up to %zu with the most MACs\n",
                     r.sampled, r.within_budget, o.latency_budget_ms, table.entries(),
                     r.candidates.size());
    return r;
}

std::string nas_job(const NasCandidate& c) {
    return nlohmann::json({{"arch", nas_arch_to_json(c.arch)}}).dump();
}

Result<std::string> run_nas_job(const std::string& job, const ArchOptions& base,
                                const NasOptions& o, const NasTrainer& train) {
    const auto c0 = Clock::now();
    const nlohmann::json j = nlohmann::json::parse(job, nullptr, false);
    if (j.is_discarded() || !j.contains("arch") || !j["arch"].is_string())
        return invalid_argument("a NAS job is no {\"arch\": ...} object");
    PARE_ASSIGN_OR_RETURN(NasArch a, nas_arch_from_json(j["arch"].get<std::string>()));
    PARE_ASSIGN_OR_RETURN(Graph g, build_nas_arch(a, base));
    LatencyOptions lo;
    lo.runs = o.latency_runs;
    lo.threads = o.threads;
    lo.rounds = 3;
    // Timed before and after its short training, the lower kept: the shared host
    // has slow periods (every op about 1.45x slower for a second or more), and one
    // measurement falling into one would exclude the candidate from the budget.
    PARE_ASSIGN_OR_RETURN(LatencyProfile before, measure_latency(g, lo));
    PARE_ASSIGN_OR_RETURN(double top1, train(g));
    PARE_ASSIGN_OR_RETURN(LatencyProfile after, measure_latency(g, lo));
    return nlohmann::json({{"measured_ms", std::min(before.median_ms, after.median_ms)},
                           {"val_top1", top1},
                           {"seconds", since(c0)}})
        .dump();
}

Status read_nas_result(const std::string& result, NasCandidate* c) {
    const nlohmann::json j = nlohmann::json::parse(result, nullptr, false);
    try {
        c->measured_ms = j.at("measured_ms").get<double>();
        c->val_top1 = j.at("val_top1").get<double>();
        c->seconds = j.at("seconds").get<double>();
    } catch (const std::exception& e) {
        return internal_error(std::string("a malformed NAS result: ") + e.what());
    }
    c->trained = true;
    return Status();
}

int choose_nas(const NasResult& r, const NasOptions& o) {
    int best = -1;
    for (size_t i = 0; i < r.candidates.size(); ++i) {
        const NasCandidate& c = r.candidates[i];
        if (!c.trained || c.measured_ms > o.latency_budget_ms * 1.1) continue;
        if (best < 0 || c.val_top1 > r.candidates[static_cast<size_t>(best)].val_top1)
            best = static_cast<int>(i);
    }
    return best;
}

void report_nas(HtmlReport& page, const NasResult& r, const NasOptions& o) {
    char buf[512];
    page.heading("Architecture search");
    std::snprintf(
        buf, sizeof buf,
        "%d architectures sampled, %d predicted within %.3f ms (from %zu blocks "
        "measured on pare's runtime), %zu trained briefly, in %.0f s.",
        r.sampled, r.within_budget, o.latency_budget_ms, r.table_entries,
        static_cast<size_t>(std::count_if(r.candidates.begin(), r.candidates.end(),
                                          [](const NasCandidate& c) { return c.trained; })),
        r.seconds);
    page.paragraph(buf);
    PlotSeries cands{"candidates (short training)", {}, {}, false, true};
    PlotSeries pm{"candidates", {}, {}, false, false},
        ideal{"predicted = measured", {}, {}, true, false};
    double lo = INFINITY, hi = 0;
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < r.candidates.size(); ++i) {
        const NasCandidate& c = r.candidates[i];
        if (!c.trained) continue;
        cands.points.emplace_back(c.measured_ms, c.val_top1);
        cands.labels.push_back(std::to_string(i));
        pm.points.emplace_back(c.predicted_ms, c.measured_ms);
        pm.labels.push_back(std::to_string(i));
        lo = std::min({lo, c.predicted_ms, c.measured_ms});
        hi = std::max({hi, c.predicted_ms, c.measured_ms});
        char a[32], m[32], p[32], mac[32];
        std::snprintf(a, sizeof a, "%.2f", c.val_top1);
        std::snprintf(m, sizeof m, "%.3f", c.measured_ms);
        std::snprintf(p, sizeof p, "%.3f", c.predicted_ms);
        std::snprintf(mac, sizeof mac, "%.2fM", static_cast<double>(c.macs) / 1e6);
        rows.push_back({std::to_string(i), nas_arch_summary(c.arch), mac, std::to_string(c.params),
                        p, m, a, std::to_string(c.worker),
                        static_cast<int>(i) == r.best ? "chosen" : ""});
    }
    if (hi > 0) ideal.points = {{lo, lo}, {hi, hi}};
    page.svg(scatter_svg({"Candidates: validation top-1 after short training against latency",
                          "latency in pare, batch 1 (ms)",
                          "validation top-1 (%)",
                          {cands},
                          false}));
    page.svg(scatter_svg({"The block latency table checked: predicted against measured",
                          "predicted (ms)",
                          "measured (ms)",
                          {pm, ideal},
                          false}));
    page.table({"#", "architecture", "MACs", "params", "predicted ms", "measured ms", "val top-1 %",
                "rank", ""},
               rows);
}

}  // namespace pare
