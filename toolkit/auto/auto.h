// Automated compression (`pare auto`): a search over per-layer combinations of
// channel removal (per channel group), low-rank factorization (per layer) and
// int8 quantization (with layers kept in float), guided by the per-layer
// sensitivity and a latency table measured on pare's runtime.
//
// Each trial builds a candidate from a configuration, fine-tunes it briefly
// (the caller's trainer), quantizes it, and measures it for real: validation
// top-1, latency in pare's runtime (batch 1), size of the ONNX file. Candidates
// come from a greedy choice under a budget of estimated top-1 loss (the
// sensitivity table's losses, perturbed per trial), the budget growing after a
// candidate that met the search's loss limit and shrinking after one that did
// not; every other trial mutates the best candidate so far. The limit is
// --max-drop, or more when a longer final fine-tuning follows (search_drop).
// The state (every trial, the budget, the time spent) is a JSON file rewritten
// atomically after each trial: a killed search resumes where it stopped, losing
// at most the trial in flight. The search loop itself is run_distributed
// (distributed.h), in one process or across MPI ranks.
//
// Unstructured sparsity is not searched: the ONNX file stores zeros densely and
// the int8 kernels are dense, so it saves neither size nor latency of the result.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/auto/sensitivity.h"
#include "toolkit/data/dataset.h"
#include "toolkit/prune/prune.h"
#include "toolkit/report/html.h"

