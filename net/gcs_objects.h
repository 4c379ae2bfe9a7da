// The few JSON API object calls a live run makes besides its reads: an object's metadata (to map a
// trace's object onto it and check its size), uploading a synthetic object, and deleting it after.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/result.h"
#include "net/credentials.h"
#include "net/http_request.h"
#include "net/http_transport.h"

namespace pflab {

/// An object's identity and size as the JSON API reports them.
struct GcsObject {
  std::string bucket;
  std::string name;
  std::uint64_t size = 0;
  std::int64_t generation = 0;
  std::string crc32c;  // base64, as reported; empty when not
};

/// Metadata, uploads and deletes over the JSON API at one endpoint, with the run's credentials.
class GcsObjectClient {
 public:
  GcsObjectClient(HttpEndpoint endpoint, TlsOptions tls, std::shared_ptr<Credentials> credentials);

  /// The object's metadata; kNotFound when there is none, kPermissionDenied when it may not be read.
  Result<GcsObject> Get(const std::string& bucket, const std::string& name);
  /// Uploads `size` bytes of the synthetic content of `seed` (engine/synthetic_content.h) as a new
  /// object: never over an existing one (ifGenerationMatch=0; kFailedPrecondition when one exists).
  /// The reply's size and CRC32C are checked against what was sent.
  Result<GcsObject> CreateSynthetic(const std::string& bucket, const std::string& name, std::uint64_t size,
                                    std::uint64_t seed);
  /// Deletes that generation of the object.
  Status Delete(const std::string& bucket, const std::string& name, std::int64_t generation);

 private:
  // Sends with the Authorization header; after a 401, once more with a fresh token when there is one.
  Result<HttpResponse> Send(HttpRequest request);
  Error Failure(const std::string& what, const HttpResponse& response) const;

  HttpEndpoint endpoint_;
  TlsOptions tls_;
  std::shared_ptr<Credentials> credentials_;
};

}  // namespace pflab
