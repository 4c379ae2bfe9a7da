#include "net/object_metadata.h"

#include "net/gcs_objects.h"

namespace pflab {

Result<ObjectMetadata> GetObjectMetadata(const HttpEndpoint& endpoint, const HttpTransportOptions& options,
                                         const std::string& bucket, const std::string& object) {
  GcsObjectClient client(endpoint, TlsOptions{options.ca_file}, options.credentials);
  auto got = client.Get(bucket, object);
  if (!got) return got.error();
  return ObjectMetadata{got->size, got->generation};
}

}  // namespace pflab
