// Helpers shared by the op files: axes, broadcasting, strides, reading
// shape-like input tensors, dtype dispatch. Ops never re-implement these.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/half.h"
#include "runtime/ops/op.h"

namespace pare {

// Largest tensor rank the runtime accepts; output ranks taken from data are checked
// against it before anything is sized by them.
constexpr int64_t kMaxRank = 32;

// For ops whose output rank is the length of a shape-like input (Reshape,
// ConstantOfShape, Expand's shape, Unsqueeze's axes): the input must be 1-D (when its
// rank is known) and no longer than kMaxRank. *length gets its length, or -1.
Status shape_input_length(const ValueMeta& m, const char* what, int64_t* length);

// Normalizes axis into [0, rank); error if out of range.
Status normalize_axis(int64_t axis, int64_t rank, int64_t* out);
// Numpy broadcasting of two shapes (unknown dims < 0 propagate).
Status broadcast_shapes(const Shape& a, const Shape& b, Shape* out);
// Row-major strides (in elements).
std::vector<int64_t> strides_of(const Shape& s);
// Strides of `s` broadcast to `out` (0 on broadcast dims; s right-aligned).
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out);
// Reads an int32/int64 tensor into a vector.
std::vector<int64_t> to_int64s(const Tensor& t);
// A metadata-only output: dtype and fully or partly known shape.
inline ValueMeta meta(DType dtype, Shape shape) { return {dtype, true, std::move(shape), nullptr}; }
inline ValueMeta meta_rank_unknown(DType dtype) { return {dtype, false, {}, nullptr}; }
// Requires input i to be present with a float32 dtype (the reference kernels' float type).
Status require_float(const InferContext& ctx, size_t i);
Status require_inputs(const InferContext& ctx, size_t min_count);
// The [begin, end) range of dims a Shape node outputs (its start/end attributes, clamped).
void shape_op_range(const Node& node, int64_t rank, int64_t* begin, int64_t* end);

// The quantized ops' integers: element i of a uint8, int8 or int32 tensor.
inline int32_t int_at(const Tensor& t, int64_t i) {
    switch (t.dtype()) {
        case DType::kUint8:
            return t.data<uint8_t>()[i];
        case DType::kInt8:
            return t.data<int8_t>()[i];
        default:
            return t.data<int32_t>()[i];
    }
}
// The range of an 8-bit type: [-128, 127] for int8, [0, 255] for uint8.
inline void type_range(DType t, int32_t* lo, int32_t* hi) {
    *lo = t == DType::kInt8 ? -128 : 0;
    *hi = t == DType::kInt8 ? 127 : 255;
}
// q (within type_range) stored at element i of a uint8 or int8 tensor.
inline void store_8bit(Tensor& t, int64_t i, int32_t q) {
    if (t.dtype() == DType::kUint8) {
        t.data<uint8_t>()[i] = static_cast<uint8_t>(q);
    } else {
        t.data<int8_t>()[i] = static_cast<int8_t>(q);
    }
}

// Calls f(T{}) for the element type T of dtype (bool as uint8_t; float16 is not
// included: float16 is handled by Cast and by initializers). Use a generic lambda:
// [&](auto tag) { using T = decltype(tag); ... }.
template <class F>
Status dispatch_numeric(DType dtype, F&& f) {
    switch (dtype) {
        case DType::kFloat32:
            f(float{});
            return Status();
        case DType::kInt32:
            f(int32_t{});
            return Status();
        case DType::kInt64:
            f(int64_t{});
            return Status();
        case DType::kInt8:
            f(int8_t{});
            return Status();
        case DType::kUint8:
            f(uint8_t{});
            return Status();
        case DType::kBool:
            f(uint8_t{});
            return Status();
        default:
            return unsupported(std::string("dtype ") + dtype_name(dtype));
    }
}

// Iterates an N-d index over shape `out`, calling f(linear_out_index, offsets...) with
// each input's element offset computed from its (broadcast) strides.
template <size_t K, class F>
void for_each_broadcast(const Shape& out, const std::vector<int64_t> (&strides)[K], F&& f) {
    const size_t rank = out.size();
    int64_t total = 1;
    for (int64_t d : out) total *= d;
    if (total == 0) return;
    std::vector<int64_t> idx(rank, 0);
    int64_t off[K] = {};
    // Innermost dimension handled as a tight loop.
    const int64_t inner = rank ? out[rank - 1] : 1;
    int64_t inner_stride[K];
    for (size_t k = 0; k < K; ++k) inner_stride[k] = rank ? strides[k][rank - 1] : 0;
    for (int64_t o = 0; o < total; o += inner) {
        int64_t cur[K];
        for (size_t k = 0; k < K; ++k) cur[k] = off[k];
        for (int64_t i = 0; i < inner; ++i) {
            f(o + i, cur);
            for (size_t k = 0; k < K; ++k) cur[k] += inner_stride[k];
        }
        // advance the outer index
        for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
            ++idx[d];
            for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
            if (idx[d] < out[d]) break;
            for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * out[d];
            idx[d] = 0;
        }
    }
}

// Nearest Resize (any coordinate_transformation_mode but tf_crop_and_resize): per
// axis, the source index of every output index, exactly as compute_resize picks it.
// Fails for linear mode or unknown scales/sizes.
Status resize_nearest_indices(const ComputeContext& ctx, std::vector<std::vector<int64_t>>* idx);

}  // namespace pare
