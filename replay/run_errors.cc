#include "replay/run_errors.h"

#include <array>
#include <utility>

namespace pflab::replay {
namespace {

constexpr std::array<ErrorCode, 10> kCodes = {
    ErrorCode::kInvalidArgument,  ErrorCode::kNotFound,         ErrorCode::kOutOfRange, ErrorCode::kUnavailable,
    ErrorCode::kCancelled,        ErrorCode::kDeadlineExceeded, ErrorCode::kDataLoss,   ErrorCode::kFailedPrecondition,
    ErrorCode::kPermissionDenied, ErrorCode::kInternal};

}  // namespace

const char* KindName(RunError::Kind kind) {
  switch (kind) {
    case RunError::Kind::kRead: return "read";
    case RunError::Kind::kBytes: return "bytes";
    case RunError::Kind::kHang: return "hang";
  }
  return "read";
}

std::string RunError::Reason() const {
  switch (kind) {
    case Kind::kBytes: return "wrong bytes";
    case Kind::kHang: return "hang";
    case Kind::kRead: break;
  }
  // A status that is itself the error names it; a refused 200/206 counts under its code (data loss).
  if (http_status >= 300) return "HTTP " + std::to_string(http_status);
  return ErrorCodeName(code);
}

std::string RunError::Summary() const {
  std::string out = object + " [" + std::to_string(begin) + ", " + std::to_string(end) + "): " + Reason();
  if (attempts > 0) out += " after " + std::to_string(attempts) + " attempt(s)";
  return out + ": " + message;
}

nlohmann::json RunError::ToJson() const {
  nlohmann::json j = {{"kind", KindName(kind)},
                      {"t_ns", t_ns},
                      {"object", object},
                      {"begin", begin},
                      {"end", end},
                      {"reason", Reason()},
                      {"code", ErrorCodeName(code)},
                      {"http_status", http_status},
                      {"attempts", attempts},
                      {"message", message}};
  if (first_wrong_byte) j["first_wrong_byte"] = *first_wrong_byte;
  return j;
}

Result<RunError> RunError::FromJson(const nlohmann::json& j, const std::string& where) {
  try {
    RunError e;
    const std::string kind = j.at("kind");
    if (kind == "read") {
      e.kind = Kind::kRead;
    } else if (kind == "bytes") {
      e.kind = Kind::kBytes;
    } else if (kind == "hang") {
      e.kind = Kind::kHang;
    } else {
      return InvalidArgument(where + ".kind: '" + kind + "' is not one of read, bytes, hang");
    }
    e.t_ns = j.at("t_ns");
    e.object = j.at("object");
    e.begin = j.at("begin");
    e.end = j.at("end");
    const std::string code = j.at("code");
    bool known = false;
    for (ErrorCode c : kCodes) {
      if (code == ErrorCodeName(c)) {
        e.code = c;
        known = true;
      }
    }
    if (!known) return InvalidArgument(where + ".code: '" + code + "' is not an error code");
    e.http_status = j.value("http_status", 0);
    e.attempts = j.value("attempts", 0u);
    e.message = j.at("message");
    if (j.contains("first_wrong_byte")) e.first_wrong_byte = j["first_wrong_byte"].get<std::uint64_t>();
    return e;
  } catch (const nlohmann::json::exception& ex) {
    return InvalidArgument(where + ": malformed error: " + ex.what());
  }
}

void RunErrors::Add(RunError error) {
  ++total;
  ++by_reason[error.Reason()];
  if (first.size() < kMaxKept) {
    first.push_back(std::move(error));
  } else if (error.kind == RunError::Kind::kHang) {
    first.back() = std::move(error);  // how the run ended, and why, outranks a 16th failed read
  }
}

void RunErrors::AddTo(nlohmann::json& run) const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : first) list.push_back(e.ToJson());
  run["errors"] = std::move(list);
  run["errors_total"] = total;
  nlohmann::json reasons = nlohmann::json::object();
  for (const auto& [reason, n] : by_reason) reasons[reason] = n;
  run["errors_by_reason"] = std::move(reasons);
}

Result<RunErrors> RunErrors::FromRun(const nlohmann::json& run, const std::string& where) {
  RunErrors out;
  if (!run.contains("errors")) return out;
  const auto& list = run["errors"];
  if (!list.is_array()) return InvalidArgument(where + ".errors: expected a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto e = RunError::FromJson(list[i], where + ".errors[" + std::to_string(i) + "]");
    if (!e) return e.error();
    out.first.push_back(std::move(*e));
  }
  try {
    out.total = run.value("errors_total", static_cast<std::uint64_t>(out.first.size()));
    if (run.contains("errors_by_reason")) {
      for (const auto& [reason, n] : run["errors_by_reason"].items()) out.by_reason[reason] = n.get<std::uint64_t>();
    }
  } catch (const nlohmann::json::exception& ex) {
    return InvalidArgument(where + ": malformed error counts: " + ex.what());
  }
  if (out.total < out.first.size()) {
    return InvalidArgument(where + ".errors_total: " + std::to_string(out.total) + " is less than the " +
                           std::to_string(out.first.size()) + " errors listed");
  }
  return out;
}

RunError ReadFailure(Nanos t_ns, std::string object, std::uint64_t begin, std::uint64_t end, const Error& error) {
  RunError e;
  e.kind = RunError::Kind::kRead;
  e.t_ns = t_ns;
  e.object = std::move(object);
  e.begin = begin;
  e.end = end;
  e.code = error.code;
  e.http_status = error.http_status;
  e.attempts = error.attempts;
  e.message = error.message;
  return e;
}

}  // namespace pflab::replay
