#include "traces/binary_trace.h"

#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <istream>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "traces/limits.h"
#include "traces/trace_io.h"

namespace pflab::traces {
namespace {

constexpr std::size_t kFixedHeaderBytes = 8 + 4 + 4 + 8 + 8 + 4;
constexpr std::size_t kBlockHeaderBytes = 1 + 4 + 4 + 4;
constexpr char kReadsBlock = 'R';
constexpr char kHintsBlock = 'H';
constexpr char kEndBlock = 'E';
constexpr std::size_t kMaxVarintBytes = 10;
constexpr std::size_t kReadColumns = 7;
// Reads blocks decompress in one call (at most 65,536 x 70 bytes); larger sizes are taken in pieces.
constexpr std::size_t kPieceBytes = std::size_t{8} << 20;
// A hints block holds at most every hint with every range: bounded by the trace limits, 6 varints per
// hint and 2 per range.
constexpr std::uint64_t kMaxHintsRawBytes = (kMaxRecords * 6 + kMaxHintRanges * 2) * kMaxVarintBytes;

void PutU32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void PutU64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t GetU32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t GetU64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void PutVarint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Reads varints from a buffer followed by kMaxVarintBytes zero bytes of padding, so that the common
// one-byte case needs no bounds check: a varint running off the end stops in the padding, and the
// caller compares the position with the end after each column. A varint longer than 10 bytes, or a
// tenth byte above 1, is malformed.
class VarintReader {
 public:
  VarintReader(const std::uint8_t* begin, const std::uint8_t* end) : p_(begin), end_(end) {}
  bool Next(std::uint64_t* v) {
    std::uint8_t b = *p_++;
    if (b < 0x80) {
      *v = b;
      return true;
    }
    std::uint64_t x = b & 0x7f;
    for (int shift = 7; shift < 70; shift += 7) {
      b = *p_++;
      if (shift == 63 && b > 1) return false;
      x |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) {
        *v = x;
        return true;
      }
    }
    return false;
  }
  bool overrun() const { return p_ > end_; }
  bool at_end() const { return p_ == end_; }
  const std::uint8_t* position() const { return p_; }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

std::string Bytes(std::uint64_t n) {
  return std::to_string(n);
}

// One column of a reads block: LEB128 varints in [p, end). The block buffer has kMaxVarintBytes of zero
// padding after it and columns follow each other, so a varint that runs past its column's end reads
// bytes of the buffer (the next column or the padding) and stops within 10 bytes; Next then fails, so
// the cursor never runs further.
struct VarintColumn {
  const std::uint8_t* p = nullptr;
  const std::uint8_t* end = nullptr;

  bool Next(std::uint64_t* v) { return p < end && NextUnchecked(v) && p <= end; }
  // Next without the bounds checks, for a column with at least kMaxVarintBytes left per value taken.
  bool NextUnchecked(std::uint64_t* v) {
    std::uint8_t b = *p++;
    if (b < 0x80) {
      *v = b;
      return true;
    }
    std::uint64_t x = b & 0x7f;
    for (int shift = 7; shift < 70; shift += 7) {
      b = *p++;
      if (shift == 63 && b > 1) return false;
      x |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) {
        *v = x;
        return true;
      }
    }
    return false;
  }
  bool at_end() const { return p == end; }
};

// Reads the input block by block, keeping the byte offset for error messages.
class BinaryInput {
 public:
  BinaryInput(std::istream& in, const std::string& name) : in_(in), name_(name) {}

  Error Fail(std::uint64_t at, const std::string& what) const {
    return InvalidArgument(name_ + ": byte " + std::to_string(at) + ": " + what);
  }
  // Reads exactly n bytes into `out`, or says how many were missing.
  Status Read(void* out, std::size_t n, const char* what) {
    in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
    const auto got = static_cast<std::size_t>(in_.gcount());
    if (got != n) {
      if (in_.bad()) return Fail(offset_ + got, "read error");
      return Fail(offset_ + got, std::string("truncated ") + what + ": " + std::to_string(got) + " of " +
                                     std::to_string(n) + " bytes");
    }
    offset_ += n;
    return OkStatus();
  }
  // Reads exactly n bytes into `out`, growing it by pieces as the bytes arrive: a size the input does
  // not back never becomes an allocation.
  Status ReadGrowing(std::vector<std::uint8_t>& out, std::uint64_t n, std::size_t piece, const char* what) {
    out.clear();
    const std::uint64_t start = offset_;
    while (out.size() < n) {
      const std::size_t old = out.size();
      out.resize(old + static_cast<std::size_t>(std::min<std::uint64_t>(n - old, piece)));
      in_.read(reinterpret_cast<char*>(out.data() + old), static_cast<std::streamsize>(out.size() - old));
      const auto got = static_cast<std::size_t>(in_.gcount());
      offset_ += got;
      if (got != out.size() - old) {
        if (in_.bad()) return Fail(offset_, "read error");
        return Fail(offset_, std::string("truncated ") + what + ": " + std::to_string(offset_ - start) + " of " +
                                 std::to_string(n) + " bytes");
      }
    }
    return OkStatus();
  }
  std::uint64_t offset() const { return offset_; }
  const std::string& name() const { return name_; }

