// The pieces of the GCS HTTP protocol the fake server needs, free of any networking: URL decoding,
// query strings, Range headers, error bodies, timestamps and object metadata JSON.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "fake_gcs/object_store.h"

namespace pflab::fake_gcs {

/// Percent-decodes once; with `plus_is_space` (query strings) '+' becomes ' '. nullopt on a bad escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

/// Parses `a=1&b=x%20y`; a key given twice keeps the first value. nullopt on a bad escape.
std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view query);

/// How a Range header resolves against an object of `size` bytes, as GCS answers it:
/// no header or one GCS ignores (bad unit, several ranges, b < a, garbage) -> the whole object, 200;
/// `bytes=a-b`, `bytes=a-`, `bytes=-n` -> 206 with the end clamped to the object;
/// a start at or past the end (any range of an empty object included), or `bytes=-0` -> 416.
struct ResolvedRange {
  enum class Kind { kWhole, kPartial, kUnsatisfiable };
  Kind kind = Kind::kWhole;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;  // exclusive
};
ResolvedRange ResolveRange(std::optional<std::string_view> header, std::uint64_t size);

/// A resumable upload request's Content-Range: `bytes a-b/N`, `bytes a-b/*` (a chunk, b inclusive),
/// `bytes */N`, `bytes */*` (no bytes: a status query, or the end of an upload of N bytes).
struct UploadContentRange {
  bool has_bytes = false;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
  std::optional<std::uint64_t> total;
};
/// InvalidArgument naming the header when it is none of the four forms (or b < a, or b >= N).
Result<UploadContentRange> ParseUploadContentRange(std::string_view header);

/// The JSON API error model: {"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}.
std::string JsonError(int status, const std::string& message);
/// The XML API error body, e.g. code "NoSuchKey" or "InvalidRange".
std::string XmlError(const std::string& code, const std::string& message);
/// The GCS reason for a status (404 -> notFound, ...).
const char* ErrorReason(int status);
/// The HTTP status for one of our errors (kNotFound -> 404, ...).
int StatusForError(const Error& error);
const char* ReasonPhrase(int status);

/// RFC 3339 with milliseconds in UTC, as GCS writes `updated`.
std::string Rfc3339(std::int64_t unix_ms);
/// RFC 7231 date for Last-Modified.
std::string HttpDate(std::int64_t unix_ms);

/// Object metadata as the JSON API returns it; `endpoint` is the server's own URL for selfLink and
/// mediaLink. Int64 fields are strings, as GCS sends them.
nlohmann::json ObjectJson(const StoredObject& object, const ObjectHashes& hashes, const std::string& endpoint);
/// Applies an object resource's writable fields (contentType, contentEncoding, contentDisposition,
/// contentLanguage, cacheControl, metadata) to `attributes`; other fields are ignored, as GCS ignores
/// read-only ones. A null field is cleared (contentType back to the default), and a null value in
/// `metadata` removes that key: a patch's semantics, which are also an insert's on fresh attributes.
Status ApplyObjectResource(const nlohmann::json& resource, ObjectAttributes& attributes);
nlohmann::json BucketJson(const std::string& bucket, const std::string& endpoint);

/// Percent-encodes for a URL path segment (unreserved characters stay).
std::string EncodePathSegment(std::string_view text);

}  // namespace pflab::fake_gcs
