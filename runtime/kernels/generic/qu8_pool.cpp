// qu8_maxpool: 2-D MaxPool of uint8 planes (dilation 1, any kernel, stride and
// padding). Per output row: the maxima of the window's input rows taken column by
// column over the padded width (contiguous bytes: vectorized by the compiler), then
// for each output column the maximum of its window's columns. Padding counts as 0,
// the smallest uint8, so it never wins over an inside value (every window holds
// one). Planes split over the threads.
#include <algorithm>
#include <cstring>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

// One plane. A function of its own, its bounds in registers: in a lambda they
// are read through the closure, which byte stores may alias (no vectorization).
void max_pool_plane(const uint8_t* x, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t sh,
                    int64_t sw, int64_t pt, int64_t pl, int64_t Wp, uint8_t* y, int64_t OH,
                    int64_t OW) {
    // Two rows of the padded width, in this thread's scratch (no allocation per run).
    uint8_t* buf =
        reinterpret_cast<uint8_t*>(scratch_floats(4, static_cast<size_t>((2 * Wp + 3) / 4)));
    uint8_t* __restrict row = buf;
    uint8_t* __restrict hm = buf + Wp;
    for (int64_t oh = 0; oh < OH; ++oh) {
        std::memset(row, 0, static_cast<size_t>(Wp));
        const int64_t h0 = std::max<int64_t>(0, oh * sh - pt);
        const int64_t h1 = std::min(H, oh * sh - pt + KH);
        for (int64_t h = h0; h < h1; ++h) {
            const uint8_t* __restrict src = x + h * W;
            uint8_t* __restrict r = row + pl;
            for (int64_t c = 0; c < W; ++c) r[c] = r[c] > src[c] ? r[c] : src[c];
        }
        // hm[c]: the maximum of the KW columns from c on, for every c.
        const int64_t n = Wp - KW + 1;
        std::memcpy(hm, row, static_cast<size_t>(n));
        for (int64_t k = 1; k < KW; ++k) {
            const uint8_t* __restrict r = row + k;
            for (int64_t c = 0; c < n; ++c) hm[c] = hm[c] > r[c] ? hm[c] : r[c];
        }
        uint8_t* yr = y + oh * OW;
        for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = hm[ow * sw];
    }
}

class Qu8MaxPool : public PreparedKernel {
  public:
    explicit Qu8MaxPool(const Node& node) : attrs_(node.attrs) {}
    std::string name() const override { return "qu8_maxpool"; }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.dtype() != DType::kUint8 || X.rank() != 4) return compute_pool(ctx);
        Window w;
        PARE_RETURN_IF_ERROR(window_forward(attrs_, Shape(X.shape().begin() + 2, X.shape().end()),
                                            attrs_.get_ints("kernel_shape"),
                                            attrs_.get_int("ceil_mode", 0) != 0, &w));
        const int64_t H = w.in[0], W = w.in[1], OH = w.out[0], OW = w.out[1];
        const int64_t KH = w.kernel[0], KW = w.kernel[1], sh = w.strides[0], sw = w.strides[1];
        const int64_t pt = w.pad_begin[0], pl = w.pad_begin[1];
        if (OH <= 0 || OW <= 0) return Status();
        // The padded width every output column's window lies in.
        const int64_t Wp = std::max<int64_t>((OW - 1) * sw + KW, pl + W);
        parallel_runs(ctx.pool, X.shape()[0] * X.shape()[1], [&](int64_t i) {
            max_pool_plane(X.data<uint8_t>() + i * H * W, H, W, KH, KW, sh, sw, pt, pl, Wp,
                           Y.data<uint8_t>() + i * OH * OW, OH, OW);
        });
        return Status();
    }

  private:
    Attributes attrs_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_qu8_maxpool(const Node& node) {
    if (node.outputs.size() != 1 || node.attrs.get_ints("kernel_shape").size() != 2) return nullptr;
    for (int64_t d : node.attrs.get_ints("dilations"))
        if (d != 1) return nullptr;
    if (node.attrs.get_string("auto_pad", "NOTSET") != "NOTSET") return nullptr;
    return std::make_unique<Qu8MaxPool>(node);
}

}  // namespace pare
