// f32_conv_transpose: ConvTranspose as the dispatched packed GEMM plus a scatter
// (col2im). x (N, C, spatial) f32, w (C, M/group, k...), b (M) -> y (N, M, out).
// At prepare: each group's weights, viewed as W_g (Cg x Mg*k), are transposed and
// packed once as the GEMM's A operand (Mg*k rows, Cg deep). Per image and group:
// Z = W_g^T * X_g (rows (m, kd, kh, kw), one column per input position), then every
// Z element adds into the output position it maps to, o = i * stride + k *
// dilation - pad_begin, over outputs first set to the bias; the activation last.
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/conv_util.h"

namespace pare {

namespace {

class F32ConvTranspose : public PreparedKernel {
  public:
    F32ConvTranspose(const Node& node, const Tensor& w, const Tensor* b, const Activation& act)
        : node_(node), act_(act), kt_(kernels()) {
        group_ = node.attrs.get_int("group", 1);
        C_ = w.shape()[0];
        Cg_ = C_ / group_;
        Mg_ = w.shape()[1];
        ksz_ = w.numel() / (C_ * Mg_);
        rows_ = Mg_ * ksz_;
        mr_ = f32_gemm_pick_mr(kt_, rows_);
        const int64_t per = f32_packed_a_size(rows_, Cg_, mr_);
        packed_.resize(static_cast<size_t>(per * group_));
        std::vector<float> t(static_cast<size_t>(rows_ * Cg_));
        for (int64_t g = 0; g < group_; ++g) {
            const float* wg = w.data<float>() + g * Cg_ * rows_;
            for (int64_t c = 0; c < Cg_; ++c)
                for (int64_t r = 0; r < rows_; ++r) t[r * Cg_ + c] = wg[c * rows_ + r];
            f32_pack_a(rows_, Cg_, t.data(), Cg_, mr_, packed_.data() + g * per);
        }
        bias_.assign(static_cast<size_t>(Mg_ * group_), 0.0f);
        if (b) bias_.assign(b->data<float>(), b->data<float>() + b->numel());
    }

    std::string name() const override {
        return with_activation(std::string("f32_conv_transpose+") + f32_gemm_name_for(kt_, mr_),
                               act_);
    }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        TWindow t;
        PARE_RETURN_IF_ERROR(transpose_window(node_, X.shape(), ctx.in[1]->shape(), &t));
        const int64_t N = X.shape()[0], M = Mg_ * group_;
        if (X.shape()[1] != C_) return internal_error("conv transpose weights do not match");
        const Shape in = to3(t.in, 1), out = to3(t.out, 1), k = to3(t.kernel, 1);
        const Shape st = to3(t.strides, 1), dl = to3(t.dilations, 1), pb = to3(t.pad_begin, 0);
        const int64_t in_sz = in[0] * in[1] * in[2], out_sz = out[0] * out[1] * out[2];
        if (in_sz > 0 && rows_ > tensor_byte_limit() / static_cast<int64_t>(sizeof(float)) / in_sz)
            return op_def(ctx.node.op).compute(ctx);  // Z past the size limit: no buffer
        float* z = scratch_floats(2, static_cast<size_t>(rows_ * in_sz));
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        const int64_t per = f32_packed_a_size(rows_, Cg_, mr_);
        for (int64_t n = 0; n < N; ++n) {
            for (int64_t g = 0; g < group_; ++g) {
                const F32PackedA a{packed_.data() + g * per, rows_, Cg_, mr_};
                f32_gemm_parallel(kt_, a, in_sz, {x + (n * C_ + g * Cg_) * in_sz, in_sz}, z, in_sz,
                                  nullptr, nullptr, Activation{}, ctx.pool);
                // Scatter: one output channel per task (no two tasks write one element).
                auto channel = [&](int64_t mg) {
                    const int64_t m = g * Mg_ + mg;
                    float* yo = y + (n * M + m) * out_sz;
                    for (int64_t i = 0; i < out_sz; ++i) yo[i] = bias_[m];
                    for (int64_t kd = 0; kd < k[0]; ++kd)
                        for (int64_t kh = 0; kh < k[1]; ++kh)
                            for (int64_t kw = 0; kw < k[2]; ++kw) {
                                const float* zr =
                                    z + (mg * ksz_ + (kd * k[1] + kh) * k[2] + kw) * in_sz;
                                scatter(zr, in, out, st, dl, pb, kd, kh, kw, yo);
                            }
                    kernels().f32_activate(act_, yo, out_sz);
                };
                parallel_runs(ctx.pool, Mg_, channel);
            }
        }
        return Status();
    }

  private:
    // yo[o(i)] += zr[i] for every input position i, o = i * s + k * d - pad.
    static void scatter(const float* zr, const Shape& in, const Shape& out, const Shape& st,
                        const Shape& dl, const Shape& pb, int64_t kd, int64_t kh, int64_t kw,
                        float* yo) {
        for (int64_t id = 0; id < in[0]; ++id) {
            const int64_t od = id * st[0] + kd * dl[0] - pb[0];
            if (od < 0 || od >= out[0]) continue;
            for (int64_t ih = 0; ih < in[1]; ++ih) {
                const int64_t oh = ih * st[1] + kh * dl[1] - pb[1];
                if (oh < 0 || oh >= out[1]) continue;
                const float* zi = zr + (id * in[1] + ih) * in[2];
                float* yr = yo + (od * out[1] + oh) * out[2];
                const int64_t off = kw * dl[2] - pb[2], s = st[2];
                for (int64_t iw = 0; iw < in[2]; ++iw) {
                    const int64_t ow = iw * s + off;
                    if (ow >= 0 && ow < out[2]) yr[ow] += zi[iw];
                }
            }
        }
    }

    Node node_;
    Activation act_;
    const KernelTable& kt_;
    int mr_ = 1;  // micro-tile height the weights are packed for
    int64_t group_ = 1, C_ = 0, Cg_ = 0, Mg_ = 0, ksz_ = 1, rows_ = 0;
    std::vector<float> packed_, bias_;
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_conv_transpose(
    const Node& node, const std::vector<const Tensor*>& constants, const Activation& act) {
    if (constants.size() < 2 || !constants[1]) return nullptr;
    const Tensor& w = *constants[1];
    const Tensor* b = constants.size() > 2 ? constants[2] : nullptr;
    if (w.dtype() != DType::kFloat32 || w.rank() < 3 || w.rank() > 5 || w.numel() == 0)
        return nullptr;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !b) return nullptr;  // runtime bias
    const int64_t group = node.attrs.get_int("group", 1);
    if (group <= 0 || w.shape()[0] % group != 0) return nullptr;
    if (b && (b->dtype() != DType::kFloat32 || b->numel() != w.shape()[1] * group)) return nullptr;
    return std::make_unique<F32ConvTranspose>(node, w, b, act);
}

}  // namespace pare
