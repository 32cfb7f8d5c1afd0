#include "toolkit/report/latency.h"

#include <algorithm>
#include <chrono>

#include "runtime/exec/session.h"
#include "runtime/ir/passes/passes.h"
#include "toolkit/oracle/oracle.h"

namespace pare {

namespace {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1,
                      static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

}  // namespace

Result<LatencyProfile> measure_latency(const Graph& g0, const LatencyOptions& o) {
    if (o.runs < 1 || o.warmup < 0 || o.threads < 1 || o.batch < 1)
        return invalid_argument("latency: runs and threads must be at least 1");
    Graph g = g0;
    g.bind_batch(o.batch);
    PARE_RETURN_IF_ERROR(run_default_passes(g));
    PARE_ASSIGN_OR_RETURN(TensorMap inputs, random_inputs(g, 1));
    SessionOptions so;
    so.threads = o.threads;
    PARE_ASSIGN_OR_RETURN(Session s, Session::prepare(std::move(g), so));
    TensorMap out;
    for (int i = 0; i < o.warmup; ++i) PARE_RETURN_IF_ERROR(s.run(inputs, &out));
    LatencyProfile p;
    for (int round = 0; round < std::max(1, o.rounds); ++round) {
        std::vector<double> ms;
        for (int i = 0; i < o.runs; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            PARE_RETURN_IF_ERROR(s.run(inputs, &out));
            ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
        }
        const double median = percentile(ms, 0.5);
        if (round > 0 && median >= p.median_ms) continue;
        p.runs = o.runs;
        p.median_ms = median;
        p.p90_ms = percentile(ms, 0.9);
        p.min_ms = *std::min_element(ms.begin(), ms.end());
    }
    if (o.per_step) {
        // Each step's median per round; over rounds, the smallest.
        std::vector<double> best(s.plan().size(), 0.0);
        std::vector<double> step_ms;
        for (int round = 0; round < std::max(1, o.rounds); ++round) {
            std::vector<std::vector<double>> per(s.plan().size());
            for (int i = 0; i < o.runs; ++i) {
                PARE_RETURN_IF_ERROR(s.run(inputs, &out, &step_ms));
                for (size_t k = 0; k < step_ms.size() && k < per.size(); ++k)
                    per[k].push_back(step_ms[k]);
            }
            for (size_t k = 0; k < per.size(); ++k) {
                const double m = percentile(per[k], 0.5);
                best[k] = round == 0 ? m : std::min(best[k], m);
            }
        }
        for (size_t k = 0; k < best.size(); ++k) {
            const PlanStep& st = s.plan()[k];
            p.steps.push_back({st.node, st.op, st.kernel, st.fused, best[k]});
        }
    }
    return p;
}

Result<double> alternating_speedup(const Graph& a, const Graph& b, const LatencyOptions& o,
                                   int pairs) {
    LatencyOptions one = o;
    one.per_step = false;
    one.rounds = 1;
    std::vector<double> ratios;
    for (int i = 0; i < std::max(1, pairs); ++i) {
        PARE_ASSIGN_OR_RETURN(LatencyProfile pa, measure_latency(a, one));
        PARE_ASSIGN_OR_RETURN(LatencyProfile pb, measure_latency(b, one));
        if (pb.median_ms > 0) ratios.push_back(pa.median_ms / pb.median_ms);
    }
    return percentile(ratios, 0.5);
}

}  // namespace pare
