// The interposed libc functions. Each one calls the real function (found with dlsym(RTLD_NEXT)) and,
// when the descriptor is recorded, times the call and appends a record; errno is preserved.
//
// What counts as the offset of a read: pread-style calls carry it; read/readv/sendfile without an
// offset ask the kernel for the position first (lseek(fd, 0, SEEK_CUR)) instead of tracking positions
// here, because dup'd descriptors, forked children, writes and sendfile all move a shared position.
//
// stdio: glibc's fread/fgets/getc/fseek read through internal calls that bypass these hooks, so they
// are hooked themselves and record what reached the file during the call: when the call cannot be
// served from the FILE's buffer, the kernel position before and after gives the bytes read. A seek
// that refills the buffer (glibc reads the block around an unaligned target) records that block.

// glibc's headers define inline copies of some functions hooked here (getc_unlocked, getline, ...)
// when optimizing; GCC takes our definitions as the out-of-line ones, clang calls them redefinitions.
// The hooks must be the definitions, so those inline copies are left out.
#ifndef __NO_INLINE__
#define __NO_INLINE__ 1
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>

#include "traces/recorder/runtime.h"

using pflab::recorder::HookScope;
using pflab::recorder::KernelPosition;
using pflab::recorder::NowNs;
using pflab::recorder::OpenIdOf;
using pflab::recorder::RawOp;

extern "C" {
int __uflow(FILE*);
int __underflow(FILE*);
}

namespace {

// The next definition of `name` after this library, resolved on first use.
#define PFLAB_REAL(name)                          \
  ([]() {                                         \
    static std::atomic<void*> fn{nullptr};        \
    void* f = fn.load(std::memory_order_relaxed); \
    if (f == nullptr) {                           \
      f = dlsym(RTLD_NEXT, #name);                \
      fn.store(f, std::memory_order_relaxed);     \
    }                                             \
    return reinterpret_cast<decltype(&name)>(f);  \
  }())

bool NeedsMode(int flags) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

void AfterOpen(int fd, int flags) {
  if (fd < 0) return;
  const int saved = errno;
  HookScope scope;
  if (scope.active()) pflab::recorder::TrackOpen(fd, flags & O_ACCMODE);
  errno = saved;
}

int AccessOfMode(const char* mode) {
  if (mode == nullptr) return O_RDONLY;
  const bool plus = strchr(mode, '+') != nullptr;
  if (plus) return O_RDWR;
  return mode[0] == 'r' ? O_RDONLY : O_WRONLY;
}

void AfterFopen(FILE* fp, const char* mode) {
  if (fp == nullptr) return;
  const int saved = errno;
  HookScope scope;
  if (scope.active()) pflab::recorder::TrackOpen(fp->_fileno, AccessOfMode(mode));
  errno = saved;
}

// Times `call` on a recorded descriptor; `offset` < 0 asks the kernel for the current position.
// `asked()` is the length the call asks for (a read that crosses EOF returns less, and the caches of
// the programs we replay, fsspec's, decide on what was asked); evaluated only for a recorded
// read that returned bytes, as it may read the caller's iovecs, which only the kernel may find invalid.
template <typename Asked, typename Call>
auto Timed(int fd, RawOp op, long long offset, Asked asked, Call call) -> decltype(call()) {
  const int id = OpenIdOf(fd);
  if (id < 0) return call();
  HookScope scope;
  if (!scope.active()) return call();
  if (offset < 0) offset = KernelPosition(fd);
  const std::int64_t t0 = NowNs();
  auto result = call();
  const int err = errno;
  const std::int64_t t1 = NowNs();
  if (offset >= 0)
    pflab::recorder::RecordRead(id, op, t0, t1, static_cast<std::uint64_t>(offset), static_cast<long long>(result), err,
                                result > 0 ? asked() : 0);
  errno = err;
  return result;
}

std::size_t Buffered(FILE* fp) {
  return fp->_IO_read_ptr != nullptr && fp->_IO_read_end > fp->_IO_read_ptr
             ? static_cast<std::size_t>(fp->_IO_read_end - fp->_IO_read_ptr)
             : 0;
}

// A stdio call that may refill: records [position before, position after) when the kernel position moved.
template <typename Call>
auto StdioRead(FILE* fp, RawOp op, bool may_refill, Call call) -> decltype(call()) {
  const int fd = fp != nullptr ? fp->_fileno : -1;
  const int id = may_refill ? OpenIdOf(fd) : -1;
  if (id < 0) return call();
  HookScope scope;
  if (!scope.active()) return call();
  const long long before = KernelPosition(fd);
  const std::int64_t t0 = NowNs();
  auto result = call();
  const int err = errno;
  const std::int64_t t1 = NowNs();
  const long long after = KernelPosition(fd);
  if (before >= 0 && after > before) {
    pflab::recorder::RecordRead(id, op, t0, t1, static_cast<std::uint64_t>(before), after - before, 0, 0);
  }
  errno = err;
  return result;
}

// A stdio seek: glibc may read the block around the target into the buffer; that block ends at the
// kernel position and is as long as what the buffer now holds.
template <typename Call>
auto StdioSeek(FILE* fp, Call call) -> decltype(call()) {
  const int fd = fp != nullptr ? fp->_fileno : -1;
  const int id = OpenIdOf(fd);
  if (id < 0) return call();
  HookScope scope;
  if (!scope.active()) return call();
  const long long before = KernelPosition(fd);
  const std::int64_t t0 = NowNs();
  auto result = call();
  const int err = errno;
  const std::int64_t t1 = NowNs();
  const long long after = KernelPosition(fd);
  const long long filled = fp->_IO_read_base != nullptr && fp->_IO_read_end > fp->_IO_read_base
                               ? static_cast<long long>(fp->_IO_read_end - fp->_IO_read_base)
                               : 0;
  if (after != before && filled > 0 && after >= filled) {
    pflab::recorder::RecordRead(id, RawOp::kFseek, t0, t1, static_cast<std::uint64_t>(after - filled), filled, 0, 0);
  }
  errno = err;
  return result;
}

bool LineBuffered(FILE* fp, int delim, std::size_t limit) {
  const std::size_t avail = Buffered(fp);
  if (avail == 0) return false;
  if (limit != 0 && avail >= limit) return true;
  return memchr(fp->_IO_read_ptr, delim, avail) != nullptr;
}

std::uint64_t IovecBytes(const struct iovec* iov, int count) {
  std::uint64_t total = 0;
  for (int i = 0; iov != nullptr && i < count; ++i) total += iov[i].iov_len;
  return total;
}

std::uint64_t Product(std::size_t a, std::size_t b) {
  return static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b);
}

// Our output descriptor survives the program's attempts to close it (it thinks it succeeded).
bool IsOutput(int fd) {
  return fd >= 0 && fd == pflab::recorder::OutputFd();
}

}  // namespace

