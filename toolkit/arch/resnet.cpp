// ResNet with basic blocks. Small inputs (< 64): the CIFAR form, 6n+2 layers in
// three stages of 16, 32, 64 channels (x width). Large inputs: a 7x7 stride-2 stem
// and max-pool before the same stages. The last BatchNorm of each residual branch
// starts at zero, so every block starts as the identity.
#include <cmath>

#include "toolkit/arch/builder.h"
#include "toolkit/arch/zoo.h"

namespace pare {

Result<Graph> build_resnet(const ArchOptions& o) {
    if (o.layers < 8 || (o.layers - 2) % 6 != 0) {
        return invalid_argument(
            "ResNet layers must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, ...), got " +
            std::to_string(o.layers));
    }
    const int64_t n = std::max<int64_t>(1, std::lround((o.layers - 2) / 6 * o.depth));
    GraphBuilder b("resnet" + std::to_string(6 * n + 2), o.seed);
    const int64_t w0 = std::max<int64_t>(4, std::lround(16 * o.width));
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    if (o.input_size >= 64) {
        x = b.conv_bn_act(x, o.in_channels, w0, 7, 2, Act::kRelu, 1, "conv");
        x = b.max_pool(x, 3, 2, 1, false, "pool");
    } else {
        x = b.conv_bn_act(x, o.in_channels, w0, 3, 1, Act::kRelu, 1, "conv");
    }
    int64_t cin = w0;
    for (int stage = 0; stage < 3; ++stage) {
        const int64_t cout = w0 << stage;
        for (int64_t i = 0; i < n; ++i) {
            b.scope("stage" + std::to_string(stage + 1) + ".block" + std::to_string(i));
            const int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
            std::string y = b.conv_bn_act(x, cin, cout, 3, stride, Act::kRelu, 1, "a");
            y = b.conv(y, cout, cout, 3, 1, 1, false, "b.conv");
            y = b.bn(y, cout, "b.bn", true);
            std::string sc = x;
            if (stride != 1 || cin != cout) {
                sc = b.conv(x, cin, cout, 1, stride, 1, false, "down.conv");
                sc = b.bn(sc, cout, "down.bn");
            }
            x = b.act(b.add(y, sc, "add"), Act::kRelu, "relu");
            cin = cout;
        }
    }
    b.classifier_head(x, cin, o.num_classes, 0);
    return b.finish();
}

}  // namespace pare
