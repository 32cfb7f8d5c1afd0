#include "runtime/core/tensor.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/core/half.h"

namespace pare {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::kFloat32:
            return 4;
        case DType::kFloat16:
            return 2;
        case DType::kInt8:
            return 1;
        case DType::kUint8:
            return 1;
        case DType::kInt32:
            return 4;
        case DType::kInt64:
            return 8;
        case DType::kBool:
            return 1;
        case DType::kUndefined:
            return 0;
    }
    return 0;
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::kFloat32:
            return "float32";
        case DType::kFloat16:
            return "float16";
        case DType::kInt8:
            return "int8";
        case DType::kUint8:
            return "uint8";
        case DType::kInt32:
            return "int32";
        case DType::kInt64:
            return "int64";
        case DType::kBool:
            return "bool";
        case DType::kUndefined:
            return "undefined";
    }
    return "undefined";
}

bool dtype_is_supported(int32_t v) {
    switch (static_cast<DType>(v)) {
        case DType::kFloat32:
        case DType::kFloat16:
        case DType::kInt8:
        case DType::kUint8:
        case DType::kInt32:
        case DType::kInt64:
        case DType::kBool:
            return true;
        default:
            return false;
    }
}

bool dtype_is_float(DType t) { return t == DType::kFloat32 || t == DType::kFloat16; }

namespace {
std::atomic<int64_t> g_tensor_byte_limit{kMaxTensorBytes};
}

int64_t tensor_byte_limit() { return g_tensor_byte_limit.load(std::memory_order_relaxed); }
void set_tensor_byte_limit(int64_t bytes) {
    g_tensor_byte_limit.store(bytes, std::memory_order_relaxed);
}

Result<int64_t> shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) return invalid_argument("negative dimension in shape " + shape_str(shape));
        if (d != 0 && n > INT64_MAX / d) {
            return out_of_range("shape " + shape_str(shape) + " overflows");
        }
        n *= d;
    }
    return n;
}

std::string shape_str(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ",";
        s += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
    }
    return s + "]";
}

Result<Tensor> Tensor::create(DType dtype, const Shape& shape) {
    if (dtype_size(dtype) == 0) return invalid_argument("tensor of undefined dtype");
    PARE_ASSIGN_OR_RETURN(int64_t n, shape_numel(shape));
    int64_t elem = static_cast<int64_t>(dtype_size(dtype));
    if (n > tensor_byte_limit() / elem) {
        return out_of_range("tensor " + shape_str(shape) + " of " + dtype_name(dtype) +
                            " exceeds the size limit");
    }
    size_t bytes = static_cast<size_t>(n * elem);
    size_t alloc = (bytes + 63) / 64 * 64;
    if (alloc == 0) alloc = 64;
    void* p = std::aligned_alloc(64, alloc);
    if (!p) return out_of_range("out of memory allocating " + std::to_string(alloc) + " bytes");
    std::memset(p, 0, alloc);
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = shape;
    t.numel_ = n;
    t.storage_ =
        std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
    return t;
}

Tensor Tensor::view(DType dtype, const Shape& shape, const std::shared_ptr<uint8_t>& base,
                    size_t offset) {
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = shape;
    t.numel_ = 1;
    for (int64_t d : shape) t.numel_ *= d;
    t.storage_ = std::shared_ptr<uint8_t>(base, base.get() + offset);
    return t;
}

Result<Tensor> Tensor::reshaped(const Shape& shape) const {
    PARE_ASSIGN_OR_RETURN(int64_t n, shape_numel(shape));
    if (n != numel_) {
        return invalid_argument("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
    }
    Tensor t = *this;
    t.shape_ = shape;
    return t;
}

Tensor Tensor::clone() const {
    if (!defined()) return Tensor();
    Tensor t = create(dtype_, shape_).value();
    if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
    return t;
}

double Tensor::at_double(int64_t i) const {
    switch (dtype_) {
        case DType::kFloat32:
            return data<float>()[i];
        case DType::kFloat16:
            return half_to_float(data<uint16_t>()[i]);
        case DType::kInt8:
            return data<int8_t>()[i];
        case DType::kUint8:
            return data<uint8_t>()[i];
        case DType::kInt32:
            return data<int32_t>()[i];
        case DType::kInt64:
            return static_cast<double>(data<int64_t>()[i]);
        case DType::kBool:
            return data<uint8_t>()[i] ? 1.0 : 0.0;
        case DType::kUndefined:
            return 0;
    }
    return 0;
}

int64_t Tensor::at_int64(int64_t i) const {
    if (dtype_ == DType::kInt64) return data<int64_t>()[i];
    if (dtype_ == DType::kInt32) return data<int32_t>()[i];
    double d = at_double(i);
    if (!(d > -9.2e18 && d < 9.2e18)) return 0;  // NaN or out of range: no UB cast
    return static_cast<int64_t>(d);
}

}  // namespace pare