 private:
  std::istream& in_;
  const std::string& name_;
  std::uint64_t offset_ = 0;
};

// One block as read from the input: its kind, count and decompressed bytes.
struct Block {
  std::uint64_t at = 0;  // byte offset of the block header
  char kind = 0;
  std::uint32_t count = 0;
  std::uint32_t raw_bytes = 0;    // uncompressed, as the header says
  std::vector<std::uint8_t> raw;  // plus kMaxVarintBytes of zero padding
  std::size_t raw_size = 0;
};

class BinaryParser {
 public:
  BinaryParser(std::istream& in, const std::string& name, unsigned workers) : input_(in, name), workers_(workers) {}

  Result<Trace> Parse() {
    if (auto s = ReadHeader(); !s) return s.error();
    // Threads only pay off for a trace of several blocks.
    if (workers_ > 0 && declared_reads_ > kBinaryBlockReads) {
      if (auto s = ParseBlocksInParallel(); !s) return s.error();
      return Finish();
    }
    while (true) {
      auto s = ReadBlock();
      if (!s) return s.error();
      if (block_.kind == kEndBlock) break;
      if (block_.kind == kReadsBlock) {
        if (have_hints_) return input_.Fail(block_.at, "a reads block after the hints block");
        if (auto d = DecodeReads(); !d) return d.error();
      } else {
        if (have_hints_) return input_.Fail(block_.at, "a second hints block");
        have_hints_ = true;
        if (auto d = DecodeHints(); !d) return d.error();
      }
    }
    return Finish();
  }

 private:
  Result<Trace> Finish() {
    if (declared_reads_ != kBinaryCountUnknown && declared_reads_ != trace_.records.size()) {
      return input_.Fail(block_.at, "the header says " + std::to_string(declared_reads_) + " reads, the blocks hold " +
                                        std::to_string(trace_.records.size()));
    }
    if (declared_hints_ != kBinaryCountUnknown && declared_hints_ != trace_.hints.size()) {
      return input_.Fail(block_.at, "the header says " + std::to_string(declared_hints_) + " hints, the blocks hold " +
                                        std::to_string(trace_.hints.size()));
    }
    if (auto s = CheckHintsAgainstReads(); !s) return s.error();
    return std::move(trace_);
  }

  struct FreeDCtx {
    void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
  };

  // A reads block on its way through a worker: read here, decompressed and decoded there (kLocal),
  // appended here in file order.
  struct Job {
    Block block;
    std::vector<std::uint8_t> packed;
    std::vector<TraceRecord> reads;  // relative to the block's start
    std::uint64_t first = 0;         // index of its first read in the trace
    // Where its reads will go in the trace's array, when that has room for them: the worker asks the
    // kernel for those pages (see Prefault), so that this thread only copies.
    std::uintptr_t dest_begin = 0, dest_end = 0;
    Status status;  // the worker's: decompressing, then decoding
    bool decompressed = false;
    Nanos span_t = 0;            // t of its last read, relative
    std::uint64_t span_end = 0;  // end of its last read, relative (modulo 2^64)
    bool done = false;           // the workers are through with it
  };

  // Worker threads taking jobs from a queue; joined on destruction.
  class Workers {
   public:
    Workers(const BinaryParser& parser, unsigned n) : parser_(parser) {
      threads_.reserve(n);
      for (unsigned w = 0; w < n; ++w) threads_.emplace_back([this] { Run(); });
    }
    ~Workers() {
      {
        std::lock_guard lock(mu_);
        stop_ = true;
      }
      work_cv_.notify_all();
      for (auto& t : threads_) t.join();
    }
    void Submit(Job& job) {
      {
        std::lock_guard lock(mu_);
        job.done = false;
        queue_.push_back(&job);
      }
      work_cv_.notify_one();
    }
    // Waits for `job`, decoding queued jobs on this thread meanwhile: the reading thread has spare time
    // (it reads and copies at several times a worker's rate), so with two threads both decode.
    void Wait(Job& job) {
      std::unique_lock lock(mu_);
      while (!job.done) {
        if (queue_.empty()) {
          done_cv_.wait(lock);
          continue;
        }
        Job* other = queue_.front();
        queue_.pop_front();
        lock.unlock();
        if (!own_dctx_) own_dctx_.reset(ZSTD_createDCtx());
        Process(*other, own_dctx_.get());
        lock.lock();
        other->done = true;
        done_cv_.notify_all();
      }
    }

   private:
    void Run() {
      std::unique_ptr<ZSTD_DCtx, FreeDCtx> dctx(ZSTD_createDCtx());
      while (true) {
        Job* job = nullptr;
        {
          std::unique_lock lock(mu_);
          work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
          if (queue_.empty()) return;
          job = queue_.front();
          queue_.pop_front();
        }
        Process(*job, dctx.get());
        {
          std::lock_guard lock(mu_);
          job->done = true;
        }
        done_cv_.notify_all();
      }
    }

    void Process(Job& job, ZSTD_DCtx* dctx) const {
      Prefault(job.dest_begin, job.dest_end);
      job.status = parser_.Decompress(job.block, job.packed, dctx);
      job.decompressed = static_cast<bool>(job.status);
      job.reads.clear();
      job.span_t = 0;
      job.span_end = 0;
      if (job.decompressed) {
        job.status = parser_.DecodeRows</*kLocal=*/true>(job.block, job.first, job.span_t, job.span_end, job.reads);
      }
    }

    // Fresh memory costs a page fault per 4 KiB page on first touch, most of a first load's time (the
    // kernel zeroes the page and charges it): MADV_POPULATE_WRITE takes those faults here, on the
    // decoding threads, without touching the bytes, so it is safe even on memory another thread writes. It is
    // only a hint: where the kernel lacks it (before Linux 5.14) the copy takes the faults as before.
    static void Prefault(std::uintptr_t begin, std::uintptr_t end) {
      if (begin >= end) return;
      const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
      begin &= ~(page - 1);
      ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
    }

