// Importer for gcsfs / fsspec debug logs: the ranged GETs gcsfs sent, or the reads fsspec served.
//
// Log lines are those of fsspec.utils.setup_logging (used by GCSFS_DEBUG=DEBUG):
//   "YYYY-MM-DD HH:MM:SS,mmm - LOGGER - LEVEL - FUNC -- MESSAGE"
// Two messages carry reads (read in fsspec/gcsfs 20c58d0d and fsspec/filesystem_spec 669de5e1 and
// Debian's 2022.11.0, where both have the same shape):
// - gets: gcsfs GCSFileSystem._call logs every HTTP call before sending it,
//   "GET: https://HOST/download/storage/v1/b/BUCKET/o/OBJECT?alt=media, (), {'Range': 'bytes=A-B'}";
//   the object is percent-decoded, the inclusive range becomes offset A, length B-A+1. Other calls
//   (metadata, listings, uploads) are not reads and are skipped. A media GET without a closed range
//   (no Range, "bytes=A-" or "bytes=-N") is an error: the log does not say the object's size.
// - reads: fsspec AbstractBufferedFile.read logs "<File-like object FS, BUCKET/PATH> read: A - B"
//   (recent fsspec appends cache statistics, ignored). B is loc + the length asked for, which may run
//   past the end of the file; these are the application's reads, the better input for policies.
// fsspec.caching's own lines ("MMap cache fetching", "BlockCache fetching block N") are skipped: they
// describe a cache's decisions, and the GETs those cause are logged by gcsfs. So are lines in other
// formats (tracebacks, other loggers' output); the header's source counts them.
//
// One object per distinct BUCKET/OBJECT, in order of first appearance; its size is the largest end
// read (the log never states sizes). asctime has millisecond resolution and no time zone, so t is
// the line's time minus the first kept line's, in whole milliseconds, and dur is unknown. Neither
// message names a thread, so every read is on stream 0: the replay keeps the logged order.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

/// Which reads to take from a gcsfs/fsspec log.
enum class GcsfsLogKind { kGets, kReads };

/// What to import from a gcsfs/fsspec log.
struct GcsfsLogImportOptions {
  GcsfsLogKind kind = GcsfsLogKind::kGets;
  /// Objects to keep: "BUCKET/OBJECT" equal to it, an OBJECT (or its basename) equal to it, or
  /// "BUCKET/OBJECT" matching it as a glob. Empty: all.
  std::string file;
};

/// HTTP's inclusive "bytes=A-B" as a half-open {offset, length}; nullopt for any other form.
struct RangeRead {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};
std::optional<RangeRead> InclusiveRangeToRead(std::string_view header_value);

/// Parses a log; errors name `input_name` and the line.
Result<Trace> ImportGcsfsLog(std::istream& in, const std::string& input_name, const GcsfsLogImportOptions& options);
/// Same, from a file.
Result<Trace> ImportGcsfsLogFile(const std::string& path, const GcsfsLogImportOptions& options);

}  // namespace pflab::traces
