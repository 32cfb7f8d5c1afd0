// TorchGraph: executes a pare Graph with libtorch operations, so autograd,
// optimizers and training-mode BatchNorm come from libtorch. Internal to
// toolkit/train/ (includes torch; only torch_graph.cpp and trainer.cpp see it).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"
#include "toolkit/train/trainer.h"

namespace pare {

class TorchGraph {
  public:
    // g: ops resolved, topologically sorted, one float32 (N, C, H, W) input.
    // Throws std::runtime_error naming the node on ops it cannot train.
    explicit TorchGraph(const Graph& g);

    // Logits for x (N, ...). Training mode uses batch statistics and dropout. Each
    // key of *taps (a value's name) gets that intermediate value.
    torch::Tensor forward(const torch::Tensor& x, bool training,
                          std::map<std::string, torch::Tensor>* taps = nullptr);
    // The value `name` names: itself when a node computes it, else the first output
    // of the node called `name`; "" when neither exists.
    std::string value_named(const std::string& name) const;

    // Fake quantization of these activations and weights from now on (QAT).
    void set_fake_quant(const FakeQuant& fq) { fq_ = fq; }

    std::vector<torch::Tensor> parameters() const;
    const std::map<std::string, torch::Tensor>& params() const { return params_; }
    const std::map<std::string, torch::Tensor>& buffers() const { return buffers_; }
    std::map<std::string, torch::Tensor>& mutable_buffers() { return buffers_; }
    // Copies trained parameters and BatchNorm running statistics into g's initializers
    // (by name; g may be the untransformed original of the graph trained).
    void write_back(Graph& g) const;

  private:
    Graph g_;
    std::map<std::string, torch::Tensor> consts_;   // every initializer
    std::map<std::string, torch::Tensor> params_;   // trainable (requires_grad), aliases consts_
    std::map<std::string, torch::Tensor> buffers_;  // BatchNorm running mean/var, aliases consts_
    FakeQuant fq_;
};

torch::Tensor to_torch(const Tensor& t);
Tensor from_torch(const torch::Tensor& t);

}  // namespace pare
