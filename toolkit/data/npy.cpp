#include "toolkit/data/npy.h"

#include <cstring>
#include <sstream>

#include "toolkit/io/files.h"

namespace pare {

namespace {

const char kMagic[] = "\x93NUMPY";

struct Descr {
    const char* text;
    DType dtype;
};
const Descr kDescrs[] = {{"<f4", DType::kFloat32}, {"<f2", DType::kFloat16}, {"|i1", DType::kInt8},
                         {"|u1", DType::kUint8},   {"<i4", DType::kInt32},   {"<i8", DType::kInt64},
                         {"|b1", DType::kBool}};

// Value of 'key': in a Python dict literal, as raw text up to the matching delimiter.
bool dict_value(const std::string& h, const std::string& key, std::string* out) {
    size_t k = h.find("'" + key + "'");
    if (k == std::string::npos) return false;
    size_t c = h.find(':', k);
    if (c == std::string::npos) return false;
    size_t b = h.find_first_not_of(' ', c + 1);
    if (b == std::string::npos) return false;
    size_t e;
    if (h[b] == '(') {
        e = h.find(')', b);
        if (e == std::string::npos) return false;
        *out = h.substr(b + 1, e - b - 1);
    } else if (h[b] == '\'') {
        e = h.find('\'', b + 1);
        if (e == std::string::npos) return false;
        *out = h.substr(b + 1, e - b - 1);
    } else {
        e = h.find_first_of(",}", b);
        if (e == std::string::npos) return false;
        *out = h.substr(b, e - b);
    }
    return true;
}

}  // namespace

Result<Tensor> parse_npy(const std::string& bytes, const std::string& label) {
    const std::string bad = label + ": not a NumPy .npy file";
    if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
        return invalid_argument(bad);
    const int major = static_cast<unsigned char>(bytes[6]);
    size_t header_len, offset;
    if (major == 1) {
        header_len =
            static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
        offset = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) return invalid_argument(bad);
        header_len = 0;
        for (int i = 3; i >= 0; --i)
            header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
        offset = 12;
    } else {
        return invalid_argument(label + ": unsupported .npy version " + std::to_string(major));
    }
    if (header_len > bytes.size() - offset)
        return invalid_argument(label + ": truncated .npy header");
    const std::string h = bytes.substr(offset, header_len);
    std::string descr, fortran, shape_text;
    if (!dict_value(h, "descr", &descr) || !dict_value(h, "fortran_order", &fortran) ||
        !dict_value(h, "shape", &shape_text)) {
        return invalid_argument(label + ": malformed .npy header");
    }
    DType dtype = DType::kUndefined;
    for (const auto& d : kDescrs) {
        if (descr == d.text) dtype = d.dtype;
    }
    if (descr == "<b1") dtype = DType::kBool;
    if (descr == "<i1") dtype = DType::kInt8;
    if (descr == "<u1") dtype = DType::kUint8;
    if (dtype == DType::kUndefined) {
        return unsupported(label + ": .npy dtype '" + descr +
                           "' is not supported (use float32, float16, int8, "
                           "uint8, int32, int64 or bool, little-endian)");
    }
    if (fortran.find("True") != std::string::npos)
        return unsupported(label + ": Fortran-order arrays are not supported");
    Shape shape;
    std::stringstream ss(shape_text);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
        size_t b = tok.find_first_not_of(' ');
        if (b == std::string::npos) continue;
        tok = tok.substr(b, tok.find_last_not_of(' ') - b + 1);
        if (tok.empty() || tok.size() > 15 ||
            tok.find_first_not_of("0123456789") != std::string::npos) {
            return invalid_argument(label + ": malformed shape in .npy header");
        }
        shape.push_back(std::stoll(tok));
    }
    Result<int64_t> n = shape_numel(shape);
    if (!n.ok()) return invalid_argument(label + ": " + n.status().message());
    const size_t data = offset + header_len;
    const uint64_t need = static_cast<uint64_t>(n.value()) * dtype_size(dtype);
    if (bytes.size() - data != need) {
        return invalid_argument(label + ": .npy data has " + std::to_string(bytes.size() - data) +
                                " bytes, shape " + shape_str(shape) + " needs " +
                                std::to_string(need));
    }
    PARE_ASSIGN_OR_RETURN(Tensor t, Tensor::create(dtype, shape));
    if (need) std::memcpy(t.raw(), bytes.data() + data, need);
    return t;
}

Result<Tensor> read_npy(const std::string& path) {
    PARE_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
    return parse_npy(bytes, path);
}

std::string serialize_npy(const Tensor& t) {
    const char* descr = "<f4";
    for (const auto& d : kDescrs) {
        if (d.dtype == t.dtype()) descr = d.text;
    }
    std::string shape;
    for (int64_t d : t.shape()) shape += std::to_string(d) + ", ";
    if (t.rank() > 1) shape.erase(shape.size() - 2);
    if (t.rank() == 1) shape.erase(shape.size() - 1);
    std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" +
                    shape + "), }";
    const size_t total = 10 + h.size() + 1;
    h.append((64 - total % 64) % 64, ' ');
    h += '\n';
    std::string out(kMagic, 6);
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>((h.size() >> 8) & 0xff);
    out += h;
    out.append(static_cast<const char*>(t.raw()), t.nbytes());
    return out;
}

Status write_npy(const Tensor& t, const std::string& path) {
    return write_file_atomic(path, serialize_npy(t));
}

}  // namespace pare
