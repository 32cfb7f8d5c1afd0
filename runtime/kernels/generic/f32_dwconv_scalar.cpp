// f32_dwconv_scalar: the plane kernels (depthwise convolution, max pooling, the
// channel-group depthwise kernel, Winograd transforms) for the baseline ISA (8 outputs, two 4-lane
// vectors, at a time). Entry points: runtime/kernels/plane_kernels.h.
#include "runtime/kernels/plane_kernels.h"

namespace pare {

PARE_PLANE_KERNELS(scalar, 4, 2)

}  // namespace pare
