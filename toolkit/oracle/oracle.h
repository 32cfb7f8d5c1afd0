// ONNX Runtime as the oracle: runs a model in pare's runtime and in ONNX Runtime
// (tools/ort_run.js, npm onnxruntime-node) on the same seeded random inputs and
// compares every output (relative L2 error), with median run times of both, timed
// in alternation (one run of pare, one of ONNX Runtime, in turn).
// Used by `pare check`, `make demo` and the real-model tests.
#pragma once

#include <string>
#include <vector>

#include "runtime/exec/session.h"
#include "toolkit/onnx/onnx_io.h"

namespace pare {

// How random inputs are drawn. kUniform: floats uniform in [-1, 1). kPage: a
// synthetic document, i.e. a white page with dark text-like bars, ImageNet-normalized,
// for N,3,H,W inputs of models that expect document images (on noise, a text
// detector's output saturates near 0 and relative errors measure only rounding).
enum class InputPattern { kUniform, kPage };

struct OracleOptions {
    uint64_t seed = 1;
    InputPattern pattern = InputPattern::kUniform;
    int repeat = 1;      // timed runs of each runtime, alternating (medians reported)
    int threads = 1;     // threads for both runtimes (ORT intra-op threads)
    bool passes = true;  // run pare's default passes before executing
};

struct OutputComparison {
    std::string name;
    Shape shape;
    double rel_l2 = 0;
    double max_abs = 0;
};

struct OracleReport {
    std::vector<OutputComparison> outputs;
    double worst_rel_l2 = 0;
    double pare_ms = 0;  // median
    double ort_ms = 0;   // median
    double ratio = 0;    // median over the alternating pairs of pare ms / ORT ms
    int nodes = 0;
};

// Inputs for every graph input with a fully known shape, from a fixed-seed generator:
// floats per `pattern`, integers 0. Fails naming an input whose shape is not bound.
Result<TensorMap> random_inputs(const Graph& g, uint64_t seed,
                                InputPattern pattern = InputPattern::kUniform);

// Relative L2 error ||a - b|| / ||b|| (absolute when b is all zeros); shapes must match.
Result<double> relative_l2(const Tensor& a, const Tensor& b, double* max_abs = nullptr);

// Runs the ONNX file in ONNX Runtime on `inputs` (by input name); returns its outputs in
// the model's output order and ORT's median run time over `repeat` runs.
Result<std::vector<Tensor>> run_onnxruntime(const std::string& model_path, const TensorMap& inputs,
                                            int repeat = 1, int threads = 1,
                                            double* median_ms = nullptr);

// The same, once per example: every input split along its first axis into batches of
// one (a model with a fixed batch of one, such as an If cascade), the outputs
// concatenated; run_ms gets each example's time.
Result<std::vector<Tensor>> run_onnxruntime_per_example(const std::string& model_path,
                                                        const TensorMap& inputs, int threads,
                                                        std::vector<double>* run_ms);

Result<OracleReport> compare_with_onnxruntime(const std::string& model_path,
                                              const ImportOptions& import,
                                              const OracleOptions& options);

}  // namespace pare
