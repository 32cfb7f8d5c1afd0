// Shared pieces of the pare command line. Each verb file registers its
// subcommands and a runner; main() parses and runs the chosen one. Failures are
// thrown as cli::Failure and printed by main() as one line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/onnx/onnx_io.h"
#include "toolkit/oracle/oracle.h"
#include "toolkit/train/trainer.h"

namespace pare::cli {

struct Failure {
    Status status;
};

inline void check(const Status& s) {
    if (!s.ok()) throw Failure{s};
}
template <class T>
T check(Result<T> r) {
    if (!r.ok()) throw Failure{r.status()};
    return std::move(r).value();
}
// The same, the error prefixed with what it concerns (a file name).
template <class T>
T check(Result<T> r, const std::string& context) {
    if (!r.ok()) throw Failure{r.status().with_context(context)};
    return std::move(r).value();
}

using Runner = std::function<int()>;
using VerbTable = std::vector<std::pair<CLI::App*, Runner>>;

ImportOptions import_options(const std::vector<std::string>& shapes);
std::string human_count(int64_t n);
// "a,b,,c" -> {a, b, c} (node names of --protect, --keep-float).
std::vector<std::string> split_names(const std::string& list);
std::string value_str(const ValueInfo& v);
// Parameters and MACs per image (symbolic batch bound to 1).
std::pair<int64_t, int64_t> params_and_macs(const Graph& g);
// Calibration images: "DATASET[:N]" (N training images) or a .npy file (N, C, H, W).
Tensor calibration_images(const std::string& spec);
// --epochs, --lr, --batch, --weight-decay, --threads of the verbs that train
// (prune, factorize, qat, distill); defaults are c's.
void add_training_flags(CLI::App* app, TrainConfig& c, const char* epochs_help = "Epochs");

// The comparison table of a compression verb (compare.cpp): size, then
// extra_rows, top-1 in pare and ONNX Runtime and their agreement on data's test
// split (when data is given), latency of every model in both runtimes. One column
// per model (before and after, or more); notes compare the last with the first.
struct CompareSpec {
    std::vector<std::pair<std::string, std::string>> models;  // (column label, file)
    std::string data;  // a labelled dataset spec, or "" for no accuracy rows
    int64_t test_limit = 0;
    std::vector<std::string> shapes;
    int repeat = 10;
    std::vector<std::pair<std::string, std::vector<std::string>>> extra_rows;  // a cell per model
};
struct Comparison {
    Tensor samples;                     // the test images, when there were some
    std::vector<double> top1;           // per model, in pare (when there was labelled data)
    ImportOptions import;               // as used for the latency rows
    std::vector<OracleReport> reports;  // per model: latency and pare vs ORT error
};
Comparison compare_models(const CompareSpec& spec);
void print_row(const std::string& label, const std::vector<std::string>& cells,
               const std::string& note);

// info, run, convert, check
void add_model_verbs(CLI::App& app, VerbTable& verbs);
// arch, train, eval
void add_train_verbs(CLI::App& app, VerbTable& verbs);
// quantize, qat
void add_quant_verbs(CLI::App& app, VerbTable& verbs);
// prune
void add_prune_verbs(CLI::App& app, VerbTable& verbs);
// factorize
void add_lowrank_verbs(CLI::App& app, VerbTable& verbs);
// distill
void add_distill_verbs(CLI::App& app, VerbTable& verbs);
// hybrid
void add_hybrid_verbs(CLI::App& app, VerbTable& verbs);
// sensitivity, auto, nas
void add_auto_verbs(CLI::App& app, VerbTable& verbs);

}  // namespace pare::cli
