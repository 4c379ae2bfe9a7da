// What an HTTP status means to a GCS client, shared by the HTTP client and the fault injector.
#pragma once

#include <string>

#include "engine/result.h"

namespace pflab {

/// The error an HTTP status stands for, as GCS clients read it: 408, 429 and 5xx are retryable
/// kUnavailable; 404 kNotFound; 401 and 403 kPermissionDenied; 412 kFailedPrecondition; 416
/// kOutOfRange; a 200 or 206 that is not the range asked for (an error page served as success) a
/// retryable kDataLoss; anything else kInternal. Shared by the HTTP client and the fault injector, so an
/// injected return-X fails a read exactly as the same status from a server does.
Error HttpStatusError(int status, std::string message);

}  // namespace pflab
