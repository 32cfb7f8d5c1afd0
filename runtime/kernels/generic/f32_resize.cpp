// f32_resize: nearest Resize of the last two axes (N and C kept), the index tables
// from resize_nearest_indices (runtime/ops/op_util.h), so results are exactly the
// reference's. Per plane: an output row whose source row is the previous output
// row's is a copy of it; others gather along the row. Planes split over threads.
#include <cstring>
#include <vector>

#include "runtime/kernels/fast_ops.h"
#include "runtime/ops/op_util.h"

namespace pare {

namespace {

class F32ResizeNearest : public PreparedKernel {
  public:
    std::string name() const override { return "f32_resize_nearest"; }

    Status run(ComputeContext& ctx) const override {
        const Tensor& X = *ctx.in[0];
        Tensor& Y = *ctx.out[0];
        if (X.rank() != 4 || Y.rank() != 4 || X.dtype() != DType::kFloat32)
            return op_def(ctx.node.op).compute(ctx);
        std::vector<std::vector<int64_t>> idx;
        PARE_RETURN_IF_ERROR(resize_nearest_indices(ctx, &idx));
        for (int d = 0; d < 2; ++d) {
            if (Y.shape()[d] != X.shape()[d]) return op_def(ctx.node.op).compute(ctx);
            for (int64_t o = 0; o < Y.shape()[d]; ++o) {
                if (idx[d][o] != o) return op_def(ctx.node.op).compute(ctx);
            }
        }
        const int64_t H = X.shape()[2], W = X.shape()[3], OH = Y.shape()[2], OW = Y.shape()[3];
        const std::vector<int64_t>& ih = idx[2];
        const std::vector<int64_t>& iw = idx[3];
        const float* x = X.data<float>();
        float* y = Y.data<float>();
        auto plane = [&](int64_t p) {
            const float* xp = x + p * H * W;
            float* yp = y + p * OH * OW;
            for (int64_t oh = 0; oh < OH; ++oh) {
                float* yr = yp + oh * OW;
                if (oh > 0 && ih[oh] == ih[oh - 1]) {
                    std::memcpy(yr, yr - OW, static_cast<size_t>(OW) * sizeof(float));
                    continue;
                }
                const float* xr = xp + ih[oh] * W;
                for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = xr[iw[ow]];
            }
        };
        const int64_t planes = X.shape()[0] * X.shape()[1];
        parallel_runs(ctx.pool, planes, plane);
        return Status();
    }
};

}  // namespace

std::unique_ptr<PreparedKernel> prepare_f32_resize(const Node& node,
                                                   const std::vector<const Tensor*>& constants,
                                                   const Activation& act) {
    (void)constants;
    const std::string ct = node.attrs.get_string("coordinate_transformation_mode", "half_pixel");
    if (act.kind != Activation::kNone || node.attrs.get_string("mode", "nearest") != "nearest" ||
        ct == "tf_crop_and_resize")
        return nullptr;
    return std::make_unique<F32ResizeNearest>();
}

}  // namespace pare