    const BinaryParser& parser_;
    std::unique_ptr<ZSTD_DCtx, FreeDCtx> own_dctx_;  // the waiting thread's
    std::mutex mu_;
    std::condition_variable work_cv_, done_cv_;
    std::deque<Job*> queue_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
  };

  // The loop of Parse with the reads blocks decompressed and decoded by `workers_` threads (and this
  // one, while it waits), as this one reads the file and appends the decoded blocks in order. The result, errors
  // included, is the loop's: a block whose relative decoding fails, or whose absolute values fail a check, is decoded
  // again here by the loop's own code, which returns the loop's error.
  Status ParseBlocksInParallel() {
    std::vector<Job> jobs(2 * workers_ + 2);
    Workers workers(*this, workers_);
    std::size_t next = 0;     // the job to fill next
    std::size_t oldest = 0;   // the oldest job handed out
    std::size_t pending = 0;  // jobs handed out and not yet appended
    bool appending = true;    // false after an append failed: the blocks after it are only waited for
    Status result = OkStatus();
    const auto take_oldest = [&] {
      Job& job = jobs[oldest];
      workers.Wait(job);
      oldest = (oldest + 1) % jobs.size();
      --pending;
      if (!appending) return;
      if (Status s = AppendLocal(job); !s) {
        appending = false;
        result = s;  // before any error met later in the file
      }
    };
    std::uint64_t dispatched = 0;  // reads in the blocks handed out
    while (result) {
      if (pending == jobs.size()) {
        take_oldest();
        continue;
      }
      Job& job = jobs[next];
      if (Status s = ReadFrame(job.block, job.packed); !s) {
        result = s;
        break;
      }
      if (job.block.kind == kReadsBlock && !have_hints_) {
        job.first = dispatched;
        dispatched += job.block.count;
        auto& records = trace_.records;
        if (records.capacity() < dispatched) Grow(dispatched);
        job.dest_begin = job.dest_end = 0;
        if (records.capacity() >= dispatched) {
          job.dest_begin = reinterpret_cast<std::uintptr_t>(records.data() + job.first);
          job.dest_end = reinterpret_cast<std::uintptr_t>(records.data() + dispatched);
        }
        workers.Submit(job);
        next = (next + 1) % jobs.size();
        ++pending;
        continue;
      }
      // Anything else is taken in order, after the reads before it, as the loop of Parse does.
      while (pending > 0 && result) take_oldest();
      if (!result) break;
      block_ = std::move(job.block);
      packed_ = std::move(job.packed);
      if (block_.kind == kEndBlock) break;
      if (!dctx_) dctx_.reset(ZSTD_createDCtx());
      if (result = Decompress(block_, packed_, dctx_.get()); !result) break;
      if (block_.kind == kReadsBlock) {
        result = input_.Fail(block_.at, "a reads block after the hints block");
      } else if (have_hints_) {
        result = input_.Fail(block_.at, "a second hints block");
      } else {
        have_hints_ = true;
        result = DecodeHints();
      }
      if (!result) break;
    }
    // An error met reading the file comes after the blocks handed out: theirs, if any, come first.
    while (pending > 0) take_oldest();
    return result;
  }

  // Appends a block decoded relative to its start, adding the time and end of the read before it and
  // checking what needs them; on any failure the block is decoded again by the sequential code, whose
  // error is the one returned.
  Status AppendLocal(Job& job) {
    const std::uint64_t first = trace_.records.size();
    if (!job.status || !CheckReadCount(job.block, first) || job.span_t > kMaxTraceNanos - last_t_) {
      return DecodeAgain(job);
    }
    const Nanos base_t = last_t_;
    const std::uint64_t base_end = last_end_;
    // In place in the job's array, just written; the trace's array then takes one copy of it.
    for (TraceRecord& r : job.reads) {
      r.t_ns += base_t;
      r.offset += base_end;  // a delta that lands before 0 wraps to far beyond any object
      const std::uint64_t size = sizes_[r.object];
      if (r.offset > size || r.length > size - r.offset ||
          (r.past_eof && !CheckAsked(r.offset, r.length, r.asked(), trace_.objects[r.object]))) {
        return DecodeAgain(job);
      }
    }
    if (trace_.records.capacity() < first + job.reads.size()) Grow(first + job.reads.size());
    trace_.records.insert(trace_.records.end(), job.reads.begin(), job.reads.end());
    last_t_ += job.span_t;
    last_end_ += job.span_end;
    return OkStatus();
  }

  Status DecodeAgain(Job& job) {
    if (!job.decompressed) return job.status;  // as the loop's, which decompresses first
    block_ = std::move(job.block);
    Status s = DecodeReads();
    if (s) throw std::logic_error("binary trace: a block the parallel decoder refused decodes sequentially");
    return s;
  }

