// Element types of tensors. The numeric values match ONNX TensorProto.DataType
// so that import and export convert by cast; only the types below are supported.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pare {

enum class DType : int32_t {
    kUndefined = 0,
    kFloat32 = 1,
    kUint8 = 2,
    kInt8 = 3,
    kInt32 = 6,
    kInt64 = 7,
    kBool = 9,
    kFloat16 = 10,
};

// Size of one element in bytes; 0 for kUndefined.
size_t dtype_size(DType t);
// ONNX-style lower-case name: "float32", "int64", ...
const char* dtype_name(DType t);
// True for the values listed above (used to validate numbers read from files).
bool dtype_is_supported(int32_t onnx_type);
bool dtype_is_float(DType t);

// Maps a C++ element type to its DType.
template <class T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
    static constexpr DType value = DType::kFloat32;
};
template <>
struct DTypeOf<uint8_t> {
    static constexpr DType value = DType::kUint8;
};
template <>
struct DTypeOf<int8_t> {
    static constexpr DType value = DType::kInt8;
};
template <>
struct DTypeOf<int32_t> {
    static constexpr DType value = DType::kInt32;
};
template <>
struct DTypeOf<int64_t> {
    static constexpr DType value = DType::kInt64;
};
template <>
struct DTypeOf<bool> {
    static constexpr DType value = DType::kBool;
};

}  // namespace pare
