// SqueezeNet 1.1 (Iandola et al. 2016): fire modules, a 1x1 "squeeze" followed by
// parallel 1x1 and 3x3 "expand" convolutions whose outputs are concatenated.
// The classifier is a 1x1 convolution to the classes, then global average pooling.
#include <cmath>

#include "toolkit/arch/builder.h"
#include "toolkit/arch/zoo.h"

namespace pare {

namespace {

std::string fire(GraphBuilder& b, const std::string& x, int64_t cin, int64_t sq, int64_t ex,
                 const std::string& name) {
    b.scope(name);
    std::string s = b.act(b.conv(x, cin, sq, 1, 1, 1, true, "squeeze"), Act::kRelu, "squeeze.relu");
    std::string e1 =
        b.act(b.conv(s, sq, ex, 1, 1, 1, true, "expand1x1"), Act::kRelu, "expand1x1.relu");
    std::string e3 =
        b.act(b.conv(s, sq, ex, 3, 1, 1, true, "expand3x3"), Act::kRelu, "expand3x3.relu");
    return b.concat({e1, e3}, 1, "concat");
}

}  // namespace

Result<Graph> build_squeezenet(const ArchOptions& o) {
    GraphBuilder b("squeezenet1_1", o.seed);
    auto ch = [&](int64_t c) { return std::max<int64_t>(4, std::lround(c * o.width)); };
    const bool small = o.input_size < 64;
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    x = b.act(b.conv(x, o.in_channels, ch(64), 3, small ? 1 : 2, 1, true, "conv"), Act::kRelu,
              "relu");
    x = b.max_pool(x, 3, 2, 0, true, "pool");
    const int64_t cfg[][2] = {{16, 64},  {16, 64},  {32, 128}, {32, 128},
                              {48, 192}, {48, 192}, {64, 256}, {64, 256}};
    int64_t cin = ch(64);
    for (int i = 0; i < 8; ++i) {
        x = fire(b, x, cin, ch(cfg[i][0]), ch(cfg[i][1]), "fire" + std::to_string(i + 2));
        cin = 2 * ch(cfg[i][1]);
        if (i == 1 || i == 3) {
            b.scope("pool" + std::to_string(i));
            x = b.max_pool(x, 3, 2, 0, true, "pool");
        }
    }
    b.scope("head");
    if (o.dropout > 0) x = b.dropout(x, 0.5f, "dropout");
    x = b.act(b.conv(x, cin, o.num_classes, 1, 1, 1, true, "classifier"), Act::kRelu, "relu");
    x = b.flatten(b.global_avg_pool(x, "pool"), "flatten");
    b.output(x, o.num_classes);
    return b.finish();
}

}  // namespace pare