  Status ReadHeader() {
    std::uint8_t fixed[kFixedHeaderBytes];
    if (auto s = input_.Read(fixed, sizeof fixed, "header"); !s) return s;
    if (std::memcmp(fixed, kBinaryTraceMagic, sizeof kBinaryTraceMagic) != 0) {
      return input_.Fail(0, "not a pflab binary trace (the magic bytes are not \\x89PFLTRC\\n)");
    }
    const std::uint32_t version = GetU32(fixed + 8);
    if (version != kBinaryTraceVersion) {
      return input_.Fail(8, "unsupported binary trace version " + std::to_string(version) +
                                " (this pflab reads version " + std::to_string(kBinaryTraceVersion) + ")");
    }
    if (const std::uint32_t flags = GetU32(fixed + 12); flags != 0) {
      return input_.Fail(12, "unknown flags " + std::to_string(flags) + " (version 1 has none)");
    }
    declared_reads_ = GetU64(fixed + 16);
    declared_hints_ = GetU64(fixed + 24);
    for (auto [count, at, what] :
         {std::tuple{declared_reads_, 16, "reads"}, std::tuple{declared_hints_, 24, "hints"}}) {
      if (count == kBinaryCountUnknown) continue;
      if (auto s = CheckRecordCount(count); !s) return input_.Fail(at, std::string(what) + ": " + s.error().message);
    }
    const std::uint32_t header_bytes = GetU32(fixed + 32);
    if (header_bytes > kMaxHeaderBytes) {
      return input_.Fail(32, "header of " + std::to_string(header_bytes) + " bytes is longer than the limit of " +
                                 std::to_string(kMaxHeaderBytes));
    }
    std::string text(header_bytes, '\0');
    const std::uint64_t at = input_.offset();
    if (auto s = input_.Read(text.data(), text.size(), "header"); !s) return s;
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return input_.Fail(at, "the header is not valid JSON");
    auto header = ParseTraceHeader(j, input_.name() + ": byte " + std::to_string(at) + ": ");
    if (!header) return header.error();
    trace_ = std::move(*header);
    sizes_.reserve(trace_.objects.size());
    for (const auto& o : trace_.objects) sizes_.push_back(o.size);
    if (declared_reads_ != kBinaryCountUnknown) {
      trace_.records.reserve(std::min<std::uint64_t>(declared_reads_, kBinaryBlockReads));
    }
    return OkStatus();
  }

  Status ReadBlock() {
    if (auto s = ReadFrame(block_, packed_); !s) return s;
    if (block_.kind == kEndBlock) return OkStatus();
    if (!dctx_) dctx_.reset(ZSTD_createDCtx());
    return Decompress(block_, packed_, dctx_.get());
  }

  // Reads a block's header and its compressed bytes into `packed`, checking the header.
  Status ReadFrame(Block& block, std::vector<std::uint8_t>& packed) {
    std::uint8_t head[kBlockHeaderBytes];
    block.at = input_.offset();
    if (auto s = input_.Read(head, sizeof head, "block header (a binary trace ends with an 'E' block)"); !s) return s;
    block.kind = static_cast<char>(head[0]);
    block.count = GetU32(head + 1);
    block.raw_bytes = GetU32(head + 5);
    const std::uint32_t raw_bytes = block.raw_bytes;
    const std::uint32_t packed_bytes = GetU32(head + 9);
    if (block.kind == kEndBlock) {
      if (block.count != 0 || raw_bytes != 0 || packed_bytes != 0) {
        return input_.Fail(block.at, "the end block must have count and sizes 0");
      }
      return OkStatus();
    }
    if (block.kind != kReadsBlock && block.kind != kHintsBlock) {
      return input_.Fail(block.at, "unknown block kind " + std::to_string(head[0]) + " (expected 'R', 'H' or 'E')");
    }
    const std::uint64_t max_raw = block.kind == kReadsBlock
                                      ? std::uint64_t{block.count} * kReadColumns * kMaxVarintBytes + kReadColumns * 4
                                      : std::min<std::uint64_t>(kMaxHintsRawBytes, UINT32_MAX);
    if (block.kind == kReadsBlock && (block.count == 0 || block.count > kBinaryBlockReads)) {
      return input_.Fail(block.at, "a reads block holds 1 to " + std::to_string(kBinaryBlockReads) + " reads, not " +
                                       std::to_string(block.count));
    }
    if (raw_bytes > max_raw) {
      return input_.Fail(block.at, "block of " + std::to_string(block.count) + " entries claims " + Bytes(raw_bytes) +
                                       " bytes uncompressed, more than the format allows");
    }
    if (packed_bytes > ZSTD_compressBound(raw_bytes)) {
      return input_.Fail(block.at, "block claims " + Bytes(packed_bytes) + " compressed bytes for " + Bytes(raw_bytes) +
                                       " uncompressed, more than zstd ever writes");
    }
    // Sizes from the file are not trusted with memory: the compressed bytes are read in pieces as they
    // arrive, and a frame larger than a reads block can be is decompressed as it unfolds, so a block
    // header that lies costs no more memory than the file (and what its frame really holds) backs.
    return input_.ReadGrowing(packed, packed_bytes, kPieceBytes, "block");
  }

