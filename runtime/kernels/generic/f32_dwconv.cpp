// f32_dwconv: depthwise Conv (one input and one output channel per group), 2-D,
// strides 1 or 2, dilation 1, any kernel size: the dispatched plane kernel per
// (image, channel), planes split over the thread pool, bias and activation fused.
#include <numeric>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

class F32DwConv : public PreparedKernel {
  public:
    F32DwConv(const Node& node, const Tensor& w, const Tensor* b, const Activation& act)
        : attrs_(node.attrs), act_(act), kt_(kernels()) {
        w_.assign(w.data<float>(), w.data<float>() + w.numel());
        kshape_.assign(w.shape().begin() + 2, w.shape().end());
        bias_.assign(static_cast<size_t>(w.shape()[0]), 0.0f);
        if (b) bias_.assign(b->data<float>(), b->data<float>() + b->numel());
        // Each whole group of V channels: its taps' weights, V per tap (transposed).
        const int64_t V = kt_.f32_dwconv_lanes, C = w.shape()[0], taps = w.numel() / C;
        wg_.resize(static_cast<size_t>(C / V * V * taps));
        for (int64_t g = 0; g < C / V; ++g)
            for (int64_t t = 0; t < taps; ++t)
                for (int64_t c = 0; c < V; ++c)
                    wg_[(g * taps + t) * V + c] = w.data<float>()[(g * V + c) * taps + t];
    }

    std::string name() const override { return with_activation(kt_.f32_dwconv_name, act_); }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        Window w;
        Shape in_sp(X.shape().begin() + 2, X.shape().end());
        PARE_RETURN_IF_ERROR(window_forward(attrs_, in_sp, kshape_, false, &w));
        const int64_t N = X.shape()[0], C = X.shape()[1];
        if (C != static_cast<int64_t>(bias_.size()) || w.in.size() != 2)
            return internal_error("depthwise conv weights do not match the input");
        const int64_t H = w.in[0], W = w.in[1], OH = w.out[0], OW = w.out[1];
        const int64_t KH = kshape_[0], KW = kshape_[1];
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        if (OH <= 0 || OW <= 0) return Status();
        // Planes of at most 56 output columns (the 56x56 .. 7x7 planes of mobile
        // networks, and the stride-2 layers that make them) go V channels at a time,
        // vectorized across channels, with the planes transposed in and out in
        // registers (measured on AVX-512, AMD EPYC, 3x3 with clip, one thread: 96
        // channels 112x112 stride 2 0.225 against 0.277 ms one plane at a time, 144
        // channels 56x56 0.128 against 0.188, 192 channels 28x28 0.045 against 0.079;
        // on 112-column outputs one plane at a time is faster, 32 channels 0.140
        // against 0.165 ms); the channels past the last whole group, and wider
        // planes, one plane at a time.
        const int64_t V = kt_.f32_dwconv_lanes;
        const int64_t G = OW <= 56 ? C / V : 0, rest = C - G * V, per = G + rest;
        // Output rows [o0, o1) of image n's group or plane j, planes at their full
        // strides.
        run_plane_bands(
            ctx.pool, N, per, OH, OW, [&](int64_t n, int64_t j, int64_t o0, int64_t o1) {
                const RowBand in = band_input_rows(o0, o1, w.strides[0], w.pad_begin[0], KH, H);
                const int64_t c0 = j < G ? j * V : G * V + (j - G);
                const float* xs = x + (n * C + c0) * H * W + in.first * W;
                float* ys = y + (n * C + c0) * OH * OW + o0 * OW;
                if (j < G) {
                    kt_.f32_dwconv_group(xs, in.rows, W, H * W, wg_.data() + j * KH * KW * V,
                                         bias_.data() + c0, KH, KW, w.strides[0], w.strides[1],
                                         in.pad, w.pad_begin[1], ys, o1 - o0, OW, OH * OW, act_);
                } else {
                    kt_.f32_dwconv(xs, in.rows, W, w_.data() + c0 * KH * KW, KH, KW, w.strides[0],
                                   w.strides[1], in.pad, w.pad_begin[1], bias_[c0], ys, o1 - o0, OW,
                                   act_);
                }
            });
        return Status();
    }

  private:
    Attributes attrs_;
    Activation act_;
    const KernelTable& kt_;
    Shape kshape_;
    std::vector<float> w_, bias_, wg_;
};

}  // namespace

void run_plane_bands(ThreadPool* pool, int64_t N, int64_t per, int64_t OH, int64_t OW,
                     const std::function<void(int64_t, int64_t, int64_t, int64_t)>& task) {
    const int64_t T = pool ? pool->size() : 1;
    // Bands start at whole cache lines (16 floats) of a plane that is itself whole
    // lines, so no line is written by two threads; at least 8 rows and 4 steps of
    // align rows per thread.
    const int64_t align = 16 / std::gcd<int64_t>(OW, 16);
    if (T > 1 && OH * OW % 16 == 0 && OH >= 4 * T * std::max<int64_t>(2, align)) {
        parallel_ranges(pool, OH, align, [&](int64_t o0, int64_t o1) {
            for (int64_t n = 0; n < N; ++n)
                for (int64_t j = 0; j < per; ++j) task(n, j, o0, o1);
        });
    } else {
        parallel_runs(pool, N * per, [&](int64_t i) { task(i / per, i % per, 0, OH); });
    }
}

RowBand band_input_rows(int64_t o0, int64_t o1, int64_t s, int64_t p, int64_t K, int64_t H) {
    const int64_t top = o0 * s - p;
    const int64_t first = std::max<int64_t>(0, top);
    const int64_t last = std::min(H, (o1 - 1) * s - p + K);
    return {first, std::max<int64_t>(0, last - first), first - top};
}

std::unique_ptr<PreparedKernel> prepare_f32_dwconv(const Node& node,
                                                   const std::vector<const Tensor*>& constants,
                                                   const Activation& act) {
    if (constants.size() < 2 || !constants[1]) return nullptr;
    const Tensor& w = *constants[1];
    const Tensor* b = constants.size() > 2 ? constants[2] : nullptr;
    if (w.dtype() != DType::kFloat32 || w.rank() != 4 || w.shape()[1] != 1) return nullptr;
    if (node.attrs.get_int("group", 1) != w.shape()[0]) return nullptr;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !b) return nullptr;
    if (b && (b->dtype() != DType::kFloat32 || b->numel() != w.shape()[0])) return nullptr;
    for (int64_t d : node.attrs.get_ints("dilations")) {
        if (d != 1) return nullptr;
    }
    const std::vector<int64_t> st = node.attrs.get_ints("strides");
    for (int64_t s : st) {
        if (s != 1 && s != 2) return nullptr;
    }
    if (!st.empty() && st.size() != 2) return nullptr;
    if (w.shape()[2] <= 0 || w.shape()[3] <= 0) return nullptr;
    return std::make_unique<F32DwConv>(node, w, b, act);
}

}  // namespace pare
