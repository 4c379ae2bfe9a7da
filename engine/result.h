// Errors as values at module boundaries.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace pflab {

/// What kind of failure an Error is; callers branch on this, never on the message.
enum class ErrorCode {
  kInvalidArgument,
  kNotFound,
  kOutOfRange,
  kUnavailable,
  kCancelled,
  kDeadlineExceeded,
  kDataLoss,
  kFailedPrecondition,
  kPermissionDenied,
  kInternal,
  kResourceExhausted,
};

const char* ErrorCodeName(ErrorCode code);

/// A failure with a human-readable message; `retryable` tells retry loops whether trying again can help.
/// A backend request's failure also says what the server answered and how often it was tried, so a
/// failed read can be reported with its cause wherever it surfaces (layers pass errors up whole).
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  bool retryable = false;
  int http_status = 0;         // the response's HTTP status; 0 when there was none (no connection, simulator)
  std::uint32_t attempts = 0;  // backend requests made before giving up; 0 when not a backend failure

  std::string ToString() const { return std::string(ErrorCodeName(code)) + ": " + message; }
};

inline Error InvalidArgument(std::string message) {
  return {ErrorCode::kInvalidArgument, std::move(message), false};
}
inline Error Cancelled(std::string message) {
  return {ErrorCode::kCancelled, std::move(message), false};
}
inline Error Unavailable(std::string message) {
  return {ErrorCode::kUnavailable, std::move(message), true};
}
inline Error OutOfRange(std::string message) {
  return {ErrorCode::kOutOfRange, std::move(message), false};
}
inline Error NotFound(std::string message) {
  return {ErrorCode::kNotFound, std::move(message), false};
}
inline Error Internal(std::string message) {
  return {ErrorCode::kInternal, std::move(message), false};
}
inline Error ResourceExhausted(std::string message) {
  return {ErrorCode::kResourceExhausted, std::move(message), false};
}

/// Either a value or an Error. Accessing the wrong alternative is a programming error (asserts).
template <typename T>
class [[nodiscard]] Result {
 public:
  // Two overloads rather than one by value: a value moved in is moved once, not into a parameter and
  // again into the variant (a read's result is made on every read of the simulator's hot path).
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(const T& value) : v_(std::in_place_index<0>, value) {}        // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}                        // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

/// Success or an Error, for operations that return nothing.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

inline Status OkStatus() {
  return {};
}

}  // namespace pflab
