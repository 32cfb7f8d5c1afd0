// EfficientNet-B0 (Tan and Le 2019): MBConv blocks with squeeze-excitation and
// SiLU, and compound scaling: phi multiplies width by 1.1^phi, depth by 1.2^phi
// and resolution by 1.15^phi (resolution is applied by build_arch).
#include <cmath>

#include "toolkit/arch/builder.h"
#include "toolkit/arch/zoo.h"

namespace pare {

Result<Graph> build_efficientnet(const ArchOptions& o) {
    const double wm = o.width * std::pow(1.1, o.phi), dm = o.depth * std::pow(1.2, o.phi);
    GraphBuilder b("efficientnet", o.seed);
    auto ch = [&](int64_t c) { return make_divisible(c * wm); };
    // expansion, kernel, stride, out channels, repeats
    const int64_t cfg[][5] = {{1, 3, 1, 16, 1}, {6, 3, 2, 24, 2},  {6, 5, 2, 40, 2},
                              {6, 3, 2, 80, 3}, {6, 5, 1, 112, 3}, {6, 5, 2, 192, 4},
                              {6, 3, 1, 320, 1}};
    const bool small = o.input_size < 64;
    std::string x = b.input(o.in_channels, o.input_size, o.mean, o.stdev);
    b.scope("stem");
    int64_t cin = ch(32);
    x = b.conv_bn_act(x, o.in_channels, cin, 3, small ? 1 : 2, Act::kSilu, 1, "conv");
    int idx = 0;
    for (const auto& c : cfg) {
        const int64_t cout = ch(c[3]);
        const int64_t n = static_cast<int64_t>(std::ceil(c[4] * dm));
        for (int64_t r = 0; r < n; ++r) {
            b.scope("block" + std::to_string(idx++));
            const int64_t stride = r == 0 ? c[2] : 1;
            const int64_t hidden = cin * c[0];
            x = b.inverted_residual(x, cin, hidden, cout, c[1], stride, Act::kSilu,
                                    std::max<int64_t>(1, cin / 4), Act::kSilu, Act::kSigmoid);
            cin = cout;
        }
    }
    b.scope("last");
    const int64_t last = ch(1280);
    x = b.conv_bn_act(x, cin, last, 1, 1, Act::kSilu, 1, "conv");
    b.classifier_head(x, last, o.num_classes, o.dropout);
    return b.finish();
}

}  // namespace pare
