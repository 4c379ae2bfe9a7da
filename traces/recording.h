// Turning the preload recorder's raw files (traces/recorder/raw_format.h) into a trace v1.
//
// Decisions, documented in README "Recording traces":
// - One stream per (process, thread): a thread issues its reads one after another, which is what the
//   replayer's closed-loop streams assume; an exec'd image keeps its pid and main thread, so it continues
//   its stream. Streams are numbered in order of their first read.
// - Objects are the files read, numbered o0, o1, ... in order of first read. A name is the path relative
//   to the deepest directory holding every recorded file (a lone file: its base name); the absolute paths
//   go to the header's "source". Size: the largest of st_size at each open and the end of every read.
// - Reads that returned 0 bytes (EOF) or failed carry no data and are left out; they are counted in
//   "source". A short read is recorded with the bytes it returned; one that ended at the end of the
//   file also keeps the length it asked for ("asked"), as the caches of a replayed program see it. A
//   short read elsewhere (a file that grew, a signal) is counted in "source" as short_reads.
// - t is the issue time since the first recorded read; dur is t_done - t_issue.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

/// One read call as the recorder saw it, with its file resolved to a path.
struct RawReadEvent {
  std::string path;
  std::uint32_t pid = 0;
  std::uint32_t tid = 0;
  std::string op;
  std::int64_t t_issue_ns = 0;
  std::int64_t t_done_ns = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;  // bytes returned
  std::uint64_t asked = 0;   // bytes asked for; 0 when not known (stdio refills)
  int error = 0;             // errno when the call failed
};

/// Everything read back from a recording directory.
struct RawRecording {
  std::vector<RawReadEvent> reads;
  std::map<std::string, std::uint64_t> sizes;  // path -> largest st_size seen at open
  std::vector<std::string> mmapped;            // paths mmap'd while recorded (sorted, unique)
  std::uint32_t images = 0;                    // raw files: one per process image
  std::vector<std::string> warnings;           // e.g. a truncated file of a killed process
};

/// Reads every raw.* file in `dir`. A record cut short at the end of a file (a process killed while
/// writing) becomes a warning; anything else malformed is an error naming the file and byte offset.
Result<RawRecording> ReadRawRecording(const std::string& dir);

/// Builds the trace; `source` is copied into the header and extended with what the recording saw.
Result<Trace> RecordingToTrace(const RawRecording& recording, nlohmann::json source);

}  // namespace pflab::traces
