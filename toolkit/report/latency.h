// Latency measured on pare's runtime: the whole model (median and p90 over timed
// runs after warm-up) and each step of the execution plan (per-step medians), the
// table `pare bench --profile` prints and the report's "where the latency goes".
#pragma once

#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

struct StepTime {
    std::string node, op, kernel, fused;  // fused: the activation folded into this step
    double ms = 0;                        // median over the timed runs
};
struct LatencyProfile {
    double median_ms = 0, p90_ms = 0, min_ms = 0;
    int runs = 0;
    std::vector<StepTime> steps;  // plan order; empty unless asked for
};
struct LatencyOptions {
    int runs = 30, warmup = 5, threads = 1;
    int64_t batch = 1;      // a symbolic batch is bound to this
    bool per_step = false;  // also time each step (a second series of runs)
    // Rounds of `runs` runs each; the figures are those of the round with the
    // lowest median (the least disturbed by other work on a shared machine), and
    // each step's time its smallest median over the rounds.
    int rounds = 1;
};
// g as loaded (the default passes run on a copy); inputs are seeded random values.
Result<LatencyProfile> measure_latency(const Graph& g, const LatencyOptions& options);

// How many times faster b runs than a: `pairs` rounds, each measuring a then b
// (options.runs each), the median of the per-round ratios a / b. Alternating
// keeps a shared machine's drift out of the ratio.
Result<double> alternating_speedup(const Graph& a, const Graph& b, const LatencyOptions& options,
                                   int pairs = 7);

}  // namespace pare
