// Status and Result<T>: errors as values.
//
// A Status is a canonical code plus a human message that says what was wrong
// and what to do. Codes exist only where some caller reacts differently:
//   kInvalidArgument    the request is malformed; fix it, do not retry.
//   kNotFound           the thing asked for does not exist.
//   kUnauthenticated    no or unknown credentials.
//   kPermissionDenied   credentials lack the scope.
//   kFailedPrecondition the system is not in a state to do this (e.g. a lock
//                       held by another process); an operator must act.
//   kResourceExhausted  a size or rate limit was hit; smaller or later.
//   kUnavailable        transient; retry with backoff.
//   kDeadlineExceeded   the operation did not finish in time; may retry.
//   kDataLoss           stored bytes are corrupt.
//   kInternal           a bug or an unexpected foreign error.
// Foreign errors (RocksDB, Asio, OpenSSL) are translated once, at the boundary.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace meshkv {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kUnauthenticated,
  kPermissionDenied,
  kFailedPrecondition,
  kResourceExhausted,
  kUnavailable,
  kDeadlineExceeded,
  kDataLoss,
  kInternal,
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "code: message", for logs and CLI output.
  std::string ToString() const;

  // Explicitly discards the status (visible in code review).
  void IgnoreError() const {}

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {ErrorCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) {
  return {ErrorCode::kNotFound, std::move(m)};
}
inline Status Unauthenticated(std::string m) {
  return {ErrorCode::kUnauthenticated, std::move(m)};
}
inline Status PermissionDenied(std::string m) {
  return {ErrorCode::kPermissionDenied, std::move(m)};
}
inline Status FailedPrecondition(std::string m) {
  return {ErrorCode::kFailedPrecondition, std::move(m)};
}
inline Status ResourceExhausted(std::string m) {
  return {ErrorCode::kResourceExhausted, std::move(m)};
}
inline Status Unavailable(std::string m) {
  return {ErrorCode::kUnavailable, std::move(m)};
}
inline Status DeadlineExceeded(std::string m) {
  return {ErrorCode::kDeadlineExceeded, std::move(m)};
}
inline Status DataLoss(std::string m) {
  return {ErrorCode::kDataLoss, std::move(m)};
}
inline Status Internal(std::string m) {
  return {ErrorCode::kInternal, std::move(m)};
}

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(data_).ok() && "Result needs a value or a non-OK status");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // OK when a value is held. The reference lives as long as this Result.
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(data_);
  }

 private:
  std::variant<T, Status> data_;
};

}  // namespace meshkv

// Returns the status from the enclosing function when it is not OK.
#define MESHKV_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::meshkv::Status meshkv_status_ = (expr);        \
    if (!meshkv_status_.ok()) return meshkv_status_; \
  } while (0)
