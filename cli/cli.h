// Shared pieces of the pare command line. Each verb file registers its
// subcommands and a runner; main() parses and runs the chosen one. Failures are
// thrown as cli::Failure and printed by main() as one line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/onnx/onnx_io.h"

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

using Runner = std::function<int()>;
using VerbTable = std::vector<std::pair<CLI::App*, Runner>>;

ImportOptions import_options(const std::vector<std::string>& shapes);
std::string human_count(int64_t n);
std::string value_str(const ValueInfo& v);

// info, run, convert, check
void add_model_verbs(CLI::App& app, VerbTable& verbs);
// arch, train, eval
void add_train_verbs(CLI::App& app, VerbTable& verbs);
// quantize
void add_quant_verbs(CLI::App& app, VerbTable& verbs);

}  // namespace pare::cli
