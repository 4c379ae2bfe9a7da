#include "fake_gcs/object_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/synthetic_content.h"
#include "engine/utf8.h"
#include "net/checksums.h"

namespace pflab::fake_gcs {
namespace {

namespace fs = std::filesystem;

// Staging files sit at the top of a bucket's folder under this prefix, followed by the server's pid
// (so a later server can tell a crashed one's leftovers from a live one's) and a random part.
constexpr std::string_view kStagingPrefix = ".pflab-upload-";

std::int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t MicrosOf(const struct timespec& t) {
  return t.tv_sec * 1000000ll + t.tv_nsec / 1000;
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

// Whether a name below a bucket folder is one of our staging files (never an object).
bool IsStagingName(std::string_view relative) {
  return relative.substr(0, kStagingPrefix.size()) == kStagingPrefix;
}

std::string RandomHex() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<std::uint64_t>(::getpid()));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

Status PreconditionFailed(const std::string& what, const char* condition, std::int64_t wanted, const char* field,
                          std::int64_t actual) {
  return Error{ErrorCode::kFailedPrecondition,
               std::string(condition) + "=" + std::to_string(wanted) + " but " + what + " has " + field + " " +
                   std::to_string(actual),
               false};
}

Status ReadAt(int fd, const std::string& what, std::uint64_t offset, char* dest, std::uint64_t size) {
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, dest + done, size - done, static_cast<off_t>(offset + done));
    if (n <= 0) return Unavailable("short read of " + what + " (file changed while served?)");
    done += static_cast<std::uint64_t>(n);
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

Status CheckPreconditions(const Preconditions& c, const StoredObject* live, const std::string& what) {
  const std::int64_t generation = live ? live->generation : 0;
  if (c.if_generation_match && *c.if_generation_match != generation) {
    return PreconditionFailed(what, "ifGenerationMatch", *c.if_generation_match, "generation", generation);
  }
  if (c.if_generation_not_match && *c.if_generation_not_match == generation) {
    return PreconditionFailed(what, "ifGenerationNotMatch", *c.if_generation_not_match, "generation", generation);
  }
  // A missing object has no metageneration: any metageneration condition fails on it.
  if (c.if_metageneration_match && (!live || *c.if_metageneration_match != live->metageneration)) {
    return PreconditionFailed(what, "ifMetagenerationMatch", *c.if_metageneration_match, "metageneration",
                              live ? live->metageneration : 0);
  }
  if (c.if_metageneration_not_match && (!live || *c.if_metageneration_not_match == live->metageneration)) {
    return PreconditionFailed(what, "ifMetagenerationNotMatch", *c.if_metageneration_not_match, "metageneration",
                              live ? live->metageneration : 0);
  }
  return OkStatus();
}

namespace {

// Further rules for names that become file paths: a file cannot end in '/', "a//b" would alias "a/b",
// and the staging prefix at the top of a bucket is ours.
Status ValidateFileName(const std::string& name) {
  if (name.back() == '/') return InvalidArgument("object name '" + name + "' ends with '/' (not a file name)");
  if (name.find("//") != std::string::npos) {
    return InvalidArgument("object name '" + name + "' has an empty path segment (not a file name)");
  }
  if (IsStagingName(name)) {
    return InvalidArgument("object name '" + name + "' starts with '" + std::string(kStagingPrefix) +
                           "', which the fake server keeps for its staging files");
  }
  return OkStatus();
}

}  // namespace

StagedUpload::~StagedUpload() {
  if (!committed_ && bucket_dir_.valid() && !staging_name_.empty()) {
    ::unlinkat(bucket_dir_.get(), staging_name_.c_str(), 0);
  }
}

Status StagedUpload::Append(std::string_view data) {
  if (committed_) return Internal("append to a committed upload");
  if (!file_) {
    memory_.append(data);
  } else {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(file_->get(), data.data() + done, data.size() - done, static_cast<off_t>(size_ + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Internal("cannot write the staging file of gs://" + bucket_ + "/" + name_ + ": " + std::strerror(errno));
      }
      done += static_cast<std::size_t>(n);
    }
  }
  size_ += data.size();
  return OkStatus();
}

Status ObjectStore::SetRoot(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return InvalidArgument("--root " + dir + ": not a directory");
  const std::string canonical = fs::canonical(dir, ec).string();
  if (ec) return InvalidArgument("--root " + dir + ": " + ec.message());
  auto fd = OpenRootDirectory(canonical);
  if (!fd) return InvalidArgument("--root " + fd.error().message);
  std::lock_guard lock(mutex_);
  root_ = canonical;
  root_dir_ = std::move(*fd);
  RemoveStaleStagingFiles();
  return OkStatus();
}

void ObjectStore::RemoveStaleStagingFiles() {
  for (const std::string& bucket : EntryNames(root_dir_.get())) {
    if (!IsDirBucket(bucket)) continue;
    auto folder = OpenDirectoryBeneath(root_dir_.get(), bucket, false);
    if (!folder) continue;
    for (const std::string& name : EntryNames(folder->get())) {
      if (!IsStagingName(name)) continue;
      // .pflab-upload-PID-RANDOM: stale when that process is gone (another server may share the root).
      const long pid = std::strtol(name.c_str() + kStagingPrefix.size(), nullptr, 10);
      if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
      struct stat st;
      if (StatEntry(folder->get(), name, st) && S_ISREG(st.st_mode)) ::unlinkat(folder->get(), name.c_str(), 0);
    }
  }
}

bool ObjectStore::IsDirBucket(const std::string& bucket) const {
  if (!root_dir_.valid() || !ValidateBucketName(bucket).ok()) return false;
  struct stat st;
  return StatEntry(root_dir_.get(), bucket, st) && S_ISDIR(st.st_mode);  // a link is not a bucket
}

void ObjectStore::CreateBucket(const std::string& bucket) {
  std::lock_guard lock(mutex_);
  buckets_[bucket];
}

Status ObjectStore::InsertBucket(const std::string& bucket) {
  if (auto s = ValidateBucketName(bucket); !s) return s.error();
  std::lock_guard lock(mutex_);
  if (buckets_.count(bucket) || IsDirBucket(bucket)) {
    return Error{ErrorCode::kFailedPrecondition, "bucket " + bucket + " already exists", false};
  }
  if (!root_dir_.valid()) {
    buckets_[bucket];
    return OkStatus();
  }
  // mkdirat never follows a link: an existing entry of that name (file, link) is a conflict.
  if (::mkdirat(root_dir_.get(), bucket.c_str(), 0755) != 0) {
    if (errno == EEXIST) {
      return Error{ErrorCode::kFailedPrecondition,
                   "'" + bucket + "' already exists in the root and is not a folder (a file or a symbolic link)",
                   false};
    }
    return Internal("cannot create the folder of bucket " + bucket + ": " + std::strerror(errno));
  }
  return OkStatus();
}

bool ObjectStore::HasBucket(const std::string& bucket) const {
  std::lock_guard lock(mutex_);
  return buckets_.count(bucket) > 0 || IsDirBucket(bucket);
}

std::vector<std::string> ObjectStore::Buckets() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, objects] : buckets_) out.push_back(name);
  if (root_dir_.valid()) {
    for (const std::string& name : EntryNames(root_dir_.get())) {
      if (IsDirBucket(name)) out.push_back(name);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<ObjectPtr> ObjectStore::InsertMemory(std::shared_ptr<StoredObject> object, const Preconditions& conditions) {
  std::lock_guard lock(mutex_);
  auto live = GetLocked(object->bucket, object->name);
  if (!live && live.error().code != ErrorCode::kNotFound) return live.error();
  if (auto s =
          CheckPreconditions(conditions, live ? live->get() : nullptr, "gs://" + object->bucket + "/" + object->name);
      !s) {
    return s.error();
  }
  if (object->generation <= 0) {
    object->generation = std::max(last_generation_ + 1, object->created_unix_ms * 1000);
    if (live) object->generation = std::max(object->generation, (*live)->generation + 1);
  }
  last_generation_ = std::max(last_generation_, object->generation);
  buckets_[object->bucket][object->name] = object;
  return ObjectPtr(object);
}

Result<ObjectPtr> ObjectStore::PutMemory(const std::string& bucket, const std::string& name, std::string data,
                                         std::string content_type, std::int64_t generation) {
  if (auto s = ValidateBucketName(bucket); !s) return s.error();
  if (auto s = ValidateObjectName(name); !s) return s.error();
  auto object = std::make_shared<StoredObject>();
  object->bucket = bucket;
  object->name = name;
  object->size = data.size();
  if (!content_type.empty()) object->attributes.content_type = std::move(content_type);
  object->created_unix_ms = object->updated_unix_ms = NowUnixMs();
  object->kind = ContentKind::kMemory;
  object->data = std::make_shared<const std::string>(std::move(data));
  object->generation = generation;
  return InsertMemory(std::move(object), {});
}

Result<ObjectPtr> ObjectStore::PutSynthetic(const std::string& bucket, const std::string& name, std::uint64_t size,
                                            std::int64_t generation) {
  if (auto s = ValidateBucketName(bucket); !s) return s.error();
  if (auto s = ValidateObjectName(name); !s) return s.error();
  if (generation <= 0) return InvalidArgument("generation must be positive");
  if (size > kMaxSyntheticSize) {
    return InvalidArgument("size " + std::to_string(size) +
                           " is above 2^50 bytes (1 PiB), the largest synthetic object");
  }
  auto object = std::make_shared<StoredObject>();
  object->bucket = bucket;
  object->name = name;
  object->generation = generation;
  object->size = size;
  object->created_unix_ms = object->updated_unix_ms = NowUnixMs();
  object->kind = ContentKind::kSynthetic;
  object->synthetic_seed = ObjectSeed(bucket, name, generation);
  std::lock_guard lock(mutex_);
  buckets_[bucket][name] = object;
  return ObjectPtr(object);
}

ObjectPtr ObjectStore::FileObjectFrom(const std::string& bucket, const std::string& name, const struct stat& st,
                                      std::shared_ptr<const UniqueFd> file) const {
  auto object = std::make_shared<StoredObject>();
  object->bucket = bucket;
  object->name = name;
  // The file's modification time in microseconds: stable across restarts, new after every write.
  object->generation = std::max<std::int64_t>(1, MicrosOf(st.st_mtim));
  object->size = static_cast<std::uint64_t>(st.st_size);
  object->created_unix_ms = object->updated_unix_ms = MicrosOf(st.st_mtim) / 1000;
  object->kind = ContentKind::kFile;
  object->path = bucket + "/" + name;
  object->file_dev = st.st_dev;
  object->file_ino = st.st_ino;
  object->file = std::move(file);
  auto meta = file_metadata_.find(bucket + "/" + name);
  if (meta != file_metadata_.end() && meta->second.generation == object->generation) {
    object->metageneration = meta->second.metageneration;
    object->updated_unix_ms = meta->second.updated_unix_ms;
    object->attributes = meta->second.attributes;
  }
  return object;
}

Result<ObjectPtr> ObjectStore::FileObject(const std::string& bucket, const std::string& name) const {
  if (auto s = ValidateFileName(name); !s) return ObjectNotFound(bucket, name);
  auto file = OpenFileBeneath(root_dir_.get(), bucket + "/" + name);
  if (!file) return NotFound("object gs://" + bucket + "/" + name + " not found: " + file.error().message);
  auto handle = std::make_shared<const UniqueFd>(std::move(file->fd));
  return FileObjectFrom(bucket, name, file->st, std::move(handle));
}

Result<ObjectPtr> ObjectStore::GetLocked(const std::string& bucket, const std::string& name) const {
  auto b = buckets_.find(bucket);
  if (b != buckets_.end()) {
    auto o = b->second.find(name);
    if (o != b->second.end()) return o->second;
  }
  if (IsDirBucket(bucket)) return FileObject(bucket, name);
  if (b == buckets_.end()) return BucketNotFound(bucket);
  return ObjectNotFound(bucket, name);
}

Result<ObjectPtr> ObjectStore::Get(const std::string& bucket, const std::string& name,
                                   std::optional<std::int64_t> generation) const {
  if (auto s = ValidateObjectName(name); !s) return s.error();
  ObjectPtr found;
  {
    std::lock_guard lock(mutex_);
    auto live = GetLocked(bucket, name);
    if (!live) return live.error();
    found = std::move(*live);
  }
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
    auto folder = OpenDirectoryBeneath(root_dir_.get(), bucket, false);
    if (!folder) return BucketNotFound(bucket);  // replaced by a link since IsDirBucket
    // Folders that cannot hold a name with the prefix are not entered.
    auto skip = [&](const std::string& relative) {
      if (IsStagingName(relative)) return true;
      return relative.compare(0, prefix.size(), prefix) != 0 &&
             prefix.compare(0, relative.size() + 1, relative + "/") != 0;
    };
    WalkFiles(folder->get(), skip, [&](const std::string& name, const struct stat& st) {
      if (name.compare(0, prefix.size(), prefix) != 0) return;
      all[name] = FileObjectFrom(bucket, name, st, nullptr);
    });
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

bool ObjectStore::StagesInFolder(const std::string& bucket, const std::string& name) const {
  return IsDirBucket(bucket) && !(buckets_.count(bucket) && buckets_.at(bucket).count(name));
}

Result<std::unique_ptr<StagedUpload>> ObjectStore::Stage(const std::string& bucket, const std::string& name) {
  if (auto s = ValidateObjectName(name); !s) return s.error();
  std::unique_ptr<StagedUpload> staged(new StagedUpload());
  staged->bucket_ = bucket;
  staged->name_ = name;
  std::lock_guard lock(mutex_);
  if (!buckets_.count(bucket) && !IsDirBucket(bucket)) return BucketNotFound(bucket);
  if (!StagesInFolder(bucket, name)) return staged;
  if (auto s = ValidateFileName(name); !s) return s.error();
  auto folder = OpenDirectoryBeneath(root_dir_.get(), bucket, false);
  if (!folder) return BucketNotFound(bucket);
  staged->bucket_dir_ = std::move(*folder);
  staged->staging_name_ = std::string(kStagingPrefix) + std::to_string(::getpid()) + "-" + RandomHex();
  // O_EXCL | O_NOFOLLOW: a file or link someone put at this name is never written through.
  const int fd = ::openat(staged->bucket_dir_.get(), staged->staging_name_.c_str(),
                          O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    const std::string why = std::strerror(errno);
    staged->staging_name_.clear();  // not ours to remove
    return Internal("cannot create a staging file in bucket " + bucket + ": " + why);
  }
  staged->file_ = std::make_shared<UniqueFd>(fd);
  return staged;
}

Result<ObjectPtr> ObjectStore::Commit(StagedUpload& staged, ObjectAttributes attributes,
                                      const Preconditions& conditions) {
  if (staged.committed_) return Internal("upload committed twice");
  const std::string& bucket = staged.bucket_;
  const std::string& name = staged.name_;
  const std::string what = "gs://" + bucket + "/" + name;
  if (!staged.file_) {
    auto object = std::make_shared<StoredObject>();
    object->bucket = bucket;
    object->name = name;
    object->size = staged.size_;
    object->attributes = std::move(attributes);
    object->created_unix_ms = object->updated_unix_ms = NowUnixMs();
    object->kind = ContentKind::kMemory;
    object->data = std::make_shared<const std::string>(std::move(staged.memory_));
    object->generation = 0;
    auto stored = InsertMemory(std::move(object), conditions);
    if (stored) staged.committed_ = true;
    return stored;
  }
  std::lock_guard lock(mutex_);
  auto live = GetLocked(bucket, name);
  if (!live && live.error().code != ErrorCode::kNotFound) return live.error();
  if (auto s = CheckPreconditions(conditions, live ? live->get() : nullptr, what); !s) return s.error();
  const auto [parent, leaf] = SplitParent(name);
  auto folder = OpenDirectoryBeneath(staged.bucket_dir_.get(), parent, /*create=*/true);
  if (!folder) return NotFound("cannot write " + what + ": " + folder.error().message);
  const std::string leaf_name(leaf);
  struct stat existing;
  if (StatEntry(folder->get(), leaf_name, existing)) {
    // The rename would replace a link itself, never write through it; refusing keeps links untouched.
    if (S_ISLNK(existing.st_mode)) {
      return NotFound("cannot write " + what + ": '" + leaf_name +
                      "' is a symbolic link, which the fake server does not follow or replace");
    }
    if (S_ISDIR(existing.st_mode)) return InvalidArgument("cannot write " + what + ": it is a folder in the bucket");
  }
  struct stat st;
  if (::fstat(staged.file_->get(), &st) != 0)
    return Internal("fstat of a staging file: " + std::string(std::strerror(errno)));
  // A new version must have a new generation (the mtime): overwrites within one microsecond, or
  // after the clock went back, get the old generation plus one.
  if (live && (*live)->kind == ContentKind::kFile && MicrosOf(st.st_mtim) <= (*live)->generation) {
    const std::int64_t micros = (*live)->generation + 1;
    const struct timespec times[2] = {{0, UTIME_OMIT}, {micros / 1000000, (micros % 1000000) * 1000}};
    ::futimens(staged.file_->get(), times);
    ::fstat(staged.file_->get(), &st);
  }
  if (::renameat(staged.bucket_dir_.get(), staged.staging_name_.c_str(), folder->get(), leaf_name.c_str()) != 0) {
    return Internal("cannot rename the staging file to " + what + ": " + std::strerror(errno));
  }
  staged.committed_ = true;
  FileMetadata meta;
  meta.generation = std::max<std::int64_t>(1, MicrosOf(st.st_mtim));
  meta.updated_unix_ms = MicrosOf(st.st_mtim) / 1000;
  meta.attributes = std::move(attributes);
  file_metadata_[bucket + "/" + name] = std::move(meta);
  return FileObjectFrom(bucket, name, st, staged.file_);
}

Result<ObjectPtr> ObjectStore::Upload(const std::string& bucket, const std::string& name, std::string data,
                                      ObjectAttributes attributes, const Preconditions& conditions) {
  auto staged = Stage(bucket, name);
  if (!staged) return staged.error();
  if ((*staged)->file_) {
    if (auto s = (*staged)->Append(data); !s) return s.error();
  } else {
    (*staged)->memory_ = std::move(data);
    (*staged)->size_ = (*staged)->memory_.size();
  }
  return Commit(**staged, std::move(attributes), conditions);
}

Result<ObjectPtr> ObjectStore::Patch(const std::string& bucket, const std::string& name,
                                     std::optional<std::int64_t> generation, const Preconditions& conditions,
                                     const std::function<Status(ObjectAttributes&)>& edit) {
  if (auto s = ValidateObjectName(name); !s) return s.error();
  std::lock_guard lock(mutex_);
  auto live = GetLocked(bucket, name);
  if (!live) return live.error();
  const StoredObject& current = **live;
  if (generation && *generation != current.generation) {
    return NotFound("object gs://" + bucket + "/" + name + " generation " + std::to_string(*generation) +
                    " not found (live generation " + std::to_string(current.generation) + ")");
  }
  if (auto s = CheckPreconditions(conditions, &current, "gs://" + bucket + "/" + name); !s) return s.error();
  auto patched = std::make_shared<StoredObject>(current);
  if (auto s = edit(patched->attributes); !s) return s.error();
  patched->metageneration = current.metageneration + 1;
  patched->updated_unix_ms = std::max(NowUnixMs(), current.updated_unix_ms);
  if (current.kind == ContentKind::kFile) {
    FileMetadata& meta = file_metadata_[bucket + "/" + name];
    meta.generation = current.generation;
    meta.metageneration = patched->metageneration;
    meta.updated_unix_ms = patched->updated_unix_ms;
    meta.attributes = patched->attributes;
  } else {
    buckets_[bucket][name] = patched;
  }
  return ObjectPtr(patched);
}

Result<ObjectPtr> ObjectStore::Copy(const StoredObject& source, const std::string& bucket, const std::string& name,
                                    ObjectAttributes attributes, const Preconditions& conditions,
                                    std::uint64_t max_bytes) {
  if (auto s = ValidateBucketName(bucket); !s) return s.error();
  if (auto s = ValidateObjectName(name); !s) return s.error();
  bool folder;
  {
    std::lock_guard lock(mutex_);
    if (!buckets_.count(bucket) && !IsDirBucket(bucket)) return BucketNotFound(bucket);
    folder = StagesInFolder(bucket, name);
  }
  const std::string what = "gs://" + source.bucket + "/" + source.name;
  if (!folder && source.kind != ContentKind::kFile) {
    auto object = std::make_shared<StoredObject>();
    object->bucket = bucket;
    object->name = name;
    object->size = source.size;
    object->attributes = std::move(attributes);
    object->created_unix_ms = object->updated_unix_ms = NowUnixMs();
    object->kind = source.kind;
    object->data = source.data;
    object->synthetic_seed = source.synthetic_seed;
    object->generation = 0;
    return InsertMemory(std::move(object), conditions);
  }
  if (source.size > max_bytes) {
    return InvalidArgument("copying " + what + " (" + std::to_string(source.size) + " bytes) into " +
                           (folder ? "a folder" : "memory") + " exceeds the upload limit of " +
                           std::to_string(max_bytes) + " bytes");
  }
  auto staged = Stage(bucket, name);
  if (!staged) return staged.error();
  std::string buffer(std::min<std::uint64_t>(source.size, 1 << 20), '\0');
  for (std::uint64_t offset = 0; offset < source.size;) {
    const std::uint64_t n = std::min<std::uint64_t>(buffer.size(), source.size - offset);
    if (auto s = Read(source, offset, buffer.data(), n); !s) return s.error();
    if (auto s = (*staged)->Append(std::string_view(buffer.data(), n)); !s) return s.error();
    offset += n;
  }
  return Commit(**staged, std::move(attributes), conditions);
}

Status ObjectStore::Delete(const std::string& bucket, const std::string& name) {
  if (auto s = ValidateObjectName(name); !s) return s.error();
  std::lock_guard lock(mutex_);
  auto b = buckets_.find(bucket);
  if (b != buckets_.end() && b->second.erase(name)) return OkStatus();
  if (!IsDirBucket(bucket)) {
    if (b == buckets_.end()) return BucketNotFound(bucket);
    return ObjectNotFound(bucket, name);
  }
  if (!ValidateFileName(name).ok()) return ObjectNotFound(bucket, name);
  const auto [parent, leaf] = SplitParent(name);
  auto folder =
      OpenDirectoryBeneath(root_dir_.get(), bucket + (parent.empty() ? "" : "/" + std::string(parent)), false);
  if (!folder) return NotFound("object gs://" + bucket + "/" + name + " not found: " + folder.error().message);
  const std::string leaf_name(leaf);
  struct stat st;
  if (!StatEntry(folder->get(), leaf_name, st)) return ObjectNotFound(bucket, name);
  if (S_ISLNK(st.st_mode)) {
    return NotFound("object gs://" + bucket + "/" + name + " not found: '" + leaf_name +
                    "' is a symbolic link, which the fake server does not follow or remove");
  }
  if (!S_ISREG(st.st_mode)) return ObjectNotFound(bucket, name);
  // unlinkat removes the entry of a folder opened without links; it never follows the name.
  if (::unlinkat(folder->get(), leaf_name.c_str(), 0) != 0) {
    if (errno == ENOENT) return ObjectNotFound(bucket, name);
    return Internal("cannot remove gs://" + bucket + "/" + name + ": " + std::strerror(errno));
  }
  file_metadata_.erase(bucket + "/" + name);
  return OkStatus();
}

Result<std::shared_ptr<const UniqueFd>> ObjectStore::FileHandle(const StoredObject& object) const {
  if (object.file) return object.file;
  // A listed object carries no descriptor: open it now, and serve it only if it is still the file that
  // was listed.
  auto file = OpenFileBeneath(root_dir_.get(), object.path);
  if (!file) return Unavailable("cannot open gs://" + object.bucket + "/" + object.name + ": " + file.error().message);
  if (file->st.st_ino != object.file_ino || file->st.st_dev != object.file_dev ||
      std::max<std::int64_t>(1, MicrosOf(file->st.st_mtim)) != object.generation ||
      static_cast<std::uint64_t>(file->st.st_size) != object.size) {
    return Unavailable("gs://" + object.bucket + "/" + object.name + " changed since it was listed");
  }
  return std::make_shared<const UniqueFd>(std::move(file->fd));
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
      auto handle = FileHandle(object);
      if (!handle) return handle.error();
      return ReadAt((*handle)->get(), "gs://" + object.bucket + "/" + object.name, offset, dest, size);
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
  std::shared_ptr<const UniqueFd> handle;
  if (object.kind == ContentKind::kFile) {
    auto opened = FileHandle(object);
    if (!opened) return {};
    handle = std::move(*opened);
  }
  std::uint32_t crc = 0;
  Md5 md5;
  std::string buffer(std::min<std::uint64_t>(object.size, 1 << 20), '\0');
  for (std::uint64_t offset = 0; offset < object.size;) {
    const std::uint64_t n = std::min<std::uint64_t>(buffer.size(), object.size - offset);
    const Status read =
        handle ? ReadAt(handle->get(), object.path, offset, buffer.data(), n) : Read(object, offset, buffer.data(), n);
    if (!read) return {};
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