  // Decompresses `packed` into `block.raw` (plus its zero padding). Touches nothing of the parser but
  // the input's name, so that worker threads can run it.
  Status Decompress(Block& block, const std::vector<std::uint8_t>& packed, ZSTD_DCtx* dctx) const {
    const std::uint32_t raw_bytes = block.raw_bytes;
    auto corrupt = [&](std::size_t code) {
      return input_.Fail(block.at, std::string("the block's zstd frame is corrupt: ") + ZSTD_getErrorName(code));
    };
    std::size_t produced = 0;
    if (raw_bytes <= kPieceBytes) {
      block.raw.resize(raw_bytes);
      produced = ZSTD_decompressDCtx(dctx, block.raw.data(), raw_bytes, packed.data(), packed.size());
      if (ZSTD_isError(produced)) return corrupt(produced);
    } else {
      ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
      ZSTD_inBuffer in{packed.data(), packed.size(), 0};
      block.raw.clear();
      while (true) {
        if (produced == block.raw.size()) {
          // One byte beyond the claimed size, to notice a frame that holds more.
          block.raw.resize(std::min<std::uint64_t>(std::uint64_t{raw_bytes} + 1,
                                                   produced + std::max<std::size_t>(produced, kPieceBytes)));
        }
        ZSTD_outBuffer out{block.raw.data(), block.raw.size(), produced};
        const std::size_t left = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(left)) return corrupt(left);
        produced = out.pos;
        if (produced > raw_bytes || left == 0) break;
        if (in.pos == in.size && out.pos < out.size) break;  // the frame is cut short
      }
    }
    if (produced != raw_bytes) {
      return input_.Fail(block.at, "the block's zstd frame holds " +
                                       (produced > raw_bytes ? "more than " : std::string()) + Bytes(produced) +
                                       " bytes, its header says " + Bytes(raw_bytes));
    }
    block.raw.resize(std::size_t{raw_bytes} + kMaxVarintBytes);
    std::fill(block.raw.begin() + raw_bytes, block.raw.end(), 0);
    block.raw_size = raw_bytes;
    return OkStatus();
  }

  Error ReadError(const Block& block, std::uint64_t index, const std::string& what) const {
    return input_.Fail(block.at, "read " + std::to_string(index + 1) + ": " + what);
  }

  // Reads and checks the block's reads, row by row with one cursor per column: each read is written
  // once, whole, at the end of the vector (columns one after the other would pass over the reads seven
  // times). Values are checked as the JSONL reader checks them, each before it is used, so that no sum
  // overflows.
  Status DecodeReads() {
    const std::size_t first = trace_.records.size();
    if (auto s = CheckReadCount(block_, first); !s) return s;
    if (trace_.records.capacity() < first + block_.count) Grow(first + block_.count);
    return DecodeRows</*kLocal=*/false>(block_, first, last_t_, last_end_, trace_.records);
  }

  // The counts a reads block of `block.count` reads after `first` others must respect.
  Status CheckReadCount(const Block& block, std::uint64_t first) const {
    if (auto s = CheckRecordCount(first + block.count); !s) return ReadError(block, first, s.error().message);
    if (declared_reads_ != kBinaryCountUnknown && first + block.count > declared_reads_) {
      return input_.Fail(block.at, "more reads than the header's " + std::to_string(declared_reads_));
    }
    return OkStatus();
  }

  // Decodes `block`'s reads onto `out`, carrying the time and end of the read before them in `last_t`
  // and `last_end`. With kLocal, a worker thread's decoding before the blocks ahead are done: those two
  // start at 0, so times and offsets come out relative to the block's start (offsets modulo 2^64), and
  // the checks that need the absolute values (an offset inside its object, the asked length) are left
  // to AppendLocal, which adds the bases.
  template <bool kLocal>
  Status DecodeRows(const Block& block, std::uint64_t first, Nanos& last_t_io, std::uint64_t& last_end_io,
                    std::vector<TraceRecord>& out) const {
    const std::uint32_t count = block.count;
    if (block.raw_size < kReadColumns * 4) return input_.Fail(block.at, "a reads block without its column lengths");
    const std::uint8_t* p = block.raw.data();
    VarintColumn columns[kReadColumns];
    std::uint64_t at = kReadColumns * 4;
    for (std::size_t k = 0; k < kReadColumns; ++k) {
      const std::uint64_t bytes = GetU32(p + 4 * k);
      if (bytes > block.raw_size - at) return input_.Fail(block.at, "column lengths beyond the block");
      columns[k] = {p + at, p + at + bytes};
      at += bytes;
    }
    if (at != block.raw_size) return input_.Fail(block.at, "bytes left over after the seven columns");
    const std::size_t objects = sizes_.size();
    Nanos last_t = last_t_io;
    std::uint64_t last_end = last_end_io;
    std::uint32_t unchecked_until = 0;  // reads before it cannot run any column past its end
    for (std::uint32_t n = 0; n < count; ++n) {
      const std::size_t i = first + n;
      if (n == unchecked_until) {
        std::uint64_t room = ~std::uint64_t{0};
        for (const auto& c : columns) room = std::min<std::uint64_t>(room, static_cast<std::uint64_t>(c.end - c.p));
        unchecked_until = n + static_cast<std::uint32_t>(std::min<std::uint64_t>(room / kMaxVarintBytes, count - n));
      }
      std::uint64_t v[kReadColumns];
      bool ok = true;
      if (n < unchecked_until) {
        for (std::size_t k = 0; k < kReadColumns; ++k) ok &= columns[k].NextUnchecked(&v[k]);
      } else {
        for (std::size_t k = 0; k < kReadColumns; ++k) ok &= columns[k].Next(&v[k]);
      }
      if (!ok) return input_.Fail(block.at, "malformed varint or a column shorter than " + std::to_string(count));
      TraceRecord r;
      if (v[0] > static_cast<std::uint64_t>(kMaxTraceNanos - last_t)) {
        return ReadError(block, i, "\"t\" of more than 2^53 ns, the limit (about 104 days)");
      }
      r.t_ns = last_t + static_cast<Nanos>(v[0]);
      last_t = r.t_ns;
      if (v[1] >= kMaxStreams) return ReadError(block, i, CheckStreamId(v[1]).error().message);
      r.stream = static_cast<std::uint32_t>(v[1]);
      if (v[2] >= objects) {
        return ReadError(block, i,
                         "object index " + std::to_string(v[2]) + " is not below the header's " +
                             std::to_string(objects) + " objects");
      }
      r.object = static_cast<std::uint32_t>(v[2]);
      const std::uint64_t size = sizes_[r.object];
      const std::int64_t delta = UnZigZag(v[3]);
      // last_end <= 2^50; a delta beyond +-2^51 cannot land inside an object.
      if (delta > (std::int64_t{1} << 51) || delta < -(std::int64_t{1} << 51) ||
          (!kLocal && delta < 0 && static_cast<std::uint64_t>(-delta) > last_end)) {
        return ReadError(
            block, i,
            "offset delta " + std::to_string(delta) + " lands outside object \"" + trace_.objects[r.object].id + "\"");
      }
      r.offset = last_end + static_cast<std::uint64_t>(delta);
      r.length = v[4];
      if (!kLocal && (r.offset > size || r.length > size - r.offset)) {
        return ReadError(block, i,
                         "read beyond EOF: offset+length=" + std::to_string(r.offset) + "+" + std::to_string(r.length) +
                             " > size " + std::to_string(size) + " of object \"" + trace_.objects[r.object].id + "\"");
      }
      last_end = r.offset + r.length;
      if (v[5] > static_cast<std::uint64_t>(kMaxTraceNanos) + 1) {
        return ReadError(block, i, "\"dur\" of more than 2^53 ns, the limit (about 104 days)");
      }
      r.duration_ns = static_cast<Nanos>(v[5]) - 1;
      r.past_eof = v[6];
      if (r.past_eof) {
        if (r.past_eof > kMaxObjectSize) return ReadError(block, i, "asks more than 2^50 bytes past EOF");
        if (!kLocal) {
          if (auto s = CheckAsked(r.offset, r.length, r.asked(), trace_.objects[r.object]); !s) {
            return ReadError(block, i, s.error().message);
          }
        }
      }
      out.push_back(r);
    }
    for (const auto& c : columns) {
      if (!c.at_end()) return input_.Fail(block.at, "a column longer than " + std::to_string(count) + " values");
    }
    last_t_io = last_t;
    last_end_io = last_end;
    return OkStatus();
  }

