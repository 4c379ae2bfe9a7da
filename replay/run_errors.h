// A run's failures as data: which application reads failed (and why, down to the HTTP status and the
// attempts the fetcher made), which delivered wrong bytes, and whether the run ever finished. They go
// into the results document (`errors` per run), so a failed run is a recorded result, not an abort.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/result.h"
#include "engine/scheduler.h"

namespace pflab::replay {

/// One failure seen by the application.
struct RunError {
  enum class Kind {
    kRead,   // the read failed
    kBytes,  // the read delivered bytes that differ from the object's (byte checks only)
    kHang,   // reads that never completed: the run stopped with them outstanding
  };
  Kind kind = Kind::kRead;
  Nanos t_ns = 0;      // scheduler time of the failure (virtual in the simulator)
  std::string object;  // bucket/name
  std::uint64_t begin = 0;
  std::uint64_t end = 0;  // the read's range [begin, end)
  ErrorCode code = ErrorCode::kInternal;
  int http_status = 0;         // the response behind it, 0 when none
  std::uint32_t attempts = 0;  // backend requests tried, 0 when no backend request gave up
  std::string message;
  std::optional<std::uint64_t> first_wrong_byte;  // kBytes: the first offset that differs

  /// What the failure counts under: "HTTP 404", "wrong bytes", "hang", else the error code's name.
  std::string Reason() const;
  /// One line for a terminal: object, range, reason, attempts, message.
  std::string Summary() const;
  nlohmann::json ToJson() const;
  static Result<RunError> FromJson(const nlohmann::json& json, const std::string& where);
};

const char* KindName(RunError::Kind kind);

/// A run's failures: the first kMaxKept of them in the order they happened (a hang, which ends a run,
/// always: it takes the last place when they are full), with a total and a count per reason over all.
struct RunErrors {
  static constexpr std::size_t kMaxKept = 16;

  std::vector<RunError> first;
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> by_reason;

  void Add(RunError error);
  bool empty() const { return total == 0; }
  /// Adds `"errors"`, `"errors_total"` and `"errors_by_reason"` to a results document's run entry.
  void AddTo(nlohmann::json& run) const;
  /// Reads them back; a run entry without them (older documents) has none.
  static Result<RunErrors> FromRun(const nlohmann::json& run, const std::string& where);
};

/// Builds the error of a failed read from what the layers below reported.
RunError ReadFailure(Nanos t_ns, std::string object, std::uint64_t begin, std::uint64_t end, const Error& error);

}  // namespace pflab::replay
