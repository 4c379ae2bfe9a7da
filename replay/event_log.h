// Writes events as JSON Lines, one object per event, for timelines and debugging.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "engine/events.h"
#include "engine/result.h"

namespace pflab::replay {

/// An EventSink that appends `{"t_ns","type","layer","stream","offset","length","bytes"}` lines to a file;
/// a failure's line adds `"error": {"code","message","retryable"[,"http_status"][,"attempts"]}`.
class JsonlEventLog final : public EventSink {
 public:
  static Result<std::unique_ptr<JsonlEventLog>> Open(const std::string& path);
  ~JsonlEventLog() override;
  void OnEvent(const Event& event) override;
  /// Flushes and closes; reports a write error (e.g. disk full) instead of losing it silently.
  Status Close();

 private:
  JsonlEventLog(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  std::FILE* file_;
  std::string path_;
};

}  // namespace pflab::replay
