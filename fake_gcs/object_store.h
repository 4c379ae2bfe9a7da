// The fake GCS server's objects: in memory, backed by a directory, or synthetic.
//
// Synthetic objects hold no bytes: their content is FillSynthetic(ObjectSeed(bucket, name,
// generation), ...), the same pure function the simulator and the engine's tests check against, so a
// 1 TiB object costs nothing. Directory-backed buckets are the first-level folders of a root; an
// object is a file below it, named by its relative path. Names that could leave the root (`..`
// segments, absolute paths, empty segments, NUL) are refused before the file system is touched, and
// every path below the root is resolved without following a symbolic link (confined_dir.h): a link,
// wherever it points, is not an object, not a bucket and not a folder to list, write or delete through.
//
// Writes are atomic: an upload's bytes go to a hidden staging file (`.pflab-upload-PID-RANDOM` at the
// top of the bucket's folder) or a memory buffer, and become the object only at Commit (a rename, or
// one map update). Metadata a directory cannot hold (content type, custom metadata, metageneration)
// is kept in memory per object generation, and lost when the server stops.
//
// Whole-object hashes (CRC32C, MD5) are computed when first asked for and kept; objects larger than
// `hash_limit` get none, as GCS composite objects have no MD5 (we drop CRC32C too, and say so in the
// metadata by leaving the fields out), so metadata of a 1 TiB synthetic object stays instant.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"
#include "fake_gcs/confined_dir.h"

namespace pflab::fake_gcs {

/// Where an object version's bytes live.
enum class ContentKind { kMemory, kSynthetic, kFile };

/// Whole-object checksums; empty when the object is over the store's hash limit.
struct ObjectHashes {
  std::optional<std::uint32_t> crc32c;
  std::optional<std::string> md5_base64;
};

/// The writable metadata of an object (what objects.patch may change).
struct ObjectAttributes {
  std::string content_type = "application/octet-stream";
  std::string content_encoding;
  std::string content_disposition;
  std::string content_language;
  std::string cache_control;
  std::map<std::string, std::string> metadata;  // custom key/value metadata
};

/// One object version. Immutable once stored: an overwrite stores a new version, a patch a new
/// metageneration of the same version.
struct StoredObject {
  std::string bucket;
  std::string name;
  std::int64_t generation = 1;
  std::int64_t metageneration = 1;
  std::uint64_t size = 0;
  ObjectAttributes attributes;
  std::int64_t created_unix_ms = 0;
  std::int64_t updated_unix_ms = 0;  // metadata's last change
  ContentKind kind = ContentKind::kMemory;
  std::shared_ptr<const std::string> data;  // kMemory
  std::uint64_t synthetic_seed = 0;         // kSynthetic
  // kFile: the path below the root ("bucket/name"), the identity of the file it was resolved to, and,
  // for objects from Get, the open descriptor every read of this version goes through.
  std::string path;
  dev_t file_dev = 0;
  ino_t file_ino = 0;
  std::shared_ptr<const UniqueFd> file;
};
using ObjectPtr = std::shared_ptr<const StoredObject>;

/// Conditions on the live version of an object, as the JSON API's if(Meta)generation(Not)Match
/// parameters; generation 0 stands for "no live object".
struct Preconditions {
  std::optional<std::int64_t> if_generation_match;
  std::optional<std::int64_t> if_generation_not_match;
  std::optional<std::int64_t> if_metageneration_match;
  std::optional<std::int64_t> if_metageneration_not_match;
};

/// kFailedPrecondition naming the condition that `live` (null: no live object) fails, else OK.
Status CheckPreconditions(const Preconditions& conditions, const StoredObject* live, const std::string& what);

/// Options of ObjectStore.
struct StoreOptions {
  std::uint64_t hash_limit = 256ull << 20;  // no hashes for larger objects
};

/// Checks an object name as GCS and our directory backing need it; the error says what is wrong.
Status ValidateObjectName(const std::string& name);

/// The bytes of one upload in progress (see ObjectStore::Stage). Nothing is visible until
/// ObjectStore::Commit; destroying one that was not committed removes its staging file.
class StagedUpload {
 public:
  ~StagedUpload();
  StagedUpload(const StagedUpload&) = delete;
  StagedUpload& operator=(const StagedUpload&) = delete;

  const std::string& bucket() const { return bucket_; }
  const std::string& name() const { return name_; }
  std::uint64_t size() const { return size_; }
  /// Appends bytes at the end.
  Status Append(std::string_view data);

 private:
  friend class ObjectStore;
  StagedUpload() = default;

  std::string bucket_;
  std::string name_;
  std::uint64_t size_ = 0;
  bool committed_ = false;
  std::string memory_;              // in-memory buckets
  UniqueFd bucket_dir_;             // directory-backed buckets: the bucket's folder,
  std::string staging_name_;        // the staging file's name in it,
  std::shared_ptr<UniqueFd> file_;  // and the staging file (read-write: it serves reads once committed)
};

/// Thread-safe store of buckets and objects.
class ObjectStore {
 public:
  explicit ObjectStore(StoreOptions options = {}) : options_(options) {}