  // Makes room for `need` reads. Grows by doubling, and jumps to the header's count once the reads
  // decoded are a 64th of it: the arrays left behind hold about 1/32 of the trace, so loading touches
  // (and copies) little more memory than the trace needs, and the last step holds at most 1/64 + 1 of it
  // (a peak of 49 bytes per read). A header that lies about the count makes us reserve at most 64 times
  // what the file really holds, address space that is never touched (and the count is an error then).
  void Grow(std::uint64_t need) {
    std::uint64_t next = std::max<std::uint64_t>(need, 2 * trace_.records.capacity());
    if (declared_reads_ != kBinaryCountUnknown) {
      next = declared_reads_ <= 64 * need ? declared_reads_ : std::min(next, declared_reads_);
    }
    trace_.records.reserve(next);
  }

  Error HintError(std::size_t index, const std::string& what) const {
    return input_.Fail(block_.at, "hint " + std::to_string(index + 1) + ": " + what);
  }

  Status DecodeHints() {
    VarintReader in(block_.raw.data(), block_.raw.data() + block_.raw_size);
    if (auto s = CheckRecordCount(trace_.records.size() + block_.count); !s) return HintError(0, s.error().message);
    std::size_t ranges = 0;
    Nanos last_t = 0;
    std::size_t last_before = 0;
    for (std::uint32_t i = 0; i < block_.count; ++i) {
      std::uint64_t f[5];
      for (auto& v : f) {
        if (!in.Next(&v) || in.overrun()) return HintError(i, "malformed varint or block too short");
      }
      if (f[0] > static_cast<std::uint64_t>(kMaxTraceNanos))
        return HintError(i, CheckTraceNanos("t", f[0]).error().message);
      if (auto s = CheckStreamId(f[1]); !s) return HintError(i, s.error().message);
      if (f[2] >= sizes_.size()) return HintError(i, "object index " + std::to_string(f[2]) + " out of range");
      if (f[3] > trace_.records.size()) {
        return HintError(i, "comes before read " + std::to_string(f[3] + 1) + ", past the last read");
      }
      TraceHint hint;
      hint.t_ns = static_cast<Nanos>(f[0]);
      hint.stream = static_cast<std::uint32_t>(f[1]);
      hint.object = static_cast<std::uint32_t>(f[2]);
      hint.before = static_cast<std::size_t>(f[3]);
      if (hint.t_ns < last_t || hint.before < last_before) {
        return HintError(i, "out of order: hints are stored in file order");
      }
      last_t = hint.t_ns;
      last_before = hint.before;
      if (auto s = CheckHintRangeCount(ranges + f[4]); !s) return HintError(i, s.error().message);
      ranges += f[4];
      const std::uint64_t size = sizes_[hint.object];
      for (std::uint64_t k = 0; k < f[4]; ++k) {
        std::uint64_t offset = 0, length = 0;
        if (!in.Next(&offset) || !in.Next(&length) || in.overrun()) {
          return HintError(i, "malformed varint or block too short");
        }
        if (offset > size || length > size - offset) {
          return HintError(i, "range " + std::to_string(k) + " beyond EOF: offset+length=" + std::to_string(offset) +
                                  "+" + std::to_string(length) + " > size " + std::to_string(size));
        }
        hint.ranges.push_back({offset, offset + length});
      }
      trace_.hints.push_back(std::move(hint));
    }
    if (!in.at_end()) return input_.Fail(block_.at, "bytes left over after the hints");
    hints_at_ = block_.at;
    return OkStatus();
  }

