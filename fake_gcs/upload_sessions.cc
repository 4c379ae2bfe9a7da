#include "fake_gcs/upload_sessions.h"

#include <unistd.h>

#include <algorithm>
#include <random>

namespace pflab::fake_gcs {
namespace {

std::string NewSessionId() {
  static std::mutex mutex;
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<std::uint64_t>(::getpid()));
  std::lock_guard lock(mutex);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Error SessionNotFound(const std::string& id) {
  return NotFound("upload session " + id + " not found (never started, cancelled, or expired)");
}

}  // namespace

Result<std::string> UploadSessions::Start(const std::string& bucket, const std::string& name,
                                          ObjectAttributes attributes, Preconditions conditions,
                                          std::optional<std::uint64_t> declared_size) {
  if (declared_size && *declared_size > options_.max_bytes) {
    return InvalidArgument("X-Upload-Content-Length " + std::to_string(*declared_size) +
                           " exceeds the server's upload limit of " + std::to_string(options_.max_bytes) + " bytes");
  }
  auto staged = store_.Stage(bucket, name);
  if (!staged) return staged.error();
  auto session = std::make_shared<Session>();
  session->bucket = bucket;
  session->name = name;
  session->attributes = std::move(attributes);
  session->conditions = conditions;
  session->total = declared_size;
  session->staged = std::move(*staged);
  const std::int64_t now = NowNs();
  session->last_used_ns = now;
  const std::string id = NewSessionId();
  std::lock_guard lock(mutex_);
  ExpireLocked(now);
  while (!sessions_.empty() && sessions_.size() >= options_.max_sessions) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second->last_used_ns < b.second->last_used_ns;
    });
    sessions_.erase(oldest);  // its staged bytes go with the last reference
  }
  sessions_[id] = std::move(session);
  return id;
}

void UploadSessions::ExpireLocked(std::int64_t now_ns) {
  const std::int64_t timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.idle_timeout).count();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    // A request still using an erased session keeps it alive until it answers; the next one gets 404.
    if (now_ns - it->second->last_used_ns > timeout_ns) {
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

void UploadSessions::Expire() {
  std::lock_guard lock(mutex_);
  ExpireLocked(NowNs());
}

std::size_t UploadSessions::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

Result<std::shared_ptr<UploadSessions::Session>> UploadSessions::Find(const std::string& id,
                                                                      const std::string& bucket) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return SessionNotFound(id);
  if (it->second->bucket != bucket) {
    return InvalidArgument("upload session " + id + " belongs to bucket " + it->second->bucket + ", not " + bucket);
  }
  return it->second;
}

Result<UploadState> UploadSessions::Query(const std::string& id, const std::string& bucket) {
  auto found = Find(id, bucket);
  if (!found) return found.error();
  Session& s = **found;
  std::lock_guard lock(s.mutex);
  s.last_used_ns = NowNs();
  if (s.error) return *s.error;
  if (s.object) return UploadState{s.object->size, s.object};
  return UploadState{s.staged->size(), nullptr};
}

Result<UploadState> UploadSessions::Put(const std::string& id, const std::string& bucket, std::uint64_t first,
                                        std::string_view data, std::optional<std::uint64_t> total,
                                        std::optional<std::uint64_t> persist_limit) {
  auto found = Find(id, bucket);
  if (!found) return found.error();
  Session& s = **found;
  std::lock_guard lock(s.mutex);
  s.last_used_ns = NowNs();
  if (s.error) return *s.error;
  // A client that lost the answer to its last chunk sends it again: the object is the answer.
  if (s.object) return UploadState{s.object->size, s.object};
  const std::uint64_t persisted = s.staged->size();
  if (total) {
    if (s.total && *s.total != *total) {
      return InvalidArgument("the upload's size was given as " + std::to_string(*s.total) + ", now as " +
                             std::to_string(*total));
    }
    if (*total > options_.max_bytes) {
      return InvalidArgument("an upload of " + std::to_string(*total) + " bytes exceeds the server's limit of " +
                             std::to_string(options_.max_bytes) + " bytes");
    }
    if (*total < persisted) {
      return InvalidArgument("the upload's size is given as " + std::to_string(*total) + " but " +
                             std::to_string(persisted) + " bytes are already persisted");
    }
  }
  if (first > persisted) {
    return InvalidArgument("the upload offset is " + std::to_string(first) +
                           " byte(s), which exceeds already uploaded size of " + std::to_string(persisted) +
                           " byte(s)");
  }
  const std::uint64_t end = first + data.size();
  const std::optional<std::uint64_t> size = total ? total : s.total;
  if (size && end > *size) {
    return InvalidArgument("bytes up to offset " + std::to_string(end) + " sent for an upload of " +
                           std::to_string(*size) + " bytes");
  }
  if (end > options_.max_bytes) {
    return InvalidArgument("the upload exceeds the server's limit of " + std::to_string(options_.max_bytes) + " bytes");
  }
  if (total) s.total = total;
  // Keep only new bytes, and under a fault only those before its cut.
  std::uint64_t keep_to = end;
  if (persist_limit) keep_to = std::min(keep_to, std::max(*persist_limit, persisted));
  if (keep_to > persisted) {
    if (auto st = s.staged->Append(data.substr(persisted - first, keep_to - persisted)); !st) return st.error();
  }
  if (persist_limit || !s.total || s.staged->size() != *s.total) return UploadState{s.staged->size(), nullptr};
  auto object = store_.Commit(*s.staged, s.attributes, s.conditions);
  s.staged.reset();  // committed, or failed: either way its staging file is done with
  if (!object) {
    s.error = object.error();
    return object.error();
  }
  s.object = *object;
  return UploadState{s.object->size, s.object};
}

Status UploadSessions::Cancel(const std::string& id, const std::string& bucket) {
  auto found = Find(id, bucket);
  if (!found) return found.error();
  std::lock_guard lock(mutex_);
  sessions_.erase(id);
  return OkStatus();
}

}  // namespace pflab::fake_gcs