#define PFLAB_EXPORT extern "C" __attribute__((visibility("default")))

// ---- opens ----

PFLAB_EXPORT int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  const int fd = PFLAB_REAL(open)(path, flags, mode);
  AfterOpen(fd, flags);
  return fd;
}

PFLAB_EXPORT int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  const int fd = PFLAB_REAL(open64)(path, flags, mode);
  AfterOpen(fd, flags);
  return fd;
}

PFLAB_EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  const int fd = PFLAB_REAL(openat)(dirfd, path, flags, mode);
  AfterOpen(fd, flags);
  return fd;
}

PFLAB_EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (NeedsMode(flags)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  const int fd = PFLAB_REAL(openat64)(dirfd, path, flags, mode);
  AfterOpen(fd, flags);
  return fd;
}

extern "C" {
int __open_2(const char*, int);
int __open64_2(const char*, int);
int __openat_2(int, const char*, int);
int __openat64_2(int, const char*, int);
ssize_t __read_chk(int, void*, size_t, size_t);
ssize_t __pread_chk(int, void*, size_t, off_t, size_t);
ssize_t __pread64_chk(int, void*, size_t, off64_t, size_t);
size_t __fread_chk(void*, size_t, size_t, size_t, FILE*);
size_t __fread_unlocked_chk(void*, size_t, size_t, size_t, FILE*);
char* __fgets_chk(char*, size_t, int, FILE*);
char* __fgets_unlocked_chk(char*, size_t, int, FILE*);
int _IO_getc(FILE*);
ssize_t __getdelim(char**, size_t*, int, FILE*);
int __isoc99_fscanf(FILE*, const char*, ...);
int __isoc99_vfscanf(FILE*, const char*, va_list);
}

