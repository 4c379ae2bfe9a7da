#include "engine/http_status.h"

#include <utility>

namespace pflab {

Error HttpStatusError(int status, std::string message) {
  Error error{ErrorCode::kInternal, std::move(message), false, status};
  if (status == 408 || status == 429 || status >= 500) {
    error.code = ErrorCode::kUnavailable;
    error.retryable = true;
  } else if (status == 200 || status == 206) {
    error.code = ErrorCode::kDataLoss;
    error.retryable = true;  // the next answer may be the range
  } else if (status == 404) {
    error.code = ErrorCode::kNotFound;
  } else if (status == 401 || status == 403) {
    error.code = ErrorCode::kPermissionDenied;
  } else if (status == 412) {
    error.code = ErrorCode::kFailedPrecondition;
  } else if (status == 416) {
    error.code = ErrorCode::kOutOfRange;
  }
  return error;
}

}  // namespace pflab
