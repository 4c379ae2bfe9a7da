// Zero-copy buffers: refcounted immutable chunks and slices that view them.
//
// A chunk is allocated once per backend fetch, filled in place by the transport (parts of a concurrent
// fetch write straight into their final position), and then only read. Every layer above passes
// `Slice`s that share the chunk; bytes are copied only when a caller asks for contiguous bytes.
//
// In simulation a chunk carries no payload (length only), so the simulator moves no bytes but all the
// accounting still happens: every chunk is charged to a `MemoryAccount` while it lives, and remembers
// which of its bytes reached the application, so "bytes wasted" (fetched, never delivered) is exact.
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/byte_range.h"
#include "engine/interval_set.h"

namespace pflab {

/// Memory and usefulness ledger shared by all chunks of one run.
///
/// A run's account can hand out child accounts (NewChild), one per stack (per open file): a chunk
/// charged to a child is charged to the run's account too, so the run's numbers are the same whether
/// or not its stacks have children, and a child's `held_bytes()` is the engine's own count of what one
/// open file holds. Children live as long as their parent, which outlives every chunk of the run.
class MemoryAccount {
 public:
  MemoryAccount() = default;
  MemoryAccount(const MemoryAccount&) = delete;
  MemoryAccount& operator=(const MemoryAccount&) = delete;

  void Allocate(std::uint64_t bytes) {
    held_bytes_ += bytes;
    if (held_bytes_ > peak_bytes_) peak_bytes_ = held_bytes_;
    if (parent_) parent_->Allocate(bytes);
  }
  void Release(std::uint64_t bytes, std::uint64_t filled, std::uint64_t delivered) {
    held_bytes_ -= bytes;
    filled_bytes_ += filled;
    delivered_bytes_ += delivered;
    if (parent_) parent_->Release(bytes, filled, delivered);
  }

  /// Bytes that crossed the network but never reached a chunk (what a stream had received beyond its
  /// last pull when it was closed): fetched, and never delivered.
  void AddUnkept(std::uint64_t bytes) {
    filled_bytes_ += bytes;
    if (parent_) parent_->AddUnkept(bytes);
  }

  /// A new account owned by this one whose charges also go to this one.
  MemoryAccount* NewChild();
  /// The highest peak of any child account (0 without children).
  std::uint64_t max_child_peak_bytes() const;
  /// Bytes a layer requests again after dropping them because its memory budget could not keep
  /// them until their next read (the oracle reports these; other layers do not count them).
  void AddRefetched(std::uint64_t bytes) {
    refetched_bytes_ += bytes;
    if (parent_) parent_->AddRefetched(bytes);
  }

  std::uint64_t held_bytes() const { return held_bytes_; }
  std::uint64_t peak_bytes() const { return peak_bytes_; }
  /// Bytes written into chunks that have since been released, and unkept bytes.
  std::uint64_t released_filled_bytes() const { return filled_bytes_; }
  /// Distinct bytes of released chunks that were delivered to the application at least once.
  std::uint64_t released_delivered_bytes() const { return delivered_bytes_; }
  std::uint64_t refetched_bytes() const { return refetched_bytes_; }

 private:
  std::uint64_t held_bytes_ = 0;
  std::uint64_t peak_bytes_ = 0;
  std::uint64_t filled_bytes_ = 0;
  std::uint64_t delivered_bytes_ = 0;
  std::uint64_t refetched_bytes_ = 0;
  MemoryAccount* parent_ = nullptr;
  std::vector<std::unique_ptr<MemoryAccount>> children_;
};

/// Where some of a chunk's bytes came from, recorded instead of the bytes themselves: bytes
/// [chunk_offset, chunk_offset + length) of the chunk are bytes [object_offset, object_offset + length)
/// of the object whose synthetic content has `object_seed` (engine/synthetic_content.h). Since that
/// content is a pure function of (seed, offset), checking provenance checks the bytes, in memory that
/// grows with the number of fills instead of the bytes fetched.
struct Provenance {
  std::uint64_t chunk_offset = 0;
  std::uint64_t length = 0;
  std::uint64_t object_seed = 0;
  std::uint64_t object_offset = 0;
};

class Chunk;

/// A counted reference to a Chunk, as ChunkRef was, with a plain (non-atomic) count.
///
/// Every simulated read copies and drops chunk references several times; once a process has started a
/// thread (a sweep's --jobs, Python workers, HTTP workers), libstdc++ makes each std::shared_ptr count
/// change a locked instruction, which was a measurable share of a sweep's CPU time (docs/performance.md).
/// Chunks report to their run's single-threaded MemoryAccount when released, so references were already
/// made, copied and dropped on the engine's thread only; that is the contract here too. Other threads may
/// write a chunk's bytes (HttpTransport's workers) and move a reference they were handed, never copy or
/// drop one.
class ChunkRef {
 public:
  ChunkRef() = default;
  ChunkRef(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): as a null shared_ptr converts
  ChunkRef(const ChunkRef& other) noexcept;
  ChunkRef(ChunkRef&& other) noexcept : chunk_(std::exchange(other.chunk_, nullptr)) {}
  ChunkRef& operator=(ChunkRef other) noexcept {
    std::swap(chunk_, other.chunk_);
    return *this;
  }
  ~ChunkRef();