  // What the JSONL reader checks of hints from their place among the reads: time order, and a stream
  // that has reads.
  Status CheckHintsAgainstReads() {
    if (trace_.hints.empty()) return OkStatus();
    std::unordered_set<std::uint32_t> streams;
    for (const auto& r : trace_.records) streams.insert(r.stream);
    const auto& reads = trace_.records;
    for (std::size_t i = 0; i < trace_.hints.size(); ++i) {
      const TraceHint& h = trace_.hints[i];
      const auto fail = [&](const std::string& what) {
        return input_.Fail(hints_at_, "hint " + std::to_string(i + 1) + ": " + what);
      };
      if (h.before > 0 && h.t_ns < reads[h.before - 1].t_ns)
        return fail("\"t\" goes backwards from the read before it");
      if (h.before < reads.size() && h.t_ns > reads[h.before].t_ns)
        return fail("\"t\" is after the read that follows it");
      if (!streams.count(h.stream)) return fail("for stream " + std::to_string(h.stream) + ", which has no reads");
    }
    return OkStatus();
  }

  BinaryInput input_;
  const unsigned workers_;  // threads decoding reads blocks; 0: this one only
  Trace trace_;
  std::vector<std::uint64_t> sizes_;
  std::uint64_t declared_reads_ = 0, declared_hints_ = 0;
  Block block_;
  std::vector<std::uint8_t> packed_;
  std::unique_ptr<ZSTD_DCtx, FreeDCtx> dctx_;
  Nanos last_t_ = 0;
  std::uint64_t last_end_ = 0;
  bool have_hints_ = false;
  std::uint64_t hints_at_ = 0;
};

}  // namespace

bool LooksLikeBinaryTrace(std::string_view prefix) {
  return prefix.size() >= sizeof kBinaryTraceMagic &&
         std::memcmp(prefix.data(), kBinaryTraceMagic, sizeof kBinaryTraceMagic) == 0;
}

Result<Trace> ParseBinaryTrace(std::istream& in, const std::string& display_name, const BinaryReadOptions& options) {
  unsigned threads = options.threads;
  if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  return BinaryParser(in, display_name, threads - 1).Parse();
}

struct BinaryTraceWriter::Compressor {
  ~Compressor() { ZSTD_freeCCtx(cctx); }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  int level = 3;
};

BinaryTraceWriter::BinaryTraceWriter(std::ostream& out, const Trace& header, int level)
    : out_(out), objects_(header.objects), zstd_(std::make_unique<Compressor>()) {
  zstd_->level = std::clamp(level, 1, 19);
  Trace objects_only;
  objects_only.objects = header.objects;
  objects_only.source = header.source;
  const std::string text = TraceHeaderJson(objects_only).dump();
  std::uint8_t fixed[kFixedHeaderBytes];
  std::memcpy(fixed, kBinaryTraceMagic, 8);
  PutU32(fixed + 8, kBinaryTraceVersion);
  PutU32(fixed + 12, 0);
  PutU64(fixed + 16, kBinaryCountUnknown);
  PutU64(fixed + 24, kBinaryCountUnknown);
  PutU32(fixed + 32, static_cast<std::uint32_t>(text.size()));
  const std::streampos at = out_.tellp();
  if (at != std::streampos(-1)) start_ = static_cast<std::streamoff>(at);
  out_.write(reinterpret_cast<const char*>(fixed), sizeof fixed);
  out_.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (text.size() > kMaxHeaderBytes) status_ = InvalidArgument("the trace header is longer than the limit");
  block_.reserve(kBinaryBlockReads);
}

BinaryTraceWriter::~BinaryTraceWriter() = default;

Status BinaryTraceWriter::Add(const TraceRecord& r) {
  if (!status_) return status_;
  auto fail = [&](const std::string& what) {
    status_ = InvalidArgument("read " + std::to_string(reads_ + 1) + ": " + what);
    return status_;
  };
  if (r.object >= objects_.size()) return fail("no such object");
  const std::uint64_t size = objects_[r.object].size;
  if (r.t_ns < last_t_) return fail("\"t\" goes backwards");
  if (r.t_ns > kMaxTraceNanos) return fail(CheckTraceNanos("t", static_cast<std::uint64_t>(r.t_ns)).error().message);
  if (r.duration_ns > kMaxTraceNanos) return fail("\"dur\" above 2^53 ns");
  if (auto s = CheckStreamId(r.stream); !s) return fail(s.error().message);
  if (r.offset > size || r.length > size - r.offset) return fail("beyond the end of its object");
  if (r.past_eof) {
    if (auto s = CheckAsked(r.offset, r.length, r.asked(), objects_[r.object]); !s) return fail(s.error().message);
  }
  if (auto s = CheckRecordCount(reads_ + hints_.size() + 1); !s) return fail(s.error().message);
  last_t_ = r.t_ns;
  block_.push_back(r);
  ++reads_;
  if (block_.size() == kBinaryBlockReads) return Flush();
  return OkStatus();
}

Status BinaryTraceWriter::AddHint(const TraceHint& hint) {
  if (!status_) return status_;
  if (hint.object >= objects_.size()) return status_ = InvalidArgument("hint: no such object");
  if (hint.t_ns < last_t_) return status_ = InvalidArgument("hint: \"t\" goes backwards");
  TraceHint h = hint;
  h.before = reads_;
  hints_.push_back(std::move(h));
  last_t_ = hint.t_ns;
  return OkStatus();
}

