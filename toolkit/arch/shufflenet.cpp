// ShuffleNetV2 (Ma et al. 2018): units that split the channels in two, transform
// one half (1x1, depthwise 3x3, 1x1) and concatenate, then shuffle the channels
// (reshape to groups, transpose, reshape back). Stage widths follow the paper's
// table for 0.5/1.0/1.5/2.0 and scale 1.0's widths otherwise.
#include <cmath>

#include "toolkit/arch/builder.h"
#include "toolkit/arch/zoo.h"

namespace pare {

namespace {

std::string shuffle(GraphBuilder& b, const std::string& x, int64_t c, int64_t h, int64_t w) {
    std::string y = b.reshape(x, {0, 2, c / 2, h, w}, "shuffle.split_groups");
    y = b.transpose(y, {0, 2, 1, 3, 4}, "shuffle.transpose");
    return b.reshape(y, {0, c, h, w}, "shuffle.merge");
}

}  // namespace

Result<Graph> build_shufflenet_v2(const ArchOptions& o) {
    GraphBuilder b("shufflenet_v2", o.seed);
    int64_t widths[5];
    const int64_t table[4][5] = {{24, 48, 96, 192, 1024},
                                 {24, 116, 232, 464, 1024},
                                 {24, 176, 352, 704, 1024},
                                 {24, 244, 488, 976, 2048}};
    const double known[4] = {0.5, 1.0, 1.5, 2.0};
    int which = -1;
    for (int i = 0; i < 4; ++i) {
        if (std::fabs(o.width - known[i]) < 1e-9) which = i;
    }
    for (int i = 0; i < 5; ++i) {
        widths[i] = which >= 0
                        ? table[which][i]
                        : (i == 0 || i == 4
                               ? table[1][i]
                               : 2 * std::max<int64_t>(4, std::lround(table[1][i] * o.width / 2)));
    }
    const bool small = o.input_size < 64;
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    x = b.conv_bn_act(x, o.in_channels, widths[0], 3, small ? 1 : 2, Act::kRelu, 1, "conv");
    int64_t size = small ? o.input_size : (o.input_size + 1) / 2;
    if (!small) {
        x = b.max_pool(x, 3, 2, 1, false, "pool");
        size = (size + 1) / 2;
    }
    int64_t cin = widths[0];
    const int64_t reps[3] = {4, 8, 4};
    for (int stage = 0; stage < 3; ++stage) {
        const int64_t cout = widths[stage + 1], half = cout / 2;
        const int64_t n = std::max<int64_t>(1, std::lround(reps[stage] * o.depth));
        for (int64_t i = 0; i < n; ++i) {
            b.scope("stage" + std::to_string(stage + 2) + ".unit" + std::to_string(i));
            std::string left, right;
            if (i == 0) {
                size = (size + 1) / 2;
                left = b.conv_bn_act(x, cin, cin, 3, 2, Act::kNone, cin, "left.dw");
                left = b.conv_bn_act(left, cin, half, 1, 1, Act::kRelu, 1, "left.pw");
                right = b.conv_bn_act(x, cin, half, 1, 1, Act::kRelu, 1, "right.pw1");
                right = b.conv_bn_act(right, half, half, 3, 2, Act::kNone, half, "right.dw");
            } else {
                std::vector<std::string> parts = b.split(x, {half, half}, 1, "split");
                left = parts[0];
                right = b.conv_bn_act(parts[1], half, half, 1, 1, Act::kRelu, 1, "right.pw1");
                right = b.conv_bn_act(right, half, half, 3, 1, Act::kNone, half, "right.dw");
            }
            right = b.conv_bn_act(right, half, half, 1, 1, Act::kRelu, 1, "right.pw2");
            x = shuffle(b, b.concat({left, right}, 1, "concat"), cout, size, size);
            cin = cout;
        }
    }
    b.scope("last");
    x = b.conv_bn_act(x, cin, widths[4], 1, 1, Act::kRelu, 1, "conv");
    b.classifier_head(x, widths[4], o.num_classes, 0);
    return b.finish();
}

}  // namespace pare
