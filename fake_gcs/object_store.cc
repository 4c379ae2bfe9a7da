#include "fake_gcs/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/checksums.h"
#include "engine/synthetic_content.h"
#include "engine/utf8.h"

namespace pflab::fake_gcs {
namespace {

namespace fs = std::filesystem;

std::int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error BucketNotFound(const std::string& bucket) {
  return NotFound("bucket " + bucket + " not found");
}
Error ObjectNotFound(const std::string& bucket, const std::string& name) {
  return NotFound("object gs://" + bucket + "/" + name + " not found");
}

// A bucket name safe to use as a folder: GCS's own rules are stricter, these keep the root closed.
Status ValidateBucketName(const std::string& bucket) {
  if (bucket.empty() || bucket == "." || bucket == ".." || bucket.find('/') != std::string::npos ||
      bucket.find('\0') != std::string::npos) {
    return InvalidArgument("invalid bucket name '" + bucket + "'");
  }
  return OkStatus();
}

}  // namespace

Status ValidateObjectName(const std::string& name) {
  if (name.empty()) return InvalidArgument("object name is empty");
  if (name.size() > 1024) return InvalidArgument("object name is longer than 1024 bytes");
  if (name.find('\0') != std::string::npos) return InvalidArgument("object name contains NUL");
  if (!IsUtf8(name)) return InvalidArgument("object name '" + EscapeBytes(name) + "' is not valid UTF-8");
  if (name.front() == '/') return InvalidArgument("object name '" + name + "' starts with '/'");
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    const std::string_view segment(name.data() + start, end - start);
    if (segment == "." || segment == "..") {
      return InvalidArgument("object name '" + name + "' has a '" + std::string(segment) + "' segment");
    }
    start = end + 1;
  }
  return OkStatus();
}

namespace {

// Further rules for names that become file paths: a file cannot end in '/', and "a//b" would alias
// "a/b".
Status ValidateFileName(const std::string& name) {
  if (name.back() == '/') return InvalidArgument("object name '" + name + "' ends with '/' (not a file name)");
  if (name.find("//") != std::string::npos) {
    return InvalidArgument("object name '" + name + "' has an empty path segment (not a file name)");
  }
  return OkStatus();
}

}  // namespace

Status ObjectStore::SetRoot(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return InvalidArgument("--root " + dir + ": not a directory");
  std::lock_guard lock(mutex_);
  root_ = fs::canonical(dir, ec).string();
  if (ec) return InvalidArgument("--root " + dir + ": " + ec.message());
  return OkStatus();
}

bool ObjectStore::IsDirBucket(const std::string& bucket) const {
  if (root_.empty() || !ValidateBucketName(bucket).ok()) return false;
  std::error_code ec;
  return fs::is_directory(fs::path(root_) / bucket, ec);
}

void ObjectStore::CreateBucket(const std::string& bucket) {
  std::lock_guard lock(mutex_);
  buckets_[bucket];
}

bool ObjectStore::HasBucket(const std::string& bucket) const {
  std::lock_guard lock(mutex_);
  return buckets_.count(bucket) > 0 || IsDirBucket(bucket);
}