PFLAB_EXPORT int __open_2(const char* path, int flags) {
  const int fd = PFLAB_REAL(__open_2)(path, flags);
  AfterOpen(fd, flags);
  return fd;
}
PFLAB_EXPORT int __open64_2(const char* path, int flags) {
  const int fd = PFLAB_REAL(__open64_2)(path, flags);
  AfterOpen(fd, flags);
  return fd;
}
PFLAB_EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  const int fd = PFLAB_REAL(__openat_2)(dirfd, path, flags);
  AfterOpen(fd, flags);
  return fd;
}
PFLAB_EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  const int fd = PFLAB_REAL(__openat64_2)(dirfd, path, flags);
  AfterOpen(fd, flags);
  return fd;
}

PFLAB_EXPORT FILE* fopen(const char* path, const char* mode) {
  FILE* fp = PFLAB_REAL(fopen)(path, mode);
  AfterFopen(fp, mode);
  return fp;
}
PFLAB_EXPORT FILE* fopen64(const char* path, const char* mode) {
  FILE* fp = PFLAB_REAL(fopen64)(path, mode);
  AfterFopen(fp, mode);
  return fp;
}
PFLAB_EXPORT FILE* freopen(const char* path, const char* mode, FILE* stream) {
  if (stream != nullptr) pflab::recorder::Untrack(stream->_fileno);
  FILE* fp = PFLAB_REAL(freopen)(path, mode, stream);
  AfterFopen(fp, mode);
  return fp;
}
PFLAB_EXPORT FILE* freopen64(const char* path, const char* mode, FILE* stream) {
  if (stream != nullptr) pflab::recorder::Untrack(stream->_fileno);
  FILE* fp = PFLAB_REAL(freopen64)(path, mode, stream);
  AfterFopen(fp, mode);
  return fp;
}

// ---- closes and duplicates ----

PFLAB_EXPORT int close(int fd) {
  if (OpenIdOf(fd) >= 0 || IsOutput(fd)) {
    if (pflab::recorder::OwnProcess()) {
      if (IsOutput(fd)) return 0;
      pflab::recorder::Untrack(fd);
    }
  }
  return PFLAB_REAL(close)(fd);
}

PFLAB_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  if ((flags & CLOSE_RANGE_CLOEXEC) != 0 || !pflab::recorder::OwnProcess()) {
    return PFLAB_REAL(close_range)(first, last, flags);
  }
  pflab::recorder::UntrackRange(first, last);
  const int out = pflab::recorder::OutputFd();
  if (out >= 0 && static_cast<unsigned>(out) >= first && static_cast<unsigned>(out) <= last) {
    int r = 0;
    if (static_cast<unsigned>(out) > first) r = PFLAB_REAL(close_range)(first, static_cast<unsigned>(out) - 1, flags);
    if (r == 0 && static_cast<unsigned>(out) < last) {
      r = PFLAB_REAL(close_range)(static_cast<unsigned>(out) + 1, last, flags);
    }
    return r;
  }
  return PFLAB_REAL(close_range)(first, last, flags);
}

PFLAB_EXPORT void closefrom(int lowfd) {
  close_range(static_cast<unsigned>(lowfd < 0 ? 0 : lowfd), ~0u, 0);
}

PFLAB_EXPORT int fclose(FILE* fp) {
  if (fp != nullptr && OpenIdOf(fp->_fileno) >= 0 && pflab::recorder::OwnProcess()) {
    pflab::recorder::Untrack(fp->_fileno);
  }
  return PFLAB_REAL(fclose)(fp);
}

PFLAB_EXPORT int fcloseall() {
  const int r = PFLAB_REAL(fcloseall)();
  if (pflab::recorder::OwnProcess()) {
    for (int fd = 0; fd < 1024; ++fd) {
      if (OpenIdOf(fd) >= 0 && PFLAB_REAL(fcntl)(fd, F_GETFD) < 0) pflab::recorder::Untrack(fd);
    }
  }
  return r;
}

