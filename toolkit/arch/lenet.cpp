// LeNet-5 with ReLU and max-pooling: conv5x5(6) -> pool -> conv5x5(16) -> pool ->
// fc(120) -> fc(84) -> fc(classes). Convolutions use "same" padding, so a 28x28
// input reaches the classifier as 16x7x7. --width scales every layer.
#include "toolkit/arch/builder.h"
#include "toolkit/arch/zoo.h"

namespace pare {

Result<Graph> build_lenet5(const ArchOptions& o) {
    GraphBuilder b("lenet5", o.seed);
    const int64_t c1 = std::max<int64_t>(1, std::lround(6 * o.width)),
                  c2 = std::max<int64_t>(1, std::lround(16 * o.width));
    const int64_t f1 = std::max<int64_t>(1, std::lround(120 * o.width)),
                  f2 = std::max<int64_t>(1, std::lround(84 * o.width));
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    x = b.act(b.conv(x, o.in_channels, c1, 5, 1, 1, true, "conv1"), Act::kRelu, "relu1");
    x = b.max_pool(x, 2, 2, 0, false, "pool1");
    x = b.act(b.conv(x, c1, c2, 5, 1, 1, true, "conv2"), Act::kRelu, "relu2");
    x = b.max_pool(x, 2, 2, 0, false, "pool2");
    const int64_t s = o.input_size / 4;
    x = b.flatten(x, "flatten");
    x = b.act(b.linear(x, c2 * s * s, f1, "fc1"), Act::kRelu, "relu3");
    x = b.act(b.linear(x, f1, f2, "fc2"), Act::kRelu, "relu4");
    x = b.linear(x, f2, o.num_classes, "fc3");
    b.output(x, o.num_classes);
    return b.finish();
}

}  // namespace pare
