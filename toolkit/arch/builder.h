// GraphBuilder: emits IR for the architecture zoo, one layer call at a time,
// with seeded He/Kaiming initialization and named nodes ("stage2.block0.conv1")
// so that `pare arch show` and error messages read well.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

enum class Act { kNone, kRelu, kRelu6, kHardSwish, kHardSigmoid, kSigmoid, kSilu };

class GraphBuilder {
  public:
    GraphBuilder(const std::string& name, uint64_t seed);

    // The graph input (N, C, H, W) with a symbolic batch; normalization (x - mean) / std
    // per channel is prepended when mean is not empty, so the model takes [0, 1] images.
    std::string input(int64_t channels, int64_t size, const std::vector<float>& mean,
                      const std::vector<float>& stdev);
    std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                     int64_t groups = 1, bool bias = false, const std::string& name = "",
                     int64_t kh = 0);
    std::string bn(const std::string& x, int64_t c, const std::string& name = "",
                   bool zero_gamma = false);
    std::string act(const std::string& x, Act a, const std::string& name = "");
    // conv -> BatchNorm -> activation, the common block.
    std::string conv_bn_act(const std::string& x, int64_t cin, int64_t cout, int64_t k,
                            int64_t stride, Act a, int64_t groups = 1,
                            const std::string& name = "");
    std::string add(const std::string& a, const std::string& b, const std::string& name = "");
    std::string mul(const std::string& a, const std::string& b, const std::string& name = "");
    std::string max_pool(const std::string& x, int64_t k, int64_t stride, int64_t pad,
                         bool ceil = false, const std::string& name = "");
    std::string avg_pool(const std::string& x, int64_t k, int64_t stride, int64_t pad,
                         const std::string& name = "");
    std::string global_avg_pool(const std::string& x, const std::string& name = "");
    std::string flatten(const std::string& x, const std::string& name = "");
    std::string linear(const std::string& x, int64_t cin, int64_t cout,
                       const std::string& name = "");
    std::string dropout(const std::string& x, float ratio, const std::string& name = "");
    std::string concat(const std::vector<std::string>& xs, int64_t axis,
                       const std::string& name = "");
    std::vector<std::string> split(const std::string& x, const std::vector<int64_t>& sizes,
                                   int64_t axis, const std::string& name = "");
    std::string reshape(const std::string& x, const std::vector<int64_t>& spec,
                        const std::string& name = "");
    std::string transpose(const std::string& x, const std::vector<int64_t>& perm,
                          const std::string& name = "");
    // Squeeze-and-excitation: global pool -> 1x1 reduce -> act -> 1x1 expand -> gate -> scale.
    std::string squeeze_excite(const std::string& x, int64_t c, int64_t reduced, Act inner,
                               Act gate, const std::string& name);
    // The inverted residual block of MobileNetV2/V3 and EfficientNet (MBConv): 1x1
    // expand (skipped when hidden == cin) -> depthwise k x k -> optional
    // squeeze-excitation (se_reduced > 0) -> 1x1 linear projection, plus the input
    // when stride is 1 and cin == cout.
    std::string inverted_residual(const std::string& x, int64_t cin, int64_t hidden, int64_t cout,
                                  int64_t k, int64_t stride, Act act, int64_t se_reduced = 0,
                                  Act se_inner = Act::kRelu, Act se_gate = Act::kHardSigmoid);
    // The classifier head: global average pool -> flatten -> dropout (when ratio > 0)
    // -> fully connected to the classes, marked as the graph output.
    std::string classifier_head(const std::string& x, int64_t channels, int64_t classes,
                                float dropout);
    void output(const std::string& x, int64_t classes);
    // Topologically sorted, ops resolved, shapes inferred.
    Result<Graph> finish();

    // Prefix applied to node names until changed ("stage1.block0").
    void scope(const std::string& s) { scope_ = s; }

  private:
    std::string node_name(const std::string& given, const std::string& op);
    std::string add_node(const std::string& op, std::vector<std::string> inputs, Attributes attrs,
                         const std::string& name, size_t outputs = 1,
                         std::vector<std::string>* outs = nullptr);
    std::string constant(const std::string& base, Tensor t);
    Tensor he_normal(Shape s, int64_t fan);

    Graph g_;
    std::mt19937_64 rng_;
    std::string scope_;
    int counter_ = 0;
};

// Rounds channels to a multiple of 8 (at least 8), never dropping more than 10%:
// the rule MobileNet and EfficientNet use when scaling widths.
int64_t make_divisible(double channels, int64_t divisor = 8);

}  // namespace pare
