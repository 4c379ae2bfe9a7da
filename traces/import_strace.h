// Importer for `strace -f -ttt -T -y` output: the file reads a program made, as trace v1.
//
// Recipe: strace -f -ttt -T -y -s0 -e trace=openat,read,pread64,readv,preadv,preadv2,lseek,mmap,close -o OUT CMD
//
// Each line is "[PID] EPOCH.USEC call(args) = ret <DUR>" (PID also as "[pid N]"; absent without -f).
// A call that another thread interrupts is split into "call(args <unfinished ...>" and a later
// "<... call resumed>rest"; the two are stitched per PID and the read takes the first line's time.
// Reads: read/readv at the fd's current position (which then advances by the bytes returned),
// pread64/preadv at their offset, preadv2 at its offset or, for offset -1, the current position.
// The position lives per (fd, path), not per PID, because threads and forked children share an
// open file's position; openat sets it to 0 and lseek to its return value (the new offset, whatever
// the whence). A read/readv of a file whose openat is not in the log (opened before strace: a shell
// redirect on stdin) has no known position: an error for a file named by `file`, else left out and
// counted in source.unplaced_reads. A path shown "(deleted)" (unlinked while open) is the same file. A record's length
// is the bytes the call returned; failed calls (= -1 ERRNO), reads at EOF (= 0) and calls that never returned (= ?)
// make no record. mmap'ed reads are page faults strace cannot see.
//
// Objects are file paths (the name is the path without its leading '/'). The size is, in this order:
// the size an "lseek(fd, OFF, SEEK_END) = R" revealed (R - OFF), the path's current size if it exists
// as a regular file now and is at least the end of every read, else the largest end read. Streams are
// PIDs (thread ids under -f) numbered in order of their first read; t is the call's start time minus
// the first read's, dur the -T time.
#pragma once

#include <iosfwd>
#include <string>

#include "engine/result.h"
#include "traces/trace.h"

namespace pflab::traces {

/// What to import from an strace log.
struct StraceImportOptions {
  /// Files to keep: a path equal to it, a path whose basename equals it, or a path matching it as a
  /// glob (fnmatch without FNM_PATHNAME: '*' also matches '/'). Empty: every absolute path outside
  /// /dev, /proc and /sys, each its own object.
  std::string file;
  std::string bucket = "pflab";
  /// Allow the size from the path's current stat (off in tests that must not depend on this machine).
  bool stat_sizes = true;
};

/// Parses an strace log; errors name `input_name` and the line.
Result<Trace> ImportStrace(std::istream& in, const std::string& input_name, const StraceImportOptions& options);
/// Same, from a file.
Result<Trace> ImportStraceFile(const std::string& path, const StraceImportOptions& options);

}  // namespace pflab::traces