Status BinaryTraceWriter::WriteBlock(char kind, std::uint32_t count) {
  const std::size_t bound = ZSTD_compressBound(raw_.size());
  packed_.resize(bound);
  const std::size_t n = ZSTD_compressCCtx(zstd_->cctx, packed_.data(), bound, raw_.data(), raw_.size(), zstd_->level);
  if (ZSTD_isError(n)) return status_ = Internal(std::string("zstd: ") + ZSTD_getErrorName(n));
  std::uint8_t head[kBlockHeaderBytes];
  head[0] = static_cast<std::uint8_t>(kind);
  PutU32(head + 1, count);
  PutU32(head + 5, static_cast<std::uint32_t>(raw_.size()));
  PutU32(head + 9, static_cast<std::uint32_t>(n));
  out_.write(reinterpret_cast<const char*>(head), sizeof head);
  out_.write(reinterpret_cast<const char*>(packed_.data()), static_cast<std::streamsize>(n));
  if (!out_) return status_ = InvalidArgument("writing the binary trace failed");
  return OkStatus();
}

Status BinaryTraceWriter::Flush() {
  if (block_.empty()) return OkStatus();
  // Seven column lengths first (filled in below), so that the reader can walk the columns side by side
  // and write each read once.
  raw_.assign(kReadColumns * 4, 0);
  std::size_t column = 0, column_start = raw_.size();
  auto end_column = [&] {
    PutU32(raw_.data() + 4 * column++, static_cast<std::uint32_t>(raw_.size() - column_start));
    column_start = raw_.size();
  };
  Nanos t = flushed_t_;
  for (const auto& r : block_) {
    PutVarint(raw_, static_cast<std::uint64_t>(r.t_ns - t));
    t = r.t_ns;
  }
  flushed_t_ = t;
  end_column();
  for (const auto& r : block_) PutVarint(raw_, r.stream);
  end_column();
  for (const auto& r : block_) PutVarint(raw_, r.object);
  end_column();
  for (const auto& r : block_) {
    PutVarint(raw_, ZigZag(static_cast<std::int64_t>(r.offset) - static_cast<std::int64_t>(last_end_)));
    last_end_ = r.offset + r.length;
  }
  end_column();
  for (const auto& r : block_) PutVarint(raw_, r.length);
  end_column();
  for (const auto& r : block_) PutVarint(raw_, static_cast<std::uint64_t>(std::max<Nanos>(r.duration_ns, -1) + 1));
  end_column();
  for (const auto& r : block_) PutVarint(raw_, r.past_eof);
  end_column();
  const auto count = static_cast<std::uint32_t>(block_.size());
  block_.clear();
  return WriteBlock(kReadsBlock, count);
}

Status BinaryTraceWriter::Finish() {
  if (finished_) return status_;
  finished_ = true;
  if (!status_) return status_;
  if (auto s = Flush(); !s) return s;
  if (!hints_.empty()) {
    raw_.clear();
    for (const auto& h : hints_) {
      PutVarint(raw_, static_cast<std::uint64_t>(h.t_ns));
      PutVarint(raw_, h.stream);
      PutVarint(raw_, h.object);
      PutVarint(raw_, h.before);
      PutVarint(raw_, h.ranges.size());
      for (const auto& r : h.ranges) {
        PutVarint(raw_, r.begin);
        PutVarint(raw_, r.size());
      }
    }
    if (raw_.size() > UINT32_MAX) return status_ = InvalidArgument("the hints take more than 4 GiB");
    if (auto s = WriteBlock(kHintsBlock, static_cast<std::uint32_t>(hints_.size())); !s) return s;
  }
  const std::uint8_t end[kBlockHeaderBytes] = {static_cast<std::uint8_t>(kEndBlock)};
  out_.write(reinterpret_cast<const char*>(end), sizeof end);
  if (start_ >= 0) {
    // Fill in the counts, so that the reader can reserve memory for the reads at once.
    const std::streampos here = out_.tellp();
    std::uint8_t counts[16];
    PutU64(counts, reads_);
    PutU64(counts + 8, hints_.size());
    out_.seekp(start_ + 16);
    out_.write(reinterpret_cast<const char*>(counts), sizeof counts);
    out_.seekp(here);
  }
  out_.flush();
  if (!out_) return status_ = InvalidArgument("writing the binary trace failed");
  return OkStatus();
}

Status WriteBinaryTrace(std::ostream& out, const Trace& trace, int level) {
  BinaryTraceWriter writer(out, trace, level);
  std::size_t next_hint = 0;
  for (const auto& r : trace.records) {
    for (; next_hint < trace.hints.size() && trace.hints[next_hint].before <= writer.reads(); ++next_hint) {
      if (auto s = writer.AddHint(trace.hints[next_hint]); !s) return s;
    }
    if (auto s = writer.Add(r); !s) return s;
  }
  for (; next_hint < trace.hints.size(); ++next_hint) {
    if (auto s = writer.AddHint(trace.hints[next_hint]); !s) return s;
  }
  return writer.Finish();
}

Status WriteBinaryTrace(const std::string& path, const Trace& trace, int level) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return InvalidArgument(path + ": cannot write the trace file");
  if (auto s = WriteBinaryTrace(out, trace, level); !s) return InvalidArgument(path + ": " + s.error().message);
  out.close();
  if (!out) return InvalidArgument(path + ": writing the trace file failed");
  return OkStatus();
}

}  // namespace pflab::traces
