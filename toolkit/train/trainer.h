// The trainer: trains a pare Graph with libtorch (autograd, optimizers,
// training-mode BatchNorm) and writes the trained weights and BatchNorm running
// statistics back into the graph's initializers.
//
// This header includes no torch headers; torch lives in torch_graph.cpp and
// trainer.cpp only (each torch translation unit costs ~35 s to compile).
// Trainable: float initializers that are weights or biases of Conv,
// ConvTranspose, Gemm, MatMul and PRelu, and BatchNormalization scale and bias.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/data/dataset.h"

namespace pare {

// Quantization-aware training (`pare qat`): fake quantization with a
// straight-through estimator (torch's fake_quantize ops: values rounded to the
// grid in the forward pass; the gradient passed unchanged inside the range and
// zeroed outside it in the backward pass).
struct FakeQuant {
    // Activations by value name: scale and zero point, fixed (from calibration);
    // uint8 [0, 255], or int8 [-128, 127] with signed_activations.
    std::map<std::string, std::pair<float, int32_t>> activations;
    bool signed_activations = false;
    // Weights by initializer name: the axis of their output channels, each with the
    // symmetric int8 scale of the current weights; -1 for one scale per tensor.
    std::map<std::string, int64_t> weights;
    int weight_qmax = 127;  // weights in [-weight_qmax, weight_qmax], scale max|w| / weight_qmax
    bool empty() const { return activations.empty() && weights.empty(); }
};

// Knowledge distillation (`pare distill`): the loss is
//   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
//   + (1 - alpha) * cross-entropy(student, labels)          (Hinton et al., 2015)
// plus, per hint, hint_weight * MSE(adapter(student value), teacher value), the
// adapter a learned 1x1 convolution (a matrix for (N, C) values) from the
// student's channels to the teacher's, dropped after training (FitNets). The
// teacher runs in eval mode without gradients; without augmentation or hints its
// logits are computed once for the whole training set.
struct Distill {
    Graph teacher;  // no nodes: no distillation
    double temperature = 4;
    double alpha = 0.7;
    std::vector<std::pair<std::string, std::string>> hints;  // (teacher value, student value)
    double hint_weight = 1;
    bool enabled() const { return !teacher.nodes.empty(); }
};

struct TrainConfig {
    int64_t epochs = 10;
    int64_t batch = 64;
    std::string optimizer = "sgd";  // sgd | adamw
    double lr = 0.05;
    double momentum = 0.9;
    bool nesterov = true;
    double weight_decay = 5e-4;
    std::string schedule = "cosine";  // cosine | step | constant
    int64_t step_epochs = 0;          // step schedule: decay every N epochs (0: epochs / 3)
    double gamma = 0.1;               // step schedule factor
    double warmup_epochs = 0;
    double label_smoothing = 0;
    double clip_grad_norm = 0;  // 0: off
    Augment augment;
    int threads = 1;
    uint64_t seed = 1;
    std::string checkpoint;  // saved after every epoch; training resumes from it when it exists
    int64_t max_steps = 0;   // stop after this many optimizer steps in total (0: no limit)
    bool progress = true;    // progress lines on stderr
    FakeQuant fake_quant;    // quantization-aware training when not empty
    // Pruning: by trainable initializer name, 0/1 masks of its shape; the weights stay
    // zero where the mask is 0 (applied before training and after every step).
    std::map<std::string, Tensor> masks;
    Distill distill;  // knowledge distillation when distill.enabled()
};

struct EpochStats {
    int64_t epoch = 0;
    double train_loss = 0;
    double train_acc = 0;
    double val_acc = 0;
    double images_per_s = 0;
    double seconds = 0;
};

struct TrainResult {
    std::vector<EpochStats> epochs;
    int64_t steps = 0;
    double images_per_s = 0;  // training steps only (validation passes excluded)
    double seconds = 0;
    int64_t resumed_from_epoch = 0;
};

// Trains g in place on data.train, reporting validation accuracy per epoch.
// The graph's single input is (N, C, H, W) float32 and its single output the
// class logits (N, classes); a mismatch with the dataset is an error. When the
// loss becomes NaN or infinite, training stops with an error and the last good
// checkpoint is left as it was.
Result<TrainResult> train_graph(Graph& g, const DataSplits& data, const TrainConfig& config);

// g's logits for images (N, C, H, W) computed with libtorch in eval mode: the check
// that the torch execution of the IR agrees with pare's runtime.
Result<Tensor> torch_forward(const Graph& g, const Tensor& images, int threads = 1,
                             const FakeQuant& fake_quant = {});

// First-order Taylor scores for pruning: per trainable initializer, the sum over
// `batches` batches of data (eval mode, cross-entropy) of gradient * weight -- the
// first-order estimate of the loss change when the weight is removed.
Result<std::map<std::string, Tensor>> taylor_scores(const Graph& g, const Dataset& data,
                                                    int64_t batch, int64_t batches, int threads);

// Re-estimates every BatchNormalization's running mean and variance from
// `batches` batches of data (training-mode statistics averaged over the batches;
// weights untouched): a pruned model's accuracy without fine-tuning then
// predicts its accuracy after it far better than with the original statistics
// ("adaptive BN", Li et al., EagleEye, 2020). Returns the number of
// BatchNormalizations recalibrated (0 when g has none).
Result<int64_t> recalibrate_batchnorm(Graph& g, const Dataset& data, int64_t batch, int64_t batches,
                                      int threads);
// Top-1 accuracy of g on data computed with libtorch in eval mode (for quick checks
// during training; `pare eval` uses pare's own runtime).
Result<double> torch_accuracy(const Graph& g, const Dataset& data, int64_t batch, int threads);

}  // namespace pare