PFLAB_EXPORT int dup(int fd) {
  const int r = PFLAB_REAL(dup)(fd);
  if (r >= 0 && (OpenIdOf(fd) >= 0 || OpenIdOf(r) >= 0)) pflab::recorder::CopyTrack(fd, r);
  return r;
}

PFLAB_EXPORT int dup2(int oldfd, int newfd) {
  const bool own = (IsOutput(newfd) || OpenIdOf(oldfd) >= 0 || OpenIdOf(newfd) >= 0) && pflab::recorder::OwnProcess();
  if (own) pflab::recorder::ProtectOutputFd(newfd);
  const int r = PFLAB_REAL(dup2)(oldfd, newfd);
  if (r >= 0 && own) pflab::recorder::CopyTrack(oldfd, newfd);
  return r;
}

PFLAB_EXPORT int dup3(int oldfd, int newfd, int flags) {
  const bool own = (IsOutput(newfd) || OpenIdOf(oldfd) >= 0 || OpenIdOf(newfd) >= 0) && pflab::recorder::OwnProcess();
  if (own) pflab::recorder::ProtectOutputFd(newfd);
  const int r = PFLAB_REAL(dup3)(oldfd, newfd, flags);
  if (r >= 0 && own) pflab::recorder::CopyTrack(oldfd, newfd);
  return r;
}

namespace {
template <typename Real>
int Fcntl(Real real, int fd, int cmd, void* arg) {
  const int r = real(fd, cmd, arg);
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && (OpenIdOf(fd) >= 0 || OpenIdOf(r) >= 0)) {
    pflab::recorder::CopyTrack(fd, r);
  }
  return r;
}
}  // namespace

PFLAB_EXPORT int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return Fcntl(PFLAB_REAL(fcntl), fd, cmd, arg);
}

extern "C" int fcntl64(int fd, int cmd, ...);
PFLAB_EXPORT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return Fcntl(PFLAB_REAL(fcntl64), fd, cmd, arg);
}

// ---- reads ----

PFLAB_EXPORT ssize_t read(int fd, void* buf, size_t n) {
  return Timed(
      fd, RawOp::kRead, -1, [&] { return std::uint64_t{n}; }, [&] { return PFLAB_REAL(read)(fd, buf, n); });
}
PFLAB_EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  return Timed(
      fd, RawOp::kRead, -1, [&] { return std::uint64_t{n}; },
      [&] { return PFLAB_REAL(__read_chk)(fd, buf, n, buflen); });
}
PFLAB_EXPORT ssize_t pread(int fd, void* buf, size_t n, off_t offset) {
  return Timed(
      fd, RawOp::kPread, offset, [&] { return std::uint64_t{n}; },
      [&] { return PFLAB_REAL(pread)(fd, buf, n, offset); });
}
PFLAB_EXPORT ssize_t pread64(int fd, void* buf, size_t n, off64_t offset) {
  return Timed(
      fd, RawOp::kPread, offset, [&] { return std::uint64_t{n}; },
      [&] { return PFLAB_REAL(pread64)(fd, buf, n, offset); });
}
PFLAB_EXPORT ssize_t __pread_chk(int fd, void* buf, size_t n, off_t offset, size_t buflen) {
  return Timed(
      fd, RawOp::kPread, offset, [&] { return std::uint64_t{n}; },
      [&] { return PFLAB_REAL(__pread_chk)(fd, buf, n, offset, buflen); });
}
PFLAB_EXPORT ssize_t __pread64_chk(int fd, void* buf, size_t n, off64_t offset, size_t buflen) {
  return Timed(
      fd, RawOp::kPread, offset, [&] { return std::uint64_t{n}; },
      [&] { return PFLAB_REAL(__pread64_chk)(fd, buf, n, offset, buflen); });
}
PFLAB_EXPORT ssize_t readv(int fd, const struct iovec* iov, int count) {
  return Timed(
      fd, RawOp::kReadv, -1, [&] { return IovecBytes(iov, count); }, [&] { return PFLAB_REAL(readv)(fd, iov, count); });
}
PFLAB_EXPORT ssize_t preadv(int fd, const struct iovec* iov, int count, off_t offset) {
  return Timed(
      fd, RawOp::kPreadv, offset, [&] { return IovecBytes(iov, count); },
      [&] { return PFLAB_REAL(preadv)(fd, iov, count, offset); });
}
PFLAB_EXPORT ssize_t preadv64(int fd, const struct iovec* iov, int count, off64_t offset) {
  return Timed(
      fd, RawOp::kPreadv, offset, [&] { return IovecBytes(iov, count); },
      [&] { return PFLAB_REAL(preadv64)(fd, iov, count, offset); });
}
PFLAB_EXPORT ssize_t preadv2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
  return Timed(
      fd, RawOp::kPreadv, offset, [&] { return IovecBytes(iov, count); },
      [&] { return PFLAB_REAL(preadv2)(fd, iov, count, offset, flags); });
}
PFLAB_EXPORT ssize_t preadv64v2(int fd, const struct iovec* iov, int count, off64_t offset, int flags) {
  return Timed(
      fd, RawOp::kPreadv, offset, [&] { return IovecBytes(iov, count); },
      [&] { return PFLAB_REAL(preadv64v2)(fd, iov, count, offset, flags); });
}

