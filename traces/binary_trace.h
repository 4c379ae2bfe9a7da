// Binary trace format (version 1): the same trace as format v1 JSONL, columnar and zstd-compressed, for
// request logs of hundreds of millions of reads (docs/traces.md#binary-trace-format).
//
// Layout, integers little-endian:
//   magic "\x89PFLTRC\n" (8 bytes) | u32 version = 1 | u32 flags = 0 | u64 reads | u64 hints |
//   u32 H | H bytes: the v1 header line (JSON: format, version, objects, source)
//   blocks, each u8 kind | u32 count | u32 raw bytes | u32 compressed bytes | one zstd frame:
//     'R': `count` reads (1 to kBinaryBlockReads): seven u32 column lengths, then the seven columns of
//          LEB128 varints: t - previous t, stream, object index, zigzag(offset - previous read's end),
//          length, dur + 1 (0: unknown), bytes asked past EOF
//     'H': `count` hints (all of them, after the last read block), each: t, stream, object, index of the
//          first read after it, number of ranges, then offset and length of each range
//     'E': the end (count and sizes 0, no frame): a file without it was cut short
// The header's counts are 2^64-1 when the writer could not seek back to fill them in (a pipe); known
// counts must match the blocks. The reader checks everything the JSONL reader checks, plus the
// framing; every error names the file, the byte offset of the block and the read or hint.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

inline constexpr char kBinaryTraceMagic[8] = {'\x89', 'P', 'F', 'L', 'T', 'R', 'C', '\n'};
inline constexpr std::uint32_t kBinaryTraceVersion = 1;
/// Reads per 'R' block: large enough for zstd to find the patterns, small enough to stay in cache.
inline constexpr std::uint32_t kBinaryBlockReads = 1u << 16;
/// The header's count when the writer could not fill it in.
inline constexpr std::uint64_t kBinaryCountUnknown = ~std::uint64_t{0};

/// Whether `prefix` (the first bytes of a file) begins with the binary trace's 8-byte magic.
bool LooksLikeBinaryTrace(std::string_view prefix);

/// How ParseBinaryTrace uses the machine.
struct BinaryReadOptions {
  /// Threads decoding a trace of several blocks: 0 one per core (at most 8), 1 the caller's alone. The
  /// result, and the error of a bad file, are the same whatever the count.
  unsigned threads = 0;
};

/// Parses a binary trace from `in` (positioned at the magic); errors are "NAME: byte B: what".
Result<Trace> ParseBinaryTrace(std::istream& in, const std::string& display_name,
                               const BinaryReadOptions& options = {});

/// Writes `trace` in the binary format (zstd `level`, 1 to 19).
Status WriteBinaryTrace(const std::string& path, const Trace& trace, int level = 3);
Status WriteBinaryTrace(std::ostream& out, const Trace& trace, int level = 3);

/// Writes a binary trace read by read, without the trace in memory (the benchmark generates 100 M reads
/// this way): the header first, then Add for each read in issue order, AddHint before the read it
/// precedes, then Finish. Reads are checked as the reader checks them (a hint's stream must have reads:
/// the reader checks that).
class BinaryTraceWriter {
 public:
  /// `header` gives the objects and the source; its records and hints are ignored.
  BinaryTraceWriter(std::ostream& out, const Trace& header, int level = 3);
  ~BinaryTraceWriter();
  BinaryTraceWriter(const BinaryTraceWriter&) = delete;
  BinaryTraceWriter& operator=(const BinaryTraceWriter&) = delete;

  Status Add(const TraceRecord& record);
  Status AddHint(const TraceHint& hint);
  /// Writes the last block, the hints and the end, and fills in the header's counts if `out` can seek.
  Status Finish();
  std::uint64_t reads() const { return reads_; }

 private:
  Status Flush();                                     // compresses and writes the buffered reads as one block
  Status WriteBlock(char kind, std::uint32_t count);  // raw_, compressed

  struct Compressor;
  std::ostream& out_;
  std::vector<TraceObject> objects_;
  std::unique_ptr<Compressor> zstd_;
  std::streamoff start_ = -1;  // where the header's counts begin, when `out` can seek
  std::vector<TraceRecord> block_;
  std::vector<TraceHint> hints_;
  std::uint64_t reads_ = 0;
  Nanos last_t_ = 0;            // of the last read or hint added
  Nanos flushed_t_ = 0;         // of the last read written
  std::uint64_t last_end_ = 0;  // previous read's offset + length, across blocks
  std::vector<std::uint8_t> raw_, packed_;
  bool finished_ = false;
  Status status_;
};

}  // namespace pflab::traces
