#include "toolkit/arch/zoo.h"

#include <cmath>
#include <sstream>

namespace pare {

const std::vector<ArchInfo>& arch_list() {
    static const std::vector<ArchInfo> kList = {
        {"lenet5", "LeNet-5: two 5x5 conv + pool stages, three fully connected layers"},
        {"resnet",
         "ResNet (CIFAR-style, 6n+2 layers, basic blocks; --layers, --width), for teachers"},
        {"mobilenet_v1",
         "MobileNetV1: depthwise-separable convolutions (--width alpha, --resolution)"},
        {"mobilenet_v2",
         "MobileNetV2: inverted residuals with linear bottlenecks (--width, --expansion)"},
        {"mobilenet_v3_small", "MobileNetV3-Small: squeeze-excitation and hard-swish"},
        {"squeezenet1_1", "SqueezeNet 1.1: fire modules (squeeze 1x1, expand 1x1 + 3x3)"},
        {"shufflenet_v2", "ShuffleNetV2: channel split and shuffle (--width 0.5/1.0/1.5/2.0)"},
        {"efficientnet",
         "EfficientNet-B0 and compound scaling (--phi scales width, depth, resolution)"},
    };
    return kList;
}

int64_t arch_input_size(const std::string& name, const ArchOptions& o) {
    double res = o.resolution;
    if (name == "efficientnet") res *= std::pow(1.15, o.phi);
    return static_cast<int64_t>(std::lround(static_cast<double>(o.input_size) * res));
}

Result<Graph> build_arch(const std::string& name, const ArchOptions& o) {
    if (o.width <= 0 || o.depth <= 0 || o.resolution <= 0 || o.expansion <= 0) {
        return invalid_argument("width, depth, resolution and expansion must be positive");
    }
    if (o.in_channels < 1 || o.num_classes < 2 || o.input_size < 8) {
        return invalid_argument("need in_channels >= 1, num_classes >= 2 and input_size >= 8");
    }
    ArchOptions s = o;
    s.input_size = arch_input_size(name, o);
    if (name == "lenet5") return build_lenet5(s);
    if (name == "resnet") return build_resnet(s);
    if (name == "mobilenet_v1") return build_mobilenet_v1(s);
    if (name == "mobilenet_v2") return build_mobilenet_v2(s);
    if (name == "mobilenet_v3_small") return build_mobilenet_v3_small(s);
    if (name == "squeezenet1_1") return build_squeezenet(s);
    if (name == "shufflenet_v2") return build_shufflenet_v2(s);
    if (name == "efficientnet") return build_efficientnet(s);
    std::string names;
    for (const auto& a : arch_list()) names += (names.empty() ? "" : ", ") + a.name;
    return invalid_argument("unknown architecture \"" + name + "\" (available: " + names + ")");
}

Status parse_arch_spec(const std::string& spec, const ArchOptions& base, std::string* name,
                       ArchOptions* o) {
    *o = base;
    const size_t colon = spec.find(':');
    *name = spec.substr(0, colon);
    if (colon == std::string::npos) return Status();
    std::stringstream ss(spec.substr(colon + 1));
    std::string kv;
    while (std::getline(ss, kv, ',')) {
        const size_t eq = kv.find('=');
        if (eq == std::string::npos)
            return invalid_argument("malformed architecture option \"" + kv + "\" in " + spec);
        const std::string k = kv.substr(0, eq);
        char* end = nullptr;
        const double v = std::strtod(kv.c_str() + eq + 1, &end);
        if (!end || *end) return invalid_argument("option " + k + " needs a number in " + spec);
        if (k == "width")
            o->width = v;
        else if (k == "depth")
            o->depth = v;
        else if (k == "resolution")
            o->resolution = v;
        else if (k == "expansion")
            o->expansion = v;
        else if (k == "layers")
            o->layers = static_cast<int64_t>(v);
        else if (k == "phi")
            o->phi = v;
        else if (k == "dropout")
            o->dropout = static_cast<float>(v);
        else
            return invalid_argument("unknown architecture option \"" + k + "\" in " + spec);
    }
    return Status();
}

}  // namespace pare
