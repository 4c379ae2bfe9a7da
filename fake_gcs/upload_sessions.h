// Resumable upload sessions, the default upload path of the official GCS clients for large files.
//
// A session is created by `POST /upload/storage/v1/b/B/o?uploadType=resumable` with the object's
// name, metadata and preconditions; then `PUT`s to the session URI carry byte ranges of the object in
// order (`Content-Range: bytes a-b/*`, the last one `bytes a-b/N`), or ask how far it got (`bytes */*`).
// The server persists what it received and says so (`308` with `Range: bytes=0-K`); a client that lost
// a chunk asks and sends again from K+1, and bytes it sends again are skipped, as GCS does. The object
// appears only when the last byte arrives (ObjectStore::Commit, atomic); until then its bytes sit in a
// StagedUpload. Sessions that nobody touches for `idle_timeout`, and the least recently used ones past
// `max_sessions`, are dropped with their staged bytes, so an abandoned upload leaves nothing behind.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.h"
#include "fake_gcs/object_store.h"

namespace pflab::fake_gcs {

/// Bounds on the sessions a server keeps.
struct UploadSessionOptions {
  std::size_t max_sessions = 256;                     // past this, the least recently used one goes
  std::chrono::milliseconds idle_timeout{3'600'000};  // a session untouched this long goes
  std::uint64_t max_bytes = 1ull << 30;               // per object
};

/// What a session says after a request: bytes persisted, and the object once finalized.
struct UploadState {
  std::uint64_t persisted = 0;
  ObjectPtr object;  // set when the upload is complete
};

/// The open resumable upload sessions of a server. Thread-safe; requests to different sessions run in
/// parallel, requests to one session one after another.
class UploadSessions {
 public:
  UploadSessions(ObjectStore& store, UploadSessionOptions options) : store_(store), options_(options) {}

  /// Starts a session for `bucket`/`name`; `declared_size` is X-Upload-Content-Length when sent.
  /// Returns the session id (the URI's upload_id).
  Result<std::string> Start(const std::string& bucket, const std::string& name, ObjectAttributes attributes,
                            Preconditions conditions, std::optional<std::uint64_t> declared_size);
  /// `bytes */*`: how far the session got.
  Result<UploadState> Query(const std::string& id, const std::string& bucket);
  /// Bytes [first, first + data.size()) of the object; `total` is the object's size when the request
  /// says it. Bytes before what is already persisted are skipped; a `first` past it is an error. With
  /// `persist_limit` (a fault cutting the request) nothing at or past that offset is kept and the upload
  /// is not finalized. When the persisted bytes reach `total`, the object is committed.
  Result<UploadState> Put(const std::string& id, const std::string& bucket, std::uint64_t first, std::string_view data,
                          std::optional<std::uint64_t> total,
                          std::optional<std::uint64_t> persist_limit = std::nullopt);
  /// DELETE of the session URI: drops the session and its bytes.
  Status Cancel(const std::string& id, const std::string& bucket);
  /// Drops sessions idle for longer than the timeout (also done on every Start).
  void Expire();
  /// Open sessions, finalized ones included until they expire.
  std::size_t size() const;

 private:
  struct Session {
    std::mutex mutex;  // one request at a time
    std::string bucket;
    std::string name;
    ObjectAttributes attributes;
    Preconditions conditions;
    std::optional<std::uint64_t> total;
    std::unique_ptr<StagedUpload> staged;
    ObjectPtr object;                           // finalized
    std::optional<Error> error;                 // failed at finalize (e.g. a precondition): every later request gets it
    std::atomic<std::int64_t> last_used_ns{0};  // steady clock; read without the session's lock
  };

  Result<std::shared_ptr<Session>> Find(const std::string& id, const std::string& bucket);
  void ExpireLocked(std::int64_t now_ns);

  ObjectStore& store_;
  UploadSessionOptions options_;
  mutable std::mutex mutex_;  // guards sessions_ (not the sessions' content)
  std::map<std::string, std::shared_ptr<Session>> sessions_;
};

}  // namespace pflab::fake_gcs
