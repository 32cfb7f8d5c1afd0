// f32_dwconv_avx2: the plane kernels (depthwise convolution, max pooling, the
// channel-group depthwise kernel, Winograd transforms) for AVX2 + FMA (16 outputs, two ymm, at a
// time). Entry points: runtime/kernels/plane_kernels.h.
#include "runtime/kernels/plane_kernels.h"

namespace pare {

PARE_PLANE_KERNELS(avx2, 8, 2)

}  // namespace pare
