#include "replay/event_log.h"

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

namespace pflab::replay {

Result<std::unique_ptr<JsonlEventLog>> JsonlEventLog::Open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (!file) return InvalidArgument(path + ": cannot write event log: " + std::strerror(errno));
  static constexpr std::size_t kBuffer = 1 << 20;
  std::setvbuf(file, nullptr, _IOFBF, kBuffer);
  return std::unique_ptr<JsonlEventLog>(new JsonlEventLog(file, path));
}

JsonlEventLog::~JsonlEventLog() {
  if (file_) std::fclose(file_);
}

void JsonlEventLog::OnEvent(const Event& e) {
  // Layer names are fixed identifiers without characters that need JSON escaping.
  std::fprintf(file_,
               "{\"t_ns\":%" PRId64 ",\"type\":\"%s\",\"layer\":\"%s\",\"stream\":%" PRIu32 ",\"offset\":%" PRIu64
               ",\"length\":%" PRIu64 ",\"bytes\":%" PRIu64,
               e.t_ns, EventTypeName(e.type), e.layer, e.stream, e.offset, e.length, e.bytes);
  if (e.error) {
    // Failures only: the message is the server's or the engine's text and needs escaping.
    nlohmann::json error = {
        {"code", ErrorCodeName(e.error->code)}, {"message", e.error->message}, {"retryable", e.error->retryable}};
    if (e.error->http_status != 0) error["http_status"] = e.error->http_status;
    if (e.error->attempts != 0) error["attempts"] = e.error->attempts;
    std::fprintf(file_, ",\"error\":%s", error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  std::fputs("}\n", file_);
}

Status JsonlEventLog::Close() {
  if (!file_) return OkStatus();
  const bool failed = std::ferror(file_) != 0;
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (failed || rc != 0) return Internal(path_ + ": writing the event log failed: " + std::strerror(errno));
  return OkStatus();
}

}  // namespace pflab::replay
