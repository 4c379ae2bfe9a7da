#include "engine/buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "engine/sanitizers.h"

namespace pflab {

namespace {

constexpr std::uint64_t kHugePage = 2ull << 20;

// Chunks with payloads are made on the engine's thread, but HTTP workers may drop the last reference.
std::atomic<std::uint64_t> payload_bytes{0};
std::atomic<std::uint64_t> payload_limit{0};  // 0: the default

std::uint64_t DefaultPayloadLimit() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;  // unknown: no limit of ours
  return static_cast<std::uint64_t>(pages) / 4 * 3 * static_cast<std::uint64_t>(page);
}

std::uint64_t Rounded(std::uint64_t size) {
  return (size + kHugePage - 1) / kHugePage * kHugePage;
}

constexpr bool kPool = kRecycleFreedMemory;

// Freed large payloads kept for reuse, up to 1 GiB in all: a fresh buffer costs a first-touch page
// fault per page, which on a virtual machine took longer than receiving the bytes over loopback.
struct PayloadPool {
  static constexpr std::uint64_t kCap = 1ull << 30;
  std::mutex mutex;
  std::multimap<std::uint64_t, void*> free;  // by rounded size
  std::uint64_t bytes = 0;

  ~PayloadPool() {
    for (auto& [size, p] : free) std::free(p);
  }
  void* Take(std::uint64_t rounded) {
    std::lock_guard lock(mutex);
    auto it = free.find(rounded);
    if (it == free.end()) return nullptr;
    void* p = it->second;
    free.erase(it);
    bytes -= rounded;
    return p;
  }
  bool Give(std::uint64_t rounded, void* p) {
    std::lock_guard lock(mutex);
    if (bytes + rounded > kCap) return false;
    free.emplace(rounded, p);
    bytes += rounded;
    return true;
  }
};

PayloadPool& Pool() {
  static auto* pool = new PayloadPool;  // never destroyed: chunks may be freed during static teardown
  return *pool;
}

// Large payloads are also backed by transparent huge pages where the kernel allows them (madvise
// mode), so even a fresh one faults once per 2 MiB rather than per 4 KiB.
std::byte* AllocateBytes(std::uint64_t size) {
  if (size >= kHugePage) {
    const std::uint64_t rounded = Rounded(size);
    if (kPool) {
      if (void* p = Pool().Take(rounded)) return static_cast<std::byte*>(p);
    }
    if (void* p = std::aligned_alloc(kHugePage, rounded)) {
      ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
      return static_cast<std::byte*>(p);
    }
    throw std::bad_alloc();
  }
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<std::byte*>(p);
}

std::byte* AllocatePayload(std::uint64_t size) {
  std::byte* p = AllocateBytes(size);
  payload_bytes += size;  // FreePayload takes it back
  return p;
}

// Chunk objects freed on a thread, kept for its next ones: a simulated read makes and frees one, and
// malloc and free were 6% of the cheapest replay's instructions. A list through the freed blocks,
// bounded; plain data, so a chunk freed during the thread's (or the process's) teardown still finds
// it, closed by then (given back when the thread's other thread-locals go).
struct ChunkFreeList {
  static constexpr std::uint32_t kCap = 1024;
  void* head = nullptr;
  std::uint32_t count = 0;
  bool closed = false;
};
thread_local ChunkFreeList chunk_free_list;

struct ChunkFreeListCloser {
  ~ChunkFreeListCloser() {
    ChunkFreeList& list = chunk_free_list;
    list.closed = true;
    while (list.head != nullptr) {
      void* next = *static_cast<void**>(list.head);
      ::operator delete(list.head);
      list.head = next;
    }
    list.count = 0;
  }
};
thread_local ChunkFreeListCloser chunk_free_list_closer;

}  // namespace

void* Chunk::operator new(std::size_t bytes) {
  ChunkFreeList& list = chunk_free_list;
  if (kPool && list.head != nullptr && bytes == sizeof(Chunk)) {
    void* p = list.head;
    list.head = *static_cast<void**>(p);
    --list.count;
    return p;
  }
  return ::operator new(bytes);
}

void Chunk::operator delete(void* p) {
  ChunkFreeList& list = chunk_free_list;
  if (kPool && p != nullptr && !list.closed && list.count < ChunkFreeList::kCap) {
    if (list.count == 0) (void)&chunk_free_list_closer;  // registers the thread's closer
    *static_cast<void**>(p) = list.head;
    list.head = p;
    ++list.count;
    return;
  }
  ::operator delete(p);
}

std::uint64_t PayloadLimit() {
  const std::uint64_t set = payload_limit.load();
  if (set != 0) return set;
  static const std::uint64_t fallback = DefaultPayloadLimit();
  return fallback;
}

void SetPayloadLimit(std::uint64_t bytes) {
  payload_limit = bytes;
}

std::uint64_t PayloadBytes() {
  return payload_bytes.load();
}

void Chunk::FreePayload::operator()(std::byte* p) const {
  if (p != nullptr) payload_bytes -= size;
  if (kPool && size >= kHugePage && Pool().Give(Rounded(size), p)) return;
  std::free(p);
}

MemoryAccount* MemoryAccount::NewChild() {
  auto child = std::make_unique<MemoryAccount>();
  child->parent_ = this;
  children_.push_back(std::move(child));
  return children_.back().get();
}

std::uint64_t MemoryAccount::max_child_peak_bytes() const {
  std::uint64_t peak = 0;
  for (const auto& child : children_) peak = std::max(peak, child->peak_bytes());
  return peak;
}

ChunkRef Chunk::Make(std::uint64_t size, bool with_payload, MemoryAccount* account) {
  return ChunkRef(new Chunk(size, with_payload, account));
}

