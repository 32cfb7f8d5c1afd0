// f32_dwconv_avx512: the depthwise convolution and max pooling plane kernels, 16
// outputs (one zmm) at a time, AVX-512F. Definition in runtime/kernels/dwconv_impl.h.
#include "runtime/kernels/dwconv_impl.h"
#include "runtime/kernels/winograd_impl.h"

namespace pare {

void f32_dwconv_avx512(const float* x, int64_t H, int64_t W, const float* w, int64_t KH, int64_t KW,
                       int64_t sh, int64_t sw, int64_t pt, int64_t pl, float bias, float* y,
                       int64_t OH, int64_t OW, const Activation& act) {
    dwconv_plane<16, false, 1>(x, H, W, w, KH, KW, sh, sw, pt, pl, bias, y, OH, OW, act);
}

void f32_maxpool_avx512(const float* x, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t sh,
                        int64_t sw, int64_t pt, int64_t pl, float* y, int64_t OH, int64_t OW) {
    dwconv_plane<16, true, 1>(x, H, W, nullptr, KH, KW, sh, sw, pt, pl, 0.0f, y, OH, OW,
                              Activation{});
}

void f32_dwconv_group_avx512(const float* x, int64_t H, int64_t W, const float* wt,
                             const float* bias, int64_t KH, int64_t KW, int64_t sh, int64_t sw,
                             int64_t pt, int64_t pl, float* y, int64_t OH, int64_t OW,
                             const Activation& act) {
    dwconv_group<16>(x, H, W, wt, bias, KH, KW, sh, sw, pt, pl, y, OH, OW, act);
}

void f32_winograd_in_avx512(const float* x, int64_t H, int64_t W, int64_t th, int64_t TW,
                            int64_t pt, int64_t pl, float* v, int64_t ldv) {
    winograd_input_row<16>(x, H, W, th, TW, pt, pl, v, ldv);
}

void f32_winograd_out_avx512(const float* m, int64_t ldm, int64_t th, int64_t TW, float* y,
                             int64_t OH, int64_t OW, float bias, const float* r,
                             const Activation& act) {
    winograd_output_row<16>(m, ldm, th, TW, y, OH, OW, bias, r, act);
}

}  // namespace pare
