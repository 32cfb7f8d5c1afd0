// Elementwise binary ops with numpy broadcasting: arithmetic (Add, Sub, Mul,
// Div, Pow, PRelu; variadic Max, Min, Sum), comparisons (-> bool) and logic on
// bool. Integer division by zero yields 0 rather than trapping (hostile inputs).
#include <cmath>
#include <limits>

#include "runtime/ops/op_util.h"

namespace pare {

namespace {

bool is_compare(OpKind op) {
    return op == OpKind::kEqual || op == OpKind::kGreater || op == OpKind::kGreaterOrEqual ||
           op == OpKind::kLess || op == OpKind::kLessOrEqual;
}
bool is_logic(OpKind op) { return op == OpKind::kAnd || op == OpKind::kOr; }
bool is_variadic(OpKind op) {
    return op == OpKind::kMax || op == OpKind::kMin || op == OpKind::kSum;
}

template <class T>
T int_div(T a, T b) {
    if (b == 0) return 0;
    if (std::is_signed<T>::value && b == static_cast<T>(-1)) return static_cast<T>(-a);
    return static_cast<T>(a / b);
}

template <class T>
T arith(OpKind op, T a, T b) {
    switch (op) {
        case OpKind::kAdd:
        case OpKind::kSum:
            return static_cast<T>(a + b);
        case OpKind::kSub:
            return static_cast<T>(a - b);
        case OpKind::kMul:
            return static_cast<T>(a * b);
        case OpKind::kDiv:
            if (std::is_floating_point<T>::value) return static_cast<T>(a / b);
            return int_div(a, b);
        case OpKind::kPow:
            return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
        case OpKind::kPRelu:
            return a < 0 ? static_cast<T>(a * b) : a;
        case OpKind::kMax:
            return (a != a || a > b) ? a : b;  // NaN propagates
        case OpKind::kMin:
            return (a != a || a < b) ? a : b;
        default:
            return 0;
    }
}

template <class T>
uint8_t compare(OpKind op, T a, T b) {
    switch (op) {
        case OpKind::kEqual:
            return a == b;
        case OpKind::kGreater:
            return a > b;
        case OpKind::kGreaterOrEqual:
            return a >= b;
        case OpKind::kLess:
            return a < b;
        case OpKind::kLessOrEqual:
            return a <= b;
        default:
            return 0;
    }
}

// out = a (op) b with broadcasting; A and B may alias nothing. Pow's exponent may have
// another dtype than the base; it is read through at_double.
Status binary_into(OpKind op, const Tensor& A, const Tensor& B, Tensor& out) {
    std::vector<int64_t> st[2] = {broadcast_strides(A.shape(), out.shape()),
                                  broadcast_strides(B.shape(), out.shape())};
    if (op == OpKind::kPow && A.dtype() != B.dtype()) {
        return dispatch_numeric(A.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T* a = A.template data<T>();
            T* y = out.template data<T>();
            for_each_broadcast<2>(out.shape(), st, [&](int64_t o, const int64_t* off) {
                y[o] =
                    static_cast<T>(std::pow(static_cast<double>(a[off[0]]), B.at_double(off[1])));
            });
        });
    }
    if (is_logic(op)) {
        const uint8_t* a = A.data<uint8_t>();
        const uint8_t* b = B.data<uint8_t>();
        uint8_t* y = out.data<uint8_t>();
        for_each_broadcast<2>(out.shape(), st, [&](int64_t o, const int64_t* off) {
            bool x = a[off[0]] != 0, z = b[off[1]] != 0;
            y[o] = op == OpKind::kAnd ? (x && z) : (x || z);
        });
        return Status();
    }
    return dispatch_numeric(A.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* a = A.template data<T>();
        const T* b = B.template data<T>();
        if (is_compare(op)) {
            uint8_t* y = out.data<uint8_t>();
            for_each_broadcast<2>(out.shape(), st, [&](int64_t o, const int64_t* off) {
                y[o] = compare<T>(op, a[off[0]], b[off[1]]);
            });
        } else {
            T* y = out.template data<T>();
            for_each_broadcast<2>(out.shape(), st, [&](int64_t o, const int64_t* off) {
                y[o] = arith<T>(op, a[off[0]], b[off[1]]);
            });
        }
    });
}

}  // namespace

Status infer_binary(InferContext& ctx) {
    const OpKind op = ctx.node.op;
    const size_t n = is_variadic(op) ? ctx.in.size() : 2;
    if (n == 0) return invalid_argument("expects at least one input");
    PARE_RETURN_IF_ERROR(require_inputs(ctx, n));
    const DType t = ctx.in[0].dtype;
    if (is_logic(op)) {
        if (t != DType::kBool) return unsupported("And/Or expect bool inputs");
    } else if (t == DType::kBool || t == DType::kFloat16) {
        if (!(op == OpKind::kEqual && t == DType::kBool)) {
            return unsupported(std::string("dtype ") + dtype_name(t) + " is not supported");
        }
    }
    bool has_shape = true;
    Shape s = ctx.in[0].shape;
    for (size_t i = 0; i < n; ++i) {
        if (ctx.in[i].dtype != t && op != OpKind::kPow) {
            return invalid_argument(std::string("input dtypes differ: ") + dtype_name(t) + " and " +
                                    dtype_name(ctx.in[i].dtype));
        }
        if (!ctx.in[i].has_shape) {
            has_shape = false;
        } else if (i > 0 && has_shape) {
            PARE_RETURN_IF_ERROR(broadcast_shapes(s, ctx.in[i].shape, &s));
        }
    }
    if (op == OpKind::kPRelu && has_shape && ctx.in[0].has_shape && s != ctx.in[0].shape &&
        ctx.in[0].shape_known()) {
        return invalid_argument("slope shape " + shape_str(ctx.in[1].shape) +
                                " does not broadcast to X " + shape_str(ctx.in[0].shape));
    }
    DType out = (is_compare(op) || is_logic(op)) ? DType::kBool : t;
    ctx.out[0] = has_shape ? meta(out, s) : meta_rank_unknown(out);
    return Status();
}

Status compute_binary(ComputeContext& ctx) {
    const OpKind op = ctx.node.op;
    if (!is_variadic(op)) return binary_into(op, *ctx.in[0], *ctx.in[1], *ctx.out[0]);
    Tensor& Y = *ctx.out[0];
    if (ctx.in.size() == 1) {
        Shape s = Y.shape();
        std::vector<int64_t> st[1] = {broadcast_strides(ctx.in[0]->shape(), s)};
        return dispatch_numeric(Y.dtype(), [&](auto tag) {
            using T = decltype(tag);
            const T* a = ctx.in[0]->template data<T>();
            T* y = Y.template data<T>();
            for_each_broadcast<1>(s, st, [&](int64_t o, const int64_t* off) { y[o] = a[off[0]]; });
        });
    }
    // Fold left: acc = in0 op in1, then acc op in2, ... each broadcast to its own shape.
    Tensor acc = *ctx.in[0];
    for (size_t i = 1; i < ctx.in.size(); ++i) {
        Shape s;
        PARE_RETURN_IF_ERROR(broadcast_shapes(acc.shape(), ctx.in[i]->shape(), &s));
        Tensor next;
        if (i + 1 == ctx.in.size()) {
            next = Y;
        } else {
            PARE_ASSIGN_OR_RETURN(next, Tensor::create(Y.dtype(), s));
        }
        PARE_RETURN_IF_ERROR(binary_into(op, acc, *ctx.in[i], next));
        acc = next;
    }
    return Status();
}

}  // namespace pare