ChunkRef Chunk::TryMake(std::uint64_t size, bool with_payload, MemoryAccount* account) {
  if (with_payload) {
    const std::uint64_t limit = PayloadLimit();
    const std::uint64_t held = PayloadBytes();
    if (held > limit || size > limit - held) return {};
  }
  try {
    return Make(size, with_payload, account);
  } catch (const std::bad_alloc&) {
    return {};  // the limit is ours; the system may have less to give
  }
}

Chunk::Chunk(std::uint64_t size, bool with_payload, MemoryAccount* account)
    : size_(size), data_(with_payload ? AllocatePayload(size) : nullptr, FreePayload{size}), account_(account) {
  if (account_) account_->Allocate(size_);
}

Chunk::~Chunk() = default;

void Chunk::Release() {
  if (hook_) {
    // A hook may take a reference of its own while it runs (a WeakChunkRef locked); none outlives it.
    ++refs_;
    hook_->OnRelease(*this);
    hook_.reset();
    --refs_;
  }
  if (account_) account_->Release(size_, filled_, delivered());
  if (weak_refs_ == 0) {
    delete this;
    return;
  }
  // Weak references remain: keep the counts, give back the bytes.
  account_ = nullptr;
  data_.reset();
  provenance_ = {};
  delivered_ = {};
  delivered_many_.reset();
  delivered_bytes_ = 0;
}

WeakChunkRef::WeakChunkRef(const ChunkRef& strong) noexcept : chunk_(strong.chunk_) {
  if (chunk_) ++chunk_->weak_refs_;
}

WeakChunkRef::WeakChunkRef(const WeakChunkRef& other) noexcept : chunk_(other.chunk_) {
  if (chunk_) ++chunk_->weak_refs_;
}

WeakChunkRef::~WeakChunkRef() {
  if (chunk_ && --chunk_->weak_refs_ == 0 && chunk_->refs_ == 0) delete chunk_;
}

ChunkRef WeakChunkRef::lock() const {
  if (!chunk_ || chunk_->refs_ == 0) return ChunkRef();
  ++chunk_->refs_;
  return ChunkRef(chunk_);
}

void Chunk::MarkDelivered(std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return;
  // Merge r into the sorted, disjoint intervals: every one it overlaps or touches goes into it.
  ByteRange r{offset, offset + length};
  if (delivered_many_) {
    delivered_bytes_ += delivered_many_->Add(r);
    return;
  }
  // The common cases need no search and no insertion: a chunk's first delivery, and one that continues
  // or overlaps only its last interval (a chunk read front to back). Intervals are disjoint and never
  // touch, so a range starting inside or at the end of the last one meets no other.
  if (delivered_.empty()) {
    delivered_.push_back(r);
    delivered_bytes_ += length;
    return;
  }
  ByteRange& last = delivered_.back();
  if (last.begin <= r.begin && r.begin <= last.end) {
    if (r.end > last.end) {
      delivered_bytes_ += r.end - last.end;
      last.end = r.end;
    }
    return;
  }
  std::uint64_t had = 0;  // bytes of r already delivered
  auto it = std::lower_bound(delivered_.begin(), delivered_.end(), r.begin,
                             [](const ByteRange& d, std::uint64_t at) { return d.end < at; });
  auto first = it;
  while (it != delivered_.end() && it->begin <= r.end) {
    had += it->size();
    r = {std::min(r.begin, it->begin), std::max(r.end, it->end)};
    ++it;
  }
  it = delivered_.erase(first, it);
  delivered_.insert(it, r);
  delivered_bytes_ += r.size() - had;
  // Past a few dozen entries an insertion's move costs more than the blocked set's search.
  constexpr std::size_t kInline = 32;
  if (delivered_.size() > kInline) {
    delivered_many_ = std::make_unique<IntervalSet>();
    for (const ByteRange& d : delivered_) delivered_many_->Add(d);
    delivered_ = {};
  }
}

std::vector<ByteRange> Chunk::delivered_ranges() const {
  if (!delivered_many_) return {delivered_.begin(), delivered_.end()};
  return delivered_many_->ranges();
}

std::uint64_t TotalLength(const Slices& slices) {
  std::uint64_t total = 0;
  for (const auto& s : slices) total += s.length;
  return total;
}

Slices SubSlices(const Slices& slices, std::uint64_t skip, std::uint64_t len) {
  Slices out;
  for (const auto& s : slices) {
    if (len == 0) break;
    if (skip >= s.length) {
      skip -= s.length;
      continue;
    }
    std::uint64_t take = std::min(len, s.length - skip);
    out.push_back(s.Sub(skip, take));
    len -= take;
    skip = 0;
  }
  return out;
}

std::string CopyToString(const Slices& slices) {
  std::string out;
  out.reserve(TotalLength(slices));
  for (const auto& s : slices) {
    assert(s.data() != nullptr);
    out.append(reinterpret_cast<const char*>(s.data()), s.length);
  }
  return out;
}

void MarkDelivered(const Slices& slices) {
  // Slices that continue one another in one chunk are marked as one range: a read made of many small
  // pieces of a part (Mountpoint's queue) would otherwise merge each into the chunk's intervals.
  auto it = slices.begin();
  while (it != slices.end()) {
    Chunk* chunk = it->chunk.get();
    const std::uint64_t offset = it->offset;
    std::uint64_t end = offset + it->length;
    for (auto prev = it++; it != slices.end() && prev->ContinuedBy(*it); prev = it++) end += it->length;
    chunk->MarkDelivered(offset, end - offset);
  }
}

}  // namespace pflab
