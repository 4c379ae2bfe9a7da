// One object's metadata over the GCS JSON API, for tools that need an object's size before reading it
// (`pflab calibrate` picks random offsets within the object).
#pragma once

#include <cstdint>
#include <string>

#include "engine/result.h"
#include "net/http_transport.h"

namespace pflab {

/// What GetObjectSize learned about an object.
struct ObjectMetadata {
  std::uint64_t size = 0;
  std::int64_t generation = 0;
};

/// `GET /storage/v1/b/BUCKET/o/OBJECT` (one Class B operation on GCS) with the options' credentials
/// and CA file (GcsObjectClient::Get); errors name the object and what the server answered.
Result<ObjectMetadata> GetObjectMetadata(const HttpEndpoint& endpoint, const HttpTransportOptions& options,
                                         const std::string& bucket, const std::string& object);

}  // namespace pflab
