// The raw record format the preload library (libpflab_record.so) writes and traces/recording.cc reads.
//
// Each recorded process image writes one file, DIR/raw.<pid>.<n>, as a sequence of 8-byte aligned
// records in native byte order (writer and reader run on the same machine). Every record starts with
// a RawHeader: its kind and its total size including the header. The first record is kFile. A path
// record (kOpen) is written when a matching file is opened, before any read of it; reads are buffered
// per thread and written in chunks, so read records of different threads interleave in the file and
// the reader orders them by time. This header is shared by the library and the converter and must
// stay plain C++ with no dependency on the rest of pflab.
#pragma once

#include <cstdint>

namespace pflab::recorder {

inline constexpr std::uint64_t kRawMagic = 0x3157415242464c50ull;  // "PLFBRAW1" little-endian
inline constexpr std::uint32_t kRawVersion = 2;                    // 2: RawRead::asked

enum class RawKind : std::uint32_t {
  kFile = 1,  // first record of a file: RawFile
  kOpen = 2,  // a matching file was opened: RawOpen + path bytes
  kRead = 3,  // one read call: RawRead
  kMmap = 4,  // a matching file was mmap'd: RawMmap
  kFork = 5,  // this process was forked from another recorded image: RawFork + parent file name bytes
};

/// The operation that read; stdio calls are recorded as what reached the file during the call.
enum class RawOp : std::uint16_t {
  kRead = 1,
  kPread,
  kReadv,
  kPreadv,
  kFread,
  kFgets,
  kFgetc,
  kGetdelim,
  kFscanf,
  kFseek,
  kSendfile,
  kCopyFileRange,
  kSplice,
};

inline const char* RawOpName(std::uint16_t op) {
  switch (static_cast<RawOp>(op)) {
    case RawOp::kRead: return "read";
    case RawOp::kPread: return "pread";
    case RawOp::kReadv: return "readv";
    case RawOp::kPreadv: return "preadv";
    case RawOp::kFread: return "fread";
    case RawOp::kFgets: return "fgets";
    case RawOp::kFgetc: return "fgetc";
    case RawOp::kGetdelim: return "getdelim";
    case RawOp::kFscanf: return "fscanf";
    case RawOp::kFseek: return "fseek";
    case RawOp::kSendfile: return "sendfile";
    case RawOp::kCopyFileRange: return "copy_file_range";
    case RawOp::kSplice: return "splice";
  }
  return "unknown";
}

struct RawHeader {
  std::uint32_t kind;
  std::uint32_t size;  // of the whole record, a multiple of 8
};

struct RawFile {
  RawHeader h;
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t pid;
  std::int64_t t_start_ns;  // CLOCK_MONOTONIC when the image started recording
};

/// Open ids are numbered per file; a forked child keeps numbering where its parent was, so ids below
/// RawFork::first_own_open refer to the parent's file.
struct RawOpen {
  RawHeader h;
  std::uint32_t open_id;
  std::uint32_t path_bytes;  // path follows, not NUL-terminated, padded to 8
  std::uint64_t size;        // st_size at open
};

struct RawRead {
  RawHeader h;
  std::uint32_t open_id;
  std::uint32_t tid;
  std::uint16_t op;  // RawOp
  std::uint16_t reserved;
  std::int32_t result_errno;  // errno when the call failed (length is then 0), else 0
  std::int64_t t_issue_ns;    // CLOCK_MONOTONIC
  std::int64_t t_done_ns;
  std::uint64_t offset;
  std::uint64_t length;  // bytes actually returned; 0 at EOF
  std::uint64_t asked;   // bytes the call asked for (0: not known, as for stdio refills)
};

struct RawMmap {
  RawHeader h;
  std::uint32_t open_id;
  std::uint32_t reserved;
};

struct RawFork {
  RawHeader h;
  std::uint32_t first_own_open;  // open ids below this were opened by the parent image
  std::uint32_t parent_bytes;    // the parent's raw file name follows, padded to 8
};

static_assert(sizeof(RawFile) == 32 && sizeof(RawOpen) == 24 && sizeof(RawRead) == 64 && sizeof(RawMmap) == 16 &&
              sizeof(RawFork) == 16);

}  // namespace pflab::recorder
