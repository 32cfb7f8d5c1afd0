// Tensor: a dtype, a shape and contiguous row-major storage, 64-byte aligned.
//
// Storage is shared between copies (copying a Tensor is cheap and aliases the
// data); use clone() for a deep copy. Every size is checked against overflow
// and a total limit before anything is allocated, because shapes come from
// untrusted model files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/dtype.h"
#include "runtime/core/status.h"

namespace pare {

using Shape = std::vector<int64_t>;

// Largest tensor the runtime will allocate (bytes); a guard against hostile shapes.
constexpr int64_t kMaxTensorBytes = int64_t{16} << 30;
// The limit in force (process-wide, default kMaxTensorBytes); lowered by the fuzzers
// and by deployments with a memory budget. Larger tensors fail with kOutOfRange.
int64_t tensor_byte_limit();
void set_tensor_byte_limit(int64_t bytes);

// Number of elements, or an error when a dimension is negative or the product overflows.
Result<int64_t> shape_numel(const Shape& shape);
// "[1,3,224,224]"
std::string shape_str(const Shape& shape);

class Tensor {
  public:
    Tensor() = default;

    // Allocates zero-filled storage for shape; fails on negative dims, overflow or size limit.
    static Result<Tensor> create(DType dtype, const Shape& shape);
    // A scalar or 1-D tensor from values (used by passes and tests).
    template <class T>
    static Tensor from_vector(const std::vector<T>& values, Shape shape);

    bool defined() const { return dtype_ != DType::kUndefined; }
    DType dtype() const { return dtype_; }
    const Shape& shape() const { return shape_; }
    int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
    int64_t numel() const { return numel_; }
    size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

    void* raw() { return storage_.get(); }
    const void* raw() const { return storage_.get(); }
    template <class T>
    T* data() {
        return reinterpret_cast<T*>(storage_.get());
    }
    template <class T>
    const T* data() const {
        return reinterpret_cast<const T*>(storage_.get());
    }

    // A tensor over bytes [offset, offset + nbytes) of base (shared, not copied): how the
    // executor places values in its arena. The caller guarantees base is large enough.
    static Tensor view(DType dtype, const Shape& shape, const std::shared_ptr<uint8_t>& base,
                       size_t offset);

    // Same storage, new shape with the same element count.
    Result<Tensor> reshaped(const Shape& shape) const;
    Tensor clone() const;
    // Element i converted to double / int64 (for small shape-like tensors and tests).
    double at_double(int64_t i) const;
    int64_t at_int64(int64_t i) const;

  private:
    DType dtype_ = DType::kUndefined;
    Shape shape_;
    int64_t numel_ = 0;
    std::shared_ptr<uint8_t> storage_;
};

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, Shape shape) {
    Tensor t = create(DTypeOf<T>::value, shape).value();
    for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.numel()); ++i) {
        t.data<T>()[i] = values[i];
    }
    return t;
}

}  // namespace pare
