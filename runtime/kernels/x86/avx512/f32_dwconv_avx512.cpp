// f32_dwconv_avx512: the plane kernels (depthwise convolution, max pooling, the
// channel-group depthwise kernel, Winograd transforms) for AVX-512F (16 outputs, one zmm, at a
// time). Entry points: runtime/kernels/plane_kernels.h.
#include "runtime/kernels/plane_kernels.h"

namespace pare {

PARE_PLANE_KERNELS(avx512, 16, 1)
PARE_CONV_TILE_KERNELS(avx512, 16)

}  // namespace pare
