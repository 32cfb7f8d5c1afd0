// f32_dwconv_neon: the plane kernels (depthwise convolution, max pooling, the
// channel-group depthwise kernel, Winograd transforms) for NEON (8 outputs, two q registers, at a
// time). Entry points: runtime/kernels/plane_kernels.h.
#include "runtime/kernels/plane_kernels.h"

namespace pare {

PARE_PLANE_KERNELS(neon, 4, 2)

}  // namespace pare
