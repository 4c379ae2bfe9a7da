// The fake GCS server's objects: in memory, backed by a directory, or synthetic.
//
// Synthetic objects hold no bytes: their content is FillSynthetic(ObjectSeed(bucket, name,
// generation), ...), the same pure function the simulator and the engine's tests check against, so a
// 1 TiB object costs nothing. Directory-backed buckets are the first-level folders of a root; an
// object is a file below it, named by its relative path. Names that could leave the root (`..`
// segments, absolute paths, empty segments, NUL) are refused before the file system is touched.
//
// Whole-object hashes (CRC32C, MD5) are computed when first asked for and kept; objects larger than
// `hash_limit` get none, as GCS composite objects have no MD5 (we drop CRC32C too, and say so in the
// metadata by leaving the fields out), so metadata of a 1 TiB synthetic object stays instant.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/result.h"

namespace pflab::fake_gcs {

/// Where an object version's bytes live.
enum class ContentKind { kMemory, kSynthetic, kFile };

/// Whole-object checksums; empty when the object is over the store's hash limit.
struct ObjectHashes {
  std::optional<std::uint32_t> crc32c;
  std::optional<std::string> md5_base64;
};

/// One object version. Immutable once stored: an overwrite stores a new version.
struct StoredObject {
  std::string bucket;
  std::string name;
  std::int64_t generation = 1;
  std::int64_t metageneration = 1;
  std::uint64_t size = 0;
  std::string content_type = "application/octet-stream";
  std::int64_t created_unix_ms = 0;
  ContentKind kind = ContentKind::kMemory;
  std::shared_ptr<const std::string> data;  // kMemory
  std::uint64_t synthetic_seed = 0;         // kSynthetic
  std::string path;                         // kFile
};
using ObjectPtr = std::shared_ptr<const StoredObject>;

/// Options of ObjectStore.
struct StoreOptions {
  std::uint64_t hash_limit = 256ull << 20;  // no hashes for larger objects
};

/// Checks an object name as GCS and our directory backing need it; the error says what is wrong.
Status ValidateObjectName(const std::string& name);

/// Thread-safe store of buckets and objects.
class ObjectStore {
 public:
  explicit ObjectStore(StoreOptions options = {}) : options_(options) {}

  /// Serves each sub-folder of `dir` as a bucket; uploads to those buckets write files there.
  Status SetRoot(const std::string& dir);
  void CreateBucket(const std::string& bucket);
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
  /// An upload: writes a file in a directory-backed bucket, else stores in memory. With
  /// `if_generation_match`, fails with kFailedPrecondition unless the live generation equals it (0:
  /// the object must not exist).
  Result<ObjectPtr> Upload(const std::string& bucket, const std::string& name, std::string data,
                           std::string content_type, std::optional<std::int64_t> if_generation_match);
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
  Result<ObjectPtr> FileObject(const std::string& bucket, const std::string& name) const;
  bool IsDirBucket(const std::string& bucket) const;

  StoreOptions options_;
  mutable std::mutex mutex_;
  std::string root_;
  std::map<std::string, std::map<std::string, ObjectPtr>> buckets_;  // memory and synthetic objects
  std::int64_t last_generation_ = 0;
  mutable std::map<std::string, ObjectHashes> hashes_;  // key: bucket/name#generation
};

}  // namespace pflab::fake_gcs