  Chunk* get() const { return chunk_; }
  Chunk* operator->() const { return chunk_; }
  Chunk& operator*() const { return *chunk_; }
  explicit operator bool() const { return chunk_ != nullptr; }
  void reset() { ChunkRef().swap(*this); }
  void swap(ChunkRef& other) noexcept { std::swap(chunk_, other.chunk_); }
  friend bool operator==(const ChunkRef& a, const ChunkRef& b) { return a.chunk_ == b.chunk_; }
  friend bool operator==(const ChunkRef& a, std::nullptr_t) { return a.chunk_ == nullptr; }

 private:
  friend class Chunk;
  friend class WeakChunkRef;
  explicit ChunkRef(Chunk* adopted) : chunk_(adopted) {}  // takes a reference already counted
  Chunk* chunk_ = nullptr;
};

/// A reference that does not keep a chunk's memory charged or its release hook waiting: lock() gives a
/// ChunkRef while some ChunkRef still holds the chunk, else null. Same threading contract as ChunkRef.
class WeakChunkRef {
 public:
  WeakChunkRef() = default;
  WeakChunkRef(const ChunkRef& strong) noexcept;  // NOLINT(google-explicit-constructor): as weak_ptr
  WeakChunkRef(const WeakChunkRef& other) noexcept;
  WeakChunkRef(WeakChunkRef&& other) noexcept : chunk_(std::exchange(other.chunk_, nullptr)) {}
  WeakChunkRef& operator=(WeakChunkRef other) noexcept {
    std::swap(chunk_, other.chunk_);
    return *this;
  }
  ~WeakChunkRef();

  ChunkRef lock() const;

 private:
  Chunk* chunk_ = nullptr;
};

/// Runs when a chunk's last ChunkRef goes, before the chunk reports to its account: a layer that made
/// the chunk can settle what it charged for it (see plugins/plugin_layer.cc).
class ChunkReleaseHook {
 public:
  virtual ~ChunkReleaseHook() = default;
  virtual void OnRelease(const Chunk& chunk) = 0;
};

/// Bytes the process's chunk payloads (real bytes: fake server and live runs; simulated chunks have
/// none) may hold at once: three quarters of physical memory unless set. Past it a fetcher fails the
/// read that would need more (kResourceExhausted) rather than the process dying of a failed
/// allocation or the kernel's OOM killer (a policy may ask for a hinted range of 28 GiB at once).
std::uint64_t PayloadLimit();
void SetPayloadLimit(std::uint64_t bytes);  // for tests; 0: back to the default
/// Bytes the live payloads hold now.
std::uint64_t PayloadBytes();

/// A fixed-size byte buffer, filled once by a transport and shared read-only afterwards.
class Chunk {
 public:
  /// `with_payload=false` makes a length-only chunk for simulation.
  static ChunkRef Make(std::uint64_t size, bool with_payload, MemoryAccount* account);
  /// Make, or null (nothing allocated) when a payload would take the process's payloads past
  /// PayloadLimit() or cannot be allocated: for fetches whose size a policy chose.
  static ChunkRef TryMake(std::uint64_t size, bool with_payload, MemoryAccount* account);
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;

