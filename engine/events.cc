#include "engine/events.h"

namespace pflab {

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kReadStart: return "read_start";
    case EventType::kReadEnd: return "read_end";
    case EventType::kFetchStart: return "fetch_start";
    case EventType::kFetchEnd: return "fetch_end";
    case EventType::kFetchCancel: return "fetch_cancel";
    case EventType::kFetchFail: return "fetch_fail";
    case EventType::kRetry: return "retry";
    case EventType::kVerifyFail: return "verify_fail";
  }
  return "unknown";
}

}  // namespace pflab
