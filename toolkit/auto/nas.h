// Hardware-aware architecture search (`pare nas`): MobileNetV2- and
// EfficientNet-like networks whose stages choose their depth, expansion ratio,
// kernel size and squeeze-excitation, with one width multiplier; latency
// predicted from a table of blocks measured on pare's runtime (each distinct
// block once, batch 1); candidates within the latency budget ranked by a short
// training; the best trained to completion by the caller.
#pragma once

#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/arch/zoo.h"
#include "toolkit/data/dataset.h"
#include "toolkit/report/html.h"

namespace pare {

struct NasStage {
    int64_t repeats = 1, kernel = 3;
    double expansion = 6;
    bool se = false;
};
struct NasArch {
    std::string space;
    double width = 0.35;
    std::vector<NasStage> stages;
};
// "mobilenet_v2 x0.35: 1x(e1 k3) 2x(e6 k3) 3x(e4 k5 se) ...".
std::string nas_arch_summary(const NasArch& a);
std::string nas_arch_to_json(const NasArch& a);
Result<NasArch> nas_arch_from_json(const std::string& text);
// The summary's form read back ("mobilenet_v2 x0.5: 1x(e1 k3) 2x(e6 k3 se) ..."),
// checked as nas_arch_from_json checks.
Result<NasArch> nas_arch_from_summary(const std::string& text);

// A search space: the stages' output channels and strides (fixed) and the
// choices per stage.
struct NasSpace {
    struct Stage {
        int64_t channels = 16, stride = 1, min_repeats = 1, max_repeats = 1;
        bool fixed = false;  // the first stage: expansion 1, kernel 3, no choice
    };
    std::string name;
    std::vector<Stage> stages;
    std::vector<double> widths, expansions;
    std::vector<int64_t> kernels;
    std::vector<bool> se;
    int64_t stem = 32, last = 1280;
};
// "mobilenet_v2" or "efficientnet".
Result<NasSpace> nas_space(const std::string& name);
NasArch sample_arch(const NasSpace& space, std::mt19937_64& rng);
// The network for arch (Fashion-MNIST-sized inputs use the zoo's small-input
// stem, as the zoo's models do).
Result<Graph> build_nas_arch(const NasArch& arch, const ArchOptions& base);

// Latency of every distinct block (and stem and head), measured on pare's
// runtime when first needed; a network's prediction is their sum.
class NasLatencyTable {
  public:
    NasLatencyTable(ArchOptions base, int runs, int threads);
    Result<double> predict(const NasArch& arch);
    size_t entries() const { return ms_.size(); }

  private:
    Result<double> measure(const std::string& key, const std::function<Result<Graph>()>& build);
    ArchOptions base_;
    int runs_, threads_;
    std::map<std::string, double> ms_;
};

struct NasCandidate {
    NasArch arch;
    double predicted_ms = 0, measured_ms = 0;
    int64_t params = 0, macs = 0;
    bool trained = false;
    double val_top1 = 0, seconds = 0;
    int worker = 0;  // the rank that trained it
};
struct NasOptions {
    double latency_budget_ms = 1.5;
    double time_budget_s = 3600;
    int samples = 3000;     // random architectures whose latency is predicted
    int shortlist = 12;     // of those within budget, the most MACs, trained briefly
    int latency_runs = 20;  // per table entry and per candidate
    int threads = 1;        // pare's runtime for the latency measurements
    uint64_t seed = 1;
    bool progress = true;
};
// Short training of a candidate in place; returns its validation top-1 in %.
using NasTrainer = std::function<Result<double>(Graph&)>;
struct NasResult {
    std::vector<NasCandidate> candidates;  // shortlisted, most MACs first
    int best = -1;                         // index into candidates
    int sampled = 0, within_budget = 0;
    double fastest_predicted_ms = 0;  // of all sampled
    size_t table_entries = 0;
    double seconds = 0;
};
// Samples and predicts; the shortlist (not yet trained, most MACs first) in
// r.candidates. No sampled architecture within the budget is an error naming the
// fastest one found.
Result<NasResult> shortlist_nas(const NasSpace& space, const ArchOptions& base,
                                const NasOptions& options);
// One shortlisted candidate as a job (text) and the job run: built, measured,
// trained briefly; the result text read back into the candidate.
std::string nas_job(const NasCandidate& c);
Result<std::string> run_nas_job(const std::string& job, const ArchOptions& base,
                                const NasOptions& options, const NasTrainer& train);
Status read_nas_result(const std::string& result, NasCandidate* c);
// The best trained candidate (validation top-1; not one measured over the
// budget by more than 10%).
int choose_nas(const NasResult& r, const NasOptions& options);
// The search: run_nas in distributed.h (one process or MPI ranks).

// The report's section: candidates' validation top-1 against latency, predicted
// against measured latency, the table.
void report_nas(HtmlReport& page, const NasResult& r, const NasOptions& options);

}  // namespace pare