std::vector<std::string> ObjectStore::Buckets() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, objects] : buckets_) out.push_back(name);
  if (!root_.empty()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_, ec)) {
      if (entry.is_directory(ec)) out.push_back(entry.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<ObjectPtr> ObjectStore::PutMemory(const std::string& bucket, const std::string& name, std::string data,
                                         std::string content_type, std::int64_t generation) {
  if (auto s = ValidateBucketName(bucket); !s) return s.error();
  if (auto s = ValidateObjectName(name); !s) return s.error();
  auto object = std::make_shared<StoredObject>();
  object->bucket = bucket;
  object->name = name;
  object->size = data.size();
  object->content_type = content_type.empty() ? "application/octet-stream" : std::move(content_type);
  object->created_unix_ms = NowUnixMs();
  object->kind = ContentKind::kMemory;
  object->data = std::make_shared<const std::string>(std::move(data));
  std::lock_guard lock(mutex_);
  object->generation = generation > 0 ? generation : std::max(last_generation_ + 1, object->created_unix_ms * 1000);
  last_generation_ = std::max(last_generation_, object->generation);
  buckets_[bucket][name] = object;
  return ObjectPtr(object);
}

Result<ObjectPtr> ObjectStore::PutSynthetic(const std::string& bucket, const std::string& name, std::uint64_t size,
                                            std::int64_t generation) {
  if (auto s = ValidateBucketName(bucket); !s) return s.error();
  if (auto s = ValidateObjectName(name); !s) return s.error();
  if (generation <= 0) return InvalidArgument("generation must be positive");
  auto object = std::make_shared<StoredObject>();
  object->bucket = bucket;
  object->name = name;
  object->generation = generation;
  object->size = size;
  object->created_unix_ms = NowUnixMs();
  object->kind = ContentKind::kSynthetic;
  object->synthetic_seed = ObjectSeed(bucket, name, generation);
  std::lock_guard lock(mutex_);
  buckets_[bucket][name] = object;
  return ObjectPtr(object);
}

Result<ObjectPtr> ObjectStore::FileObject(const std::string& bucket, const std::string& name) const {
  if (auto s = ValidateFileName(name); !s) return s.error();
  const fs::path path = fs::path(root_) / bucket / name;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return ObjectNotFound(bucket, name);
  auto object = std::make_shared<StoredObject>();
  object->bucket = bucket;
  object->name = name;
  // The file's modification time in microseconds: stable across restarts, new after every write.
  object->generation = std::max<std::int64_t>(1, st.st_mtim.tv_sec * 1000000ll + st.st_mtim.tv_nsec / 1000);
  object->size = static_cast<std::uint64_t>(st.st_size);
  object->created_unix_ms = st.st_mtim.tv_sec * 1000ll + st.st_mtim.tv_nsec / 1000000;
  object->kind = ContentKind::kFile;
  object->path = path.string();
  return ObjectPtr(object);
}

Result<ObjectPtr> ObjectStore::Get(const std::string& bucket, const std::string& name,
                                   std::optional<std::int64_t> generation) const {
  if (auto s = ValidateObjectName(name); !s) return s.error();
  ObjectPtr found;
  {
    std::lock_guard lock(mutex_);
    auto b = buckets_.find(bucket);
    if (b != buckets_.end()) {
      auto o = b->second.find(name);
      if (o != b->second.end()) found = o->second;
    }
    if (!found) {
      if (IsDirBucket(bucket)) {
        auto file = FileObject(bucket, name);
        if (!file) return file.error();
        found = *file;
      } else if (b == buckets_.end()) {
        return BucketNotFound(bucket);
      }
    }
  }
  if (!found) return ObjectNotFound(bucket, name);
  if (generation && *generation != found->generation) {
    return NotFound("object gs://" + bucket + "/" + name + " generation " + std::to_string(*generation) +
                    " not found (live generation " + std::to_string(found->generation) + ")");
  }
  return found;
}

Result<std::vector<ObjectPtr>> ObjectStore::List(const std::string& bucket, const std::string& prefix) const {
  std::map<std::string, ObjectPtr> all;
  std::lock_guard lock(mutex_);
  auto b = buckets_.find(bucket);
  const bool dir = IsDirBucket(bucket);
  if (b == buckets_.end() && !dir) return BucketNotFound(bucket);
  if (dir) {
    const fs::path base = fs::path(root_) / bucket;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const std::string name = fs::relative(it->path(), base, ec).generic_string();
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      auto file = FileObject(bucket, name);
      if (file) all[name] = *file;
    }
  }
  if (b != buckets_.end()) {
    for (auto it = b->second.lower_bound(prefix); it != b->second.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      all[it->first] = it->second;
    }
  }
  std::vector<ObjectPtr> out;
  out.reserve(all.size());
  for (auto& [name, object] : all) out.push_back(std::move(object));
  return out;
}

Result<ObjectPtr> ObjectStore::Upload(const std::string& bucket, const std::string& name, std::string data,
                                      std::string content_type, std::optional<std::int64_t> if_generation_match) {
  if (auto s = ValidateObjectName(name); !s) return s.error();
  if (!HasBucket(bucket)) return BucketNotFound(bucket);
  if (if_generation_match) {
    auto live = Get(bucket, name);
    const std::int64_t current = live ? (*live)->generation : 0;
    if (current != *if_generation_match) {
      return Error{ErrorCode::kFailedPrecondition,
                   "ifGenerationMatch=" + std::to_string(*if_generation_match) + " but gs://" + bucket + "/" + name +
                       " has generation " + std::to_string(current),
                   false};
    }
  }
  bool dir;
  {
    std::lock_guard lock(mutex_);
    dir = IsDirBucket(bucket) && !(buckets_.count(bucket) && buckets_.at(bucket).count(name));
  }
  if (!dir) return PutMemory(bucket, name, std::move(data), std::move(content_type));
  if (auto s = ValidateFileName(name); !s) return s.error();
  // Write beside the target and rename, so a reader never sees a half-written file.
  const fs::path path = fs::path(root_) / bucket / name;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return Internal("cannot create " + path.parent_path().string() + ": " + ec.message());
  const fs::path tmp = path.string() + ".pflab-upload";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) return Internal("cannot write " + tmp.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) return Internal("cannot rename to " + path.string() + ": " + ec.message());
  std::lock_guard lock(mutex_);
  return FileObject(bucket, name);
}

