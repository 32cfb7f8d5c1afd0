// The efficient-architecture zoo: builders that emit pare IR.
//
// Every builder takes the input channels, input size and class count, and width,
// depth and resolution multipliers. Inputs below 64 pixels (Fashion-MNIST's 28)
// use the CIFAR-style stem: no stride-2 stem convolution and no stem max-pool, so
// the feature maps do not collapse to 1x1. Models take [0, 1] images; the
// normalization (x - mean) / std is the graph's first two nodes.
#pragma once

#include <string>
#include <vector>

#include "runtime/ir/graph.h"

namespace pare {

struct ArchOptions {
    int64_t in_channels = 1;
    int64_t input_size = 28;
    int64_t num_classes = 10;
    double width = 1.0;  // channel multiplier (MobileNet's alpha)
    double depth = 1.0;  // block-count multiplier
    double resolution =
        1.0;  // input size multiplier (the model expects round(input_size * resolution))
    double expansion = 6.0;  // MobileNetV2 inverted-residual expansion
    int64_t layers = 20;     // ResNet depth (6n + 2, CIFAR-style basic blocks)
    double phi = 0.0;        // EfficientNet compound coefficient (B0 = 0)
    float dropout = 0.2f;
    std::vector<float> mean = {0.2860f};  // Fashion-MNIST statistics
    std::vector<float> stdev = {0.3530f};
    uint64_t seed = 1;
};

struct ArchInfo {
    std::string name;
    std::string summary;
};

const std::vector<ArchInfo>& arch_list();
// Builds NAME with options; an unknown name or impossible option is an error.
Result<Graph> build_arch(const std::string& name, const ArchOptions& options);
// "mobilenet_v2:width=0.35,expansion=4" -> name and options (over `base`).
Status parse_arch_spec(const std::string& spec, const ArchOptions& base, std::string* name,
                       ArchOptions* options);
// The input size the built model expects.
int64_t arch_input_size(const std::string& name, const ArchOptions& options);

// Per-architecture builders (one file each).
Result<Graph> build_lenet5(const ArchOptions& o);
Result<Graph> build_resnet(const ArchOptions& o);
Result<Graph> build_mobilenet_v1(const ArchOptions& o);
Result<Graph> build_mobilenet_v2(const ArchOptions& o);
Result<Graph> build_mobilenet_v3_small(const ArchOptions& o);
Result<Graph> build_squeezenet(const ArchOptions& o);
Result<Graph> build_shufflenet_v2(const ArchOptions& o);
Result<Graph> build_efficientnet(const ArchOptions& o);

}  // namespace pare
