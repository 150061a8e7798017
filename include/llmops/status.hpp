// Status and Result<T>: the one error style of llmops.
//
// Every fallible call in the SDK, the engine and the store returns a Status (or a Result<T>, which
// is a value or a Status). Both are [[nodiscard]] so an ignored error is a compiler warning.
// Exceptions never cross the plugin boundary: a plugin returns a Status from run().
// Thread safety: plain values; copy freely.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace llmops {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from the user: pipeline, parameters, arguments
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kCancelled,
  kDeadlineExceeded,
  kInternal,
  kUnavailable,
  kDataLoss,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status invalid(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status precondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).is_ok()); }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  Status status() const { return is_ok() ? Status{} : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace llmops