Status ObjectStore::Delete(const std::string& bucket, const std::string& name) {
  if (auto s = ValidateObjectName(name); !s) return s.error();
  std::lock_guard lock(mutex_);
  auto b = buckets_.find(bucket);
  if (b != buckets_.end() && b->second.erase(name)) return OkStatus();
  if (IsDirBucket(bucket)) {
    std::error_code ec;
    if (fs::remove(fs::path(root_) / bucket / name, ec)) return OkStatus();
  } else if (b == buckets_.end()) {
    return BucketNotFound(bucket);
  }
  return ObjectNotFound(bucket, name);
}

Status ObjectStore::Read(const StoredObject& object, std::uint64_t offset, char* dest, std::uint64_t size) const {
  if (offset > object.size || size > object.size - offset) {
    return OutOfRange("read beyond the end of gs://" + object.bucket + "/" + object.name);
  }
  switch (object.kind) {
    case ContentKind::kMemory: std::memcpy(dest, object.data->data() + offset, size); return OkStatus();
    case ContentKind::kSynthetic:
      FillSynthetic(object.synthetic_seed, offset, reinterpret_cast<std::byte*>(dest), size);
      return OkStatus();
    case ContentKind::kFile: {
      const int fd = ::open(object.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Unavailable("cannot open " + object.path + ": " + std::strerror(errno));
      std::uint64_t done = 0;
      while (done < size) {
        const ssize_t n = ::pread(fd, dest + done, size - done, static_cast<off_t>(offset + done));
        if (n <= 0) {
          ::close(fd);
          return Unavailable("short read of " + object.path + " (file changed while served?)");
        }
        done += static_cast<std::uint64_t>(n);
      }
      ::close(fd);
      return OkStatus();
    }
  }
  return Internal("unknown content kind");
}

ObjectHashes ObjectStore::Hashes(const StoredObject& object) const {
  if (object.size > options_.hash_limit) return {};
  const std::string key = object.bucket + "/" + object.name + "#" + std::to_string(object.generation);
  {
    std::lock_guard lock(mutex_);
    auto it = hashes_.find(key);
    if (it != hashes_.end()) return it->second;
  }
  std::uint32_t crc = 0;
  Md5 md5;
  std::string buffer(std::min<std::uint64_t>(object.size, 1 << 20), '\0');
  for (std::uint64_t offset = 0; offset < object.size;) {
    const std::uint64_t n = std::min<std::uint64_t>(buffer.size(), object.size - offset);
    if (!Read(object, offset, buffer.data(), n)) return {};
    crc = Crc32cExtend(crc, buffer.data(), n);
    md5.Update(buffer.data(), n);
    offset += n;
  }
  ObjectHashes hashes{crc, Md5ToBase64(md5.Final())};
  std::lock_guard lock(mutex_);
  hashes_[key] = hashes;
  return hashes;
}

}  // namespace pflab::fake_gcs