PFLAB_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
  return Timed(
      in_fd, RawOp::kSendfile, offset != nullptr ? *offset : -1, [&] { return std::uint64_t{count}; },
      [&] { return PFLAB_REAL(sendfile)(out_fd, in_fd, offset, count); });
}
PFLAB_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t* offset, size_t count) {
  return Timed(
      in_fd, RawOp::kSendfile, offset != nullptr ? *offset : -1, [&] { return std::uint64_t{count}; },
      [&] { return PFLAB_REAL(sendfile64)(out_fd, in_fd, offset, count); });
}
PFLAB_EXPORT ssize_t copy_file_range(int in_fd, off64_t* in_off, int out_fd, off64_t* out_off, size_t len,
                                     unsigned flags) {
  return Timed(
      in_fd, RawOp::kCopyFileRange, in_off != nullptr ? *in_off : -1, [&] { return std::uint64_t{len}; },
      [&] { return PFLAB_REAL(copy_file_range)(in_fd, in_off, out_fd, out_off, len, flags); });
}
PFLAB_EXPORT ssize_t splice(int in_fd, off64_t* in_off, int out_fd, off64_t* out_off, size_t len, unsigned flags) {
  return Timed(
      in_fd, RawOp::kSplice, in_off != nullptr ? *in_off : -1, [&] { return std::uint64_t{len}; },
      [&] { return PFLAB_REAL(splice)(in_fd, in_off, out_fd, out_off, len, flags); });
}

PFLAB_EXPORT void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  if (OpenIdOf(fd) >= 0) {
    HookScope scope;
    if (scope.active()) pflab::recorder::NoteMmap(fd);
  }
  return PFLAB_REAL(mmap)(addr, length, prot, flags, fd, offset);
}
PFLAB_EXPORT void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off64_t offset) {
  if (OpenIdOf(fd) >= 0) {
    HookScope scope;
    if (scope.active()) pflab::recorder::NoteMmap(fd);
  }
  return PFLAB_REAL(mmap64)(addr, length, prot, flags, fd, offset);
}

// ---- stdio ----

PFLAB_EXPORT size_t fread(void* ptr, size_t size, size_t n, FILE* fp) {
  return StdioRead(fp, RawOp::kFread, Product(size, n) > Buffered(fp),
                   [&] { return PFLAB_REAL(fread)(ptr, size, n, fp); });
}
PFLAB_EXPORT size_t fread_unlocked(void* ptr, size_t size, size_t n, FILE* fp) {
  return StdioRead(fp, RawOp::kFread, Product(size, n) > Buffered(fp),
                   [&] { return PFLAB_REAL(fread_unlocked)(ptr, size, n, fp); });
}
PFLAB_EXPORT size_t __fread_chk(void* ptr, size_t ptrlen, size_t size, size_t n, FILE* fp) {
  return StdioRead(fp, RawOp::kFread, Product(size, n) > Buffered(fp),
                   [&] { return PFLAB_REAL(__fread_chk)(ptr, ptrlen, size, n, fp); });
}
PFLAB_EXPORT size_t __fread_unlocked_chk(void* ptr, size_t ptrlen, size_t size, size_t n, FILE* fp) {
  return StdioRead(fp, RawOp::kFread, Product(size, n) > Buffered(fp),
                   [&] { return PFLAB_REAL(__fread_unlocked_chk)(ptr, ptrlen, size, n, fp); });
}

