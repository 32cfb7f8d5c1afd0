// MobileNetV1 (depthwise-separable), V2 (inverted residuals, linear bottlenecks)
// and V3-Small (squeeze-excitation, hard-swish), after Howard et al. 2017,
// Sandler et al. 2018 and Howard et al. 2019. Small inputs keep the stem at stride 1.
#include <cmath>

#include "toolkit/arch/builder.h"
#include "toolkit/arch/zoo.h"

namespace pare {

namespace {

int64_t repeats(int64_t n, double depth) {
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(n * depth)));
}

}  // namespace

Result<Graph> build_mobilenet_v1(const ArchOptions& o) {
    GraphBuilder b("mobilenet_v1", o.seed);
    const bool small = o.input_size < 64;
    auto ch = [&](int64_t c) { return make_divisible(c * o.width); };
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    x = b.conv_bn_act(x, o.in_channels, ch(32), 3, small ? 1 : 2, Act::kRelu, 1, "conv");
    const int64_t cfg[][2] = {{64, 1},  {128, 2}, {128, 1},  {256, 2}, {256, 1},
                              {512, 2}, {512, 1}, {1024, 2}, {1024, 1}};
    int64_t cin = ch(32);
    int idx = 0;
    for (const auto& c : cfg) {
        const int64_t reps = c[0] == 512 && c[1] == 1 ? repeats(5, o.depth) : 1;
        for (int64_t r = 0; r < reps; ++r) {
            b.scope("block" + std::to_string(idx++));
            x = b.conv_bn_act(x, cin, cin, 3, r == 0 ? c[1] : 1, Act::kRelu, cin, "dw");
            x = b.conv_bn_act(x, cin, ch(c[0]), 1, 1, Act::kRelu, 1, "pw");
            cin = ch(c[0]);
        }
    }
    b.classifier_head(x, cin, o.num_classes, o.dropout);
    return b.finish();
}

Result<Graph> build_mobilenet_v2(const ArchOptions& o) {
    GraphBuilder b("mobilenet_v2", o.seed);
    const bool small = o.input_size < 64;
    auto ch = [&](int64_t c) { return make_divisible(c * o.width); };
    // t (expansion; 6 is replaced by --expansion), c, n, s
    const double cfg[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    int64_t cin = ch(32);
    x = b.conv_bn_act(x, o.in_channels, cin, 3, small ? 1 : 2, Act::kRelu6, 1, "conv");
    int idx = 0;
    for (const auto& c : cfg) {
        const double t = c[0] == 6 ? o.expansion : c[0];
        const int64_t cout = ch(static_cast<int64_t>(c[1]));
        for (int64_t r = 0; r < repeats(static_cast<int64_t>(c[2]), o.depth); ++r) {
            b.scope("block" + std::to_string(idx++));
            // Small inputs also keep the first stride-2 stage (24 channels) at stride 1, the
            // usual CIFAR adaptation: 28x28 inputs then reach the last stage at 4x4, not 2x2.
            const bool keep = small && c[1] == 24;
            const int64_t stride = (r == 0 && !keep) ? static_cast<int64_t>(c[3]) : 1;
            const int64_t hidden = static_cast<int64_t>(std::lround(cin * t));
            x = b.inverted_residual(x, cin, hidden, cout, 3, stride, Act::kRelu6);
            cin = cout;
        }
    }
    b.scope("last");
    const int64_t last = make_divisible(1280 * std::max(1.0, o.width));
    x = b.conv_bn_act(x, cin, last, 1, 1, Act::kRelu6, 1, "conv");
    b.classifier_head(x, last, o.num_classes, o.dropout);
    return b.finish();
}

Result<Graph> build_mobilenet_v3_small(const ArchOptions& o) {
    GraphBuilder b("mobilenet_v3_small", o.seed);
    const bool small = o.input_size < 64;
    auto ch = [&](int64_t c) { return make_divisible(c * o.width); };
    struct Cfg {
        int64_t k, exp, out;
        bool se;
        Act act;
        int64_t s;
    };
    const Cfg cfg[] = {
        {3, 16, 16, true, Act::kRelu, 2},       {3, 72, 24, false, Act::kRelu, 2},
        {3, 88, 24, false, Act::kRelu, 1},      {5, 96, 40, true, Act::kHardSwish, 2},
        {5, 240, 40, true, Act::kHardSwish, 1}, {5, 240, 40, true, Act::kHardSwish, 1},
        {5, 120, 48, true, Act::kHardSwish, 1}, {5, 144, 48, true, Act::kHardSwish, 1},
        {5, 288, 96, true, Act::kHardSwish, 2}, {5, 576, 96, true, Act::kHardSwish, 1},
        {5, 576, 96, true, Act::kHardSwish, 1}};
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    int64_t cin = ch(16);
    x = b.conv_bn_act(x, o.in_channels, cin, 3, small ? 1 : 2, Act::kHardSwish, 1, "conv");
    int idx = 0;
    for (const auto& c : cfg) {
        b.scope("block" + std::to_string(idx++));
        const int64_t hidden = ch(c.exp), cout = ch(c.out);
        x = b.inverted_residual(x, cin, hidden, cout, c.k, c.s, c.act,
                                c.se ? make_divisible(hidden / 4.0) : 0, Act::kRelu,
                                Act::kHardSigmoid);
        cin = cout;
    }
    b.scope("last");
    const int64_t last = ch(576);
    x = b.conv_bn_act(x, cin, last, 1, 1, Act::kHardSwish, 1, "conv");
    b.scope("head");
    x = b.flatten(b.global_avg_pool(x, "pool"), "flatten");
    const int64_t fc = make_divisible(1024 * o.width);
    x = b.act(b.linear(x, last, fc, "fc1"), Act::kHardSwish, "act");
    if (o.dropout > 0) x = b.dropout(x, o.dropout, "dropout");
    x = b.linear(x, fc, o.num_classes, "fc2");
    b.output(x, o.num_classes);
    return b.finish();
}

}  // namespace pare
