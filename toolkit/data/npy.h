// NumPy .npy files (format versions 1-3, little-endian, C order) <-> Tensor.
// Supported dtypes: <f4 <f2 |i1 |u1 <i4 <i8 |b1. Reading checks the header and the
// data length against the shape; writing goes through a temporary file.
#pragma once

#include <string>

#include "runtime/core/tensor.h"

namespace pare {

Result<Tensor> read_npy(const std::string& path);
Result<Tensor> parse_npy(const std::string& bytes, const std::string& label);
std::string serialize_npy(const Tensor& t);
Status write_npy(const Tensor& t, const std::string& path);

}  // namespace pare