namespace pare {

enum class AutoObjective { kLatency, kSize };
Result<AutoObjective> parse_objective(const std::string& name);
const char* objective_name(AutoObjective o);

// One candidate.
struct AutoConfig {
    std::map<std::string, double> channels;  // channel group (its first layer) -> fraction removed
    std::map<std::string, double> ranks;     // layer -> parameter reduction (> 1)
    bool int8 = true;
    std::vector<std::string> keep_float;  // with int8: layers left in float
};
// "channels 9 groups (mean 41%), rank/N 6 layers, int8 (1 kept float)".
std::string config_summary(const AutoConfig& c);

struct AutoTrial {
    int index = 0;
    AutoConfig config;
    double budget = 0;  // estimated points of top-1 the config was allowed to lose
    bool ok = false;    // built and measured
    std::string error;  // when not
    double val_top1 = 0, latency_ms = 0, predicted_ms = 0;
    int64_t size_bytes = 0, params = 0;
    double seconds = 0;
    int worker = 0;  // the process that evaluated it
};

struct AutoOptions {
    double max_drop = 1.0;  // validation top-1 points below the original
    // The loss after the short per-trial fine-tuning that steers the search (the
    // greedy budget, the candidate mutated): above max_drop when a longer final
    // fine-tuning is to recover the rest; below max_drop it is max_drop.
    double search_drop = 0;
    double steer_drop() const { return std::max(max_drop, search_drop); }
    AutoObjective objective = AutoObjective::kLatency;
    double time_budget_s = 1800;
    std::vector<double> channel_levels = {0.25, 0.5, 0.75};
    std::vector<double> rank_levels = {2, 4};
    // Channel groups keep a multiple of this many channels: the kernels' vectors
    // (a 24-channel layer can run slower than a 32-channel one).
    int64_t round_channels = 8;
    double keep_float_drop = 0.5;  // int8 layers losing more than this alone stay float
    double initial_budget = 2.0;   // estimated points the first candidate may lose
    uint64_t seed = 1;
    int threads = 1;  // pare's runtime, for the latency measurements
    int latency_runs = 20;
    bool progress = true;
    // false: no latency table (an MPI worker only evaluates what rank 0 proposes).
    bool latency_table = true;
};

// What a search needs besides the model: the data and how to fine-tune.
struct AutoContext {
    const Dataset* val = nullptr;  // candidates' top-1 (the test split is kept for the end)
    Tensor calib;                  // int8 calibration images
    // Fine-tunes a float candidate in place (its BatchNormalization kept); the
    // search calls it once per trial.
    std::function<Status(Graph&)> finetune;
};

// The search's state: what it was started on and every trial so far.
struct AutoState {
    std::string model_id;  // file name, size and content hash of the model
    std::string settings;  // the options that must match on resume
    double base_val_top1 = 0, base_latency_ms = 0, base_int8_latency_ms = 0;
    int64_t base_size_bytes = 0, base_params = 0;
    std::string sensitivity;  // the sensitivity measured first (its JSON)
    double budget = 0;        // the next greedy candidate's budget
    double elapsed_s = 0;
    std::vector<AutoTrial> trials;
    int next_index() const { return trials.empty() ? 0 : trials.back().index + 1; }
    // The trial with the best objective among those within max_drop, or -1.
    int best(double max_drop, AutoObjective objective) const;
    // The measured trial losing the least top-1 (for a budget nothing meets), or -1.
    int closest() const;
    // Indices of the trials on the Pareto front of (top-1 up, latency down, size down).
    std::vector<int> pareto() const;
};
std::string auto_state_to_json(const AutoState& s);
// One trial and one configuration as JSON (the state's entries; MPI messages).
std::string trial_to_json(const AutoTrial& t);
Result<AutoTrial> trial_from_json(const std::string& text);
// Errors name what is missing or malformed.
Result<AutoState> auto_state_from_json(const std::string& text);
// "teacher.onnx, 1104390 bytes, fnv1a 0123abcd...".
Result<std::string> model_identity(const std::string& path);
std::string auto_settings(const AutoOptions& o, const std::string& data);

// The report's search section: the Pareto front (validation top-1 against
// latency and against size, every trial and the original), the latency table
// checked against whole-model measurements (predicted against measured), and the
// trials. `chosen`: the trial written (-1: none).
struct AutoBaseline {  // a model made by one technique alone, measured like the trials
    std::string label;
    double val_top1 = 0, latency_ms = 0;
    int64_t size_bytes = 0;
};
struct AutoReportExtra {
    double test_top1_before = NAN, test_top1_after = NAN;  // the final figures, when measured
    double speedup = NAN;  // the result against the original, alternating rounds
    std::vector<AutoBaseline> baselines;
};
void report_auto(HtmlReport& page, const AutoState& state, const AutoOptions& options, int chosen,
                 const AutoReportExtra& extra);

class AutoSearch {
  public:
    // g: the model; sensitivity: its per-layer sensitivity on the same validation
    // images. Measures the original (top-1, latency in float and int8, size) and
    // the per-layer latency table.
    static Result<AutoSearch> create(const Graph& g, SensitivityReport sensitivity,
                                     const AutoOptions& options, const AutoContext& context);
    // The configuration of trial `index` given the trials so far (deterministic).
    AutoConfig propose(const AutoState& state, int index, double* budget) const;
    // Builds, fine-tunes, quantizes and measures config; *onnx_bytes receives the
    // candidate as ONNX (when not null; its size is the trial's size_bytes).
    AutoTrial evaluate(const AutoConfig& config, int index, std::string* onnx_bytes) const;
    // The candidate for config (fine-tuned when `finetune`), without measuring it.
    Result<Graph> build(const AutoConfig& config, bool finetune) const;
    // Estimated latency of config in ms (the latency table): each layer's share of
    // the original's int8 time, times the fractions its choices leave of it.
    double predict_ms(const AutoConfig& config) const;
    // The original's figures, for a new state.
    void init_state(AutoState* state) const;
    // After a trial: the next greedy budget.
    void update_budget(AutoState* state, const AutoTrial& t) const;
    const AutoOptions& options() const { return o_; }
    // Records a finished trial: in index order in state, the budget updated, the
    // state saved, and the model written to out_path when it is the new best.
    Status record(AutoState* state, AutoTrial t, const std::string& model_bytes,
                  const std::string& state_path, const std::string& out_path) const;

  private:
    struct Item {  // one target (group or layer) at one level
        std::string target;
        bool channels = false;
        double level = 0, drop = 0;
        std::map<std::string, double> params_frac;  // per layer of the model
        // Per layer (and "" for the steps of no layer): its time in the int8 model
        // with this choice alone over its time in the original's.
        std::map<std::string, double> time_frac;
    };
    AutoConfig propose_new(const AutoState& state, int index, double* budget,
                           std::mt19937_64& rng) const;
    static void set(AutoConfig& c, const Item& it);
    static double level_of(const AutoConfig& c, const Item& it);
    Graph g_;       // prepare_for_pruning's view of the model
    Graph base_q_;  // the original in int8: every latency is measured next to it
    SensitivityReport sens_;
    AutoOptions o_;
    AutoContext ctx_;
    std::vector<Item> items_;
    std::map<double, PrunePlan> channel_plans_;  // per level: every group's channels (l2)
    std::map<std::string, int64_t> layer_params_;
    std::map<std::string, double> layer_share_;  // of the original's int8 step times ("": other)
    std::vector<std::string> keep_float_;
    std::map<std::string, std::vector<std::string>> group_layers_;
    double base_top1_ = 0, base_fp32_ms_ = 0, base_int8_ms_ = 0;
    int64_t base_size_ = 0, base_params_ = 0;
};

}  // namespace pare
