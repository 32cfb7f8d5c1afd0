#include "runtime/ops/op_util.h"

namespace pare {

Status shape_input_length(const ValueMeta& m, const char* what, int64_t* length) {
    *length = -1;
    if (!m.has_shape) return Status();
    if (m.shape.size() != 1) {
        return invalid_argument(std::string(what) + " must be 1-D, got shape " +
                                shape_str(m.shape));
    }
    if (m.shape[0] > kMaxRank) {
        return unsupported(std::string(what) + " has " + std::to_string(m.shape[0]) +
                           " entries; ranks above " + std::to_string(kMaxRank) +
                           " are not supported");
    }
    *length = m.shape[0];
    return Status();
}

Status normalize_axis(int64_t axis, int64_t rank, int64_t* out) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) {
        return invalid_argument("axis " + std::to_string(axis) + " out of range for rank " +
                                std::to_string(rank));
    }
    *out = a;
    return Status();
}

Status broadcast_shapes(const Shape& a, const Shape& b, Shape* out) {
    size_t r = std::max(a.size(), b.size());
    Shape s(r);
    for (size_t i = 0; i < r; ++i) {
        int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
        int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (da == db) {
            s[i] = da;
        } else if (da == 1) {
            s[i] = db;
        } else if (db == 1) {
            s[i] = da;
        } else if (da < 0 || db < 0) {
            s[i] = da < 0 ? db : da;  // the unknown one must equal the known one (or be 1)
        } else {
            return invalid_argument("shapes " + shape_str(a) + " and " + shape_str(b) +
                                    " do not broadcast");
        }
    }
    *out = s;
    return Status();
}

std::vector<int64_t> strides_of(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
    return st;
}

std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
    std::vector<int64_t> st(out.size(), 0);
    std::vector<int64_t> own = strides_of(s);
    size_t off = out.size() - s.size();
    for (size_t i = 0; i < s.size(); ++i) st[off + i] = s[i] == 1 ? 0 : own[i];
    return st;
}

std::vector<int64_t> to_int64s(const Tensor& t) {
    std::vector<int64_t> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.at_int64(i);
    return v;
}

Status require_float(const InferContext& ctx, size_t i) {
    if (!ctx.has(i)) return invalid_argument("input " + std::to_string(i) + " is required");
    if (ctx.in[i].dtype != DType::kFloat32) {
        return unsupported(std::string("input ") + std::to_string(i) + " has dtype " +
                           dtype_name(ctx.in[i].dtype) + "; this op supports float32");
    }
    return Status();
}

Status require_inputs(const InferContext& ctx, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (!ctx.has(i)) {
            return invalid_argument("expects at least " + std::to_string(n) + " inputs, input " +
                                    std::to_string(i) + " is missing");
        }
    }
    return Status();
}

}  // namespace pare
