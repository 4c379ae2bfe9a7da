// The preload library's state: which descriptors are recorded, per-thread record buffers, and the
// process's raw output file (traces/recorder/raw_format.h).
//
// Design. `pflab record` sets PFLAB_RECORD_DIR (where raw files go) and PFLAB_RECORD_FILES (newline-
// separated fnmatch globs); without PFLAB_RECORD_DIR the library passes every call through untouched.
// - Descriptor table: one atomic slot per fd number (up to kMaxFds) holding the open id of a recorded
//   file or -1. Opens of regular files that match a glob fill it; every close, dup and fclose we can see
//   updates it, because a stale slot would attribute a later socket's reads to an old file.
// - Records: each thread appends fixed-size read records to its own buffer (no lock shared between
//   threads; a per-buffer flag only guards against the exit-time flush), flushed with one write(2) when
//   full, at thread exit, before exec, at _exit and at process exit. Open/mmap records are written
//   immediately so they precede the reads that refer to them.
// - Re-entrancy: a thread-local flag makes calls made while recording (our own syscalls, or libc calling
//   back into a hooked symbol) pass through unrecorded.
// - fork: the child opens its own raw file naming the parent's, keeps the inherited descriptor table,
//   and drops the copies of buffered records (the parent writes those). vfork children share our memory,
//   so hooks there pass through (detected by getpid() != the recorded pid).
// - No allocation through malloc, no C++ runtime, no exceptions: it runs inside arbitrary programs.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "traces/recorder/raw_format.h"

namespace pflab::recorder {

inline constexpr int kMaxFds = 1 << 20;

/// Makes the library ready (idempotent, thread-safe); returns false when recording is off.
bool Enabled();

/// RAII guard for the thread-local re-entrancy flag. `active()` is false when the thread is already
/// inside a hook (or recording is off), and the hook must then only pass the call through.
class HookScope {
 public:
  HookScope();
  ~HookScope();
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;
  bool active() const { return active_; }

 private:
  bool active_;
};

/// Open id recorded for `fd`, or -1.
int OpenIdOf(int fd);
/// After a successful open of `fd` (by `given_path`, may be null): starts recording it when it is a
/// readable regular file matching the globs; otherwise clears the slot.
void TrackOpen(int fd, int access_mode);
/// The slot of `fd` no longer refers to anything we opened.
void Untrack(int fd);
void UntrackRange(unsigned first, unsigned last);
/// `to` now refers to the same file as `from` (dup family).
void CopyTrack(int from, int to);
/// Called when a recorded fd is mmap'd: writes a kMmap record once per open.
void NoteMmap(int fd);

/// Appends one read record to this thread's buffer.
/// `asked` is the length the call asked for, 0 when not known.
void RecordRead(int open_id, RawOp op, std::int64_t t_issue_ns, std::int64_t t_done_ns, std::uint64_t offset,
                long long result, int err, std::uint64_t asked);

/// Flushes every thread's buffer (before exec and _exit).
void FlushAll();
/// True when called in the process that owns our state (false in a vfork child).
bool OwnProcess();
/// Our output descriptor, which the program must not close or replace (-1 when none).
int OutputFd();
/// Moves the output descriptor if the program is about to dup2 onto it.
void ProtectOutputFd(int newfd);

std::int64_t NowNs();
/// Current file position of `fd` from the kernel, or -1.
long long KernelPosition(int fd);

}  // namespace pflab::recorder