PFLAB_EXPORT char* fgets(char* s, int n, FILE* fp) {
  return StdioRead(fp, RawOp::kFgets, !LineBuffered(fp, '\n', n > 0 ? static_cast<std::size_t>(n - 1) : 0),
                   [&] { return PFLAB_REAL(fgets)(s, n, fp); });
}
PFLAB_EXPORT char* fgets_unlocked(char* s, int n, FILE* fp) {
  return StdioRead(fp, RawOp::kFgets, !LineBuffered(fp, '\n', n > 0 ? static_cast<std::size_t>(n - 1) : 0),
                   [&] { return PFLAB_REAL(fgets_unlocked)(s, n, fp); });
}
PFLAB_EXPORT char* __fgets_chk(char* s, size_t size, int n, FILE* fp) {
  return StdioRead(fp, RawOp::kFgets, !LineBuffered(fp, '\n', n > 0 ? static_cast<std::size_t>(n - 1) : 0),
                   [&] { return PFLAB_REAL(__fgets_chk)(s, size, n, fp); });
}
PFLAB_EXPORT char* __fgets_unlocked_chk(char* s, size_t size, int n, FILE* fp) {
  return StdioRead(fp, RawOp::kFgets, !LineBuffered(fp, '\n', n > 0 ? static_cast<std::size_t>(n - 1) : 0),
                   [&] { return PFLAB_REAL(__fgets_unlocked_chk)(s, size, n, fp); });
}

#define PFLAB_GETC_HOOK(name)                                                                     \
  PFLAB_EXPORT int name(FILE* fp) {                                                               \
    return StdioRead(fp, RawOp::kFgetc, Buffered(fp) == 0, [&] { return PFLAB_REAL(name)(fp); }); \
  }
PFLAB_GETC_HOOK(fgetc)
PFLAB_GETC_HOOK(getc)
PFLAB_GETC_HOOK(_IO_getc)
PFLAB_GETC_HOOK(fgetc_unlocked)
PFLAB_GETC_HOOK(getc_unlocked)
PFLAB_GETC_HOOK(__uflow)
PFLAB_GETC_HOOK(__underflow)

PFLAB_EXPORT int getchar() {
  return StdioRead(stdin, RawOp::kFgetc, Buffered(stdin) == 0, [&] { return PFLAB_REAL(getchar)(); });
}

PFLAB_EXPORT ssize_t getdelim(char** line, size_t* n, int delim, FILE* fp) {
  return StdioRead(fp, RawOp::kGetdelim, !LineBuffered(fp, delim, 0),
                   [&] { return PFLAB_REAL(getdelim)(line, n, delim, fp); });
}
PFLAB_EXPORT ssize_t __getdelim(char** line, size_t* n, int delim, FILE* fp) {
  return StdioRead(fp, RawOp::kGetdelim, !LineBuffered(fp, delim, 0),
                   [&] { return PFLAB_REAL(__getdelim)(line, n, delim, fp); });
}
PFLAB_EXPORT ssize_t getline(char** line, size_t* n, FILE* fp) {
  return StdioRead(fp, RawOp::kGetdelim, !LineBuffered(fp, '\n', 0), [&] { return PFLAB_REAL(getline)(line, n, fp); });
}

PFLAB_EXPORT int __isoc99_vfscanf(FILE* fp, const char* format, va_list ap) {
  return StdioRead(fp, RawOp::kFscanf, true, [&] { return PFLAB_REAL(__isoc99_vfscanf)(fp, format, ap); });
}
PFLAB_EXPORT int __isoc99_fscanf(FILE* fp, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  const int r = StdioRead(fp, RawOp::kFscanf, true, [&] { return PFLAB_REAL(__isoc99_vfscanf)(fp, format, ap); });
  va_end(ap);
  return r;
}

