// Status and Result<T>: how errors cross the runtime API (no exceptions do).
//
// A Status is ok or carries a code and a one-line message that names what was
// wrong and where (file, node, op, input). Result<T> holds a T or a non-ok Status.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pare {

enum class StatusCode {
    kOk = 0,
    kInvalidArgument,  // malformed model or input
    kUnsupported,      // well-formed but not implemented (op, dtype, attribute value)
    kOutOfRange,       // sizes or indices beyond what is allowed
    kNotFound,         // a file or a named thing is missing
    kIoError,
    kInternal,
};

class Status {
  public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok_status() { return Status(); }
    bool ok() const { return code_ == StatusCode::kOk; }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }

    // Prefixes context ("node \"conv_1\" (Conv): ") to the message.
    Status with_context(const std::string& where) const {
        if (ok()) return *this;
        return Status(code_, where + ": " + message_);
    }

  private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

inline Status invalid_argument(std::string m) {
    return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status out_of_range(std::string m) { return Status(StatusCode::kOutOfRange, std::move(m)); }
inline Status not_found(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status io_error(std::string m) { return Status(StatusCode::kIoError, std::move(m)); }
inline Status internal_error(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

template <class T>
class Result {
  public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Status status) : v_(std::move(status)) {
        if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "ok Status in Result");
    }
    bool ok() const { return std::holds_alternative<T>(v_); }
    const Status& status() const {
        static const Status kOk;
        return ok() ? kOk : std::get<Status>(v_);
    }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

  private:
    std::variant<T, Status> v_;
};

}  // namespace pare

#define PARE_CONCAT_INNER(a, b) a##b
#define PARE_CONCAT(a, b) PARE_CONCAT_INNER(a, b)

#define PARE_RETURN_IF_ERROR(expr)                   \
    do {                                             \
        ::pare::Status pare_status_ = (expr);        \
        if (!pare_status_.ok()) return pare_status_; \
    } while (0)

#define PARE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                             \
    if (!tmp.ok()) return tmp.status();            \
    lhs = std::move(tmp).value()

#define PARE_ASSIGN_OR_RETURN(lhs, expr) \
    PARE_ASSIGN_OR_RETURN_IMPL(PARE_CONCAT(pare_result_, __LINE__), lhs, expr)

// Fails the enclosing function with kInvalidArgument when cond is false.
#define PARE_CHECK_ARG(cond, msg)                          \
    do {                                                   \
        if (!(cond)) return ::pare::invalid_argument(msg); \
    } while (0)