  /// Serves each sub-folder of `dir` as a bucket; uploads to those buckets write files there. Staging
  /// files a crashed server left at the top of a bucket folder (their process is gone) are removed.
  Status SetRoot(const std::string& dir);
  /// Creates an empty in-memory bucket (the C++ API and `pflab serve --bucket`).
  void CreateBucket(const std::string& bucket);
  /// buckets.insert: a new folder under the root when there is one, else an in-memory bucket.
  /// kFailedPrecondition when the name is taken (by a bucket, or by a file or link in the root).
  Status InsertBucket(const std::string& bucket);
  bool HasBucket(const std::string& bucket) const;
  std::vector<std::string> Buckets() const;

  /// Adds or replaces an in-memory object; generation 0 picks the next one (increasing).
  Result<ObjectPtr> PutMemory(const std::string& bucket, const std::string& name, std::string data,
                              std::string content_type = "application/octet-stream", std::int64_t generation = 0);
  /// Largest synthetic object: 2^50 bytes (1 PiB), the trace limit (traces/limits.h), so range
  /// arithmetic on it never nears 2^64.
  static constexpr std::uint64_t kMaxSyntheticSize = std::uint64_t{1} << 50;
  /// Adds or replaces a synthetic object (its bucket is created when missing); at most kMaxSyntheticSize.
  Result<ObjectPtr> PutSynthetic(const std::string& bucket, const std::string& name, std::uint64_t size,
                                 std::int64_t generation = 1);

  /// Starts an upload: a staging file in a directory-backed bucket, else a memory buffer.
  Result<std::unique_ptr<StagedUpload>> Stage(const std::string& bucket, const std::string& name);
  /// Makes the staged bytes the live version, if `conditions` hold for the live one at that moment
  /// (kFailedPrecondition otherwise, and nothing changes).
  Result<ObjectPtr> Commit(StagedUpload& staged, ObjectAttributes attributes, const Preconditions& conditions);
  /// A single-request upload: Stage, Append, Commit.
  Result<ObjectPtr> Upload(const std::string& bucket, const std::string& name, std::string data,
                           ObjectAttributes attributes, const Preconditions& conditions);
  /// objects.patch: `edit` changes the live version's attributes (or the given generation's, which must
  /// be live); the metageneration goes up by one.
  Result<ObjectPtr> Patch(const std::string& bucket, const std::string& name, std::optional<std::int64_t> generation,
                          const Preconditions& conditions, const std::function<Status(ObjectAttributes&)>& edit);
  /// Copies `source`'s bytes to a new version of `bucket`/`name` with `attributes`. In memory, bytes
  /// are shared (a synthetic source stays synthetic); into a folder they are written, at most
  /// `max_bytes` of them (kInvalidArgument beyond).
  Result<ObjectPtr> Copy(const StoredObject& source, const std::string& bucket, const std::string& name,
                         ObjectAttributes attributes, const Preconditions& conditions, std::uint64_t max_bytes);
  Status Delete(const std::string& bucket, const std::string& name);

  /// The live version, or the given generation (kNotFound when it is not the live one).
  Result<ObjectPtr> Get(const std::string& bucket, const std::string& name,
                        std::optional<std::int64_t> generation = std::nullopt) const;
  /// Every live object of a bucket whose name starts with `prefix`, sorted by name.
  Result<std::vector<ObjectPtr>> List(const std::string& bucket, const std::string& prefix) const;

  /// Copies `size` bytes from `offset` of the object into `dest` (the range must lie inside it).
  Status Read(const StoredObject& object, std::uint64_t offset, char* dest, std::uint64_t size) const;
  /// Whole-object hashes, computed on first use.
  ObjectHashes Hashes(const StoredObject& object) const;

 private:
  struct FileMetadata {  // what a folder cannot hold, per object generation
    std::int64_t generation = 0;
    std::int64_t metageneration = 1;
    std::int64_t updated_unix_ms = 0;
    ObjectAttributes attributes;
  };

  Result<ObjectPtr> GetLocked(const std::string& bucket, const std::string& name) const;
  Result<ObjectPtr> FileObject(const std::string& bucket, const std::string& name) const;
  ObjectPtr FileObjectFrom(const std::string& bucket, const std::string& name, const struct stat& st,
                           std::shared_ptr<const UniqueFd> file) const;
  Result<std::shared_ptr<const UniqueFd>> FileHandle(const StoredObject& object) const;
  bool IsDirBucket(const std::string& bucket) const;
  bool StagesInFolder(const std::string& bucket, const std::string& name) const;
  Result<ObjectPtr> InsertMemory(std::shared_ptr<StoredObject> object, const Preconditions& conditions);
  void RemoveStaleStagingFiles();

  StoreOptions options_;
  mutable std::mutex mutex_;
  std::string root_;
  UniqueFd root_dir_;
  std::map<std::string, std::map<std::string, ObjectPtr>> buckets_;  // memory and synthetic objects
  std::int64_t last_generation_ = 0;
  std::map<std::string, FileMetadata> file_metadata_;   // key: bucket/name
  mutable std::map<std::string, ObjectHashes> hashes_;  // key: bucket/name#generation
};

}  // namespace pflab::fake_gcs