PFLAB_EXPORT int fseek(FILE* fp, long offset, int whence) {
  return StdioSeek(fp, [&] { return PFLAB_REAL(fseek)(fp, offset, whence); });
}
PFLAB_EXPORT int fseeko(FILE* fp, off_t offset, int whence) {
  return StdioSeek(fp, [&] { return PFLAB_REAL(fseeko)(fp, offset, whence); });
}
PFLAB_EXPORT int fseeko64(FILE* fp, off64_t offset, int whence) {
  return StdioSeek(fp, [&] { return PFLAB_REAL(fseeko64)(fp, offset, whence); });
}
PFLAB_EXPORT int fsetpos(FILE* fp, const fpos_t* pos) {
  return StdioSeek(fp, [&] { return PFLAB_REAL(fsetpos)(fp, pos); });
}
PFLAB_EXPORT int fsetpos64(FILE* fp, const fpos64_t* pos) {
  return StdioSeek(fp, [&] { return PFLAB_REAL(fsetpos64)(fp, pos); });
}
PFLAB_EXPORT void rewind(FILE* fp) {
  StdioSeek(fp, [&] {
    PFLAB_REAL(rewind)(fp);
    return 0;
  });
}

// ---- process boundaries: flush before the image is replaced or exits without destructors ----

namespace {
void FlushIfOwn() {
  if (!pflab::recorder::Enabled()) return;
  const int saved = errno;
  if (pflab::recorder::OwnProcess()) pflab::recorder::FlushAll();
  errno = saved;
}

constexpr int kMaxExecArgs = 4096;

// Collects execl-style arguments (after `first`) into `argv`; returns the va_list position after the NULL.
int CollectArgs(const char* first, va_list* ap, char** argv) {
  int n = 0;
  argv[n++] = const_cast<char*>(first);
  while (first != nullptr && n < kMaxExecArgs) {
    char* arg = va_arg(*ap, char*);
    argv[n++] = arg;
    if (arg == nullptr) return n;
  }
  return first == nullptr ? n : -1;
}
}  // namespace

PFLAB_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  FlushIfOwn();
  return PFLAB_REAL(execve)(path, argv, envp);
}
PFLAB_EXPORT int execv(const char* path, char* const argv[]) {
  FlushIfOwn();
  return PFLAB_REAL(execv)(path, argv);
}
PFLAB_EXPORT int execvp(const char* file, char* const argv[]) {
  FlushIfOwn();
  return PFLAB_REAL(execvp)(file, argv);
}
PFLAB_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  FlushIfOwn();
  return PFLAB_REAL(execvpe)(file, argv, envp);
}
PFLAB_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  FlushIfOwn();
  return PFLAB_REAL(fexecve)(fd, argv, envp);
}
PFLAB_EXPORT int execl(const char* path, const char* arg, ...) {
  char* argv[kMaxExecArgs];
  va_list ap;
  va_start(ap, arg);
  const int n = CollectArgs(arg, &ap, argv);
  va_end(ap);
  if (n < 0) {
    errno = E2BIG;
    return -1;
  }
  return execv(path, argv);
}
PFLAB_EXPORT int execlp(const char* file, const char* arg, ...) {
  char* argv[kMaxExecArgs];
  va_list ap;
  va_start(ap, arg);
  const int n = CollectArgs(arg, &ap, argv);
  va_end(ap);
  if (n < 0) {
    errno = E2BIG;
    return -1;
  }
  return execvp(file, argv);
}
PFLAB_EXPORT int execle(const char* path, const char* arg, ...) {
  char* argv[kMaxExecArgs];
  va_list ap;
  va_start(ap, arg);
  const int n = CollectArgs(arg, &ap, argv);
  char* const* envp = n < 0 ? nullptr : va_arg(ap, char* const*);
  va_end(ap);
  if (n < 0) {
    errno = E2BIG;
    return -1;
  }
  return execve(path, argv, envp);
}

PFLAB_EXPORT void _exit(int status) {
  FlushIfOwn();
  PFLAB_REAL(_exit)(status);
  __builtin_unreachable();
}
PFLAB_EXPORT void _Exit(int status) {
  FlushIfOwn();
  PFLAB_REAL(_Exit)(status);
  __builtin_unreachable();
}
