// Hybrid models: a network cut at one of its values provides features, a
// classical learner decides. The result is one ONNX graph (the backbone up to the
// cut, feature pooling, the head as ai.onnx.ml ops) that pare and ONNX Runtime run.
//
//   cut_candidates     the values a backbone can be cut at (every path from the input
//                      to the output passes through them: block outputs)
//   feature_graph      the backbone up to one or more cuts, each pooled to a vector
//   extract_features   runs it on a dataset in pare's runtime
//   train_xgboost_head gradient-boosted trees (libxgboost) -> TreeEnsembleClassifier
//   linear_head_graph / linear_head_from_trained
//                      the logistic head the trainer fits, then -> LinearClassifier
//   attach_head        backbone to the cut + pooling + head: the hybrid graph
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/data/dataset.h"

namespace pare {

struct CutPoint {
    std::string value;  // the value cut at
    std::string node;   // the node producing it
    Shape shape;        // its shape for one image, e.g. [1, 64, 7, 7]
    int64_t macs = 0;   // multiply-accumulates of the backbone up to it (one image)
};

// Values the graph can be cut at, in execution order: 4-D or 2-D float values
// produced by a node, alive alone at their point of the topological order (every
// later node reads only them, constants, or values computed after them), and not
// the graph output. Needs static shapes (batch 1 is bound when symbolic).
Result<std::vector<CutPoint>> cut_candidates(const Graph& g);

// How a 4-D cut becomes a feature vector: average pooling to pool x pool cells per
// channel (1: global average) -> [N, C * pool * pool]; 2-D cuts are taken as they are.
struct FeatureOptions {
    int64_t pool = 1;
};

// The backbone up to `cuts` (each named by value, or by the node producing it),
// each cut pooled and flattened into output "features_<k>". Errors name a cut that
// does not exist or is not a 4-D/2-D float tensor.
Result<Graph> feature_graph(const Graph& g, const std::vector<std::string>& cuts,
                            const FeatureOptions& options);

// A feature graph of one cut made trainable: a Gemm from its features to `classes`
// logits (output "hybrid_logits"), so the trainer can fine-tune the backbone up to
// the cut for its new depth; drop_training_head turns it back into the feature graph.
Result<Graph> add_training_head(const Graph& features, int64_t classes, uint64_t seed);
Result<Graph> drop_training_head(const Graph& trained);

// Runs a feature graph on images in pare's runtime, in batches, with `threads`
// threads; one [N, F] tensor per output. progress(done, total) after each batch.
Result<std::vector<Tensor>> extract_features(
    const Graph& features, const Tensor& images, int threads = 1,
    const std::function<void(int64_t, int64_t)>& progress = nullptr);

// Gradient-boosted trees on features (libxgboost, multi:softprob, histogram trees).
struct BoostOptions {
    int rounds = 200;  // boosting rounds (one tree per class each)
    int depth = 6;
    double eta = 0.3;
    double subsample = 1.0;
    double colsample = 1.0;
    double lambda = 1.0;      // L2 on leaf weights
    int early_stopping = 20;  // stop when validation error has not improved for N rounds (0: off)
    int threads = 1;
    uint64_t seed = 1;
};
struct BoostResult {
    Node head;                   // TreeEnsembleClassifier: X -> (label, probabilities)
    int rounds = 0;              // rounds kept (the best on validation with early stopping)
    double val_error = 0;        // multi-class error on the validation features
    double seconds = 0;          // training time
    std::vector<float> margins;  // xgboost's own margins on the validation features (tests)
};
// X [N, F] float32, labels in [0, classes); val_* for early stopping and the
// reported error. progress(round, val_error) after each round.
Result<BoostResult> train_xgboost_head(const Tensor& train_x, const std::vector<int64_t>& train_y,
                                       const Tensor& val_x, const std::vector<int64_t>& val_y,
                                       int64_t classes, const BoostOptions& options,
                                       const std::function<void(int, double)>& progress = nullptr);

// Per-feature mean and inverse standard deviation of X [N, F] (a Scaler node's
// offset and scale; features that do not vary get scale 1).
void feature_standardization(const Tensor& x, std::vector<float>* offset,
                             std::vector<float>* scale);

// The logistic head as a trainable graph: input "features" [N, F, 1, 1] (standardized
// features as 1x1 images, the trainer's layout) -> Flatten -> Gemm -> logits [N, classes].
Graph linear_head_graph(int64_t features, int64_t classes, uint64_t seed);
// Its trained Gemm as a LinearClassifier (softmax probabilities), after a Scaler
// with offset/scale.
Result<std::vector<Node>> linear_head_from_trained(const Graph& trained,
                                                   const std::vector<float>& offset,
                                                   const std::vector<float>& scale);

// The hybrid: the backbone up to `cut`, pooled as options say, then `head` (nodes
// reading "X", the last a classifier with outputs (label, probabilities)). The
// graph's one output is the probabilities [N, classes], as a network's scores
// (what evaluate, the oracle and every verb read); the label output stays unused.
Result<Graph> attach_head(const Graph& backbone, const std::string& cut,
                          const FeatureOptions& options, std::vector<Node> head);

// A dataset whose images are features [N, F, 1, 1] (the logistic head's training data).
Dataset feature_dataset(const Tensor& features, const Dataset& like);

}  // namespace pare