  std::uint64_t size() const { return size_; }
  bool has_payload() const { return data_ != nullptr; }
  const std::byte* data() const { return data_.get(); }
  std::byte* mutable_data() { return data_.get(); }

  /// Called by the transport as bytes land (also for partial, cancelled transfers).
  void AddFilled(std::uint64_t bytes) { filled_ += bytes; }
  std::uint64_t filled() const { return filled_; }
  /// Records that [offset, offset+length) of this chunk reached the application.
  void MarkDelivered(std::uint64_t offset, std::uint64_t length);
  /// Which of its bytes reached the application: disjoint, sorted (a policy that copies bytes credits
  /// what was delivered of its copy to the chunks it copied from).
  std::vector<ByteRange> delivered_ranges() const;
  /// Distinct delivered bytes so far.
  std::uint64_t delivered() const { return delivered_bytes_; }

  /// Records a fill by provenance (the simulator checking bytes without moving them); later records
  /// overwrite earlier ones where they overlap, as later writes of bytes would.
  void AddProvenance(const Provenance& p) { provenance_.push_back(p); }
  /// Every fill recorded, in order.
  const std::vector<Provenance>& provenance() const { return provenance_; }

  /// Sets what runs when the last ChunkRef goes (at most one hook per chunk).
  void SetReleaseHook(std::unique_ptr<ChunkReleaseHook> hook) { hook_ = std::move(hook); }

 private:
  friend class ChunkRef;
  friend class WeakChunkRef;
  Chunk(std::uint64_t size, bool with_payload, MemoryAccount* account);
  ~Chunk();
  // Every fetch makes a chunk and every release frees one: their memory is recycled per thread
  // (buffer.cc) instead of going through malloc each time.
  static void* operator new(std::size_t bytes);
  static void operator delete(void* p);
  // The last ChunkRef went: run the hook, report to the account, free the payload; the chunk's own
  // memory goes with the last reference of either kind.
  void Release();

  std::uint32_t refs_ = 1;  // ChunkRefs; the chunk is released when this reaches 0
  std::uint32_t weak_refs_ = 0;
  std::uint64_t size_;
  struct FreePayload {
    std::uint64_t size = 0;
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte[], FreePayload> data_;
  MemoryAccount* account_;
  std::uint64_t filled_ = 0;
  // Delivered intervals, kept merged and sorted: inline while there are few (almost always one or
  // two), in an IntervalSet once there are many, as in a whole object read at random places, where
  // each insertion into the sorted vector would move every entry after it.
  boost::container::small_vector<ByteRange, 2> delivered_;
  std::unique_ptr<IntervalSet> delivered_many_;
  std::uint64_t delivered_bytes_ = 0;
  std::vector<Provenance> provenance_;  // empty unless the transport records provenance
  std::unique_ptr<ChunkReleaseHook> hook_;
};

inline ChunkRef::ChunkRef(const ChunkRef& other) noexcept : chunk_(other.chunk_) {
  if (chunk_) ++chunk_->refs_;
}
inline ChunkRef::~ChunkRef() {
  if (chunk_ && --chunk_->refs_ == 0) chunk_->Release();
}

/// A view of [offset, offset+length) of a chunk. Cheap to copy (one refcount).
struct Slice {
  ChunkRef chunk;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;

  Slice Sub(std::uint64_t skip, std::uint64_t len) const { return Slice{chunk, offset + skip, len}; }
  /// Whether `next` starts in the same chunk where this one ends (the two are one range of it).
  bool ContinuedBy(const Slice& next) const { return chunk == next.chunk && offset + length == next.offset; }
  const std::byte* data() const { return chunk && chunk->has_payload() ? chunk->data() + offset : nullptr; }
};

/// The result of a read: a short list of slices, in order.
using Slices = boost::container::small_vector<Slice, 2>;

std::uint64_t TotalLength(const Slices& slices);
/// Returns the sub-range [skip, skip+len) of a slice list (no copy).
Slices SubSlices(const Slices& slices, std::uint64_t skip, std::uint64_t len);
/// Copies the bytes out; only valid when every chunk carries a payload.
std::string CopyToString(const Slices& slices);
/// Marks every slice as delivered to the application.
void MarkDelivered(const Slices& slices);

}  // namespace pflab
